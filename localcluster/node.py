"""The local cluster's node: containerd, runc, CNI, kubelet and kube-proxy, kept off the host.

Everything runs inside the cluster's network namespace and, through `nodeinit.py`, in a
private mount namespace of its own, so that what the node mounts (its state directories
over /var/lib, tmpfs on /run, files over the host-wide sysctls the kubelet writes, every
container's root filesystem) disappears with it. Its processes and every container live
under one cgroup per hierarchy, named after the network namespace: `down` kills what is
left there and removes the cgroups. Pods get addresses from a CNI bridge; kube-proxy
(nftables) makes Services work inside the namespace.

The configuration renderers here are pure; `write_node_files` and the cgroup helpers do
the I/O.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

NODE_NAME = "wco-node"
POD_CIDR = "10.245.0.0/24"
POD_GATEWAY = "10.245.0.1"
CNI_BRIDGE = "wcn0"
MAX_PODS = 250  # the host-local range holds 253 addresses; the default 110 is too few
CGROUP_FS = Path("/sys/fs/cgroup")
# The kubelet sets these host-wide sysctls at start; the node gives it private files instead.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)


@dataclass(frozen=True)
class NodeLayout:
    """Where the node keeps its files, all below the cluster's state directory."""

    directory: Path

    @property
    def socket(self) -> Path:
        return self.directory / "run" / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        return self.directory / "containerd.toml"

    @property
    def kubelet_config(self) -> Path:
        return self.directory / "kubelet.yaml"

    @property
    def kube_proxy_config(self) -> Path:
        return self.directory / "kube-proxy.yaml"

    @property
    def kubelet_kubeconfig(self) -> Path:
        return self.directory / "kubelet.kubeconfig"

    @property
    def kube_proxy_kubeconfig(self) -> Path:
        return self.directory / "kube-proxy.kubeconfig"

    @property
    def cni_config_dir(self) -> Path:
        return self.directory / "cni" / "net.d"

    @property
    def resolv_conf(self) -> Path:
        return self.directory / "resolv.conf"

    # Bound over /var/lib/<name> and /var/log inside the node's mount namespace.
    @property
    def kubelet_root(self) -> Path:
        return self.directory / "kubelet"

    @property
    def containerd_root(self) -> Path:
        return self.directory / "containerd"

    @property
    def pod_logs(self) -> Path:
        return self.directory / "log"


def cgroup_name(netns: str) -> str:
    """One cgroup tree per cluster, so that two clusters on one machine stay apart."""
    return netns


def containerd_config(layout: NodeLayout, pause_image: str) -> str:
    """containerd 1.6 configuration (version 2 schema) for the CRI plugin."""
    return f"""version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "{layout.socket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{layout.directory / "opt"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause_image}"
  # Pod network namespaces under containerd's state (a tmpfs of the node), not /run/netns.
  netns_mounts_under_state_dir = true
  # CAP_SYS_RESOURCE may be missing from the bounding set (it is on these machines): even
  # root then cannot give the pause container its usual negative oom_score_adj, and runc
  # fails every sandbox with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{layout.cni_config_dir}"
"""


def cni_conflist(layout: NodeLayout) -> dict[str, Any]:
    """A bridge with the pods' gateway address; host-local keeps its leases in the node."""
    return {
        "cniVersion": "0.4.0",
        "name": "webhook-cert-pods",
        "plugins": [
            {
                "type": "bridge",
                "bridge": CNI_BRIDGE,
                "isGateway": True,
                # A Pod reaching itself through its own Service needs hairpin mode.
                "hairpinMode": True,
                # Nothing leaves the namespace: no masquerading towards a world outside.
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": POD_GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.directory / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(
    layout: NodeLayout, *, node_ip: str, ca_file: Path, netns: str
) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # These machines run cgroup v1 (hybrid); kubelet 1.35 still accepts it when asked.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{cgroup_name(netns)}/pods",
        "cgroupsPerQOS": True,
        "containerRuntimeEndpoint": f"unix://{layout.socket}",
        "address": node_ip,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "resolvConf": str(layout.resolv_conf),
        "failSwapOn": False,
        "protectKernelDefaults": False,
        "staticPodPath": "",
        "serializeImagePulls": False,
        "maxPods": MAX_PODS,
        # Shared disks are often fuller than the kubelet's defaults allow.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
        },
        "imageGCHighThresholdPercent": 98,
        "imageGCLowThresholdPercent": 95,
        # The default lies outside the node's directories (/usr/libexec/kubernetes).
        "volumePluginDir": "/var/lib/kubelet/volume-plugins",
    }


def kube_proxy_config(layout: NodeLayout, *, node_ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "nftables",
        "clientConnection": {"kubeconfig": str(layout.kube_proxy_kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": POD_CIDR,
        "bindAddress": node_ip,
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        # Zero leaves the conntrack table sizes and timeouts alone: they are host-wide.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }


def write_node_files(
    layout: NodeLayout, *, node_ip: str, ca_file: Path, netns: str, pause_image: str
) -> None:
    for directory in (
        layout.directory / "run",
        layout.cni_config_dir,
        layout.kubelet_root,
        layout.containerd_root,
        layout.pod_logs,
        layout.directory / "sysctl",
    ):
        directory.mkdir(parents=True, exist_ok=True)
    layout.containerd_config.write_text(containerd_config(layout, pause_image))
    (layout.cni_config_dir / "10-webhook-cert.conflist").write_text(
        json.dumps(cni_conflist(layout), indent=2)
    )
    config = kubelet_config(layout, node_ip=node_ip, ca_file=ca_file, netns=netns)
    layout.kubelet_config.write_text(yaml.safe_dump(config))
    layout.kube_proxy_config.write_text(yaml.safe_dump(kube_proxy_config(layout, node_ip=node_ip)))
    # Pods have no cluster DNS; a resolver that answers nothing keeps lookups fast failures.
    layout.resolv_conf.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")


# ---- cgroups ----------------------------------------------------------------------------


def _hierarchies() -> list[Path]:
    """Every mounted cgroup hierarchy (v1 controllers, named ones, the unified one)."""
    if not CGROUP_FS.is_dir():
        return []
    return sorted(p for p in CGROUP_FS.iterdir() if p.is_dir() and not p.is_symlink())


def create_cgroups(netns: str) -> None:
    """`/<netns>/pods` (the kubelet's cgroupRoot) and `/<netns>/node` in every hierarchy.

    A new cpuset cgroup starts with no CPUs and no memory nodes; it inherits its parent's.
    """
    for hierarchy in _hierarchies():
        parent = hierarchy
        for part in (cgroup_name(netns), "pods"):
            child = parent / part
            child.mkdir(exist_ok=True)
            for setting in ("cpuset.cpus", "cpuset.mems"):
                source, target = parent / setting, child / setting
                if source.exists() and target.exists() and not target.read_text().strip():
                    target.write_text(source.read_text())
            parent = child
        (hierarchy / cgroup_name(netns) / "node").mkdir(exist_ok=True)


def join_node_cgroup(netns: str, pid: int) -> None:
    """Put `pid` where `remove_cgroups` will find it (the pids hierarchy is enough)."""
    procs = CGROUP_FS / "pids" / cgroup_name(netns) / "node" / "cgroup.procs"
    if procs.exists():
        procs.write_text(str(pid))


def _pids_below(root: Path) -> set[int]:
    pids: set[int] = set()
    for procs in root.rglob("cgroup.procs"):
        try:
            pids.update(int(line) for line in procs.read_text().split())
        except (FileNotFoundError, ValueError):
            continue
    return pids


def remove_cgroups(netns: str, timeout: float = 20.0) -> None:
    """Kill every process left in the cluster's cgroups (containers, runc shims), then
    remove the cgroups, deepest first."""
    roots = [h / cgroup_name(netns) for h in _hierarchies() if (h / cgroup_name(netns)).is_dir()]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = set().union(*(_pids_below(root) for root in roots)) if roots else set()
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    for root in roots:
        for directory in sorted(
            (p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
        ):
            _rmdir(directory)
        _rmdir(root)


def _rmdir(directory: Path) -> None:
    try:
        directory.rmdir()
    except FileNotFoundError:
        pass
    except OSError as error:
        raise RuntimeError(f"cannot remove cgroup {directory}: {error}") from error

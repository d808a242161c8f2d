"""The node's first process: prepares its private mount namespace, then runs containerd,
the kubelet and kube-proxy until it is told to stop.

Started by `cluster.py` as `nsenter --net=<cluster netns> unshare --mount
--propagation=private python -m localcluster.nodeinit ...`, so every mount made here is
invisible to the host and goes away with the namespace:

- /run, and /var/lib become tmpfs (the node's writes land nowhere on the host); the node's
  own directories are bound over /var/lib/kubelet, /var/lib/containerd and /var/log;
- the namespace's copies of /run/netns are dropped first, so that it does not keep the
  host's network namespaces alive after `make cluster-down` deletes them;
- regular files are bound over the host-wide sysctls that the kubelet sets.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from localcluster.node import KUBELET_SYSCTLS, NODE_NAME, NodeLayout, join_node_cgroup

_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _sh(*args: str) -> None:
    subprocess.run(args, check=True)


def prepare_mounts(layout: NodeLayout) -> None:
    subprocess.run(["umount", "--lazy", "/run/netns"], stderr=subprocess.DEVNULL)
    _sh("mount", "-t", "tmpfs", "webhook-cert-node-run", "/run")
    for directory in ("/run/netns", "/run/containerd", "/run/lock"):
        Path(directory).mkdir(parents=True, exist_ok=True)
    _sh("mount", "-t", "tmpfs", "webhook-cert-node-varlib", "/var/lib")
    binds = {
        layout.kubelet_root: Path("/var/lib/kubelet"),
        layout.containerd_root: Path("/var/lib/containerd"),
        layout.pod_logs: Path("/var/log"),
    }
    for source, target in binds.items():
        target.mkdir(parents=True, exist_ok=True)
        _sh("mount", "--bind", str(source), str(target))
    for name in KUBELET_SYSCTLS:
        private = layout.directory / "sysctl" / name.replace("/", ".")
        private.write_text(Path("/proc/sys", name).read_text())
        _sh("mount", "--bind", str(private), f"/proc/sys/{name}")


def _start(name: str, argv: list[str], logs: Path) -> subprocess.Popen[bytes]:
    with (logs / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"PATH": _PATH, "HOME": "/root"},
        )


def _wait_for_socket(path: Path, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_socket():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"containerd did not open {path}; see its log")
        time.sleep(0.1)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nodeinit")
    parser.add_argument("--node-dir", type=Path, required=True)
    parser.add_argument("--bin-dir", type=Path, required=True)
    parser.add_argument("--log-dir", type=Path, required=True)
    parser.add_argument("--node-ip", required=True)
    parser.add_argument("--netns", required=True)
    args = parser.parse_args(argv)
    layout = NodeLayout(args.node_dir)
    join_node_cgroup(args.netns, os.getpid())
    prepare_mounts(layout)
    containerd = _start(
        "containerd", ["containerd", f"--config={layout.containerd_config}"], args.log_dir
    )
    _wait_for_socket(layout.socket, containerd)
    kubelet = _start(
        "kubelet",
        [
            str(args.bin_dir / "kubelet"),
            f"--config={layout.kubelet_config}",
            f"--kubeconfig={layout.kubelet_kubeconfig}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={args.node_ip}",
            "--v=1",
        ],
        args.log_dir,
    )
    proxy = _start(
        "kube-proxy",
        [str(args.bin_dir / "kube-proxy"), f"--config={layout.kube_proxy_config}", "--v=1"],
        args.log_dir,
    )
    children = [kubelet, proxy, containerd]  # stopped in this order

    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        if any(child.poll() is not None for child in children):
            break  # a dead component means a broken node: stop the rest, `up` restarts it
        time.sleep(0.5)
    for child in children:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

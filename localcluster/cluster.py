"""Start, check and stop the local cluster: real Kubernetes components, a real node
(containerd, kubelet, kube-proxy, see `node.py`), Traefik and Pebble.

Everything listens inside the `webhook-cert` network namespace (see `network.py`); the
process that calls `up()` moves itself into that namespace once the Go builds and the
images are done, so it can wait on the components directly. Humans reach the cluster
from the host through `.cluster/bin/kubectl` and `.cluster/bin/cluster-exec`, which
enter the namespace.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from localcluster import build, network, node
from localcluster.certs import ClusterPki, ensure_pki
from localcluster.images import BuiltImage, ImageBuilder
from localcluster.kubeconfig import write_kubeconfig
from localcluster.operator import write_operator_overlay
from localcluster.processes import ProcessTable
from localcluster.versions import BY_NAME

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_NAME = node.NODE_NAME
SERVICE_CIDR = "10.0.0.0/24"
SERVICE_IP = "10.0.0.1"  # the `kubernetes` Service's address, in the serving certificate
APISERVER_PORT = 6443
PEBBLE_PORT = 14000
PEBBLE_MANAGEMENT_PORT = 15000
# A second, independent CA (its own roots and accounts): tests switch spec.acme.server to it.
SECOND_PEBBLE_PORT = 14001
SECOND_PEBBLE_MANAGEMENT_PORT = 15001
DNS_PORT = 8053
CHALLTESTSRV_MANAGEMENT_PORT = 8055
TRAEFIK_PING = ("127.0.0.1", 9080)
INGRESS_CLASS = "traefik"
GATEWAY_CLASS = "traefik"
GATEWAY = ("default", "public")  # namespace, name
KUBE_CONTROLLERS = (
    "serviceaccount-token-controller",
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    # Removes the kubelet's registration taint (node.kubernetes.io/not-ready) once the node
    # is Ready: without it every Pod stays Pending.
    "node-lifecycle-controller",
    "pod-garbage-collector-controller",
)
# Start order; `down()` stops them in reverse.
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "traefik",
    "pebble-challtestsrv",
    "pebble",
    "pebble-second",
    "node",
)


# The apiserver's audit policy: every write (who, verb, resource, when) at Metadata level,
# no bodies, nothing for reads. Cheap enough to keep on; the benchmarks count the
# operator's writes per issuance from it (benchmarks/api_writes.py).
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
"""


# Real validation, without Pebble's random sleeps before it validates; a chain with two
# intermediates makes a missing intermediate visible in tests.
PEBBLE_ENV: Mapping[str, str] = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_CHAIN_LENGTH": "3"}


class ClusterError(RuntimeError):
    """The cluster could not be started; the message says which part and why."""


@dataclass
class LocalCluster:
    state_dir: Path = REPO_ROOT / ".cluster"
    cache_dir: Path = field(default_factory=build.default_cache_dir)
    log: Callable[[str], None] = lambda message: print(message, flush=True)

    @property
    def processes(self) -> ProcessTable:
        return ProcessTable(self.state_dir)

    @property
    def pki(self) -> ClusterPki:
        return ClusterPki(self.state_dir / "pki")

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def pebble_roots(self) -> Path:
        return self.state_dir / "pebble-roots.pem"

    @property
    def second_pebble_roots(self) -> Path:
        return self.state_dir / "pebble-second-roots.pem"

    @property
    def audit_log(self) -> Path:
        """The apiserver's audit log: one JSON event per write (see AUDIT_POLICY)."""
        return self.processes.log_dir / "audit.log"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"

    @property
    def node_layout(self) -> node.NodeLayout:
        return node.NodeLayout(self.state_dir / "node")

    @property
    def operator_overlay(self) -> Path:
        """The kustomize overlay that installs manifests/ configured for this cluster."""
        return self.state_dir / "operator"

    @property
    def apiserver_url(self) -> str:
        return f"https://{network.NODE_IP}:{APISERVER_PORT}"

    @property
    def pebble_directory(self) -> str:
        return f"https://{network.NODE_IP}:{PEBBLE_PORT}/dir"

    @property
    def pebble_management(self) -> str:
        return f"https://{network.NODE_IP}:{PEBBLE_MANAGEMENT_PORT}"

    @property
    def second_pebble_directory(self) -> str:
        return f"https://{network.NODE_IP}:{SECOND_PEBBLE_PORT}/dir"

    @property
    def nameserver(self) -> str:
        return f"{network.NODE_IP}:{DNS_PORT}"

    def _bin(self, component: str, binary: str) -> str:
        return str(build.bin_dir(BY_NAME[component], self.cache_dir) / binary)

    def environment(self) -> dict[str, str]:
        """What the operator and the tests need to use this cluster."""
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "WEBHOOK_CERT_ACME_SERVER": self.pebble_directory,
            "WEBHOOK_CERT_ACME_CA_BUNDLE": str(self.pki.ca_cert),
            "WEBHOOK_CERT_ACME_AGREE_TOS": "true",
            "WEBHOOK_CERT_NAMESERVERS": self.nameserver,
            "WEBHOOK_CERT_TEST_PEBBLE_ROOTS": str(self.pebble_roots),
            "WEBHOOK_CERT_TEST_PEBBLE_MANAGEMENT": self.pebble_management,
            "WEBHOOK_CERT_TEST_SECOND_ACME_SERVER": self.second_pebble_directory,
            "WEBHOOK_CERT_TEST_SECOND_PEBBLE_ROOTS": str(self.second_pebble_roots),
            "WEBHOOK_CERT_TEST_INGRESS_CLASS": INGRESS_CLASS,
            "WEBHOOK_CERT_TEST_GATEWAY": "/".join(GATEWAY),
            "WEBHOOK_CERT_TEST_INGRESS_ADDRESS": network.NODE_IP,
            "WEBHOOK_CERT_CLUSTER_NETNS": network.NETNS,
            "WEBHOOK_CERT_TEST_OPERATOR_OVERLAY": str(self.operator_overlay),
            "WEBHOOK_CERT_TEST_IMAGE": self._image_reference("operator-image"),
            "WEBHOOK_CERT_TEST_SOLVER_IMAGE": self._image_reference("solver-image"),
        }

    def _image_reference(self, state_file: str) -> str:
        try:
            return (self.state_dir / state_file).read_text().strip()
        except FileNotFoundError:
            return ""

    # ---- up ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One `up` or `down` at a time (a test session and `make demo` may overlap)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lock_path = self.state_dir.parent / ".cluster.lock"
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def up(self) -> None:
        with self._exclusive():
            self._up()

    def _up(self) -> None:
        started = time.monotonic()
        for component in BY_NAME.values():
            build.build(component, self.cache_dir)
        # Images are built in the host's network: the Dockerfile's pip reaches the index.
        images = ImageBuilder(self.cache_dir, self.state_dir / "logs").build_all()
        gateway_crds = build.gateway_api_crds(self.cache_dir)
        network.ensure_node_network()
        network.route_services(SERVICE_CIDR)
        network.enter(network.NETNS)
        ensure_pki(
            self.pki.directory, node_ip=network.NODE_IP, service_ip=SERVICE_IP, node_name=NODE_NAME
        )
        self._write_kubeconfigs()
        self._write_tools()
        self._start_etcd()
        self._start_apiserver()
        self._start_controllers()
        self._bootstrap_objects(gateway_crds)
        self._start_traefik()
        self._create_gateway()
        self._start_pebble()
        self._start_node(images)
        self._write_operator_overlay(images[-1], solver=images[1])
        self._write_env_file()
        self.log(f"local cluster ready in {time.monotonic() - started:.0f}s")

    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        if self.processes.pid(name) is None:
            self.log(f"starting {name}")
        self.processes.start(name, argv, netns=network.NETNS, env=env, cwd=self.state_dir)

    def _wait(self, name: str, ready: Callable[[], bool], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except OSError:
                pass
            failure = self.processes.exited_early(name)
            if failure is not None:
                raise ClusterError(f"{name} exited during start-up; its last output:\n{failure}")
            time.sleep(0.3)
        log = self.processes.log_file(name)
        raise ClusterError(f"{name} did not become ready in {timeout:.0f}s; see {log}")

    def _start_etcd(self) -> None:
        self._start("etcd", etcd_argv(self._bin("etcd", "etcd"), self.state_dir / "etcd"))
        self._wait("etcd", lambda: _http_ok("127.0.0.1", 2379, "/health"))

    def _start_apiserver(self) -> None:
        pki = self.pki
        audit_policy = self.state_dir / "audit-policy.yaml"
        self.audit_log.parent.mkdir(parents=True, exist_ok=True)  # inside the state dir
        audit_policy.write_text(AUDIT_POLICY)
        self._start(
            "kube-apiserver",
            [
                *apiserver_argv(
                    self._bin("kubernetes", "kube-apiserver"),
                    pki,
                    etcd="http://127.0.0.1:2379",
                    bind_address="0.0.0.0",
                    port=APISERVER_PORT,
                    advertise_address=network.NODE_IP,
                    service_cidr=SERVICE_CIDR,
                    cert_dir=self.state_dir / "apiserver-certs",
                ),
                # The Node authorizer and NodeRestriction scope the kubelet's credentials to
                # its own node and Pods, as on any conformant cluster.
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                # For logs, exec and the Pod proxy: the apiserver calls the kubelet.
                f"--kubelet-client-certificate={pki.cert('admin')}",
                f"--kubelet-client-key={pki.key('admin')}",
                "--kubelet-preferred-address-types=InternalIP",
                "--allow-privileged=true",
                f"--audit-policy-file={audit_policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-maxsize=200",
                "--audit-log-maxbackup=1",
            ],
        )
        self._wait(
            "kube-apiserver",
            lambda: apiserver_ready(network.NODE_IP, APISERVER_PORT, self.pki),
            timeout=120,
        )

    def _start_controllers(self) -> None:
        pki = self.pki
        self._start(
            "kube-controller-manager",
            [
                self._bin("kubernetes", "kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                f"--controllers={','.join(KUBE_CONTROLLERS)}",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--bind-address=127.0.0.1",
                "--secure-port=10257",
            ],
        )
        self._start(
            "kube-scheduler",
            [
                self._bin("kubernetes", "kube-scheduler"),
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=10259",
            ],
        )
        for name in ("kube-controller-manager", "kube-scheduler"):
            self._wait(name, lambda: True)

    def _bootstrap_objects(self, gateway_crds: Path) -> None:
        # Server-side: the HTTPRoute CRD is too large for client-side apply's annotation.
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(gateway_crds))
        self.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", "-f", str(gateway_crds)
        )
        ingress_class = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {
                "name": INGRESS_CLASS,
                "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
            },
            "spec": {"controller": "traefik.io/ingress-controller"},
        }
        self.kubectl("apply", "-f", "-", input=json.dumps(ingress_class))

    def _start_traefik(self) -> None:
        self._start(
            "traefik",
            [
                self._bin("traefik", "traefik"),
                "--providers.kubernetesingress=true",
                # The Gateway API too: HTTP-01 through an HTTPRoute (spec.http01.gatewayHTTPRoute).
                "--providers.kubernetesgateway=true",
                # No `ingressendpoint`: with one, Traefik writes each new Ingress's status
                # inside its configuration loop, one API call at a time, and a burst of
                # solver Ingresses waits seconds for its routes (README, Troubleshooting).
                f"--entryPoints.web.address={network.NODE_IP}:80",
                f"--entryPoints.websecure.address={network.NODE_IP}:443",
                f"--entryPoints.traefik.address={TRAEFIK_PING[0]}:{TRAEFIK_PING[1]}",
                "--ping=true",
                "--log.level=INFO",
                "--global.checknewversion=false",
                "--global.sendanonymoususage=false",
            ],
            env={"KUBECONFIG": str(self.kubeconfig)},
        )
        self._wait("traefik", lambda: _http_ok(*TRAEFIK_PING, "/ping"))

    def _create_gateway(self) -> None:
        """Traefik's GatewayClass and one Gateway on the web entry point (port 80), open to
        routes from every namespace: what a cluster offers an HTTP-01 HTTPRoute."""
        namespace, name = GATEWAY
        objects = [
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "GatewayClass",
                "metadata": {"name": GATEWAY_CLASS},
                "spec": {"controllerName": "traefik.io/gateway-controller"},
            },
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "gatewayClassName": GATEWAY_CLASS,
                    "listeners": [
                        {
                            "name": "http",
                            "protocol": "HTTP",
                            "port": 80,
                            "allowedRoutes": {"namespaces": {"from": "All"}},
                        }
                    ],
                },
            },
        ]
        for item in objects:
            self.kubectl("apply", "-f", "-", input=json.dumps(item))
        self.kubectl(
            "wait", "--for=condition=Programmed", "--timeout=60s", "-n", namespace,
            f"gateway/{name}",
        )  # fmt: skip

    def restart_pebble(self, env: Mapping[str, str]) -> None:
        """Pebble again with `env` instead of its usual settings (PEBBLE_* variables: nonce
        rejection, validation sleeps), for fault tests; `up()` after `processes.stop`
        brings the usual one back. Pebble keeps no state: new roots, no accounts."""
        self.processes.stop("pebble")
        self._start_one_pebble(
            "pebble", PEBBLE_PORT, PEBBLE_MANAGEMENT_PORT, self.pebble_roots, pebble_env=env
        )

    def _start_pebble(self) -> None:
        self._start_challtestsrv()
        self._start_one_pebble("pebble", PEBBLE_PORT, PEBBLE_MANAGEMENT_PORT, self.pebble_roots)
        # Same binary and DNS, other ports and state: Pebble makes a fresh root at each
        # start, so this one issues under a root of its own (spec.acme.server tests).
        self._start_one_pebble(
            "pebble-second",
            SECOND_PEBBLE_PORT,
            SECOND_PEBBLE_MANAGEMENT_PORT,
            self.second_pebble_roots,
        )

    def _start_challtestsrv(self) -> None:
        bin_dir = build.bin_dir(BY_NAME["pebble"], self.cache_dir)
        self._start(
            "pebble-challtestsrv",
            [
                str(bin_dir / "pebble-challtestsrv"),
                f"-defaultIPv4={network.NODE_IP}",
                "-defaultIPv6=",
                f"-dnsserver={network.NODE_IP}:{DNS_PORT}",
                f"-management={network.NODE_IP}:{CHALLTESTSRV_MANAGEMENT_PORT}",
                "-http01=",
                "-https01=",
                "-tlsalpn01=",
                "-doh=",
            ],
        )
        self._wait(
            "pebble-challtestsrv",
            lambda: _tcp_open(network.NODE_IP, CHALLTESTSRV_MANAGEMENT_PORT),
        )

    def _start_one_pebble(
        self,
        name: str,
        port: int,
        management_port: int,
        roots_file: Path,
        *,
        pebble_env: Mapping[str, str] = PEBBLE_ENV,
    ) -> None:
        pebble_dir = self.state_dir / name
        pebble_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "pebble": {
                "listenAddress": f"{network.NODE_IP}:{port}",
                "managementListenAddress": f"{network.NODE_IP}:{management_port}",
                "certificate": str(self.pki.cert("pebble")),
                "privateKey": str(self.pki.key("pebble")),
                # The CA validates HTTP-01 where Let's Encrypt does: port 80, the ingress.
                "httpPort": 80,
                "tlsPort": 443,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
                "retryAfter": {"authz": 1, "order": 1},
                "keyAlgorithm": "ecdsa",
                # One profile: Pebble picks a random one for orders that name none.
                "profiles": {
                    "default": {"description": "90 days", "validityPeriod": 7776000},
                },
            }
        }
        config_file = pebble_dir / "pebble-config.json"
        config_file.write_text(json.dumps(config, indent=2))
        bin_dir = build.bin_dir(BY_NAME["pebble"], self.cache_dir)
        self._start(
            name,
            [
                str(bin_dir / "pebble"),
                f"-config={config_file}",
                f"-dnsserver={self.nameserver}",
            ],
            env=dict(pebble_env),
        )
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        self._wait(name, lambda: _http_ok(network.NODE_IP, port, "/dir", context=context))
        roots = _http_get(network.NODE_IP, management_port, "/roots/0", context=context)
        roots_file.write_bytes(roots)

    def _start_node(self, images: list[BuiltImage]) -> None:
        layout = self.node_layout
        if self.processes.pid("node") is None:
            # A node that died leaves containers and shims in its cgroups: clear them first.
            node.remove_cgroups(network.NETNS)
            node.create_cgroups(network.NETNS)
            node.write_node_files(
                layout,
                node_ip=network.NODE_IP,
                ca_file=self.pki.ca_cert,
                netns=network.NETNS,
                pause_image=images[0].name,
            )
        self._start(
            "node",
            [
                "unshare",
                "--mount",
                "--propagation=private",
                sys.executable,
                "-m",
                "localcluster.nodeinit",
                f"--node-dir={layout.directory}",
                f"--bin-dir={build.bin_dir(BY_NAME['kubernetes'], self.cache_dir)}",
                f"--log-dir={self.processes.log_dir}",
                f"--node-ip={network.NODE_IP}",
                f"--netns={network.NETNS}",
            ],
            env={"PYTHONPATH": str(REPO_ROOT)},
        )
        self._wait("node", layout.socket.is_socket, timeout=60)
        self._import_images(images)
        self._wait("node", self._node_ready, timeout=120)

    def _import_images(self, images: list[BuiltImage]) -> None:
        """Import what containerd does not have yet (also into a node that was running)."""
        ctr = ["ctr", f"--address={self.node_layout.socket}", "-n", "k8s.io", "images"]
        present = set(
            subprocess.run([*ctr, "ls", "-q"], capture_output=True, text=True).stdout.split()
        )
        for image in images:
            if image.name in present:
                continue
            self.log(f"importing {image.name} into containerd")
            result = subprocess.run(
                [*ctr, "import", str(image.archive)], capture_output=True, text=True
            )
            if result.returncode != 0:
                raise ClusterError(f"importing {image.archive}: {result.stderr.strip()}")

    def _node_ready(self) -> bool:
        result = self.kubectl(
            "get",
            "node",
            NODE_NAME,
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
            check=False,
        )
        return result.strip() == "True"

    # ---- files for humans and tools -----------------------------------------------------

    def _write_kubeconfigs(self) -> None:
        pki, layout = self.pki, self.node_layout
        layout.directory.mkdir(parents=True, exist_ok=True)
        for path, user in (
            (self.kubeconfig, "admin"),
            (layout.kubelet_kubeconfig, "kubelet"),
            (layout.kube_proxy_kubeconfig, "kube-proxy"),
        ):
            write_kubeconfig(
                path,
                server=self.apiserver_url,
                ca_pem=pki.ca_cert.read_bytes(),
                user=user,
                client_cert_pem=pki.cert(user).read_bytes(),
                client_key_pem=pki.key(user).read_bytes(),
            )

    def _write_operator_overlay(self, image: BuiltImage, *, solver: BuiltImage) -> None:
        reference = image.name.removeprefix("docker.io/library/")
        solver_reference = solver.name.removeprefix("docker.io/library/")
        write_operator_overlay(
            self.operator_overlay,
            image=reference,
            solver_image=solver_reference,
            settings={
                "WEBHOOK_CERT_ACME_SERVER": self.pebble_directory,
                "WEBHOOK_CERT_ACME_AGREE_TOS": "true",
                "WEBHOOK_CERT_ACME_EMAIL": "ops@example.test",
                "WEBHOOK_CERT_NAMESERVERS": self.nameserver,
            },
            acme_ca_pem=self.pki.ca_cert.read_bytes(),
        )
        (self.state_dir / "operator-image").write_text(reference)
        (self.state_dir / "solver-image").write_text(solver_reference)

    def _write_tools(self) -> None:
        bin_dir = self.state_dir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        kubectl = shlex.quote(self._bin("kubernetes", "kubectl"))
        tools = {
            "kubectl": f"exec nsenter --net=/run/netns/{network.NETNS} -- {kubectl} "
            f'--kubeconfig {shlex.quote(str(self.kubeconfig))} "$@"',
            "cluster-exec": f'exec nsenter --net=/run/netns/{network.NETNS} -- "$@"',
        }
        for name, body in tools.items():
            path = bin_dir / name
            path.write_text(
                f"#!/bin/sh\n# Generated by localcluster: enters the cluster's network.\n{body}\n"
            )
            path.chmod(0o755)

    def _write_env_file(self) -> None:
        lines = [f"{key}={shlex.quote(value)}" for key, value in self.environment().items()]
        self.env_file.write_text("\n".join(lines) + "\n")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [self._bin("kubernetes", "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
        )
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    # ---- down ---------------------------------------------------------------------------

    def down(self) -> None:
        with self._exclusive():
            self._down()

    def _down(self) -> None:
        table = self.processes
        for name in reversed(COMPONENTS):
            if table.pid(name) is not None:
                self.log(f"stopping {name}")
            table.stop(name)
            if name == "node":
                node.remove_cgroups(network.NETNS)  # the containers and their shims
        for name in table.names():  # anything else a previous version started
            table.stop(name)
        network.delete_all()
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        self.log("local cluster removed")


def etcd_argv(
    binary: str, data_dir: Path, *, client_port: int = 2379, peer_port: int = 2380
) -> list[str]:
    """A one-member etcd on 127.0.0.1 (the local cluster's, or a test's on other ports)."""
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        binary,
        "--name=default",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        # A test cluster: durability is not worth the fsync latency.
        "--unsafe-no-fsync",
        # The apiserver's consistent reads from its watch cache rely on progress
        # notifications.
        "--watch-progress-notify-interval=5s",
        "--log-level=warn",
    ]


def apiserver_argv(
    binary: str,
    pki: ClusterPki,
    *,
    etcd: str,
    bind_address: str,
    port: int,
    advertise_address: str,
    service_cidr: str,
    cert_dir: Path,
) -> list[str]:
    """What every kube-apiserver here runs with: the PKI of `certs.py` (serving
    certificate, client CA, service-account keys). The local cluster adds the node's flags."""
    return [
        binary,
        f"--etcd-servers={etcd}",
        f"--bind-address={bind_address}",
        f"--secure-port={port}",
        f"--advertise-address={advertise_address}",
        f"--tls-cert-file={pki.cert('apiserver')}",
        f"--tls-private-key-file={pki.key('apiserver')}",
        f"--client-ca-file={pki.ca_cert}",
        f"--service-cluster-ip-range={service_cidr}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.service_account_public_key}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        "--profiling=false",
        f"--cert-dir={cert_dir}",
    ]


def apiserver_ready(host: str, port: int, pki: ClusterPki) -> bool:
    """/readyz answers 200 to the admin's client certificate."""
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.cert("admin")), str(pki.key("admin")))
    return _http_ok(host, port, "/readyz", context=context)


def _http_get(host: str, port: int, path: str, *, context: ssl.SSLContext | None = None) -> bytes:
    connection: http.client.HTTPConnection
    if context is None:
        connection = http.client.HTTPConnection(host, port, timeout=3)
    else:
        connection = http.client.HTTPSConnection(host, port, timeout=3, context=context)
    try:
        # Pebble, like Let's Encrypt, refuses requests without a User-Agent.
        connection.request("GET", path, headers={"User-Agent": "webhook-cert-localcluster"})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise OSError(f"GET {path}: HTTP {response.status}")
        return body
    finally:
        connection.close()


def _http_ok(host: str, port: int, path: str, *, context: ssl.SSLContext | None = None) -> bool:
    _http_get(host, port, path, context=context)
    return True


def _tcp_open(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=2):
        return True


def main(argv: list[str]) -> int:
    cluster = LocalCluster()
    command = argv[0] if argv else "up"
    if command == "up":
        try:
            cluster.up()
        except ClusterError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(usage(cluster))
    elif command == "down":
        cluster.down()
    elif command == "status":
        for name in COMPONENTS:
            pid = cluster.processes.pid(name)
            print(f"{name:24} {'running, pid ' + str(pid) if pid else 'stopped'}")
    elif command == "image":
        for image in ImageBuilder(cluster.cache_dir, cluster.state_dir / "logs").build_all():
            print(f"{image.name}: {image.archive}")
    elif command == "env":
        for key, value in cluster.environment().items():
            print(f"export {key}={shlex.quote(value)}")
    else:
        print("usage: python -m localcluster [up|down|status|env|image]", file=sys.stderr)
        return 2
    return 0


def usage(cluster: LocalCluster) -> str:
    rel = os.path.relpath(cluster.state_dir, Path.cwd())
    return f"""
The local cluster runs in network namespace `{network.NETNS}`.
  {rel}/bin/kubectl get nodes,pods -A      # kubectl, inside the cluster's network
  {rel}/bin/cluster-exec COMMAND           # any command, inside the cluster's network
  ACME directory (Pebble): {cluster.pebble_directory}
  Pebble's issuing root:   {rel}/pebble-roots.pem
  Test hostnames resolve through {cluster.nameserver} to the ingress at {network.NODE_IP}
  Logs: {rel}/logs/   Stop everything: make cluster-down
"""

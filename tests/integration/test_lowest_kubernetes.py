"""The lowest Kubernetes the README supports (LOWEST_KUBERNETES_VERSION in
localcluster/versions.py, 1.31: the CRD's CEL `isIP()` needs it), tested for real.

A fresh kube-apiserver of that version on its own etcd, both on random ports of
127.0.0.1 with a throwaway PKI: no node, no controller-manager, no network namespace.
`install.yaml` must go in with one apply, and the CRD's rules must refuse and accept what
test_crd_validation.py's checks expect of the local cluster's Kubernetes: its checks run
here against this API server, its refusals with the same messages but for the one
difference in wording that 1.31 has (see `as_on_the_lowest_version`). Everything started
here is stopped at the end of the module.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from localcluster import build
from localcluster.certs import ensure_pki
from localcluster.cluster import apiserver_argv, apiserver_ready, etcd_argv
from localcluster.kubeconfig import write_kubeconfig
from localcluster.versions import BY_NAME, LOWEST_KUBERNETES_VERSION

from tests.integration import test_crd_validation as crd_checks
from tests.integration.conftest import Cluster

pytestmark = pytest.mark.harness

INSTALL_YAML = Path(__file__).resolve().parents[2] / "install.yaml"
# The Service range only names addresses (the `kubernetes` Service's): nothing here sends
# traffic to it. A documentation range (RFC 5737), so it can be no one's real network.
SERVICE_CIDR = "192.0.2.0/24"
SERVICE_IP = "192.0.2.1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Process:
    """A component started in a session of its own, its output in a log file."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name, self.log = name, log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited during start-up:\n{self._tail()}")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{self.name} not ready in {timeout:.0f}s:\n{self._tail()}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=15)

    def _tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])


@pytest.fixture(scope="module")
def lowest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The lowest version's kube-apiserver on a fresh etcd, and the local cluster's
    kubectl (built if missing, as `make cluster-up` would) to talk to it."""
    cache = build.default_cache_dir()
    etcd_bin = build.build(BY_NAME["etcd"], cache) / "etcd"
    apiserver_bin = build.build(BY_NAME["kubernetes-lowest"], cache) / "kube-apiserver"
    kubectl = build.build(BY_NAME["kubernetes"], cache) / "kubectl"

    work = tmp_path_factory.mktemp("lowest-kubernetes")
    pki = ensure_pki(work / "pki", node_ip="127.0.0.1", service_ip=SERVICE_IP, node_name="no-node")
    etcd_port, peer_port, port = _free_port(), _free_port(), _free_port()
    started: list[_Process] = []
    try:
        etcd = _Process(
            "etcd",
            etcd_argv(str(etcd_bin), work / "etcd", client_port=etcd_port, peer_port=peer_port),
            work / "etcd.log",
        )
        started.append(etcd)
        etcd.wait_until(lambda: _tcp_open(etcd_port), timeout=30)
        apiserver = _Process(
            "kube-apiserver",
            [
                *apiserver_argv(
                    str(apiserver_bin),
                    pki,
                    etcd=f"http://127.0.0.1:{etcd_port}",
                    bind_address="127.0.0.1",
                    port=port,
                    advertise_address="127.0.0.1",
                    service_cidr=SERVICE_CIDR,
                    cert_dir=work / "apiserver-certs",
                ),
                "--authorization-mode=RBAC",
            ],
            work / "kube-apiserver.log",
        )
        started.append(apiserver)
        apiserver.wait_until(lambda: apiserver_ready("127.0.0.1", port, pki), timeout=120)

        kubeconfig = write_kubeconfig(
            work / "kubeconfig",
            server=f"https://127.0.0.1:{port}",
            ca_pem=pki.ca_cert.read_bytes(),
            user="admin",
            client_cert_pem=pki.cert("admin").read_bytes(),
            client_key_pem=pki.key("admin").read_bytes(),
        )
        yield Cluster(kubeconfig, str(kubectl), dict(os.environ), local=False)
    finally:
        for process in reversed(started):
            process.stop()
    assert [p.name for p in started if p.popen.poll() is None] == []


def _tcp_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return True


@pytest.fixture(scope="module")
def installed(lowest: Cluster) -> subprocess.CompletedProcess[str]:
    """`kubectl apply -f install.yaml`, once, on the fresh API server."""
    return lowest.kubectl("apply", "-f", str(INSTALL_YAML), check=False)


@pytest.fixture
def namespace(lowest: Cluster, installed: Any) -> str:
    """A fresh namespace, never deleted: the API server goes away with the module, and
    without a controller-manager a deleted namespace would stay Terminating anyway."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    lowest.kubectl("create", "namespace", name)
    return name


def test_the_api_server_is_the_lowest_supported_version(lowest: Cluster) -> None:
    result = lowest.kubectl("version", "-o", "json")
    assert json.loads(result.stdout)["serverVersion"]["gitVersion"] == LOWEST_KUBERNETES_VERSION


def test_install_yaml_is_accepted_in_one_apply(
    lowest: Cluster, installed: subprocess.CompletedProcess[str]
) -> None:
    assert installed.returncode == 0, installed.stderr
    created = installed.stdout.splitlines()
    documents = INSTALL_YAML.read_text().count("\nkind: ")
    assert len(created) == documents, installed.stdout
    assert all(line.endswith(" created") for line in created), installed.stdout
    lowest.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd_checks.CRD_NAME}"
    )


@pytest.fixture
def crd(lowest: Cluster, installed: Any) -> None:
    """What test_crd_validation.py's `crd` fixture gives: here, from install.yaml."""
    lowest.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd_checks.CRD_NAME}"
    )


# Before Kubernetes 1.35 a refusal by a CEL rule names the field's type where the value
# stands from 1.35 on (apiextensions-apiserver's schema/cel/validation.go passes `sts.Type`
# up to v0.34): `spec.dnsNames[0]: Invalid value: "string": is an IP address; ...`. The
# path and the rule's own message are the same.
_QUOTED_VALUE = re.compile(r'Invalid value: "[^"]*"')
_NAMES_THE_TYPE = int(LOWEST_KUBERNETES_VERSION.split(".")[1]) < 35


def as_on_the_lowest_version(fragment: str) -> str:
    if _NAMES_THE_TYPE:
        return _QUOTED_VALUE.sub('Invalid value: "string"', fragment)
    return fragment


@pytest.mark.parametrize(("spec", "expected"), crd_checks.REFUSALS)
def test_the_lowest_version_refuses_a_bad_spec_with_the_same_message(
    lowest: Cluster, namespace: str, crd: None, spec: dict[str, Any], expected: list[str]
) -> None:
    message = crd_checks.refused(lowest, namespace, spec)
    for fragment in expected:
        assert as_on_the_lowest_version(fragment) in message
    stored = lowest.kubectl("get", "webhookendpoints", "-n", namespace, "-o", "name")
    assert stored.stdout.strip() == ""


# The rest of test_crd_validation.py's checks on the API server, run as they are: what it
# accepts and how it stores it, the refusal of a name too long for the default Secret name,
# the status subresource. Found by their parameters, so a check added there runs here too.
AS_THEY_ARE = [
    check
    for name, check in vars(crd_checks).items()
    if name.startswith("test_")
    and list(inspect.signature(check).parameters) == ["cluster", "namespace", "crd"]
]


@pytest.mark.parametrize("check", AS_THEY_ARE, ids=[check.__name__[5:] for check in AS_THEY_ARE])
def test_the_lowest_version_passes_the_crd_checks_of_the_local_cluster(
    lowest: Cluster, namespace: str, crd: None, check: Callable[[Cluster, str, None], None]
) -> None:
    check(lowest, namespace, crd)


def test_kubectl_explain_documents_the_fields_there_too(lowest: Cluster, crd: None) -> None:
    crd_checks.test_kubectl_explain_documents_the_fields(lowest, crd)


def test_every_check_of_the_api_server_in_test_crd_validation_runs_here() -> None:
    on_the_api_server = {
        name
        for name, check in vars(crd_checks).items()
        if name.startswith("test_") and "cluster" in inspect.signature(check).parameters
    }
    run_here = {check.__name__ for check in AS_THEY_ARE} | {
        crd_checks.test_the_api_server_refuses_a_bad_spec_with_a_clear_message.__name__,
        crd_checks.test_kubectl_explain_documents_the_fields.__name__,
    }
    assert on_the_api_server == run_here
    assert len(AS_THEY_ARE) >= 8

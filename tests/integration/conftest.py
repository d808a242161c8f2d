"""Session fixtures for tests that need a Kubernetes cluster.

By default the tests start (or reuse) the local cluster of `localcluster/` and move the
test process into its network namespace, so they reach the apiserver, the ingress and
Pebble directly. With `WEBHOOK_CERT_TEST_CLUSTER=external` they use the cluster of
`KUBECONFIG` instead (kind, for example) and a Pebble described by the same variables
the operator reads (`WEBHOOK_CERT_ACME_SERVER`, `WEBHOOK_CERT_ACME_CA_BUNDLE`,
`WEBHOOK_CERT_NAMESERVERS`) plus `WEBHOOK_CERT_TEST_PEBBLE_ROOTS` (a PEM file of Pebble's
issuing roots), optionally a second CA (`WEBHOOK_CERT_TEST_SECOND_ACME_SERVER`,
`WEBHOOK_CERT_TEST_SECOND_PEBBLE_ROOTS`) and a Gateway (`WEBHOOK_CERT_TEST_GATEWAY`),
`WEBHOOK_CERT_TEST_INGRESS_CLASS` and `WEBHOOK_CERT_TEST_OPERATOR_OVERLAY` (the kustomize
overlay that installs the operator for that CA); tests marked `harness` are skipped there.
In both modes the operator runs as its Deployment (`operator_deployment.py`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.integration import k8s


@dataclass
class Cluster:
    kubeconfig: Path
    kubectl_binary: str
    env: dict[str, str]
    local: bool
    api_client: client.ApiClient = field(init=False)

    def __post_init__(self) -> None:
        self.api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig)
        )

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.kubectl_binary, f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    @property
    def ingress_class(self) -> str:
        return self.env.get("WEBHOOK_CERT_TEST_INGRESS_CLASS", "traefik")

    @property
    def nameservers(self) -> list[str]:
        value = self.env.get("WEBHOOK_CERT_NAMESERVERS", "")
        return [item for item in value.split(",") if item]

    @property
    def pebble_directory(self) -> str:
        return self.env["WEBHOOK_CERT_ACME_SERVER"]

    @property
    def acme_ca_bundle(self) -> str:
        return self.env["WEBHOOK_CERT_ACME_CA_BUNDLE"]

    def pebble_roots_pem(self) -> bytes:
        return Path(self.env["WEBHOOK_CERT_TEST_PEBBLE_ROOTS"]).read_bytes()

    @property
    def second_acme_server(self) -> str:
        """A second ACME CA with roots of its own; the test is skipped without one."""
        server = self.env.get("WEBHOOK_CERT_TEST_SECOND_ACME_SERVER")
        if not server:
            pytest.skip("needs a second ACME CA (WEBHOOK_CERT_TEST_SECOND_ACME_SERVER)")
        return server

    @property
    def gateway(self) -> tuple[str, str]:
        """(namespace, name) of a Gateway on port 80 open to every namespace; else skip."""
        value = self.env.get("WEBHOOK_CERT_TEST_GATEWAY")
        if not value:
            pytest.skip("needs a Gateway API Gateway (WEBHOOK_CERT_TEST_GATEWAY=namespace/name)")
        namespace, _, name = value.partition("/")
        return namespace, name

    def second_pebble_roots_pem(self) -> bytes:
        return Path(self.env["WEBHOOK_CERT_TEST_SECOND_PEBBLE_ROOTS"]).read_bytes()


def _external_cluster() -> Cluster:
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        pytest.exit("WEBHOOK_CERT_TEST_CLUSTER=external needs KUBECONFIG", returncode=2)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.exit("WEBHOOK_CERT_TEST_CLUSTER=external needs kubectl on PATH", returncode=2)
    return Cluster(Path(kubeconfig), kubectl, dict(os.environ), local=False)


def _local_cluster() -> Cluster:
    from localcluster.cluster import LocalCluster

    harness = LocalCluster()
    harness.up()  # idempotent; also moves this process into the cluster's network
    kubectl = str(Path(harness._bin("kubernetes", "kubectl")))
    env = {**os.environ, **harness.environment()}
    return Cluster(harness.kubeconfig, kubectl, env, local=True)


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """The cluster stays up after the session (warm for the next run): `make cluster-down`."""
    if os.environ.get("WEBHOOK_CERT_TEST_CLUSTER") == "external":
        return _external_cluster()
    return _local_cluster()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace; on the way out, every container that ran in it must have run
    in containerd (the real node), not in anything standing in for it."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(cluster.api_client)
    core.create_namespace(
        k8s.body({"metadata": {"name": name, "labels": {"webhookcert.dev/test": "1"}}})
    )
    yield name
    containers = [
        (k8s.name(pod), status.container_id)
        for pod in core.list_namespaced_pod(name).items
        for status in k8s.status(pod).container_statuses or []
        if status.container_id
    ]
    core.delete_namespace(name)
    assert all(cid.startswith("containerd://") for _, cid in containers), containers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `after_all` inspect what the whole run left behind: they go last."""
    items.sort(key=lambda item: item.get_closest_marker("after_all") is not None)


@pytest.fixture(autouse=True)
def _skip_harness_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("harness") is None:
        return
    if os.environ.get("WEBHOOK_CERT_TEST_CLUSTER") == "external":
        pytest.skip("needs the local harness (its node, network namespace and processes)")

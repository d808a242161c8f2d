"""Issuance end to end: a WebhookEndpoint becomes a verified certificate in a Secret.

Real apiserver, real Pebble validating HTTP-01 through Traefik, the real operator process
running under the shipped RBAC.
"""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.verification import PolicyBuilder, Store
from kubernetes import client

from tests.integration import k8s
from tests.integration.conftest import Cluster
from tests.integration.operator_deployment import (
    OperatorDeployment,
    endpoint,
    get_status,
    operator_deployment,
    solver_objects,
    wait_for_condition,
)
from tests.integration.workloads import wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def operator(cluster: Cluster) -> OperatorDeployment:
    return operator_deployment(cluster, {"WEBHOOK_CERT_SELF_CHECK_TIMEOUT": "15s"})


@pytest.fixture
def namespace(namespace: str, cluster: Cluster) -> str:
    """Pod Security "restricted" is enforced: the apiserver refuses a non-compliant solver."""
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    return namespace


def apply(cluster: Cluster, body: dict[str, object]) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))


def secret_data(cluster: Cluster, namespace: str, name: str) -> dict[str, bytes]:
    secret = client.CoreV1Api(cluster.api_client).read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}


def assert_solver_objects_removed(cluster: Cluster, namespace: str) -> None:
    """Deletion is asynchronous (a Pod first gets its deletionTimestamp): allow a moment."""
    wait_for(
        lambda: not solver_objects(cluster, namespace),
        timeout=30,
        what="the solver Pod, Service and Ingress to be removed",
    )


def verify_with_served_intermediates_only(
    cluster: Cluster, chain_pem: bytes, host: str, roots_pem: bytes | None = None
) -> list[x509.Certificate]:
    """Build the path as a strict client: Pebble's root, and only what tls.crt carries."""
    chain = x509.load_pem_x509_certificates(chain_pem)
    roots = x509.load_pem_x509_certificates(roots_pem or cluster.pebble_roots_pem())
    verifier = (
        PolicyBuilder()
        .store(Store(roots))
        .time(datetime.now(UTC))
        .build_server_verifier(x509.DNSName(host))
    )
    return list(verifier.verify(chain[0], chain[1:]))


def test_an_endpoint_gets_a_certificate_whose_chain_verifies_from_the_secret_alone(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    host = f"hooks.{namespace}.example.test"
    started = time.monotonic()
    apply(cluster, endpoint(namespace, "hooks", [host]))

    wait_for_condition(cluster, namespace, "hooks", "Ready", "True", timeout=180)
    elapsed = time.monotonic() - started
    print(f"apply -> Ready: {elapsed:.1f}s")

    data = secret_data(cluster, namespace, "hooks-tls")
    path = verify_with_served_intermediates_only(cluster, data["tls.crt"], host)
    leaf = path[0]
    key = load_pem_private_key(data["tls.key"], password=None)
    assert leaf.public_key() == key.public_key()
    assert len(x509.load_pem_x509_certificates(data["tls.crt"])) >= 2
    status = get_status(cluster, namespace, "hooks")
    assert status["serialNumber"] == format(leaf.serial_number, "X").rjust(
        len(status["serialNumber"]), "0"
    )
    assert status["observedGeneration"] == 1
    assert_solver_objects_removed(cluster, namespace)
    metrics = operator.metrics()
    assert 'webhook_cert_issuance_attempts_total{reason="Issued",result="success"}' in metrics
    assert 'webhook_cert_acme_requests_total{kind="finalize",status="200"}' in metrics
    assert (
        f'webhook_cert_certificate_not_after_timestamp_seconds{{name="hooks",namespace="{namespace}"}}'
        in metrics
    )
    log = operator.logs()
    assert "PRIVATE KEY" not in log
    assert not re.search(r"acme-challenge/[A-Za-z0-9_-]{20,}", log), "a token reached the log"
    events = cluster.kubectl(
        "get", "events", "-n", namespace, "-o", "jsonpath={.items[*].reason}"
    ).stdout.split()
    assert "Issued" in events


def test_an_endpoint_with_three_names_gets_one_certificate_for_all(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    hosts = [f"{label}.{namespace}.example.test" for label in ("a", "b", "c")]
    apply(cluster, endpoint(namespace, "three", hosts, secretName="three-names"))

    wait_for_condition(cluster, namespace, "three", "Ready", "True", timeout=180)

    chain_pem = secret_data(cluster, namespace, "three-names")["tls.crt"]
    for host in hosts:
        verify_with_served_intermediates_only(cluster, chain_pem, host)
    assert_solver_objects_removed(cluster, namespace)


def test_a_secret_that_belongs_to_someone_else_is_refused_and_left_untouched(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    core = client.CoreV1Api(cluster.api_client)
    core.create_namespaced_secret(
        namespace,
        k8s.body({"metadata": {"name": "taken"}, "stringData": {"password": "hunter2"}}),
    )
    before = core.read_namespaced_secret("taken", namespace)

    apply(
        cluster,
        endpoint(namespace, "intruder", [f"x.{namespace}.example.test"], secretName="taken"),
    )
    ready = wait_for_condition(
        cluster, namespace, "intruder", "Ready", "False", reason="SecretNotOwned", timeout=60
    )

    after = core.read_namespaced_secret("taken", namespace)
    assert k8s.metadata(after).resource_version == k8s.metadata(before).resource_version
    assert after.data == before.data
    assert "taken" in ready["message"]
    assert "spec.secretName" in ready["message"]
    assert get_status(cluster, namespace, "intruder").get("order") is None


def test_a_self_check_that_cannot_pass_says_why_instead_of_asking_the_ca(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    host = f"lost.{namespace}.example.test"
    apply(
        cluster,
        endpoint(namespace, "lost", [host], http01={"ingressClassName": "nothing-serves-this"}),
    )

    issuing = wait_for_condition(
        cluster, namespace, "lost", "Issuing", "False", reason="SelfCheckFailed", timeout=90
    )

    assert f"http://{host}/.well-known/acme-challenge/<token>" in issuing["message"]
    assert "HTTP 404" in issuing["message"]
    ready = wait_for_condition(cluster, namespace, "lost", "Ready", "False", timeout=5)
    assert ready["reason"] != "CertificateValid"
    assert wait_for(
        lambda: not solver_objects(cluster, namespace),
        timeout=30,
        what="solver objects to be removed",
    )


def test_switching_the_acme_server_reissues_at_once_from_the_new_ca(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    second = cluster.second_acme_server
    host = f"switch.{namespace}.example.test"
    apply(cluster, endpoint(namespace, "switch", [host]))
    wait_for_condition(cluster, namespace, "switch", "Ready", "True", timeout=180)
    first_serial = get_status(cluster, namespace, "switch")["serialNumber"]
    first = secret_data(cluster, namespace, "switch-tls")["tls.crt"]
    verify_with_served_intermediates_only(cluster, first, host)

    started = time.monotonic()
    cluster.kubectl(
        "patch", "whe", "switch", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"acme": {"server": second}}}),
    )  # fmt: skip
    # Far sooner than the renewal daemon's 5-minute look: the spec change itself reissues.
    wait_for(
        lambda: get_status(cluster, namespace, "switch").get("serialNumber") != first_serial,
        timeout=120,
        what="a new certificate after spec.acme.server changed",
    )
    print(f"server switched -> new certificate: {time.monotonic() - started:.1f}s")

    secret = client.CoreV1Api(cluster.api_client).read_namespaced_secret("switch-tls", namespace)
    chain_pem = base64.b64decode(k8s.present(secret.data, "the Secret's data")["tls.crt"])
    verify_with_served_intermediates_only(
        cluster, chain_pem, host, cluster.second_pebble_roots_pem()
    )
    with pytest.raises(x509.verification.VerificationError):
        verify_with_served_intermediates_only(cluster, chain_pem, host)  # not the old root
    assert (k8s.metadata(secret).annotations or {})["webhookcert.dev/acme-server"] == second
    events = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "reason=IssuerChanged",
        "-o", "jsonpath={.items[*].message}",
    ).stdout  # fmt: skip
    assert "issued by another CA (spec.acme.server changed)" in events
    wait_for_condition(cluster, namespace, "switch", "Ready", "True", timeout=30)
    issuing = get_status(cluster, namespace, "switch")["conditions"]
    assert {c["type"]: c["reason"] for c in issuing}["Issuing"] == "Issued"

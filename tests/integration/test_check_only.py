"""Check-only endpoints: the certificate comes from elsewhere, the operator only checks.

A Secret written by hand stands in for cert-manager's: Traefik serves it, the operator
reads it and probes the endpoint, and never writes the Secret or asks a CA for anything.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests import pki_factory
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
from tests.integration.test_served_chain import events, serve_through_traefik
from tests.integration.workloads import wait_for
from webhook_cert_operator.certificates import pki

pytestmark = pytest.mark.cluster

SECRET = "receiver-tls"


@pytest.fixture(scope="module")
def operator(cluster: Cluster) -> OperatorDeployment:
    return operator_deployment(cluster)


def orders_at_pebble(cluster: Cluster) -> int:
    """Orders both local Pebbles have taken, from their logs (Pebble has no order list)."""
    logs = Path(cluster.kubeconfig).parent / "logs"
    return sum(
        (logs / f"{name}.log").read_text().count("Added order")
        for name in ("pebble", "pebble-second")
    )


def tls_secret(chain: tuple[Any, ...], key_pem: bytes) -> dict[str, Any]:
    return {
        "metadata": {"name": SECRET, "labels": {"written-by": "hand"}},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(pki.chain_to_pem(list(chain))).decode(),
            "tls.key": base64.b64encode(key_pem).decode(),
        },
    }


def snapshot(core: client.CoreV1Api, namespace: str) -> dict[str, Any]:
    """Everything about the Secret a write would change, as the API server returns it."""
    secret = core.read_namespaced_secret(SECRET, namespace)
    return {
        "resourceVersion": k8s.metadata(secret).resource_version,
        "data": secret.data,
        "type": secret.type,
        "labels": k8s.metadata(secret).labels,
        "annotations": k8s.metadata(secret).annotations,
        "ownerReferences": k8s.metadata(secret).owner_references,
        "managedFields": [f.manager for f in k8s.metadata(secret).managed_fields or []],
    }


def test_a_check_only_endpoint_reports_a_leaf_only_secret_and_its_fix_without_touching_it(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    host = f"receiver.{namespace}.example.test"
    hierarchy = pki_factory.build_chain([host], depth=2, prefix="Hand")
    core = client.CoreV1Api(cluster.api_client)
    core.create_namespaced_config_map(
        namespace,
        k8s.body(
            {
                "metadata": {"name": "hand-roots"},
                "data": {"ca.crt": hierarchy.root.cert_pem().decode()},
            }
        ),
    )
    # The classic mistake of the RingCentral guide: only the leaf in the served file.
    core.create_namespaced_secret(
        namespace, k8s.body(tls_secret((hierarchy.leaf.cert,), hierarchy.leaf.key_pem()))
    )
    serve_through_traefik(cluster, namespace, host, SECRET)
    orders_before = orders_at_pebble(cluster) if cluster.local else 0
    written = snapshot(core, namespace)

    body = {
        "apiVersion": "webhookcert.dev/v1alpha1",
        "kind": "WebhookEndpoint",
        "metadata": {"name": "receiver", "namespace": namespace},
        "spec": {
            "dnsNames": [host],
            "checkOnly": {"secretRef": {"name": SECRET}},
            "validation": {"trustBundle": {"kind": "ConfigMap", "name": "hand-roots"}},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))

    incomplete = wait_for_condition(
        cluster, namespace, "receiver", "ChainValid", "False", reason="IncompleteChain", timeout=90
    )
    assert "Hand Intermediate CA 2" in incomplete["message"]
    ready = wait_for_condition(cluster, namespace, "receiver", "Ready", "True", timeout=10)
    assert ready["reason"] == "CertificateValid"
    status = get_status(cluster, namespace, "receiver")
    assert status["serialNumber"] == pki.describe_certificate(hierarchy.leaf.cert).serial_number
    assert status["secretResourceVersion"] == written["resourceVersion"]
    assert snapshot(core, namespace) == written

    # The fix, as its owner would make it: the whole chain in tls.crt, same leaf and key.
    fixed_body = tls_secret(hierarchy.served(), hierarchy.leaf.key_pem())
    core.replace_namespaced_secret(SECRET, namespace, k8s.body(fixed_body))
    fixed = snapshot(core, namespace)
    started = time.monotonic()
    valid = wait_for_condition(
        cluster, namespace, "receiver", "ChainValid", "True", reason="ChainValid", timeout=120
    )
    print(f"Secret fixed -> ChainValid=True: {time.monotonic() - started:.1f}s")
    assert valid["message"] == "a strict webhook sender accepts the served chain"
    served = get_status(cluster, namespace, "receiver")["validation"]["servedChain"]
    assert len(served) == 3  # leaf and both intermediates, as the Secret now holds

    # The operator looked at the new version (every 30 seconds, by name) and says so.
    wait_for(
        lambda: (
            get_status(cluster, namespace, "receiver")["secretResourceVersion"]
            == fixed["resourceVersion"]
        ),
        timeout=45,
        what="status.secretResourceVersion to follow the fixed Secret",
    )
    assert snapshot(core, namespace) == fixed
    reasons = [e["reason"] for e in events(cluster, namespace)]
    assert "IncompleteChain" in reasons and "ChainValid" in reasons
    assert not [r for r in reasons if r in ("Issuing", "OrderCreated", "Issued")]
    assert not solver_objects(cluster, namespace)
    if cluster.local:
        assert orders_at_pebble(cluster) == orders_before


def test_a_check_only_endpoint_whose_secret_is_missing_is_not_ready_and_says_which(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    host = f"absent.{namespace}.example.test"
    body = endpoint(
        namespace, "absent", [host], checkOnly={"secretRef": {"name": "from-cert-manager"}}
    )
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))

    ready = wait_for_condition(cluster, namespace, "absent", "Ready", "False", timeout=60)
    assert ready["reason"] == "SecretNotFound"
    assert ready["message"] == "Secret from-cert-manager does not exist"
    # Where an issuing endpoint would create the Secret, a check-only one creates nothing.
    secrets = client.CoreV1Api(cluster.api_client).list_namespaced_secret(namespace).items
    assert "from-cert-manager" not in [k8s.name(s) for s in secrets]
    assert not solver_objects(cluster, namespace)

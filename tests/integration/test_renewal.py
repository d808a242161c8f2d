"""Renewal end to end: on demand, with ARI `replaces`, restart targets rolled once per
certificate, the old certificate kept through a CA outage, and the Secret retained."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography import x509
from kubernetes import client
from localcluster.cluster import LocalCluster

from tests.integration import k8s
from tests.integration.conftest import Cluster
from tests.integration.operator_deployment import (
    OperatorDeployment,
    condition,
    endpoint,
    get_status,
    operator_deployment,
    wait_for_condition,
)
from tests.integration.test_served_chain import serve_through_traefik, trust_pebble
from tests.integration.workloads import project_image, wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def operator(cluster: Cluster) -> OperatorDeployment:
    return operator_deployment(cluster)


def receiver_deployment(cluster: Cluster, namespace: str) -> None:
    """A server that reads its certificate only at start, like the seed's Apache."""
    labels = {"app": "receiver"}
    container = {
        "name": "receiver",
        "image": project_image(cluster),
        "args": ["solve"],
        "env": [{"name": "WEBHOOK_CERT_CHALLENGES", "value": json.dumps({"t": "t.x"})}],
    }
    client.AppsV1Api(cluster.api_client).create_namespaced_deployment(
        namespace,
        k8s.body(
            {
                "metadata": {"name": "receiver"},
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [container]},
                    },
                },
            }
        ),
    )


def secret_serial(cluster: Cluster, namespace: str, name: str) -> str:
    secret = client.CoreV1Api(cluster.api_client).read_namespaced_secret(name, namespace)
    leaf = x509.load_pem_x509_certificates(
        base64.b64decode(k8s.present(secret.data, "the Secret's data")["tls.crt"])
    )[0]
    return format(leaf.serial_number, "X")


def deployment(cluster: Cluster, namespace: str) -> client.V1Deployment:
    return client.AppsV1Api(cluster.api_client).read_namespaced_deployment("receiver", namespace)


def renew(cluster: Cluster, namespace: str, name: str, value: str) -> None:
    cluster.kubectl(
        "annotate", "--overwrite", "whe", name, "-n", namespace, f"webhookcert.dev/renew={value}"
    )


def test_renewal_on_demand_replaces_the_certificate_and_rolls_targets_once(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    host = f"hooks.{namespace}.example.test"
    receiver_deployment(cluster, namespace)
    serve_through_traefik(cluster, namespace, host, "hooks-tls")
    body = endpoint(
        namespace,
        "hooks",
        [host],
        validation={"trustBundle": trust_pebble(cluster, namespace)},
        restartTargets=[{"kind": "Deployment", "name": "receiver"}],
    )
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))
    wait_for_condition(cluster, namespace, "hooks", "ChainValid", "True", timeout=180)
    first = get_status(cluster, namespace, "hooks")
    rolled_once = wait_for(
        lambda: k8s.metadata(deployment(cluster, namespace)).generation == 2,
        timeout=30,
        what="the Deployment to roll onto the first certificate",
    )
    assert rolled_once

    renew(cluster, namespace, "hooks", "1")
    second = wait_for(
        lambda: (
            s
            if (s := get_status(cluster, namespace, "hooks")).get("serialNumber")
            not in (None, first["serialNumber"])
            else None
        ),
        timeout=180,
        what="a renewed certificate",
    )
    wait_for(
        lambda: (
            get_status(cluster, namespace, "hooks")["validation"]["servedChain"]
            and (condition(cluster, namespace, "hooks", "ChainValid") or {}).get("status") == "True"
            and get_status(cluster, namespace, "hooks")["validation"]["servedChain"][0]["notAfter"]
            == second["notAfter"]
        ),
        timeout=120,
        what="the served leaf to be the renewed one",
    )

    assert secret_serial(cluster, namespace, "hooks-tls").lstrip("0") == second[
        "serialNumber"
    ].lstrip("0")
    assert second["order"]["replaces"], "the renewal order named the certificate it replaces"
    assert second["order"]["url"] != first["order"]["url"]
    assert second["renewalTime"] > first["renewalTime"]
    time.sleep(3)  # a further reconcile must not roll again
    assert k8s.metadata(deployment(cluster, namespace)).generation == 3
    template = k8s.metadata(k8s.spec(deployment(cluster, namespace)).template).annotations or {}
    assert template["webhookcert.dev/certificate-serial"] == second["serialNumber"]


def test_the_secret_is_retained_when_the_endpoint_is_deleted(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    body = endpoint(namespace, "gone", [f"gone.{namespace}.example.test"])
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))
    wait_for_condition(cluster, namespace, "gone", "Ready", "True", timeout=180)

    cluster.kubectl("delete", "whe", "gone", "-n", namespace, "--wait=true")
    time.sleep(3)  # time enough for the garbage collector, if it had anything to collect

    secret = client.CoreV1Api(cluster.api_client).read_namespaced_secret("gone-tls", namespace)
    assert k8s.metadata(secret).owner_references is None


@pytest.mark.harness
def test_a_ca_outage_keeps_the_old_certificate_and_renewal_completes_after_it(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    body = endpoint(namespace, "steady", [f"steady.{namespace}.example.test"])
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))
    wait_for_condition(cluster, namespace, "steady", "Ready", "True", timeout=180)
    before = secret_serial(cluster, namespace, "steady-tls")
    harness = LocalCluster(log=lambda _: None)

    harness.processes.stop("pebble")
    try:
        renew(cluster, namespace, "steady", "outage")
        issuing = wait_for_condition(
            cluster, namespace, "steady", "Issuing", "False", reason="AcmeUnavailable", timeout=90
        )
        status = get_status(cluster, namespace, "steady")
        assert (condition(cluster, namespace, "steady", "Ready") or {}).get("status") == "True"
        assert secret_serial(cluster, namespace, "steady-tls") == before
        assert status["failedAttempts"] == 1
        assert status["nextAttemptTime"] > status["lastFailureTime"]
        assert "cannot reach" in issuing["message"] or "ACME" in issuing["message"]
    finally:
        harness.up()  # brings Pebble back (with new roots: it keeps no state)

    # The first back-off step is about a minute.
    wait_for(
        lambda: secret_serial(cluster, namespace, "steady-tls") != before,
        timeout=150,
        what="the renewal after the CA came back",
    )
    wait_for_condition(
        cluster, namespace, "steady", "Issuing", "False", reason="Issued", timeout=30
    )
    assert get_status(cluster, namespace, "steady")["failedAttempts"] == 0


def test_a_certificate_is_renewed_on_time_without_being_asked(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    """renewBefore of the whole 90-day lifetime but 20 seconds: due 20 s after issuance."""
    body = endpoint(
        namespace, "timely", [f"timely.{namespace}.example.test"], renewBefore="2159h59m40s"
    )
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))
    wait_for_condition(cluster, namespace, "timely", "Ready", "True", timeout=180)
    first = get_status(cluster, namespace, "timely")

    second = wait_for(
        lambda: (
            s
            if (s := get_status(cluster, namespace, "timely")).get("serialNumber")
            not in (None, first["serialNumber"])
            else None
        ),
        timeout=120,
        what="a renewal at renewalTime",
    )

    assert second["renewalTime"] > first["renewalTime"]
    assert second["order"]["replaces"], "the renewal named the certificate it replaces"
    assert secret_serial(cluster, namespace, "timely-tls").lstrip("0") == second[
        "serialNumber"
    ].lstrip("0")
    cluster.kubectl("delete", "whe", "timely", "-n", namespace)  # it would go on renewing

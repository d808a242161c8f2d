"""Ingress automation: an annotated Ingress gets its WebhookEndpoint, and loses it again.

The operator runs with WEBHOOK_CERT_INGRESS_AUTOMATION and the RBAC of the kustomize
component manifests/components/ingress-automation, nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration import k8s
from tests.integration.conftest import Cluster
from tests.integration.operator_deployment import (
    OperatorDeployment,
    get_status,
    operator_deployment,
    wait_for_condition,
)
from tests.integration.test_issuance import secret_data, verify_with_served_intermediates_only
from tests.integration.test_served_chain import serve_through_traefik
from tests.integration.workloads import wait_for

pytestmark = pytest.mark.cluster

COMPONENT_RBAC = (
    Path(__file__).resolve().parents[2] / "manifests/components/ingress-automation/rbac.yaml"
)
ANNOTATION = "webhookcert.dev/webhook-endpoint"


@pytest.fixture(scope="module")
def operator(cluster: Cluster) -> Iterator[OperatorDeployment]:
    cluster.kubectl("apply", "-f", str(COMPONENT_RBAC))
    yield operator_deployment(
        cluster,
        {"WEBHOOK_CERT_INGRESS_AUTOMATION": "true", "WEBHOOK_CERT_SELF_CHECK_TIMEOUT": "15s"},
    )
    cluster.kubectl("delete", "-f", str(COMPONENT_RBAC), "--ignore-not-found")


def endpoint_exists(cluster: Cluster, namespace: str, name: str) -> bool:
    try:
        client.CustomObjectsApi(cluster.api_client).get_namespaced_custom_object(
            "webhookcert.dev", "v1alpha1", namespace, "webhookendpoints", name
        )
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def test_an_annotated_ingress_gets_a_ready_endpoint_that_goes_with_the_annotation(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    host = f"auto.{namespace}.example.test"
    serve_through_traefik(cluster, namespace, host, "auto-tls")
    endpoint = "receiver-auto-tls"  # <ingress>-<secretName>
    assert not endpoint_exists(cluster, namespace, endpoint)  # not without the annotation

    cluster.kubectl("annotate", "ingress", "receiver", "-n", namespace, f"{ANNOTATION}=true")

    wait_for_condition(cluster, namespace, endpoint, "Ready", "True", timeout=180)
    body = k8s.plain(
        client.CustomObjectsApi(cluster.api_client).get_namespaced_custom_object(
            "webhookcert.dev", "v1alpha1", namespace, "webhookendpoints", endpoint
        )
    )
    assert body["spec"]["dnsNames"] == [host]
    assert body["spec"]["secretName"] == "auto-tls"
    assert body["spec"]["http01"]["ingressClassName"] == cluster.ingress_class
    (owner,) = body["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("Ingress", "receiver")
    data = secret_data(cluster, namespace, "auto-tls")
    verify_with_served_intermediates_only(cluster, data["tls.crt"], host)
    assert get_status(cluster, namespace, endpoint)["dnsNames"] == [host]

    cluster.kubectl("annotate", "ingress", "receiver", "-n", namespace, f"{ANNOTATION}-")

    wait_for(
        lambda: not endpoint_exists(cluster, namespace, endpoint),
        timeout=60,
        what="the endpoint to be deleted with the annotation",
    )
    assert secret_data(cluster, namespace, "auto-tls") == data  # the Secret stays, unchanged

"""HTTP-01 through the Gateway API: the solver attaches an HTTPRoute to a Gateway (Traefik's
Gateway provider on the local cluster) instead of creating an Ingress, and Pebble
validates the challenge through it."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from tests.integration import k8s
from tests.integration.conftest import Cluster
from tests.integration.operator_deployment import (
    OperatorDeployment,
    endpoint,
    operator_deployment,
    solver_objects,
)
from tests.integration.test_issuance import secret_data, verify_with_served_intermediates_only
from tests.integration.workloads import wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def operator(cluster: Cluster) -> OperatorDeployment:
    return operator_deployment(cluster, {"WEBHOOK_CERT_SELF_CHECK_TIMEOUT": "30s"})


def solver_routes(cluster: Cluster, namespace: str) -> list[str]:
    found = k8s.plain(
        client.CustomObjectsApi(cluster.api_client).list_namespaced_custom_object(
            "gateway.networking.k8s.io",
            "v1",
            namespace,
            "httproutes",
            label_selector="webhookcert.dev/role=solver",
        )
    )
    return [f"httproute/{item['metadata']['name']}" for item in found["items"]]


def test_an_http_route_challenge_is_validated_by_pebble_through_traefiks_gateway(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    gateway_namespace, gateway = cluster.gateway
    host = f"gw.{namespace}.example.test"
    parent = {"name": gateway, "namespace": gateway_namespace}
    body = endpoint(namespace, "gw", [host], http01={"gatewayHTTPRoute": {"parentRefs": [parent]}})
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))

    seen: set[str] = set()

    def ready() -> bool:
        seen.update(solver_routes(cluster, namespace), solver_objects(cluster, namespace))
        found = client.CustomObjectsApi(cluster.api_client).get_namespaced_custom_object(
            "webhookcert.dev", "v1alpha1", namespace, "webhookendpoints", "gw"
        )
        status = k8s.plain(found).get("status") or {}
        return any(
            c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []
        )

    wait_for(ready, timeout=180, what="gw Ready=True", interval=0.3)

    kinds = {item.split("/")[0] for item in seen}
    assert "httproute" in kinds, seen
    assert "ingress" not in kinds, seen  # the Gateway path, not the Ingress one
    chain = secret_data(cluster, namespace, "gw-tls")["tls.crt"]
    verify_with_served_intermediates_only(cluster, chain, host)
    wait_for(
        lambda: not solver_routes(cluster, namespace) and not solver_objects(cluster, namespace),
        timeout=30,
        what="the solver HTTPRoute, Pod and Service to be removed",
    )

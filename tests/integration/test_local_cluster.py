"""The cluster the other integration tests rely on behaves like a real one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.integration.conftest import Cluster
from tests.integration.workloads import (
    PROJECT_IMAGE,
    http_get_via_ingress,
    solver_like_pod,
    wait_for,
)

pytestmark = pytest.mark.cluster

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.harness.webhookcert.dev"},
    "spec": {
        "group": "harness.webhookcert.dev",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "size": {"type": "integer"},
                                    "name": {"type": "string"},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.size <= 10",
                                        "message": "size must be at most 10",
                                    }
                                ],
                            }
                        },
                    }
                },
            }
        ],
    },
}


def test_kubectl_version_reports_a_real_server(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)

    assert version["serverVersion"]["major"] == "1"
    assert int(version["serverVersion"]["minor"].rstrip("+")) >= 35
    assert version["serverVersion"]["gitVersion"].startswith("v1.")


def test_a_cel_rule_refuses_a_bad_object_with_the_apiservers_message(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(WIDGET_CRD))
    cluster.kubectl("wait", "--for=condition=Established", "crd/widgets.harness.webhookcert.dev")
    widget = {
        "apiVersion": "harness.webhookcert.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "big", "namespace": namespace},
        "spec": {"size": 11, "name": "x"},
    }

    refused = cluster.kubectl("apply", "-f", "-", input=json.dumps(widget), check=False)
    widget["spec"]["size"] = 3
    accepted = cluster.kubectl("apply", "-f", "-", input=json.dumps(widget), check=False)

    assert refused.returncode != 0
    assert "size must be at most 10" in refused.stderr
    assert accepted.returncode == 0, accepted.stderr


@pytest.mark.harness
def test_a_pod_of_the_project_image_is_reachable_by_hostname_through_the_ingress(
    cluster: Cluster, namespace: str
) -> None:
    host = f"app.{namespace}.example.test"
    solver_like_pod(cluster, namespace, "hello", host, {"hello-token": "hello-token.answer"})

    body = wait_for(
        lambda: http_get_via_ingress(cluster, host, "/.well-known/acme-challenge/hello-token"),
        timeout=60,
        what=f"http://{host}/ to answer through the ingress",
    )

    assert body == b"hello-token.answer"


@pytest.mark.harness
def test_a_pod_of_another_image_stays_pending_with_a_reason(
    cluster: Cluster, namespace: str
) -> None:
    core = client.CoreV1Api(cluster.api_client)
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "nginx"},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
        },
    )

    def waiting_reason() -> str | None:
        pod = core.read_namespaced_pod("nginx", namespace)
        statuses = pod.status.container_statuses or []
        if statuses and statuses[0].state.waiting:
            return str(statuses[0].state.waiting.message)
        return None

    message = wait_for(waiting_reason, timeout=30, what="the pod to be refused")

    assert core.read_namespaced_pod("nginx", namespace).status.phase == "Pending"
    assert "nginx:1.27" in message
    assert PROJECT_IMAGE.split(":")[0] in message


def test_deleting_an_owner_deletes_what_it_owns(cluster: Cluster, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api_client)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(
        namespace,
        {
            "metadata": {
                "name": "owned",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": owner.metadata.uid,
                    }
                ],
            }
        },
    )

    core.delete_namespaced_config_map("owner", namespace)

    def owned_is_gone() -> bool:
        try:
            core.read_namespaced_config_map("owned", namespace)
        except ApiException as error:
            return error.status == 404
        return False

    wait_for(owned_is_gone, timeout=60, what="garbage collection of the owned ConfigMap")


def test_a_service_account_token_without_permissions_is_refused(
    cluster: Cluster, namespace: str
) -> None:
    core = client.CoreV1Api(cluster.api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    token = core.create_namespaced_service_account_token(
        "nobody", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token
    configuration = client.Configuration()
    configuration.host = cluster.api_client.configuration.host
    configuration.ssl_ca_cert = cluster.api_client.configuration.ssl_ca_cert
    configuration.api_key = {"authorization": f"Bearer {token}"}
    as_nobody = client.CoreV1Api(client.ApiClient(configuration))

    with pytest.raises(ApiException) as refused:
        as_nobody.list_namespaced_secret(namespace)

    assert refused.value.status == 403
    assert f"system:serviceaccount:{namespace}:nobody" in str(refused.value.body)


@pytest.mark.harness
def test_a_deployment_of_the_project_image_gets_a_running_ready_pod(
    cluster: Cluster, namespace: str
) -> None:
    apps = client.AppsV1Api(cluster.api_client)
    labels = {"app": "receiver"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "receiver"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "receiver",
                                "image": PROJECT_IMAGE,
                                "args": ["solve"],
                                "env": [
                                    {
                                        "name": "WEBHOOK_CERT_CHALLENGES",
                                        "value": json.dumps({"tok": "tok.thumbprint"}),
                                    }
                                ],
                                "readinessProbe": {
                                    "httpGet": {"path": "/healthz", "port": 8089},
                                    "periodSeconds": 1,
                                },
                            }
                        ]
                    },
                },
            },
        },
    )

    def available() -> bool:
        status = apps.read_namespaced_deployment("receiver", namespace).status
        return (status.available_replicas or 0) == 1

    wait_for(available, timeout=60, what="the Deployment's replica to be available")

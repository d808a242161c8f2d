"""The cluster the other integration tests rely on behaves like a real one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration import k8s
from tests.integration.conftest import Cluster
from tests.integration.workloads import (
    http_get_via_ingress,
    project_image,
    seen_from_inside,
    solver_like_pod,
    wait_for,
)
from webhook_cert_operator.solver.resources import SOLVER_UID, SolverSpec, build_pod

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
    widget: dict[str, Any] = {
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
def test_the_node_is_a_ready_kubelet_v1_35_on_containerd(cluster: Cluster) -> None:
    nodes = client.CoreV1Api(cluster.api_client).list_node().items

    assert len(nodes) == 1
    info = k8s.present(k8s.status(nodes[0]).node_info, "the node's nodeInfo")
    ready = {c.type: c.status for c in k8s.status(nodes[0]).conditions or []}["Ready"]
    assert ready == "True"
    assert info.kubelet_version == "v1.35.4"
    assert info.kube_proxy_version in ("", "v1.35.4")  # deprecated field, may be empty
    assert info.container_runtime_version.startswith("containerd://")
    assert not k8s.spec(nodes[0]).taints, "the registration taint was removed"


def running_pod(cluster: Cluster, namespace: str, name: str, **spec: Any) -> None:
    """A Pod of the project's image serving `webhook-cert solve`, waited on until Ready."""
    core = client.CoreV1Api(cluster.api_client)
    labels = spec.pop("labels", {"app": name})
    container = {
        "name": "main",
        "image": project_image(cluster),
        "args": ["solve"],
        "env": [{"name": "WEBHOOK_CERT_CHALLENGES", "value": json.dumps({"t": f"t.{name}"})}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8089}, "periodSeconds": 1},
    }
    core.create_namespaced_pod(
        namespace,
        k8s.body(
            {
                "metadata": {"name": name, "labels": labels},
                "spec": {"containers": [container], **spec},
            }
        ),
    )
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "--timeout=90s", f"pod/{name}"
    )


def exec_python(cluster: Cluster, namespace: str, pod: str, code: str) -> str:
    return cluster.kubectl("exec", "-n", namespace, pod, "--", "python", "-c", code).stdout


def test_a_pod_reaches_the_apiserver_at_the_kubernetes_service_with_its_own_token(
    cluster: Cluster, namespace: str
) -> None:
    running_pod(cluster, namespace, "client")
    code = """
import json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
host = os.environ["KUBERNETES_SERVICE_HOST"]
context = ssl.create_default_context(cafile=f"{sa}/ca.crt")
token = open(f"{sa}/token").read()
headers = {"Authorization": f"Bearer {token}"}
request = urllib.request.Request(f"https://{host}/version", headers=headers)
print(host, json.load(urllib.request.urlopen(request, context=context))["gitVersion"])
"""
    host, version = exec_python(cluster, namespace, "client", code).split()

    service = client.CoreV1Api(cluster.api_client).read_namespaced_service("kubernetes", "default")
    assert host == k8s.spec(service).cluster_ip
    assert version == client.VersionApi(cluster.api_client).get_code().git_version
    logs = cluster.kubectl("logs", "-n", namespace, "client").stdout
    assert "serving 1 challenge(s) on 0.0.0.0:8089" in logs


def test_a_service_spreads_requests_over_its_pods_through_kube_proxy(
    cluster: Cluster, namespace: str
) -> None:
    for name in ("backend-a", "backend-b"):
        running_pod(cluster, namespace, name, labels={"app": "backend"})
    client.CoreV1Api(cluster.api_client).create_namespaced_service(
        namespace,
        k8s.body(
            {
                "metadata": {"name": "backend"},
                "spec": {
                    "selector": {"app": "backend"},
                    "ports": [{"port": 80, "targetPort": 8089}],
                },
            }
        ),
    )
    running_pod(cluster, namespace, "caller")
    address = k8s.spec(
        client.CoreV1Api(cluster.api_client).read_namespaced_service("backend", namespace)
    ).cluster_ip
    code = f"""
import urllib.request
seen = set()
for _ in range(40):
    answer = urllib.request.urlopen("http://{address}/.well-known/acme-challenge/t", timeout=5)
    seen.add(answer.read().decode())
print(" ".join(sorted(seen)))
"""

    answers = wait_for(
        lambda: exec_python(cluster, namespace, "caller", code).split(),
        timeout=60,
        what="the Service's endpoints to be programmed",
    )

    assert answers == ["t.backend-a", "t.backend-b"]


def test_the_runtime_enforces_the_solver_pods_security_context(
    cluster: Cluster, namespace: str
) -> None:
    """The solver Pod exactly as the operator builds it, then looked at from inside."""
    owner = client.CoreV1Api(cluster.api_client).create_namespaced_config_map(
        namespace, k8s.body({"metadata": {"name": "owner"}})
    )
    spec = SolverSpec(
        name="solver",
        namespace=namespace,
        owner_api_version="v1",
        owner_kind="ConfigMap",
        owner_name="owner",
        owner_uid=k8s.present(k8s.metadata(owner).uid, "the owner's uid"),
        labels={"app": "solver"},
        image=project_image(cluster),
        challenges={"tok": "tok.thumbprint"},
        hosts=("solver.example.test",),
    )
    client.CoreV1Api(cluster.api_client).create_namespaced_pod(namespace, k8s.body(build_pod(spec)))
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", "--timeout=90s", "pod/solver")

    inside = seen_from_inside(cluster, namespace, "solver")

    assert (inside["uid"], inside["gid"]) == (SOLVER_UID, SOLVER_UID)
    assert inside["root"] == "Read-only file system"
    assert (inside["cap_eff"], inside["cap_bnd"]) == (0, 0)
    assert inside["no_new_privs"] == "1"
    assert inside["seccomp"] == "2", "a seccomp filter is loaded (RuntimeDefault)"
    assert inside["token"] is False, "the solver gets no ServiceAccount token"


def test_deleting_an_owner_deletes_what_it_owns(cluster: Cluster, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api_client)
    owner = core.create_namespaced_config_map(namespace, k8s.body({"metadata": {"name": "owner"}}))
    core.create_namespaced_config_map(
        namespace,
        k8s.body(
            {
                "metadata": {
                    "name": "owned",
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "ConfigMap",
                            "name": "owner",
                            "uid": k8s.metadata(owner).uid,
                        }
                    ],
                }
            }
        ),
    )

    core.delete_namespaced_config_map("owner", namespace)

    def owned_is_gone() -> bool:
        try:
            core.read_namespaced_config_map("owned", namespace)
        except ApiException as error:
            return bool(error.status == 404)
        return False

    wait_for(owned_is_gone, timeout=60, what="garbage collection of the owned ConfigMap")


def test_a_service_account_token_without_permissions_is_refused(
    cluster: Cluster, namespace: str
) -> None:
    core = client.CoreV1Api(cluster.api_client)
    core.create_namespaced_service_account(namespace, k8s.body({"metadata": {"name": "nobody"}}))
    request = core.create_namespaced_service_account_token(
        "nobody", namespace, k8s.body({"spec": {"expirationSeconds": 600}})
    )
    token = k8s.status(request).token
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
        k8s.body(
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
                                    "image": project_image(cluster),
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
            }
        ),
    )

    def available() -> bool:
        status = k8s.status(apps.read_namespaced_deployment("receiver", namespace))
        return (status.available_replicas or 0) == 1

    wait_for(available, timeout=60, what="the Deployment's replica to be available")

"""The operator as its Deployment from `manifests/`, the way a user runs it.

Both clusters install it through a kustomize overlay named by
`WEBHOOK_CERT_TEST_OPERATOR_OVERLAY` (the local cluster writes its own; kind's is in
`e2e/kind/`), so it runs under the shipped ServiceAccount, RBAC, securityContext and
resource limits, in the image built from the Dockerfile. A test asks for the settings it
needs (`configure`), and gets the overlay's defaults otherwise; killing the operator means
deleting its Pod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kubernetes import client
from localcluster.operator import (
    OPERATOR_NAMESPACE,
    POD_SELECTOR,
    install_operator,
)

from tests.integration import k8s
from tests.integration.conftest import Cluster
from tests.integration.workloads import wait_for

METRICS_PORT = 8080


class OperatorDeployment:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        overlay = cluster.env.get("WEBHOOK_CERT_TEST_OPERATOR_OVERLAY")
        if not overlay:
            raise AssertionError("WEBHOOK_CERT_TEST_OPERATOR_OVERLAY names no kustomize overlay")
        self.overlay = Path(overlay)
        self.core = client.CoreV1Api(cluster.api_client)

    def _kubectl(self, *args: str, input: str | None = None) -> str:
        return self.cluster.kubectl(*args, input=input).stdout

    def configure(
        self,
        env: Mapping[str, str] | None = None,
        *,
        args: Sequence[str] | None = None,
        replicas: int | None = None,
    ) -> None:
        """Install the overlay with these changes (and no others); wait until it runs."""
        install_operator(self._kubectl, self.overlay, env=env, args=args, replicas=replicas)
        expected = replicas or 1
        wait_for(
            lambda: len(self.pods()) == expected,
            timeout=120,
            what=f"{expected} running operator Pod(s) of the current revision",
        )

    def pods(self) -> list[client.V1Pod]:
        """Running, not terminating, ready operator Pods."""
        found = self.core.list_namespaced_pod(OPERATOR_NAMESPACE, label_selector=POD_SELECTOR)
        return [
            pod
            for pod in found.items
            if k8s.metadata(pod).deletion_timestamp is None
            and k8s.status(pod).phase == "Running"
            and all(status.ready for status in k8s.status(pod).container_statuses or [])
        ]

    def pod(self) -> client.V1Pod:
        pods = self.pods()
        assert len(pods) == 1, f"expected one operator Pod, found {len(pods)}"
        return pods[0]

    def delete_pod(self, name: str, *, grace_seconds: int | None = None) -> None:
        """What happens when a node drains (graceful) or dies (grace 0)."""
        self.core.delete_namespaced_pod(
            name, OPERATOR_NAMESPACE, grace_period_seconds=grace_seconds
        )

    def logs(self, pod: str | None = None) -> str:
        name = pod or k8s.name(self.pod())
        return self._kubectl("logs", "-n", OPERATOR_NAMESPACE, name)

    def metrics(self, pod: str | None = None) -> str:
        """Through the apiserver's Pod proxy: works from wherever the tests run."""
        name = pod or k8s.name(self.pod())
        path = f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/pods/{name}:{METRICS_PORT}/proxy/metrics"
        return self._kubectl("get", "--raw", path)

    def exec(self, pod: str, *command: str) -> str:
        return self._kubectl("exec", "-n", OPERATOR_NAMESPACE, pod, "--", *command)


def operator_deployment(
    cluster: Cluster, env: Mapping[str, str] | None = None
) -> OperatorDeployment:
    operator = OperatorDeployment(cluster)
    operator.configure(env)
    return operator


def endpoint(namespace: str, name: str, dns_names: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "webhookcert.dev/v1alpha1",
        "kind": "WebhookEndpoint",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"dnsNames": dns_names, **spec},
    }


def condition(cluster: Cluster, namespace: str, name: str, type: str) -> dict[str, Any] | None:
    custom = client.CustomObjectsApi(cluster.api_client)
    obj = k8s.plain(
        custom.get_namespaced_custom_object(
            "webhookcert.dev", "v1alpha1", namespace, "webhookendpoints", name
        )
    )
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry["type"] == type:
            return dict(entry)
    return None


def wait_for_condition(
    cluster: Cluster,
    namespace: str,
    name: str,
    type: str,
    status: str,
    *,
    reason: str | None = None,
    timeout: float = 120,
) -> dict[str, Any]:
    def matches() -> dict[str, Any] | None:
        found = condition(cluster, namespace, name, type)
        if found and found["status"] == status and (reason is None or found["reason"] == reason):
            return found
        return None

    return wait_for(
        matches, timeout=timeout, what=f"{namespace}/{name} {type}={status} {reason or ''}".strip()
    )


def solver_objects(cluster: Cluster, namespace: str) -> list[str]:
    selector = "webhookcert.dev/role=solver"
    core = client.CoreV1Api(cluster.api_client)
    networking = client.NetworkingV1Api(cluster.api_client)
    found = [
        f"pod/{k8s.name(p)}"
        for p in core.list_namespaced_pod(namespace, label_selector=selector).items
    ]
    found += [
        f"service/{k8s.name(s)}"
        for s in core.list_namespaced_service(namespace, label_selector=selector).items
    ]
    found += [
        f"endpointslice/{k8s.name(e)}"
        for e in client.DiscoveryV1Api(cluster.api_client)
        .list_namespaced_endpoint_slice(namespace, label_selector=selector)
        .items
    ]
    found += [
        f"ingress/{k8s.name(i)}"
        for i in networking.list_namespaced_ingress(namespace, label_selector=selector).items
    ]
    return found


def get_status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    custom = client.CustomObjectsApi(cluster.api_client)
    obj = k8s.plain(
        custom.get_namespaced_custom_object(
            "webhookcert.dev", "v1alpha1", namespace, "webhookendpoints", name
        )
    )
    return dict(obj.get("status") or {})


def wait_for_self_check(cluster: Cluster, namespace: str, name: str) -> None:
    """Until the issuance is in its middle: order created, solver objects up."""
    wait_for(
        lambda: (condition(cluster, namespace, name, "Issuing") or {}).get("reason") == "SelfCheck",
        timeout=60,
        what=f"{namespace}/{name} to reach its self-check",
    )

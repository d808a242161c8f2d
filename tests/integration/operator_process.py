"""Run the real operator (`webhook-cert run`) as a process, the way a user would.

It authenticates with a token of the ServiceAccount from `manifests/`, so every test that
uses it also proves that the shipped RBAC is enough.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubernetes import client
from localcluster.operator import (
    OPERATOR_NAMESPACE,
    install_manifests,
    service_account_kubeconfig,
)

from tests.integration.conftest import Cluster
from tests.integration.workloads import wait_for


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OperatorProcess:
    def __init__(
        self, cluster: Cluster, env: Mapping[str, str], log: Path, args: Sequence[str] = ()
    ) -> None:
        self.cluster = cluster
        self.log = log
        self.metrics_port = _free_port()
        self.health_port = _free_port()
        full_env = {
            **cluster.env,
            "WEBHOOK_CERT_NAMESPACE": OPERATOR_NAMESPACE,
            "WEBHOOK_CERT_METRICS_PORT": str(self.metrics_port),
            **env,
        }
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "webhook_cert_operator",
                    "run",
                    "--liveness",
                    f"http://127.0.0.1:{self.health_port}/healthz",
                    *args,
                ],
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._healthy, timeout=60, what=f"the operator to start (log: {log})")

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the operator exited:\n{self.log.read_text()[-3000:]}")
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=2):
            return True

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as response:
            return str(response.read().decode())

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as when a node dies."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def running_operator(
    cluster: Cluster, args: Sequence[str] = (), **env: str
) -> Iterator[OperatorProcess]:
    with operator_factory(cluster) as start:
        yield start(args, env)


@contextmanager
def operator_factory(
    cluster: Cluster,
) -> Iterator[Callable[[Sequence[str], Mapping[str, str]], OperatorProcess]]:
    """Start operators (all stopped at the end), each with its own log, as the SA."""
    install_manifests(lambda *args, **kw: cluster.kubectl(*args, **kw).stdout)
    directory = Path(tempfile.mkdtemp(prefix="webhook-cert-operator-"))
    kubeconfig = service_account_kubeconfig(cluster.api_client, directory / "operator.kubeconfig")
    started: list[OperatorProcess] = []

    def start(args: Sequence[str], env: Mapping[str, str]) -> OperatorProcess:
        log = directory / f"operator-{len(started)}.log"
        process = OperatorProcess(cluster, {"KUBECONFIG": str(kubeconfig), **env}, log, args)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()
            print(f"operator log: {process.log}")


def endpoint(namespace: str, name: str, dns_names: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "webhookcert.dev/v1alpha1",
        "kind": "WebhookEndpoint",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"dnsNames": dns_names, **spec},
    }


def condition(cluster: Cluster, namespace: str, name: str, type: str) -> dict[str, Any] | None:
    custom = client.CustomObjectsApi(cluster.api_client)
    obj = custom.get_namespaced_custom_object(
        "webhookcert.dev", "v1alpha1", namespace, "webhookendpoints", name
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
        f"pod/{p.metadata.name}"
        for p in core.list_namespaced_pod(namespace, label_selector=selector).items
    ]
    found += [
        f"service/{s.metadata.name}"
        for s in core.list_namespaced_service(namespace, label_selector=selector).items
    ]
    found += [
        f"ingress/{i.metadata.name}"
        for i in networking.list_namespaced_ingress(namespace, label_selector=selector).items
    ]
    return found


def get_status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    custom = client.CustomObjectsApi(cluster.api_client)
    obj = custom.get_namespaced_custom_object(
        "webhookcert.dev", "v1alpha1", namespace, "webhookendpoints", name
    )
    return dict(obj.get("status") or {})

"""Small building blocks shared by the integration tests: workloads, waiting, reaching hosts."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import dns.resolver
from kubernetes import client

from tests.integration.conftest import Cluster

PROJECT_IMAGE = "webhook-cert-operator:0.1.0"
T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.5
) -> T:
    """Call `probe` until it returns something truthy; exceptions count as 'not yet'."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
            last = value
        except Exception as error:  # reported if the wait times out
            last = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def resolve(cluster: Cluster, host: str) -> str:
    """The address a CA or a webhook sender would reach `host` at."""
    nameservers = cluster.nameservers
    if not nameservers:
        import socket

        return socket.gethostbyname(host)
    resolver = dns.resolver.Resolver(configure=False)
    address, _, port = nameservers[0].partition(":")
    resolver.nameservers = [address]
    resolver.port = int(port or 53)
    return str(resolver.resolve(host, "A")[0])


def http_get_via_ingress(cluster: Cluster, host: str, path: str) -> bytes | None:
    connection = http.client.HTTPConnection(resolve(cluster, host), 80, timeout=5)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        body = response.read()
        return body if response.status == 200 else None
    finally:
        connection.close()


def solver_like_pod(
    cluster: Cluster,
    namespace: str,
    name: str,
    host: str,
    challenges: Mapping[str, str],
    *,
    tls_secret: str | None = None,
) -> None:
    """A Pod of the project's image answering `challenges`, behind a Service and an Ingress."""
    labels = {"app": name}
    pod = {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "containers": [
                {
                    "name": "solver",
                    "image": PROJECT_IMAGE,
                    "args": ["solve", "--port", "8089"],
                    "env": [
                        {"name": "WEBHOOK_CERT_CHALLENGES", "value": json.dumps(dict(challenges))}
                    ],
                    "ports": [{"name": "http", "containerPort": 8089}],
                    "readinessProbe": {
                        "httpGet": {"path": "/healthz", "port": "http"},
                        "periodSeconds": 1,
                    },
                }
            ]
        },
    }
    service = {
        "metadata": {"name": name},
        "spec": {"selector": labels, "ports": [{"port": 8089, "targetPort": 8089}]},
    }
    rule = {
        "host": host,
        "http": {
            "paths": [
                {
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": name, "port": {"number": 8089}}},
                }
            ]
        },
    }
    ingress: dict[str, object] = {
        "metadata": {"name": name},
        "spec": {"ingressClassName": cluster.ingress_class, "rules": [rule]},
    }
    if tls_secret:
        ingress["spec"] = {
            **ingress["spec"],  # type: ignore[dict-item]
            "tls": [{"hosts": [host], "secretName": tls_secret}],
        }
    client.CoreV1Api(cluster.api_client).create_namespaced_pod(namespace, pod)
    client.CoreV1Api(cluster.api_client).create_namespaced_service(namespace, service)
    client.NetworkingV1Api(cluster.api_client).create_namespaced_ingress(namespace, ingress)

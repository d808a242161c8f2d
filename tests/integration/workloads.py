"""Small building blocks shared by the integration tests: workloads, waiting, reaching hosts."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import dns.resolver
from kubernetes import client

from tests.integration import k8s
from tests.integration.conftest import Cluster


def project_image(cluster: Cluster) -> str:
    """The image built from the Dockerfile (the local cluster tags it with its source hash)."""
    return cluster.env.get("WEBHOOK_CERT_TEST_IMAGE") or "webhook-cert-operator:0.1.0"


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


_SEEN_FROM_INSIDE = """
import json, os
status = dict(line.split(":", 1) for line in open("/proc/1/status"))
try:
    open("/written-from-inside", "w")
    root = "writable"
except OSError as error:
    root = error.strerror
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "root": root,
    "cap_eff": int(status["CapEff"], 16), "cap_bnd": int(status["CapBnd"], 16),
    "no_new_privs": status["NoNewPrivs"].strip(), "seccomp": status["Seccomp"].strip(),
    "token": os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token"),
}))
"""


def seen_from_inside(cluster: Cluster, namespace: str, pod: str) -> dict[str, object]:
    """What the runtime made of a Pod's securityContext, asked of its main process
    (PID 1 of the container) through `kubectl exec`."""
    output = cluster.kubectl(
        "exec", "-n", namespace, pod, "--", "python", "-c", _SEEN_FROM_INSIDE
    ).stdout
    return dict(json.loads(output))


_TLS_SERVER = """
import socket, ssl, threading
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("/tls/chain.pem", "/tls/key.pem")
listener = socket.create_server(("0.0.0.0", 8443))
def handshake(connection):
    try:
        with context.wrap_socket(connection, server_side=True) as tls:
            tls.recv(1)
    except OSError:
        pass
while True:
    threading.Thread(target=handshake, args=(listener.accept()[0],), daemon=True).start()
"""


def tls_server_pod(
    cluster: Cluster, namespace: str, name: str, chain_pem: bytes, key_pem: bytes
) -> str:
    """A Pod that serves exactly `chain_pem` (as given: no chain building) on port 8443,
    for the operator to check; returns its "IP:8443". Any Pod reaches it, on any cluster."""
    core = client.CoreV1Api(cluster.api_client)
    core.create_namespaced_secret(
        namespace,
        k8s.body(
            {
                "metadata": {"name": name},
                "stringData": {"chain.pem": chain_pem.decode(), "key.pem": key_pem.decode()},
            }
        ),
    )
    container = {
        "name": "tls",
        "image": project_image(cluster),
        "command": ["python", "-c", _TLS_SERVER],
        "ports": [{"containerPort": 8443}],
        "readinessProbe": {"tcpSocket": {"port": 8443}, "periodSeconds": 1},
        "volumeMounts": [{"name": "tls", "mountPath": "/tls", "readOnly": True}],
    }
    pod = {
        "metadata": {"name": name},
        "spec": {
            "containers": [container],
            "volumes": [{"name": "tls", "secret": {"secretName": name}}],
        },
    }
    core.create_namespaced_pod(namespace, k8s.body(pod))
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "--timeout=90s", f"pod/{name}"
    )
    return f"{k8s.status(core.read_namespaced_pod(name, namespace)).pod_ip}:8443"


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
                    "image": project_image(cluster),
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
    client.CoreV1Api(cluster.api_client).create_namespaced_pod(namespace, k8s.body(pod))
    client.CoreV1Api(cluster.api_client).create_namespaced_service(namespace, k8s.body(service))
    client.NetworkingV1Api(cluster.api_client).create_namespaced_ingress(
        namespace, k8s.body(ingress)
    )

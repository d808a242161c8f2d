"""`make demo`: the local cluster, the operator as its Deployment, and a certificate issued
for the example WebhookEndpoint, then checked the way a strict webhook sender sees it.

Leaves everything running for exploring; `make cluster-down` stops it all. Each run starts
the demo's namespace afresh: a certificate left by an earlier run may chain to a Pebble
root that no longer exists (Pebble makes new roots at every start).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from localcluster.cluster import ClusterError, LocalCluster
from localcluster.operator import OPERATOR_NAMESPACE, POD_SELECTOR, REPO_ROOT, install_operator

DEMO_NAMESPACE = "demo"
EXAMPLE = REPO_ROOT / "manifests" / "examples" / "webhookendpoint.yaml"
TIMEOUT = 180


def _example() -> dict[str, Any]:
    """The documented example, with its host moved to a name the local DNS answers, and
    Pebble's root as the trust store of the served-chain check (the CA a sender trusts)."""
    endpoint: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    endpoint["metadata"]["namespace"] = DEMO_NAMESPACE
    endpoint["spec"]["dnsNames"] = ["hooks.demo.example.test"]
    endpoint["spec"]["validation"] = {
        "trustBundle": {"kind": "ConfigMap", "name": "pebble-roots", "key": "ca.crt"}
    }
    acme = endpoint["spec"].get("acme") or {}
    acme.pop("server", None)  # use the operator's setting: the local Pebble
    endpoint["spec"]["acme"] = acme
    return endpoint


def _serve_secret_through_ingress(cluster: LocalCluster, host: str, secret: str) -> None:
    """A webhook receiver behind Traefik, serving the operator's Secret."""
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "webhook-receiver", "namespace": DEMO_NAMESPACE},
        "spec": {
            "tls": [{"hosts": [host], "secretName": secret}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {"name": "webhook-receiver", "port": {"number": 80}}
                                },
                            }
                        ]
                    },
                }
            ],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "webhook-receiver", "namespace": DEMO_NAMESPACE},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "webhook-receiver"}},
    }
    for body in (service, ingress):
        cluster.kubectl("apply", "-f", "-", input=json.dumps(body))


def start_operator(cluster: LocalCluster) -> None:
    """Install manifests/ through the cluster's overlay; the operator runs as its Pod."""
    print("installing the operator from manifests/ (Deployment webhook-cert-operator)")
    started = time.monotonic()
    install_operator(cluster.kubectl, cluster.operator_overlay)
    print(f"operator running after {time.monotonic() - started:.1f}s")


def main() -> int:
    cluster = LocalCluster()
    try:
        cluster.up()
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    start_operator(cluster)
    if cluster.kubectl("get", "namespace", DEMO_NAMESPACE, "--ignore-not-found", "-o", "name"):
        print(f"removing the namespace {DEMO_NAMESPACE} of an earlier run")
        cluster.kubectl("delete", "namespace", DEMO_NAMESPACE, "--wait=true", "--timeout=120s")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEMO_NAMESPACE}}
    roots = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "pebble-roots", "namespace": DEMO_NAMESPACE},
        "data": {"ca.crt": cluster.pebble_roots.read_text()},
    }
    for body in (namespace, roots):
        cluster.kubectl("apply", "-f", "-", input=json.dumps(body))
    endpoint = _example()
    name = endpoint["metadata"]["name"]
    host = endpoint["spec"]["dnsNames"][0]
    secret = endpoint["spec"].get("secretName") or f"{name}-tls"
    print(f"serving https://{host}/ through Traefik from Secret {secret} (not there yet)")
    _serve_secret_through_ingress(cluster, host, secret)
    print(f"applying the example WebhookEndpoint {DEMO_NAMESPACE}/{name}")
    started = time.monotonic()
    cluster.kubectl("apply", "-f", "-", input=json.dumps(endpoint))
    for condition in ("Ready", "ChainValid"):
        if not _wait_for(cluster, name, condition):
            return 1
        print(f"{condition} after {time.monotonic() - started:.1f}s")
    print()
    print(cluster.kubectl("get", "whe", "-n", DEMO_NAMESPACE))

    issued = cluster.state_dir / "demo-tls.crt"
    issued.write_text(
        cluster.kubectl(
            "get", "secret", "-n", DEMO_NAMESPACE, secret, "-o", "jsonpath={.data.tls\\.crt}"
        )
    )
    issued.write_bytes(base64.b64decode(issued.read_text()))
    print(f"checking https://{host}/ as a strict webhook sender would (no AIA fetching),")
    print(f"expecting the certificate stored in Secret {secret}:")
    command = [
        str(Path(sys.executable).parent / "webhook-cert"),
        "check",
        f"https://{host}/",
        "--trust-bundle",
        str(cluster.pebble_roots),
        "--nameserver",
        cluster.nameserver,
        "--expect-cert",
        str(issued),
    ]
    check = subprocess.run(command, capture_output=True, text=True)
    print(check.stdout + check.stderr)
    shown = " ".join(os.path.relpath(arg) if arg.startswith("/") else arg for arg in command)
    print(f"""Explore:
  .cluster/bin/kubectl get whe,secrets,events -n {DEMO_NAMESPACE}
  .cluster/bin/kubectl describe whe -n {DEMO_NAMESPACE} {name}
  .cluster/bin/kubectl logs -n {OPERATOR_NAMESPACE} deployment/webhook-cert-operator
  .cluster/bin/kubectl get pods -A -o wide
  .cluster/bin/cluster-exec {shown}
  make cluster-down      # stops the operator and the cluster
""")
    return check.returncode


def _wait_for(cluster: LocalCluster, name: str, condition: str) -> bool:
    result = subprocess.run(
        [
            *_kubectl(cluster),
            "wait",
            f"--timeout={TIMEOUT}s",
            "-n",
            DEMO_NAMESPACE,
            f"--for=condition={condition}",
            f"webhookendpoint/{name}",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode == 0:
        return True
    print(cluster.kubectl("describe", "whe", "-n", DEMO_NAMESPACE, name), file=sys.stderr)
    print(
        cluster.kubectl(
            "logs", "-n", OPERATOR_NAMESPACE, "-l", POD_SELECTOR, "--tail=40", check=False
        ),
        file=sys.stderr,
    )
    print(
        f"error: {condition} did not become True in {TIMEOUT}s; the operator's log: "
        f".cluster/bin/kubectl logs -n {OPERATOR_NAMESPACE} deployment/webhook-cert-operator",
        file=sys.stderr,
    )
    return False


def _kubectl(cluster: LocalCluster) -> list[str]:
    return [cluster._bin("kubernetes", "kubectl"), f"--kubeconfig={cluster.kubeconfig}"]


if __name__ == "__main__":
    sys.exit(main())

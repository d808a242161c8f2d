"""Install the operator's manifests on a cluster and run the operator under its own identity.

The operator runs as a process (this machine has no container engine for its Deployment),
but it authenticates with a token of the ServiceAccount from `manifests/`, so it has
exactly the permissions the shipped RBAC grants. Used by `make demo` and the tests; works
with any cluster given a kubectl and an API client.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

REPO_ROOT = Path(__file__).resolve().parent.parent
OPERATOR_NAMESPACE = "webhook-cert-system"
SERVICE_ACCOUNT = "webhook-cert-operator"

Kubectl = Callable[..., str]


def install_manifests(kubectl: Kubectl) -> None:
    """Apply everything in manifests/ but the Deployment: CRDs first, once Established the
    rest (kubectl checks every object against the API before creating any, so a custom
    object in the same batch as its CRD would be refused)."""
    rendered = kubectl("kustomize", str(REPO_ROOT / "manifests"))
    documents = [d for d in yaml.safe_load_all(rendered) if d and d.get("kind") != "Deployment"]
    crds = [d for d in documents if d["kind"] == "CustomResourceDefinition"]
    rest = [d for d in documents if d["kind"] != "CustomResourceDefinition"]
    for batch in (crds, rest):
        items = {"apiVersion": "v1", "kind": "List", "items": batch}
        kubectl("apply", "-f", "-", input=json.dumps(items))
        for crd in batch if batch is crds else []:
            name = crd["metadata"]["name"]
            kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")


def service_account_kubeconfig(
    api_client: client.ApiClient, path: Path, *, seconds: int = 24 * 3600
) -> Path:
    """A kubeconfig with a fresh token of the operator's ServiceAccount."""
    token = (
        client.CoreV1Api(api_client)
        .create_namespaced_service_account_token(
            SERVICE_ACCOUNT, OPERATOR_NAMESPACE, {"spec": {"expirationSeconds": seconds}}
        )
        .status.token
    )
    configuration = api_client.configuration
    cluster: dict[str, Any] = {"server": configuration.host}
    if configuration.ssl_ca_cert:
        # Embedded: the client keeps a kubeconfig's CA data in a temporary file that is
        # removed once that client is gone.
        ca_pem = Path(configuration.ssl_ca_cert).read_bytes()
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
        "contexts": [
            {"name": "operator", "context": {"cluster": "cluster", "user": SERVICE_ACCOUNT}}
        ],
        "current-context": "operator",
    }
    path.write_text(json.dumps(kubeconfig, indent=2))
    path.chmod(0o600)
    return path

"""Kubeconfig files for the local cluster's users: the admin, the kubelet and kube-proxy."""

from __future__ import annotations

import base64
import json
from pathlib import Path


def _data(pem: bytes) -> str:
    return base64.b64encode(pem).decode()


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_pem: bytes,
    user: str,
    client_cert_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
    token: str | None = None,
) -> Path:
    """A one-context kubeconfig (JSON is YAML) with everything embedded, mode 0600.

    Embedded rather than referenced: the Python client keeps referenced CA data in a
    temporary file that disappears with the client that read it.
    """
    credentials: dict[str, str] = {}
    if client_cert_pem and client_key_pem:
        credentials["client-certificate-data"] = _data(client_cert_pem)
        credentials["client-key-data"] = _data(client_key_pem)
    if token:
        credentials["token"] = token
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "webhook-cert-local",
                "cluster": {"server": server, "certificate-authority-data": _data(ca_pem)},
            }
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [
            {
                "name": "webhook-cert-local",
                "context": {"cluster": "webhook-cert-local", "user": user},
            }
        ],
        "current-context": "webhook-cert-local",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path

"""The `kubernetes.io/tls` Secret that holds an endpoint's key and full chain (pure).

`tls.crt` is the leaf followed by every intermediate the CA sent, in issuing order: the
whole point of this project is that servers mounting it present a complete chain.
The Secret carries `webhookcert.dev/endpoint` = "namespace/name" of the endpoint that
created it; the operator never writes to a Secret without that mark.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from webhook_cert_operator import naming, pki

TLS_CERT = "tls.crt"
TLS_KEY = "tls.key"


class SecretNotOwned(Exception):
    """A Secret of that name exists and was not created for this endpoint."""


@dataclass(frozen=True)
class StoredCertificate:
    """What a Secret holds, once parsed: the chain (leaf first) and its private key."""

    chain: tuple[x509.Certificate, ...]
    key: pki.PrivateKey

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]


def owner_mark(namespace: str, name: str) -> str:
    return naming.endpoint_ref(namespace, name)


def check_owned(
    annotations: Mapping[str, str] | None, *, namespace: str, secret_name: str, endpoint_name: str
) -> None:
    """Raise SecretNotOwned unless the Secret carries this endpoint's mark."""
    owner = (annotations or {}).get(naming.ANNOTATION_ENDPOINT)
    if owner != owner_mark(namespace, endpoint_name):
        whose = f"WebhookEndpoint {owner}" if owner else "someone else"
        raise SecretNotOwned(
            f"Secret {secret_name} already exists and belongs to {whose}; the operator "
            "never overwrites a Secret it did not create: choose another spec.secretName "
            "or delete that Secret"
        )


def parse_stored(data: Mapping[str, bytes]) -> StoredCertificate | str:
    """The Secret's certificate and key, or a stable reason why they are unusable."""
    if not data.get(TLS_CERT) or not data.get(TLS_KEY):
        return "the Secret has no tls.crt or tls.key"
    try:
        chain = pki.split_pem_chain(data[TLS_CERT])
    except pki.PemError:
        return "tls.crt does not hold a PEM certificate"
    try:
        key = pki.load_private_key(data[TLS_KEY])
    except pki.PkiError:
        return "tls.key does not hold a usable private key"
    return StoredCertificate(chain=tuple(chain), key=key)


def build_tls_secret(
    *,
    namespace: str,
    name: str,
    endpoint_name: str,
    key_pem: bytes,
    chain_pem: bytes,
    owner: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The Secret body; `owner` is an ownerReference (garbage-collected with the endpoint)."""
    leaf = pki.split_pem_chain(chain_pem)[0]
    info = pki.describe_certificate(leaf)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {
            naming.LABEL_MANAGED_BY: naming.MANAGED_BY,
            naming.LABEL_ENDPOINT: naming.label_value(endpoint_name),
        },
        "annotations": {
            naming.ANNOTATION_ENDPOINT: owner_mark(namespace, endpoint_name),
            naming.ANNOTATION_SERIAL: info.serial_number,
            naming.ANNOTATION_NOT_AFTER: info.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            naming.ANNOTATION_ISSUER: info.issuer,
        },
    }
    if owner is not None:
        metadata["ownerReferences"] = [dict(owner)]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": metadata,
        "data": {
            TLS_CERT: base64.b64encode(chain_pem).decode(),
            TLS_KEY: base64.b64encode(key_pem).decode(),
        },
    }

"""Pure: the `kubernetes.io/tls` Secret that holds an endpoint's key and full chain.

`tls.crt` is the leaf followed by every intermediate the CA sent, in issuing order: the
whole point of this project is that servers mounting it present a complete chain.
The Secret carries `webhookcert.dev/endpoint` = "namespace/name" of the endpoint that
created it; the operator never writes to a Secret without that mark.

Optional extra keys (`spec.additionalOutputFormats`) serve servers configured with file
names instead: certbot's layout (`cert.pem`, `chain.pem`, `fullchain.pem`,
`privkey.pem`, what the seed document's Apache points at) and one combined PEM. `ca.crt`
holds the issuing root when the operator knows it. Workloads that read their
certificate only at start are rolled through a pod-template annotation
(`restart_annotation_patch`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from webhook_cert_operator import naming
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.certificates import pki

TLS_CERT: Final = "tls.crt"
TLS_KEY: Final = "tls.key"
CA_CERT: Final = "ca.crt"
"""The issuing root, when known (the key cert-manager and Kubernetes tooling read)."""
# certbot's file names, as in /etc/letsencrypt/live/<name>/.
CERTBOT_CERT: Final = "cert.pem"
"""The leaf alone."""
CERTBOT_CHAIN: Final = "chain.pem"
"""The intermediates alone, in issuing order."""
CERTBOT_FULLCHAIN: Final = "fullchain.pem"
"""The leaf and the intermediates: the same bytes as tls.crt."""
CERTBOT_PRIVKEY: Final = "privkey.pem"
"""The private key: the same bytes as tls.key."""
COMBINED_PEM: Final = "tls-combined.pem"
"""The private key followed by the full chain, for servers that take one file (HAProxy)."""

RESTART_ANNOTATION: Final = "webhookcert.dev/certificate-serial"
"""Pod-template annotation on restart targets: the serial of the certificate they run with.

Changing a Deployment's or StatefulSet's pod template starts a rollout; setting it to the
same value again changes nothing, so each new certificate rolls a workload exactly once.
"""


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


def issuance_annotations(acme: api.AcmeSpec) -> dict[str, str]:
    """The Secret annotations recording what a certificate is issued under.

    Every key is written, "" for an unset field, so a later comparison tells "unset" from
    "recorded by an operator version that did not record it" (the key is absent). The EAB
    key ID is an identifier the CA hands out, not the HMAC key, which never leaves its Secret.
    """
    eab = acme.external_account_binding
    return {
        naming.ANNOTATION_ACME_SERVER: acme.server,
        naming.ANNOTATION_ACME_EMAIL: acme.email or "",
        naming.ANNOTATION_ACME_EAB_KEY_ID: eab.key_id if eab is not None else "",
        naming.ANNOTATION_ACME_PREFERRED_CHAIN: acme.preferred_chain or "",
        naming.ANNOTATION_ACME_PROFILE: acme.profile or "",
    }


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


# Ready reasons of a check-only endpoint, about the Secret it references.
REASON_CERTIFICATE_VALID: Final = "CertificateValid"
REASON_SECRET_NOT_FOUND: Final = "SecretNotFound"
REASON_SECRET_UNUSABLE: Final = "SecretUnusable"
REASON_KEY_MISMATCH: Final = "KeyMismatch"
REASON_NOT_YET_VALID: Final = "CertificateNotYetValid"
REASON_EXPIRED: Final = "CertificateExpired"
REASON_NO_SECRET: Final = "CheckOnly"


@dataclass(frozen=True)
class Verdict:
    """What `Ready` says about a Secret the operator reads but never writes."""

    ready: bool
    reason: str
    message: str
    leaf: x509.Certificate | None = None


def judge_referenced(
    secret_name: str | None,
    secret_type: str | None,
    data: Mapping[str, bytes] | None,
    *,
    now: datetime,
) -> Verdict:
    """Ready for a check-only endpoint: the referenced Secret holds a certificate whose key
    it also holds, valid at `now`. `data` is None when the Secret does not exist.

    Without a reference (`secret_name` None) nothing is kept, so nothing can be wrong:
    Ready is True and ChainValid carries the whole verdict.

    Long because: one verdict per case, in the order they are checked (the first that
    applies wins); split, the order would no longer read in one place.
    """
    if secret_name is None:
        return Verdict(
            True,
            REASON_NO_SECRET,
            "no Secret is referenced; this endpoint only checks the served chain (ChainValid)",
        )
    where = f"Secret {secret_name}"
    if data is None:
        return Verdict(False, REASON_SECRET_NOT_FOUND, f"{where} does not exist")
    if secret_type not in (None, "kubernetes.io/tls"):
        return Verdict(
            False,
            REASON_SECRET_UNUSABLE,
            f"{where} is of type {secret_type}, not kubernetes.io/tls",
        )
    stored = parse_stored(data)
    if isinstance(stored, str):
        return Verdict(
            False, REASON_SECRET_UNUSABLE, f"{where}: {stored.replace('the Secret ', '')}"
        )
    leaf = stored.leaf
    if not pki.key_matches_certificate(stored.key, leaf):
        return Verdict(
            False,
            REASON_KEY_MISMATCH,
            f"{where}: tls.key is not the key of the first certificate in tls.crt",
            leaf,
        )
    if now < leaf.not_valid_before_utc:
        return Verdict(
            False,
            REASON_NOT_YET_VALID,
            f"{where}: the certificate is valid from {format_time(leaf.not_valid_before_utc)}",
            leaf,
        )
    if now >= leaf.not_valid_after_utc:
        return Verdict(
            False,
            REASON_EXPIRED,
            f"{where}: the certificate expired at {format_time(leaf.not_valid_after_utc)}",
            leaf,
        )
    return Verdict(
        True,
        REASON_CERTIFICATE_VALID,
        f"{where}: certificate valid until {format_time(leaf.not_valid_after_utc)}",
        leaf,
    )


def secret_owner(
    deletion_policy: str, owner_reference: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The ownerReference for the Secret under `spec.secretDeletionPolicy`.

    Only Delete makes the endpoint the Secret's owner, so that Kubernetes' garbage
    collector removes the Secret with it; Retain leaves the Secret, and whatever mounts
    it, working after the endpoint is gone.
    """
    if deletion_policy not in api.SECRET_DELETION_POLICIES:
        raise ValueError(f"unknown secretDeletionPolicy {deletion_policy!r}")
    return owner_reference if deletion_policy == "Delete" else None


def output_data(
    key_pem: bytes,
    chain: Sequence[x509.Certificate],
    output_formats: Iterable[str] = (),
    ca_pem: bytes | None = None,
) -> dict[str, bytes]:
    """The Secret's data, unencoded: tls.crt and tls.key always, the extra keys on request.

    Every certificate key is written from the parsed chain, so all of them hold the same
    certificates in the same PEM form; `ca_pem` is checked to hold a certificate.
    """
    if not chain:
        raise pki.PemError("the chain holds no certificate")
    fullchain = pki.chain_to_pem(chain)
    data = {TLS_CERT: fullchain, TLS_KEY: key_pem}
    for output_format in output_formats:
        if output_format == api.CERTBOT_FILES:
            data[CERTBOT_CERT] = pki.chain_to_pem(chain[:1])
            # Empty when the CA sent no intermediate (a private CA signing leaves directly).
            data[CERTBOT_CHAIN] = pki.chain_to_pem(chain[1:]) if len(chain) > 1 else b""
            data[CERTBOT_FULLCHAIN] = fullchain
            data[CERTBOT_PRIVKEY] = key_pem
        elif output_format == api.COMBINED_PEM:
            data[COMBINED_PEM] = key_pem.rstrip(b"\n") + b"\n" + fullchain
        else:
            raise ValueError(f"unknown output format {output_format!r}")
    if ca_pem is not None:
        data[CA_CERT] = pki.chain_to_pem(pki.split_pem_chain(ca_pem))
    return data


def issuing_root(chain: Sequence[x509.Certificate]) -> x509.Certificate | None:
    """The root at the top of a chain, when the CA sent one; None otherwise.

    CAs normally stop at the last intermediate (the root is in the client's trust store),
    so this is None for Let's Encrypt's default chain: a self-signed certificate is
    recognised by its own signature, not by its name alone.
    """
    if not chain:
        return None
    top = chain[-1]
    if top.subject != top.issuer:
        return None
    try:
        top.verify_directly_issued_by(top)
    except (ValueError, TypeError, InvalidSignature):
        return None
    return top


def build_tls_secret(
    *,
    namespace: str,
    name: str,
    endpoint_name: str,
    key_pem: bytes,
    chain_pem: bytes,
    owner: Mapping[str, Any] | None,
    output_formats: Iterable[str] = (),
    ca_pem: bytes | None = None,
    issued_under: api.AcmeSpec | None = None,
) -> dict[str, Any]:
    """The Secret body.

    `owner` is an ownerReference (garbage-collected with the endpoint): pass
    `secret_owner(spec.secret_deletion_policy, ...)`. `output_formats` are
    `spec.additional_output_formats`; `ca_pem` the issuing root, when known;
    `issued_under` the ACME settings the certificate was obtained with
    (`issuance_annotations`).

    Long because: ten keyword parameters and the one Secret body it spells out.
    """
    chain = pki.split_pem_chain(chain_pem)
    info = pki.describe_certificate(chain[0])
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
            naming.ANNOTATION_NOT_AFTER: format_time(info.not_after),
            naming.ANNOTATION_ISSUER: info.issuer,
            **(issuance_annotations(issued_under) if issued_under is not None else {}),
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
            key: base64.b64encode(value).decode()
            for key, value in output_data(key_pem, chain, output_formats, ca_pem).items()
        },
    }


def restart_needed(template_annotations: Mapping[str, str] | None, serial_number: str) -> bool:
    """Whether a restart target still runs with another certificate than `serial_number`.

    `template_annotations` is the workload's spec.template.metadata.annotations.
    """
    return (template_annotations or {}).get(RESTART_ANNOTATION) != serial_number


def restart_annotation_patch(serial_number: str) -> dict[str, Any]:
    """A merge patch for a Deployment or StatefulSet that rolls its pods onto a new certificate.

    Patch only when `restart_needed`: the annotation is the record of which certificate the
    pods were started with, so a restarted operator does not roll them again.
    """
    return {
        "spec": {"template": {"metadata": {"annotations": {RESTART_ANNOTATION: serial_number}}}}
    }

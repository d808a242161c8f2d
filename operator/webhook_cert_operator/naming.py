"""Pure (no I/O, no clock): names, labels and annotations of the objects the operator
creates.

Every name is a function of its inputs, so a restarted operator computes the same
names again and finds the objects it created before (the `ensure_x` step of each child).

Kubernetes limits used here: a label value is at most 63 characters of
`[A-Za-z0-9._-]`, starting and ending alphanumeric; a Service name is a DNS-1035 label
(at most 63 characters of `[a-z0-9-]`, starting with a letter); a Secret name is a
DNS-1123 subdomain. When an input does not fit, a readable prefix is kept and a short hash
of the whole input is appended, so that two different inputs never share a name.
"""

from __future__ import annotations

import hashlib
import re

from webhook_cert_operator.api.formats import MAX_LABEL_VALUE, is_label_value

LABEL_ENDPOINT = "webhookcert.dev/endpoint"
"""Label on child objects: the name of the WebhookEndpoint they belong to."""
LABEL_ROLE = "webhookcert.dev/role"
"""Label on child objects: what they are for (ROLE_SOLVER for the HTTP-01 solver)."""
LABEL_ORDER = "webhookcert.dev/order"
"""Label on solver objects: order_hash() of the ACME order URL they answer for."""
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
"""The well-known label that says which controller owns an object."""

MANAGED_BY = "webhook-cert-operator"
"""Value of LABEL_MANAGED_BY on everything the operator creates."""
ROLE_SOLVER = "solver"
"""Value of LABEL_ROLE on the solver's Pod, Service and Ingress."""

ANNOTATION_SERIAL = "webhookcert.dev/serial-number"
"""Annotation on a certificate Secret: the certificate's serial number."""
ANNOTATION_NOT_AFTER = "webhookcert.dev/not-after"
"""Annotation on a certificate Secret: the certificate's notAfter."""
ANNOTATION_ISSUER = "webhookcert.dev/issuer"
"""Annotation on a certificate Secret: the certificate's issuer."""
# What a certificate Secret was issued under (as cert-manager records its issuer on the
# Secret): compared with the spec, so a changed CA or account reissues, also after a restart.
ANNOTATION_ACME_SERVER = "webhookcert.dev/acme-server"
"""Annotation on a certificate Secret: the ACME directory URL the certificate came from."""
ANNOTATION_ACME_EMAIL = "webhookcert.dev/acme-email"
"""Annotation on a certificate Secret: the contact email of the ACME account ("" for none)."""
ANNOTATION_ACME_EAB_KEY_ID = "webhookcert.dev/acme-eab-key-id"
"""Annotation on a certificate Secret: the external account binding's key ID ("" for none)."""
ANNOTATION_ACME_PREFERRED_CHAIN = "webhookcert.dev/acme-preferred-chain"
"""Annotation on a certificate Secret: spec.acme.preferredChain at issuance ("" for none)."""
ANNOTATION_ACME_PROFILE = "webhookcert.dev/acme-profile"
"""Annotation on a certificate Secret: spec.acme.profile at issuance ("" for none)."""
ANNOTATION_ENDPOINT = "webhookcert.dev/endpoint"
"""Annotation on Secrets the operator created: endpoint_ref() of their WebhookEndpoint.

The operator only ever updates a Secret that carries it, so it never overwrites a Secret
that someone else put under the same name.
"""

MAX_DNS_LABEL = 63

SOLVER_PREFIX = "wco-solver-"
ACCOUNT_SECRET_PREFIX = "wco-acme-account-"

_HASH_CHARS = 10  # 40 bits: enough to keep the names of one namespace apart
_ORDER_HASH_CHARS = 20  # 80 bits: order URLs are looked up across all namespaces
_ACCOUNT_HASH_CHARS = 16

_NOT_LABEL_CHAR = re.compile(r"[^A-Za-z0-9._-]+")
_NOT_DNS_CHAR = re.compile(r"[^a-z0-9-]+")


def _hash(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def label_value(text: str) -> str:
    """A valid label value for the text: the text itself when it is one already.

    Otherwise the characters a label value cannot hold become "-", the result is cut to
    leave room for "-" and a 10-character hash of the original text, and the hash is
    appended. The same text always gives the same value.
    """
    if is_label_value(text):
        return text
    digest = _hash(text, _HASH_CHARS)
    room = MAX_LABEL_VALUE - len(digest) - 1
    prefix = _NOT_LABEL_CHAR.sub("-", text)[:room]
    # A label value must start and end with an alphanumeric character.
    prefix = prefix.strip("-._")
    return f"{prefix}-{digest}" if prefix else digest


def order_hash(order_url: str) -> str:
    """The LABEL_ORDER value of an ACME order: a hash, since URLs are no label values."""
    return _hash(order_url, _ORDER_HASH_CHARS)


def endpoint_ref(namespace: str, name: str) -> str:
    """The ANNOTATION_ENDPOINT value: "namespace/name" of a WebhookEndpoint."""
    return f"{namespace}/{name}"


def solver_labels(endpoint_name: str, order_url: str) -> dict[str, str]:
    """The labels that select one order's solver objects (and the solver Service's Pod)."""
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_ROLE: ROLE_SOLVER,
        LABEL_ENDPOINT: label_value(endpoint_name),
        LABEL_ORDER: order_hash(order_url),
    }


def solver_name(endpoint_name: str, order_url: str) -> str:
    """The name of one order's solver objects (Service, EndpointSlice or Pod, Ingress).

    A DNS-1035 label because a Service name must be one: `wco-solver-<prefix>-<hash>`,
    where the prefix is the endpoint's name made DNS-safe and cut to fit, and the hash
    covers both the endpoint name and the order URL, so each order gets its own objects.
    """
    digest = _hash(f"{endpoint_name}\n{order_url}", _HASH_CHARS)
    room = MAX_DNS_LABEL - len(SOLVER_PREFIX) - len(digest) - 1
    prefix = _NOT_DNS_CHAR.sub("-", endpoint_name.lower())[:room].strip("-")
    return f"{SOLVER_PREFIX}{prefix}-{digest}" if prefix else f"{SOLVER_PREFIX}{digest}"


def account_secret_name(server: str, email: str | None, eab_key_id: str | None = None) -> str:
    """The name of the Secret that holds the ACME account key for (server, email[, EAB]).

    One account per ACME directory URL and contact address, shared by the endpoints that
    use the same pair; a hash, since URLs and addresses are no DNS names. An external
    account binding's key ID is part of the identity: a CA binds an ACME account to its
    own account once, at registration (RFC 8555 section 7.3.4), so another key ID needs
    another ACME account key.
    """
    identity = f"{server}\n{email or ''}"
    if eab_key_id:
        identity += f"\n{eab_key_id}"
    return ACCOUNT_SECRET_PREFIX + _hash(identity, _ACCOUNT_HASH_CHARS)

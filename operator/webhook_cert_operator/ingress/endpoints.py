"""Pure: the WebhookEndpoints derived from annotated Ingresses (no I/O, no clock).

Cluster-wide automation, off unless the operator runs with WEBHOOK_CERT_INGRESS_AUTOMATION
(docs/configuration.md). An Ingress annotated `webhookcert.dev/webhook-endpoint: "true"`
gets one WebhookEndpoint per `spec.tls` entry that names a Secret: that entry's hosts are
the endpoint's `dnsNames` and its `secretName` the endpoint's Secret. The endpoint is
owned by the Ingress (garbage-collected with it) and carries a hash of what it was built
from, so that the sync rewrites it only when the Ingress asks for something else.

Further annotations: `webhookcert.dev/check-only: "true"` makes check-only endpoints that
read the Ingress's Secrets (a Secret kept by cert-manager, say) instead of issuing into
them; `webhookcert.dev/solver-ingress-class` names the IngressClass of the HTTP-01
solver's Ingress (default: the annotated Ingress's own `spec.ingressClassName`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from webhook_cert_operator import naming
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.fields import dns_name_error

ANNOTATION_ENABLED: Final = "webhookcert.dev/webhook-endpoint"
"""Ingress annotation: "true" makes the operator keep a WebhookEndpoint per tls entry."""
ANNOTATION_CHECK_ONLY: Final = "webhookcert.dev/check-only"
"""Ingress annotation: "true" makes those endpoints check-only (spec.checkOnly)."""
ANNOTATION_SOLVER_CLASS: Final = "webhookcert.dev/solver-ingress-class"
"""Ingress annotation: spec.http01.ingressClassName of the endpoints."""
ANNOTATION_SOURCE_HASH: Final = "webhookcert.dev/ingress-source-hash"
"""WebhookEndpoint annotation: a hash of the spec the Ingress asked for, last written."""
LABEL_INGRESS: Final = "webhookcert.dev/ingress"
"""WebhookEndpoint label: the name of the Ingress it was made from."""

_TRUE: Final = "true"
_SUFFIX_HASH: Final = 8


@dataclass(frozen=True)
class Desired:
    """What an annotated Ingress asks for: endpoints to keep, and entries it had to skip."""

    endpoints: tuple[dict[str, Any], ...]
    skipped: tuple[str, ...] = ()


def enabled(annotations: Mapping[str, str] | None) -> bool:
    """Whether the Ingress asks for WebhookEndpoints (its annotation is "true")."""
    return (annotations or {}).get(ANNOTATION_ENABLED, "").strip().lower() == _TRUE


def endpoint_name(ingress_name: str, secret_name: str) -> str:
    """`<ingress>-<secret>`, a valid object name; cut with a hash when too long."""
    name = f"{ingress_name}-{secret_name}"
    if len(name) <= 253:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_SUFFIX_HASH]
    return f"{name[: 253 - _SUFFIX_HASH - 1].rstrip('-.')}-{digest}"


def owner_reference(ingress: Mapping[str, Any]) -> dict[str, Any]:
    """The ownerReference that makes the Ingress own (and garbage-collect) an endpoint."""
    meta = ingress["metadata"]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        # No blockOwnerDeletion: it would need update on ingresses/finalizers, and
        # nothing is lost when the endpoint goes a moment after its Ingress.
    }


def owned_by(endpoint: Mapping[str, Any], ingress_uid: str) -> bool:
    """Whether the WebhookEndpoint was made for this Ingress (its ownerReference says so)."""
    references = (endpoint.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("kind") == "Ingress" and ref.get("uid") == ingress_uid for ref in references)


def source_hash(spec: Mapping[str, Any]) -> str:
    """16 hex digits of the SHA-256 of the spec's canonical JSON: equal specs, equal hashes."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _entry_problem(hosts: Sequence[Any]) -> str | None:
    if not hosts:
        return "lists no hosts"
    if len(hosts) > api.MAX_DNS_NAMES:
        return f"lists more than the {api.MAX_DNS_NAMES} hosts a certificate may hold"
    for host in hosts:
        error = dns_name_error(host, f"host {host!r}")
        if error is not None:
            return error
    return None


def desired_endpoints(ingress: Mapping[str, Any]) -> Desired:
    """The WebhookEndpoints an Ingress asks for (none unless it is annotated)."""
    meta = ingress["metadata"]
    annotations = meta.get("annotations") or {}
    if not enabled(annotations):
        return Desired(())
    spec = ingress.get("spec") or {}
    check_only = annotations.get(ANNOTATION_CHECK_ONLY, "").strip().lower() == _TRUE
    solver_class = annotations.get(ANNOTATION_SOLVER_CLASS) or spec.get("ingressClassName")
    endpoints: list[dict[str, Any]] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(spec.get("tls") or []):
        secret = entry.get("secretName")
        hosts = list(dict.fromkeys(entry.get("hosts") or []))
        where = f"spec.tls[{index}]"
        if not secret:
            skipped.append(f"{where} names no secretName")
            continue
        problem = _entry_problem(hosts)
        if problem is not None:
            skipped.append(f"{where} {problem}")
            continue
        name = endpoint_name(meta["name"], secret)
        if name in seen:
            skipped.append(f"{where} repeats secretName {secret}")
            continue
        seen.add(name)
        endpoint_spec = _endpoint_spec(hosts, secret, check_only, solver_class)
        endpoints.append(_endpoint(ingress, name, endpoint_spec))
    return Desired(tuple(endpoints), tuple(skipped))


def _endpoint_spec(
    hosts: list[str], secret: str, check_only: bool, solver_class: str | None
) -> dict[str, Any]:
    """The spec of the endpoint for one tls entry: its hosts, and its Secret to issue into
    (or, check-only, to read)."""
    endpoint_spec: dict[str, Any] = {"dnsNames": hosts}
    if check_only:
        endpoint_spec["checkOnly"] = {"secretRef": {"name": secret}}
    else:
        endpoint_spec["secretName"] = secret
        if solver_class:
            endpoint_spec["http01"] = {"ingressClassName": solver_class}
    return endpoint_spec


def _endpoint(
    ingress: Mapping[str, Any], name: str, endpoint_spec: Mapping[str, Any]
) -> dict[str, Any]:
    """The WebhookEndpoint object: owned by the Ingress, labelled with it, and annotated
    with the hash of its spec."""
    meta = ingress["metadata"]
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {
                naming.LABEL_MANAGED_BY: naming.MANAGED_BY,
                LABEL_INGRESS: naming.label_value(meta["name"]),
            },
            "annotations": {ANNOTATION_SOURCE_HASH: source_hash(endpoint_spec)},
            "ownerReferences": [owner_reference(ingress)],
        },
        "spec": endpoint_spec,
    }

"""Glue: `webhook-cert status NAMESPACE/NAME`, what the operator is doing for one endpoint.

Everything shown is read, never changed: the endpoint's status (conditions, the stored
certificate, the last check of the served chain, renewal timing, the last failure and its
back-off), the leaf in its Secret (to tell whether the endpoint serves that one), and the
recent Events about the endpoint. `describe` builds the report (pure: the objects and `now`
are given); `format_status` prints it for people, `-o json` prints the report itself
(docs/cli.md has its schema).

Reading needs `get` on webhookendpoints; `get` on secrets and `list` on events are used
when granted, and their part of the report says so when they are not.

Exit status: 0 Ready and the served chain not invalid, 1 the endpoint needs attention
(not Ready, or ChainValid=False), 2 usage, 3 not found or the cluster could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.formats import parse_time
from webhook_cert_operator.certificates import secret as tls_secret
from webhook_cert_operator.certificates.policies import RENEW_ANNOTATION
from webhook_cert_operator.checking.certs import fingerprint
from webhook_cert_operator.cli import references

if TYPE_CHECKING:
    from webhook_cert_operator.kube import Secret

EXIT_HEALTHY: Final = 0
EXIT_ATTENTION: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNAVAILABLE: Final = 3

RECENT_EVENTS: Final = 10
_PROG: Final = "webhook-cert status"


class StatusApi(Protocol):
    """The reads `run` makes (`kube.Kube` has them; tests pass fakes)."""

    def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def get_secret(self, namespace: str, name: str) -> Secret | None: ...

    def list_events(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]: ...


class Unreadable(Exception):
    """A read was refused or failed; the message is for the user (no bodies, no data)."""


def stored_leaf_sha256(data: Mapping[str, bytes] | None) -> str | None:
    """The SHA-256 of the leaf in a Secret's tls.crt, or None when there is none."""
    if data is None:
        return None
    stored = tls_secret.parse_stored(data)
    return None if isinstance(stored, str) else fingerprint(stored.leaf)


def _condition(conditions: Sequence[Mapping[str, Any]], kind: str) -> Mapping[str, Any]:
    return next((c for c in conditions if c.get("type") == kind), {})


def renewal_reason(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    """Why status.renewalTime is what it is, in one sentence."""
    renewal = status.get("renewal") or {}
    if not status.get("renewalTime"):
        return "no certificate stored yet: the operator is issuing the first one"
    if renewal.get("ariSelectedTime"):
        return (
            "a random time inside the renewal window the CA suggests (ACME ARI, RFC 9773): "
            f"{renewal.get('ariWindowStart')} to {renewal.get('ariWindowEnd')}, "
            f"fetched {renewal.get('ariFetched')}"
        )
    if spec.get("renewBefore"):
        return f"spec.renewBefore: {spec['renewBefore']} before the certificate expires"
    default = "when a third of the lifetime is left (half for certificates shorter than 10 days)"
    if renewal.get("ariError"):
        return f"{default}; the CA's renewal information is unavailable: {renewal['ariError']}"
    return f"{default}; the CA offers no renewal information"


def _event(event: Mapping[str, Any]) -> dict[str, Any]:
    from webhook_cert_operator.kube import event_time

    # The client renders times as isoformat (+00:00); the rest of the report says Z.
    time = event_time(event).replace("+00:00", "Z")
    return {
        "time": time or None,
        "type": event.get("type"),
        "reason": event.get("reason"),
        "message": event.get("message"),
        "count": event.get("count") or 1,
    }


def describe(
    endpoint: Mapping[str, Any],
    *,
    stored_sha256: str | None,
    secret_readable: bool,
    events: Sequence[Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """The report `-o json` prints (docs/cli.md describes each key)."""
    metadata = endpoint.get("metadata") or {}
    spec = endpoint.get("spec") or {}
    status = endpoint.get("status") or {}
    conditions = _conditions(status)
    ready = _condition(conditions, api.READY).get("status") == "True"
    chain_invalid = _condition(conditions, api.CHAIN_VALID).get("status") == "False"
    return {
        "namespace": metadata.get("namespace"),
        "name": metadata.get("name"),
        "healthy": ready and not chain_invalid,
        "generation": metadata.get("generation"),
        "observedGeneration": status.get("observedGeneration"),
        "conditions": conditions,
        "stored": {
            "secretName": spec.get("secretName") or f"{metadata.get('name')}-tls",
            "secretReadable": secret_readable,
            "serialNumber": status.get("serialNumber"),
            "issuer": status.get("issuer"),
            "dnsNames": status.get("dnsNames") or [],
            "notBefore": status.get("notBefore"),
            "notAfter": status.get("notAfter"),
            "sha256": stored_sha256,
        },
        "served": _served(status.get("validation") or {}, stored_sha256),
        "renewal": _renewal(metadata, spec, status),
        "failure": _failure(status),
        "order": status.get("order"),
        "events": None if events is None else [_event(e) for e in events[-RECENT_EVENTS:]],
    }


def _conditions(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """status.conditions with the fields of metav1.Condition the report shows."""
    return [
        {
            key: condition.get(key)
            for key in ("type", "status", "reason", "message", "lastTransitionTime")
        }
        for condition in status.get("conditions") or []
    ]


def _served(validation: Mapping[str, Any], stored_sha256: str | None) -> dict[str, Any]:
    """The report's `served` part: the last check of the served chain (status.validation)."""
    served_chain = validation.get("servedChain") or []
    served_leaf = served_chain[0] if served_chain else None
    served_sha = (served_leaf or {}).get("sha256")
    return {
        "lastChecked": validation.get("lastChecked"),
        "tlsVersion": validation.get("tlsVersion"),
        "leaf": served_leaf,
        "sameAsStored": (
            None if not served_sha or not stored_sha256 else served_sha == stored_sha256
        ),
        "findings": validation.get("findings") or [],
    }


def _renewal(
    metadata: Mapping[str, Any], spec: Mapping[str, Any], status: Mapping[str, Any]
) -> dict[str, Any]:
    """The report's `renewal` part: when, why, and whether a requested renewal is pending."""
    requested = (metadata.get("annotations") or {}).get(RENEW_ANNOTATION)
    last_request = (status.get("renewal") or {}).get("lastRenewRequest")
    return {
        "time": status.get("renewalTime"),
        "reason": renewal_reason(spec, status),
        "requested": bool(requested) and requested != last_request,
    }


def _failure(status: Mapping[str, Any]) -> dict[str, Any] | None:
    """The report's `failure` part: the last failure and its back-off (None: no failure)."""
    failed = int(status.get("failedAttempts") or 0)
    if not failed:
        return None
    return {
        "attempts": failed,
        "lastTime": status.get("lastFailureTime"),
        "reason": status.get("lastFailureReason"),
        "nextAttempt": status.get("nextAttemptTime"),
        "retryAfter": status.get("retryAfter"),
    }


def _when(text: str | None, now: datetime) -> str:
    """An RFC 3339 time with how far it is from now: `2027-01-01T00:00:00Z (in 31d 2h)`."""
    if not text:
        return "-"
    try:
        moment = parse_time(text)
    except ValueError:
        return text
    seconds = int((moment - now).total_seconds())
    span = abs(seconds)
    days, hours, minutes = span // 86400, span % 86400 // 3600, span % 3600 // 60
    amount = f"{days}d {hours}h" if days else f"{hours}h {minutes}m" if hours else f"{minutes}m"
    return f"{text} ({'in ' + amount if seconds >= 0 else amount + ' ago'})"


def format_status(report: Mapping[str, Any], now: datetime) -> str:
    """The report for people: one section a part, times also relative to `now`."""
    lines = [
        f"WebhookEndpoint {report['namespace']}/{report['name']}: "
        + ("healthy" if report["healthy"] else "NEEDS ATTENTION"),
        "",
        "Conditions:",
    ]
    for condition in report["conditions"] or [{"type": "(none yet)"}]:
        lines.append(
            f"  {condition.get('type'):<11}{condition.get('status') or '':<8}"
            f"{condition.get('reason') or '':<20}{condition.get('message') or ''}"
        )
    lines += _certificate_lines(report["stored"], report["served"], now)
    lines += _renewal_lines(report["renewal"], now)
    lines += _failure_lines(report["failure"], now)
    order = report["order"]
    if order and order.get("state") and order.get("state") != "valid":
        lines += ["", f"ACME order: {order.get('state')} (attempt {order.get('attempts') or 1})"]
    lines += _event_lines(report["events"])
    return "\n".join(lines)


def _certificate_lines(
    stored: Mapping[str, Any], served: Mapping[str, Any], now: datetime
) -> list[str]:
    """The stored and the served leaf side by side, then the last check's outcome."""
    leaf = served["leaf"] or {}
    rows = [
        ("", "stored (Secret " + stored["secretName"] + ")", "served (last check)"),
        (
            "leaf",
            f"serial {stored['serialNumber']}" if stored["serialNumber"] else "-",
            leaf.get("subject") or ("(no subject: names in SAN only)" if leaf else "-"),
        ),
        ("issuer", stored["issuer"] or "-", leaf.get("issuer") or "-"),
        ("expires", stored["notAfter"] or "-", leaf.get("notAfter") or "-"),
        ("sha256", _short_sha(stored["sha256"]), _short_sha(leaf.get("sha256"))),
    ]
    width = max(len(row[1]) for row in rows) + 2
    lines = ["", "Certificate:"]
    lines += [f"  {label:<17}{left:<{width}}{right}" for label, left, right in rows]
    if not stored["secretReadable"]:
        lines.append("  (the Secret could not be read: no `get` on secrets, or it is missing)")
    same = served["sameAsStored"]
    if same is not None:
        lines.append(
            "  the endpoint serves the stored certificate"
            if same
            else "  the endpoint serves ANOTHER certificate than the stored one (stale-certificate)"
        )
    lines.append(
        f"  last checked {_when(served['lastChecked'], now)}, {served['tlsVersion'] or '-'}"
    )
    for finding in served["findings"]:
        lines.append(
            f"  {finding.get('severity')}: {finding.get('code')}: {finding.get('message')}"
        )
    return lines


def _renewal_lines(renewal: Mapping[str, Any], now: datetime) -> list[str]:
    """When the next renewal is due and why; a pending renewal request."""
    lines = ["", f"Next renewal: {_when(renewal['time'], now)}", f"  why: {renewal['reason']}"]
    if renewal["requested"]:
        lines.append(f"  a renewal was requested ({RENEW_ANNOTATION}) and is not done yet")
    return lines


def _failure_lines(failure: Mapping[str, Any] | None, now: datetime) -> list[str]:
    """The last failure, the back-off and the CA's Retry-After (nothing: no failure)."""
    if not failure:
        return []
    lines = [
        "",
        f"Last failure ({failure['attempts']} in a row) {_when(failure['lastTime'], now)}:",
        f"  {failure['reason']}",
        f"  next attempt {_when(failure['nextAttempt'], now)} (back-off)",
    ]
    if failure["retryAfter"]:
        lines.append(f"  the CA asked not to be contacted before {failure['retryAfter']}")
    return lines


def _event_lines(events: Sequence[Mapping[str, Any]] | None) -> list[str]:
    """The recent Events, oldest first (None: the events could not be listed)."""
    lines = ["", "Recent events:"]
    if events is None:
        lines.append("  (not shown: no `list` on events)")
    elif not events:
        lines.append("  (none)")
    for event in events or []:
        count = f" (x{event['count']})" if event["count"] > 1 else ""
        lines.append(
            f"  {event['time'] or '-'}  {event['type']:<8}{event['reason']:<22}"
            f"{event['message']}{count}"
        )
    return lines


def _short_sha(value: str | None) -> str:
    return f"{value[:16]}..." if value else "-"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Show what the operator is doing for a WebhookEndpoint: conditions, the stored and "
        "the served certificate, the next renewal and why, the last failure, recent events. "
        "Exit status: 0 healthy, 1 needs attention, 2 usage, 3 not found or unreadable."
    )
    references.add_cluster_arguments(parser, "WebhookEndpoint")
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="text (default) or json"
    )
    parser.set_defaults(handler=run)


def gather(kube: StatusApi, namespace: str, name: str) -> dict[str, Any] | None:
    """The report for one endpoint, or None when it does not exist."""
    from webhook_cert_operator.kube_client import ApiError

    endpoint = kube.get_endpoint(namespace, name)
    if endpoint is None:
        return None
    secret_name = (endpoint.get("spec") or {}).get("secretName") or f"{name}-tls"
    try:
        secret = kube.get_secret(namespace, secret_name)
    except ApiError as error:
        if error.status != 403:
            raise
        secret = None
    try:
        events: list[dict[str, Any]] | None = kube.list_events(namespace, "WebhookEndpoint", name)
    except ApiError as error:
        if error.status != 403:
            raise
        events = None
    return describe(
        endpoint,
        stored_sha256=stored_leaf_sha256(None if secret is None else secret.data),
        secret_readable=secret is not None,
        events=events,
    )


def run(
    args: argparse.Namespace,
    *,
    api_factory: Callable[[argparse.Namespace], StatusApi] = references.kube_from_args,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    namespace, name = args.reference
    try:
        report = references.call_cluster(lambda: gather(api_factory(args), namespace, name))
    except references.ClusterError as error:
        print(f"{_PROG}: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if report is None:
        print(f"{_PROG}: WebhookEndpoint {namespace}/{name} not found", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if args.output == "json":
        print(json.dumps(report, indent=2))
    else:
        print(format_status(report, clock()))
    return EXIT_HEALTHY if report["healthy"] else EXIT_ATTENTION

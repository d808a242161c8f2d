"""Glue: `webhook-cert renew NAMESPACE/NAME`, ask the operator for a new certificate now.

The same as `kubectl annotate whe NAME webhookcert.dev/renew=VALUE --overwrite` (README,
"Renewal"): any new value of that annotation renews exactly once (`policies.renew_requested`),
as `cmctl renew` does for cert-manager. The operator records the value it honoured in
status.renewal.lastRenewRequest. Needs `get` and `patch` on webhookendpoints with the
caller's own kubeconfig.

With `--wait` it then follows the endpoint until the operator has honoured the request,
printing each step as it happens (the Issuing condition, the ACME order's state, the
Events the operator posts), by polling the endpoint and its Events every two seconds.

Exit status: 0 when the request was recorded (with --wait: when the new certificate is
stored), 1 when the endpoint does not exist, 2 on usage errors, 3 when the cluster could
not be read or written, 4 (--wait) when the renewal failed, 5 (--wait) on time-out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from webhook_cert_operator.certificates.policies import RENEW_ANNOTATION
from webhook_cert_operator.cli import references

EXIT_REQUESTED: Final = 0
EXIT_NOT_FOUND: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNAVAILABLE: Final = 3
EXIT_FAILED: Final = 4
EXIT_TIMEOUT: Final = 5

POLL_SECONDS: Final = 2.0


class EndpointApi(Protocol):
    """The calls `run` makes (`kube.Kube` has them; tests pass fakes)."""

    def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def patch_endpoint(self, namespace: str, name: str, patch: dict[str, Any]) -> None: ...

    def list_events(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]: ...


def request_value(now: datetime, current: str | None) -> str:
    """A value of the annotation that differs from the current one: the time in Unix
    seconds, as the README's `date +%s`, with microseconds when that is already set."""
    value = str(int(now.timestamp()))
    return value if value != current else f"{now.timestamp():.6f}"


def renew_patch(value: str) -> dict[str, Any]:
    """The merge patch that sets the annotation (and nothing else)."""
    return {"metadata": {"annotations": {RENEW_ANNOTATION: value}}}


@dataclass(frozen=True)
class RenewRequest:
    namespace: str
    name: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "annotation": RENEW_ANNOTATION,
            "value": self.value,
        }


def request_renewal(
    api: EndpointApi, namespace: str, name: str, now: datetime
) -> RenewRequest | None:
    """Set the renew annotation on the endpoint; None when the endpoint does not exist."""
    endpoint = api.get_endpoint(namespace, name)
    if endpoint is None:
        return None
    annotations = (endpoint.get("metadata") or {}).get("annotations") or {}
    value = request_value(now, annotations.get(RENEW_ANNOTATION))
    api.patch_endpoint(namespace, name, renew_patch(value))
    return RenewRequest(namespace, name, value)


def _event_key(event: Mapping[str, Any]) -> tuple[str, int]:
    return (str((event.get("metadata") or {}).get("name")), int(event.get("count") or 1))


@dataclass
class Progress:
    """What `--wait` has shown so far; `observe` turns each new look at the endpoint and
    its Events into the lines to print and, at the end, the outcome."""

    value: str
    failures_before: int
    seen_events: set[tuple[str, int]] = field(default_factory=set)
    last_step: tuple[Any, ...] | None = None

    @classmethod
    def start(
        cls, value: str, endpoint: Mapping[str, Any], events: Sequence[Mapping[str, Any]]
    ) -> Progress:
        """Events and failures from before the request are not this renewal's."""
        status = endpoint.get("status") or {}
        return cls(
            value=value,
            failures_before=int(status.get("failedAttempts") or 0),
            seen_events={_event_key(e) for e in events},
        )

    def observe(
        self, endpoint: Mapping[str, Any], events: Sequence[Mapping[str, Any]]
    ) -> tuple[list[str], str | None]:
        """(lines to print, outcome): outcome is None while waiting, "renewed" or "failed"."""
        lines = self._new_event_lines(events)
        status = endpoint.get("status") or {}
        step = self._new_step_line(status)
        if step is not None:
            lines.append(step)
        if (status.get("renewal") or {}).get("lastRenewRequest") == self.value:
            lines.append(
                f"renewed: serial {status.get('serialNumber')}, valid until "
                f"{status.get('notAfter')}, next renewal {status.get('renewalTime')}"
            )
            return lines, "renewed"
        if int(status.get("failedAttempts") or 0) > self.failures_before:
            lines.append(
                f"failed: {status.get('lastFailureReason')}; the operator tries again at "
                f"{status.get('nextAttemptTime')} (or at once on a new request)"
            )
            return lines, "failed"
        return lines, None

    def _new_event_lines(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """One line for each Event not seen before, which it then counts as seen."""
        lines: list[str] = []
        for event in events:
            key = _event_key(event)
            if key not in self.seen_events:
                self.seen_events.add(key)
                lines.append(
                    f"event {event.get('type')} {event.get('reason')}: {event.get('message')}"
                )
        return lines

    def _new_step_line(self, status: Mapping[str, Any]) -> str | None:
        """The Issuing condition and the order's state, when they changed (None: unchanged)."""
        issuing: Mapping[str, Any] = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "Issuing"), {}
        )
        order = status.get("order") or {}
        step = (
            issuing.get("status"),
            issuing.get("reason"),
            issuing.get("message"),
            order.get("state"),
        )
        if step == self.last_step:
            return None
        self.last_step = step
        line = f"Issuing={issuing.get('status') or '-'} {issuing.get('reason') or ''}: "
        line += str(issuing.get("message") or "")
        if order.get("state"):
            line += f" (ACME order {order['state']})"
        return line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Ask the operator to renew a WebhookEndpoint's certificate now, by setting its "
        f"{RENEW_ANNOTATION} annotation. Exit status: 0 requested (with --wait: renewed), "
        "1 no such endpoint, 2 usage, 3 cluster unreadable, 4 renewal failed, 5 time-out."
    )
    references.add_cluster_arguments(parser, "WebhookEndpoint")
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="text (default) or json"
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="follow the renewal and print each step until the new certificate is stored",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="with --wait: give up after this long (default %(default)s)",
    )
    parser.set_defaults(handler=run)


def wait_for_renewal(
    kube: EndpointApi,
    request: RenewRequest,
    progress: Progress,
    *,
    timeout: float,
    emit: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> str:
    """Poll until the outcome ("renewed", "failed", "timeout", "deleted"), emitting lines."""
    started = monotonic()
    while True:
        endpoint = kube.get_endpoint(request.namespace, request.name)
        if endpoint is None:
            emit("the WebhookEndpoint was deleted")
            return "deleted"
        events = kube.list_events(request.namespace, "WebhookEndpoint", request.name)
        lines, outcome = progress.observe(endpoint, events)
        elapsed = monotonic() - started
        for line in lines:
            emit(f"[{elapsed:4.0f}s] {line}")
        if outcome is not None:
            return outcome
        if elapsed >= timeout:
            emit(f"[{elapsed:4.0f}s] still not renewed after {timeout:.0f}s; giving up waiting")
            return "timeout"
        sleep(POLL_SECONDS)


_OUTCOME_STATUS: Final = {
    "renewed": EXIT_REQUESTED,
    "failed": EXIT_FAILED,
    "timeout": EXIT_TIMEOUT,
    "deleted": EXIT_NOT_FOUND,
}


def run(
    args: argparse.Namespace,
    *,
    api: Callable[[argparse.Namespace], EndpointApi] = references.kube_from_args,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    namespace, name = args.reference
    # With -o json, stdout holds only the JSON; the steps go to stderr.
    steps = sys.stderr if args.output == "json" else sys.stdout

    def emit(line: str) -> None:
        print(line, file=steps, flush=True)

    try:
        request, outcome = references.call_cluster(
            lambda: _request_and_maybe_wait(api(args), args, emit, clock=clock, sleep=sleep)
        )
    except references.ClusterError as error:
        print(f"webhook-cert renew: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if request is None:
        print(f"webhook-cert renew: WebhookEndpoint {namespace}/{name} not found", file=sys.stderr)
        return EXIT_NOT_FOUND
    _print_result(args, request, outcome)
    return EXIT_REQUESTED if outcome is None else _OUTCOME_STATUS[outcome]


def _request_and_maybe_wait(
    kube: EndpointApi,
    args: argparse.Namespace,
    emit: Callable[[str], None],
    *,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> tuple[RenewRequest | None, str | None]:
    """(the request, None: not found; the outcome with --wait, else None)."""
    namespace, name = args.reference
    wait = getattr(args, "wait", False)
    before = kube.list_events(namespace, "WebhookEndpoint", name) if wait else []
    request = request_renewal(kube, namespace, name, clock())
    if request is None or not wait:
        return request, None
    if args.output != "json":
        emit(f"renewal requested for {namespace}/{name} ({RENEW_ANNOTATION}={request.value})")
    endpoint = kube.get_endpoint(namespace, name) or {}
    progress = Progress.start(request.value, endpoint, before)
    outcome = wait_for_renewal(
        kube, request, progress, timeout=args.timeout, emit=emit, sleep=sleep
    )
    return request, outcome


def _print_result(args: argparse.Namespace, request: RenewRequest, outcome: str | None) -> None:
    """The request (and outcome) as JSON with -o json; else how to follow it, when not waited."""
    namespace, name = args.reference
    if args.output == "json":
        result: dict[str, Any] = dict(request.to_json())
        if outcome is not None:
            result["outcome"] = outcome
        print(json.dumps(result, indent=2))
    elif outcome is None:
        print(
            f"renewal requested for {namespace}/{name} ({RENEW_ANNOTATION}={request.value}); "
            f"`webhook-cert renew --wait` or `kubectl get whe -n {namespace} {name} -w` follows it"
        )

"""`webhook-cert renew NAMESPACE/NAME`: ask the operator for a new certificate now.

The same as `kubectl annotate whe NAME webhookcert.dev/renew=VALUE --overwrite` (README,
"Renewal"): any new value of that annotation renews exactly once (`renewal.renew_requested`),
as `cmctl renew` does for cert-manager. The operator records the value it honoured in
status.renewal.lastRenewRequest. Needs `get` and `patch` on webhookendpoints with the
caller's own kubeconfig.

Exit status: 0 when the request was recorded, 1 when the endpoint does not exist,
2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from webhook_cert_operator import cli_kube
from webhook_cert_operator.renewal import RENEW_ANNOTATION

EXIT_REQUESTED: Final = 0
EXIT_NOT_FOUND: Final = 1
EXIT_USAGE: Final = 2


class EndpointApi(Protocol):
    """The two calls `request_renewal` makes (`kube.Kube` has them; tests pass fakes)."""

    def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def patch_endpoint(self, namespace: str, name: str, patch: dict[str, Any]) -> None: ...


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Ask the operator to renew a WebhookEndpoint's certificate now, by setting its "
        f"{RENEW_ANNOTATION} annotation. Exit status: 0 requested, 1 no such endpoint, "
        "2 usage."
    )
    cli_kube.add_cluster_arguments(parser, "WebhookEndpoint")
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="text (default) or json"
    )
    parser.set_defaults(handler=run)


def run(
    args: argparse.Namespace,
    *,
    api: Callable[[argparse.Namespace], EndpointApi] = cli_kube.kube_from_args,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    namespace, name = args.reference
    request = request_renewal(api(args), namespace, name, clock())
    if request is None:
        print(f"webhook-cert renew: WebhookEndpoint {namespace}/{name} not found", file=sys.stderr)
        return EXIT_NOT_FOUND
    if args.output == "json":
        print(json.dumps(request.to_json(), indent=2))
    else:
        print(
            f"renewal requested for {namespace}/{name} ({RENEW_ANNOTATION}={request.value}); "
            f"`kubectl get whe -n {namespace} {name} -w` shows it"
        )
    return EXIT_REQUESTED

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
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from webhook_cert_operator.renewal import RENEW_ANNOTATION

if TYPE_CHECKING:
    from webhook_cert_operator.kube import Kube

EXIT_REQUESTED: Final = 0
EXIT_NOT_FOUND: Final = 1
EXIT_USAGE: Final = 2

# Kubernetes object names: a namespace is a DNS-1123 label, a WebhookEndpoint's name a
# DNS-1123 subdomain (k8s.io/apimachinery/pkg/util/validation).
_LABEL_RE: Final = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_SUBDOMAIN_RE: Final = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")


class EndpointApi(Protocol):
    """The two calls `request_renewal` makes (`kube.Kube` has them; tests pass fakes)."""

    def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def patch_endpoint(self, namespace: str, name: str, patch: dict[str, Any]) -> None: ...


def parse_reference(text: str) -> tuple[str, str]:
    """NAMESPACE/NAME as a pair; ValueError naming what is wrong."""
    namespace, slash, name = text.partition("/")
    if not slash:
        raise ValueError(f"{text!r} is not NAMESPACE/NAME")
    if not _LABEL_RE.fullmatch(namespace):
        raise ValueError(f"{namespace!r} is not a namespace name")
    if len(name) > 253 or not _SUBDOMAIN_RE.fullmatch(name):
        raise ValueError(f"{name!r} is not a WebhookEndpoint name")
    return namespace, name


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


def _reference(text: str) -> tuple[str, str]:
    try:
        return parse_reference(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Ask the operator to renew a WebhookEndpoint's certificate now, by setting its "
        f"{RENEW_ANNOTATION} annotation. Exit status: 0 requested, 1 no such endpoint, "
        "2 usage."
    )
    parser.add_argument(
        "endpoint", type=_reference, metavar="NAMESPACE/NAME", help="the WebhookEndpoint"
    )
    parser.add_argument(
        "--kubeconfig", metavar="PATH", help="default: $KUBECONFIG or ~/.kube/config"
    )
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context (default: current)")
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="text (default) or json"
    )
    parser.set_defaults(handler=run)


def _kube(args: argparse.Namespace) -> Kube:
    from kubernetes import client, config

    from webhook_cert_operator.kube import Kube

    config.load_kube_config(config_file=args.kubeconfig, context=args.context)  # type: ignore[no-untyped-call]
    return Kube(client.ApiClient())


def run(
    args: argparse.Namespace,
    *,
    api: Callable[[argparse.Namespace], EndpointApi] = _kube,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    namespace, name = args.endpoint
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

"""Glue: what the CLI commands that talk to a cluster share: NAMESPACE/NAME arguments and
the caller's kubeconfig (`cli/renew.py`, `cli/inspect.py`, `cli/status.py`), and the
sentences their failures are told in. The operator itself never uses this: it runs with
its ServiceAccount (`glue/run.py`).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from webhook_cert_operator.kube import Kube

# Kubernetes object names: a namespace is a DNS-1123 label, most objects' names DNS-1123
# subdomains (k8s.io/apimachinery/pkg/util/validation).
_LABEL_RE: Final = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_SUBDOMAIN_RE: Final = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")


def parse_reference(text: str, kind: str = "WebhookEndpoint") -> tuple[str, str]:
    """NAMESPACE/NAME as a pair; ValueError naming what is wrong."""
    namespace, slash, name = text.partition("/")
    if not slash:
        raise ValueError(f"{text!r} is not NAMESPACE/NAME")
    if not _LABEL_RE.fullmatch(namespace):
        raise ValueError(f"{namespace!r} is not a namespace name")
    if len(name) > 253 or not _SUBDOMAIN_RE.fullmatch(name):
        raise ValueError(f"{name!r} is not a {kind} name")
    return namespace, name


def add_cluster_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    """The positional NAMESPACE/NAME (as `args.reference`), --kubeconfig and --context."""

    def reference(text: str) -> tuple[str, str]:
        try:
            return parse_reference(text, kind)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parser.add_argument("reference", type=reference, metavar="NAMESPACE/NAME", help=f"the {kind}")
    parser.add_argument(
        "--kubeconfig", metavar="PATH", help="default: $KUBECONFIG or ~/.kube/config"
    )
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context (default: current)")


def kube_from_args(args: argparse.Namespace) -> Kube:
    """The API adapter over the caller's kubeconfig (--kubeconfig, --context), read by the
    `kubernetes` package, which knows every form of kubeconfig credentials (client
    certificates, tokens, exec and auth-provider plugins). ClusterError without one."""
    try:
        from kubernetes import client, config
    except ImportError:
        raise ClusterError(
            "reading a kubeconfig needs the kubernetes package: "
            "pip install 'webhook-cert-operator[cli]'"
        ) from None

    from webhook_cert_operator.kube import Kube
    from webhook_cert_operator.kube_client import ApiClient, Credentials

    loaded = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=args.kubeconfig, context=args.context, client_configuration=loaded
        )
    except config.ConfigException as error:
        raise ClusterError(f"no usable kubeconfig: {error}") from None
    # Where the token is depends on the client's version (and a plugin's refresh hook).
    header = loaded.get_api_key_with_prefix("BearerToken") or loaded.get_api_key_with_prefix(
        "authorization"
    )
    credentials = Credentials(
        server=loaded.host,
        ca_path=loaded.ssl_ca_cert,
        insecure=not loaded.verify_ssl,
        token=header.split(" ", 1)[-1] if header else None,
        cert_path=loaded.cert_file,
        key_path=loaded.key_file,
    )
    return Kube(ApiClient(credentials))


class ClusterError(Exception):
    """The cluster could not be read or written; the message says why, for the user."""


T = TypeVar("T")


def call_cluster(call: Callable[[], T]) -> T:
    """Run `call` (which talks to the API server) and turn the client's failures into a
    ClusterError with a sentence: no connection, or the HTTP status and reason the API
    server gave (never its body, which may echo object data)."""
    import requests

    from webhook_cert_operator.kube_client import ApiError

    try:
        return call()
    except ApiError as error:
        if error.status == 403:
            raise ClusterError(
                f"forbidden (HTTP 403): your credentials may not do this ({error.reason})"
            ) from None
        if error.status == 401:
            raise ClusterError("unauthorized (HTTP 401): log in to the cluster again") from None
        raise ClusterError(f"the API server answered HTTP {error.status} {error.reason}") from None
    except requests.RequestException as error:
        raise ClusterError(f"cannot reach the API server: {type(error).__name__}") from None

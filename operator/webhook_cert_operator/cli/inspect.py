"""Glue: `webhook-cert inspect secret NAMESPACE/NAME` (or `inspect file CERT [--key KEY]`):
decode a stored certificate chain and judge it offline, as if it were served as it is.

The verdict is the served-chain check's (`chain.analyse`, no connection: the TLS version
is not judged), against Mozilla's roots or `--trust-bundle`, for `--host` (default: the
leaf's first DNS name); and whether `tls.key` pairs with the leaf. It answers "would a
strict webhook sender accept this Secret if my server served it whole?" before a server
reloads it, and tells a Secret problem from a serving problem. The private key is read
to compare it with the leaf, never printed.

Exit status: 0 when the chain is valid and the key matches, 1 when not (or the Secret does
not exist or is unusable), 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from cryptography import x509

from webhook_cert_operator.certificates import pki
from webhook_cert_operator.certificates import secret as tls_secret
from webhook_cert_operator.checking import chain, trust
from webhook_cert_operator.checking.report import ChainReport, report_to_json, summarise
from webhook_cert_operator.cli import references
from webhook_cert_operator.cli.check import format_report

if TYPE_CHECKING:
    from webhook_cert_operator.kube import Secret

EXIT_VALID: Final = 0
EXIT_INVALID: Final = 1
EXIT_USAGE: Final = 2

_PROG: Final = "webhook-cert inspect"


class SecretApi(Protocol):
    def get_secret(self, namespace: str, name: str) -> Secret | None: ...


@dataclass(frozen=True)
class Inspection:
    """A stored chain judged as if served, and whether its key pairs with the leaf."""

    report: ChainReport
    host: str
    key_matches: bool
    key_type: str

    @property
    def ok(self) -> bool:
        return self.report.ok and self.key_matches

    def to_json(self) -> dict[str, object]:
        return {
            **report_to_json(self.report),
            "ok": self.ok,
            "host": self.host,
            "key": {"matches_leaf": self.key_matches, "type": self.key_type},
        }


class Unusable(Exception):
    """The data holds no usable certificate and key, or names no host (stable text)."""


def inspect_stored(
    data: Mapping[str, bytes],
    *,
    source: str,
    host: str | None,
    trust_roots: tuple[x509.Certificate, ...],
    now: datetime,
    warn_before: timedelta,
) -> Inspection:
    """Judge a Secret's `tls.crt` and `tls.key` (pure: `now` and the roots are given)."""
    stored = tls_secret.parse_stored(data)
    if isinstance(stored, str):
        raise Unusable(stored)
    names = pki.certificate_dns_names(stored.leaf)
    if host is None:
        if not names:
            raise Unusable("the leaf names no DNS name: pass --host")
        host = names[0]
    findings = chain.analyse(
        stored.chain,
        host=host,
        trust_roots=trust_roots,
        now=now,
        tls_version=None,
        warn_before=warn_before,
    )
    algorithm, size = pki.key_algorithm_and_size(stored.key)
    return Inspection(
        report=ChainReport(
            url=source,
            tls_version=None,
            served_chain=summarise(stored.chain),
            findings=tuple(findings),
        ),
        host=host,
        key_matches=pki.key_matches_certificate(stored.key, stored.leaf),
        key_type=f"{algorithm} {size}",
    )


def format_inspection(inspection: Inspection) -> str:
    text = format_report(inspection.report, chain_heading="Stored chain (tls.crt), in order:")
    verdict = "VALID" if inspection.ok else "INVALID"
    first, _, rest = text.partition("\n")
    first = verdict + first[first.index(":") :]
    key = (
        f"Key: {inspection.key_type}, pairs with the leaf"
        if inspection.key_matches
        else f"Key: {inspection.key_type}, does NOT pair with the leaf: servers refuse to load it"
    )
    return "\n".join([first, f"Judged for host {inspection.host}; {key}", rest])


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", help="the host senders connect to (default: the leaf's first DNS name)"
    )
    parser.add_argument(
        "--trust-bundle",
        metavar="FILE",
        help="PEM file of trusted roots (default: Mozilla's roots, from certifi)",
    )
    parser.add_argument(
        "--warn-days",
        type=int,
        default=14,
        metavar="DAYS",
        help="warn when the leaf expires within this many days (default: %(default)s)",
    )
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Decode a stored certificate chain and judge it offline, as a strict webhook sender "
        "would if it were served as it is. Exit status: 0 valid, 1 invalid, 2 usage."
    )
    kinds = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    secret = kinds.add_parser("secret", help="a kubernetes.io/tls Secret in the cluster")
    references.add_cluster_arguments(secret, "Secret")
    _common(secret)
    files = kinds.add_parser("file", help="PEM files, such as certbot's fullchain.pem")
    files.add_argument("cert", metavar="CERT", help="the chain, leaf first (tls.crt)")
    files.add_argument("--key", metavar="KEY", required=True, help="the private key (tls.key)")
    _common(files)
    parser.set_defaults(handler=run)


class _Failed(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _data(
    args: argparse.Namespace, api: Callable[[argparse.Namespace], SecretApi]
) -> tuple[str, dict[str, bytes]]:
    if args.what == "secret":
        namespace, name = args.reference
        try:
            secret = references.call_cluster(lambda: api(args).get_secret(namespace, name))
        except references.ClusterError as error:
            raise _Failed(str(error), EXIT_USAGE) from None
        if secret is None:
            raise _Failed(f"Secret {namespace}/{name} not found", EXIT_INVALID)
        return f"Secret {namespace}/{name}", dict(secret.data)
    try:
        data = {
            tls_secret.TLS_CERT: Path(args.cert).read_bytes(),
            tls_secret.TLS_KEY: Path(args.key).read_bytes(),
        }
    except OSError as error:
        raise _Failed(f"{error.filename}: {error.strerror}", EXIT_USAGE) from None
    return args.cert, data


def run(
    args: argparse.Namespace,
    *,
    api: Callable[[argparse.Namespace], SecretApi] = references.kube_from_args,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    source = "/".join(args.reference) if args.what == "secret" else args.cert
    try:
        roots = (
            trust.load_pem_file(args.trust_bundle) if args.trust_bundle else trust.mozilla_roots()
        )
        source, data = _data(args, api)
        inspection = inspect_stored(
            data,
            source=source,
            host=args.host,
            trust_roots=roots,
            now=clock(),
            warn_before=timedelta(days=args.warn_days),
        )
    except trust.TrustBundleError as error:
        print(f"{_PROG}: error: cannot use trust bundle: {error}", file=sys.stderr)
        return EXIT_USAGE
    except _Failed as failed:
        print(f"{_PROG}: {failed}", file=sys.stderr)
        return failed.status
    except Unusable as error:
        print(f"{_PROG}: {source}: {error}", file=sys.stderr)
        return EXIT_INVALID
    if args.output == "json":
        print(json.dumps(inspection.to_json(), indent=2))
    else:
        print(format_inspection(inspection))
    return EXIT_VALID if inspection.ok else EXIT_INVALID

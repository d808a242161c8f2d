"""Glue: `webhook-cert check URL`, the served-chain check from any machine.

The same check the operator runs on each WebhookEndpoint, without a cluster: connect
as a strict webhook sender would, then print a verdict, the served chain and each
finding (or one JSON object with `--json`). Exit status: 0 when no finding is an error,
1 when one is, 2 on usage errors (bad arguments, unreadable files).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from cryptography import x509

from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.checking import checker, resolve, target, trust
from webhook_cert_operator.checking.findings import Severity
from webhook_cert_operator.checking.report import ChainReport, report_to_json

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

_PROG = "webhook-cert check"

T = TypeVar("T")


def _argument_type(parse: Callable[[str], T], what: str) -> Callable[[str], T]:
    """`parse` as an argparse type: its ValueError becomes a usage error (exit 2)."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"invalid {what}: {error}") from None

    return convert


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"{text} is not positive")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"{text} is negative")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Connect to an HTTPS endpoint as a strict webhook sender does (no download of "
        "missing intermediates) and report whether the chain it serves is complete, in "
        "order, unexpired, for the right host, on a recent TLS version and, with "
        "--expect-cert, the expected certificate. Exit status: 0 valid, 1 invalid, 2 usage."
    )
    parser.add_argument(
        "url",
        type=_argument_type(target.parse_url, "URL"),
        help="the endpoint, e.g. https://hooks.example.com/",
    )
    _add_connection_arguments(parser)
    _add_judgement_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def _add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """How to reach the endpoint: address, timeout, DNS servers."""
    parser.add_argument(
        "--connect",
        metavar="HOST:PORT",
        type=_argument_type(target.parse_dial, "--connect"),
        help="dial this host or address instead of the URL's; SNI and the name check "
        "keep the URL's host",
    )
    parser.add_argument(
        "--timeout",
        type=_argument_type(_positive, "--timeout"),
        default=10.0,
        metavar="SECONDS",
        help="give up on the connection after this long (default: %(default)s)",
    )
    parser.add_argument(
        "--nameserver",
        action="append",
        type=_argument_type(resolve.parse_nameserver, "--nameserver"),
        metavar="IP[:PORT]",
        help="resolve host names through this DNS server instead of the system resolver "
        "(repeatable)",
    )


def _add_judgement_arguments(parser: argparse.ArgumentParser) -> None:
    """How to judge what is served: trust, expected leaf, TLS floor, expiry, sender."""
    parser.add_argument(
        "--trust-bundle",
        metavar="FILE",
        help="PEM file of trusted roots (default: Mozilla's roots, from certifi)",
    )
    parser.add_argument(
        "--expect-cert",
        metavar="FILE",
        help="PEM file whose first certificate is the leaf that must be served",
    )
    parser.add_argument(
        "--min-tls",
        choices=["1.0", "1.1", "1.2", "1.3"],
        default="1.2",
        help="lowest acceptable TLS version (default: %(default)s)",
    )
    parser.add_argument(
        "--warn-days",
        type=_argument_type(_non_negative_int, "--warn-days"),
        default=14,
        metavar="DAYS",
        help="warn when the leaf expires within this many days (default: %(default)s)",
    )
    parser.add_argument(
        "--sender",
        choices=api.SENDERS,
        default=api.DEFAULT_SENDER,
        help="judge as this sender: 'generic' checks TLS only; the others also send that "
        "sender's subscription validation request to the URL (it reaches your receiver, "
        "marked by an X-Webhook-Cert-Check header) and judge the answer "
        "(default: %(default)s)",
    )


class _UsageError(Exception):
    pass


def _load_trust(path: str | None) -> tuple[x509.Certificate, ...]:
    try:
        return trust.load_pem_file(path) if path else trust.mozilla_roots()
    except trust.TrustBundleError as error:
        raise _UsageError(f"cannot use trust bundle: {error}") from None


def _load_expected(path: str | None) -> x509.Certificate | None:
    if path is None:
        return None
    try:
        return trust.load_pem_file(path)[0]
    except trust.TrustBundleError as error:
        raise _UsageError(f"cannot use expected certificate: {error}") from None


def run(args: argparse.Namespace) -> int:
    try:
        trust_roots = _load_trust(args.trust_bundle)
        expected_leaf = _load_expected(args.expect_cert)
    except _UsageError as error:
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    report = checker.check_endpoint(
        args.url,
        dial=args.connect,
        trust_roots=trust_roots,
        expected_leaf=expected_leaf,
        min_tls_version=args.min_tls,
        warn_before=timedelta(days=args.warn_days),
        timeout=args.timeout,
        nameservers=args.nameserver or (),
        now=datetime.now(UTC),
        sender=args.sender,
    )
    if args.json:
        print(json.dumps(report_to_json(report), indent=2))
    else:
        print(format_report(report))
    return EXIT_VALID if report.ok else EXIT_INVALID


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def format_report(
    report: ChainReport,
    *,
    width: int = 100,
    chain_heading: str = "Served chain, in the order served:",
) -> str:
    """The human-readable report: verdict, served chain in served order, findings."""
    lines = [*_verdict_lines(report), *_address_lines(report)]
    if report.served_chain:
        lines.append(chain_heading)
        lines.extend(_chain_lines(report))
    if report.findings:
        lines.append("Findings:")
        lines.extend(_finding_lines(report, width))
    elif report.ok:
        lines.append("No findings: a strict client accepts this chain.")
    return "\n".join(lines)


def _verdict_lines(report: ChainReport) -> list[str]:
    """The verdict with its counts, and where the check connected."""
    errors = sum(f.severity is Severity.ERROR for f in report.findings)
    warnings = len(report.findings) - errors
    verdict = "VALID" if report.ok else "INVALID"
    counts = f"{_count(errors, 'error')}, {_count(warnings, 'warning')}"
    lines = [f"{verdict}: {report.url} ({counts})"]
    if report.address is not None:
        suite = f", {report.cipher_suite}" if report.cipher_suite else ""
        lines.append(f"Connected to {report.address} with {report.tls_version}{suite}")
    return lines


def _address_lines(report: ChainReport) -> list[str]:
    """One line per address the host resolved to, with its own verdict (none: one address)."""
    if not report.addresses:
        return []
    lines = ["Addresses:"]
    for outcome in report.addresses:
        verdict = "valid" if outcome.ok else f"INVALID ({', '.join(outcome.codes)})"
        if outcome.skipped is not None:
            verdict = f"not judged: {outcome.skipped}"
        lines.append(f"  {outcome.address}  {verdict}")
    return lines


def _chain_lines(report: ChainReport) -> list[str]:
    """Each served certificate, in the order served: subject, issuer, expiry."""
    lines = []
    for index, cert in enumerate(report.served_chain):
        shown = cert.subject or f"(no subject) DNS:{', DNS:'.join(cert.dns_names)}"
        lines.append(f"  {index}  {shown}")
        lines.append(f"     issuer   {cert.issuer}")
        lines.append(f"     expires  {format_time(cert.not_after)}")
    return lines


def _finding_lines(report: ChainReport, width: int) -> list[str]:
    """Each finding as severity, code and message, wrapped to `width` columns."""
    return [
        textwrap.fill(
            f.message,
            width=width,
            initial_indent=f"  {f.severity:<7} {f.code}: ",
            subsequent_indent=" " * 10,
            break_on_hyphens=False,
            break_long_words=False,
        )
        for f in report.findings
    ]

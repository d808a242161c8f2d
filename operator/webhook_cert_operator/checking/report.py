"""Pure: the report on one endpoint (what was served, the findings) and its JSON shape.

`build_report` judges what the probe got at each of the host's addresses
(`analyse`, plus the handshake's own findings) and combines them: a host is valid
only when every address a sender may reach is. `report_to_json` is the shape of
`webhook-cert check --json` and `webhook-cert inspect --json` (a public contract).

No I/O, no clock (`now` is a parameter).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509

from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.checking.certs import fingerprint, san_dns_names
from webhook_cert_operator.checking.chain import analyse
from webhook_cert_operator.checking.findings import (
    Code,
    Finding,
    client_certificate_required,
    connection_failed,
    handshake_failed,
    is_valid,
    sort_findings,
)
from webhook_cert_operator.checking.served import (
    Failure,
    ProbeError,
    Refusal,
    RefusalKind,
    ServedChain,
)
from webhook_cert_operator.checking.target import Target


@dataclass(frozen=True)
class ServedCertificate:
    """What a report shows of one served certificate."""

    subject: str
    issuer: str
    not_after: datetime
    sha256: str
    # The subjectAltName DNS names: what names a leaf whose subject is empty, as ACME
    # leaves from SAN-only CSRs are.
    dns_names: tuple[str, ...] = ()


def summarise(served: Iterable[x509.Certificate]) -> tuple[ServedCertificate, ...]:
    """One `ServedCertificate` per served certificate, in served order."""
    return tuple(_summary(cert) for cert in served)


@functools.lru_cache(maxsize=256)
def _summary(cert: x509.Certificate) -> ServedCertificate:
    # Remembered: the intermediates are the same at every check of every endpoint of a CA.
    return ServedCertificate(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
        sha256=fingerprint(cert),
        dns_names=tuple(san_dns_names(cert)),
    )


@dataclass(frozen=True)
class AddressOutcome:
    """How one of the host's addresses fared: its verdict and finding codes."""

    address: str
    ok: bool
    codes: tuple[str, ...]
    #: Why this address was not judged (no IPv6 route from the checker), else None.
    skipped: str | None = None


@dataclass(frozen=True)
class ChainReport:
    """The outcome of one check of one endpoint, as the CLI and the operator show it."""

    url: str
    tls_version: str | None
    served_chain: tuple[ServedCertificate, ...]
    findings: tuple[Finding, ...]
    #: The address that answered ("192.0.2.1:443"), None without a connection.
    address: str | None = None
    #: The cipher suite a sender's handshake negotiated (OpenSSL's name), if it succeeded.
    cipher_suite: str | None = None
    #: Each address of the host, when it has more than one.
    addresses: tuple[AddressOutcome, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether no finding is an error (`findings.is_valid`)."""
        return is_valid(self.findings)


def report_to_json(report: ChainReport) -> dict[str, object]:
    """The JSON shape of a report (`webhook-cert check --json`); keys are a public contract."""
    return {
        "url": report.url,
        "ok": report.ok,
        "tls_version": report.tls_version,
        "cipher_suite": report.cipher_suite,
        "address": report.address,
        "served_chain": [certificate_to_json(c) for c in report.served_chain],
        "findings": [finding_to_json(f) for f in report.findings],
        "addresses": [address_to_json(a) for a in report.addresses],
    }


def certificate_to_json(cert: ServedCertificate, *, camel_case: bool = False) -> dict[str, str]:
    """One served certificate as JSON shows it (`not_after`), or status (`notAfter`)."""
    return {
        "subject": cert.subject,
        "issuer": cert.issuer,
        "notAfter" if camel_case else "not_after": format_time(cert.not_after),
        "sha256": cert.sha256,
    }


def finding_to_json(found: Finding) -> dict[str, str]:
    """One finding as JSON and status show it: code, severity, message."""
    return {"code": str(found.code), "severity": str(found.severity), "message": found.message}


def address_to_json(outcome: AddressOutcome) -> dict[str, object]:
    """One address of the report, as JSON and status show it."""
    shown: dict[str, object] = {
        "address": outcome.address,
        "ok": outcome.ok,
        "codes": list(outcome.codes),
    }
    if outcome.skipped is not None:
        shown["skipped"] = outcome.skipped
    return shown


def combine_reports(
    reports: Sequence[ChainReport], skipped: Sequence[tuple[str, str]] = ()
) -> ChainReport:
    """One report for a host from the reports on each of its addresses (first = primary).

    A sender may reach any A or AAAA record (and Let's Encrypt, validating from several
    places, prefers IPv6), so the host is valid only when every address is. When all
    addresses say the same, the findings are said once; otherwise each finding names
    its address. The chain shown is the first failing address's. `skipped` lists
    (address, why) of addresses that were not judged.
    """
    first = reports[0]
    if len(reports) == 1 and not skipped:
        return first
    outcomes = tuple(
        AddressOutcome(
            r.address or "(no address)", r.ok, tuple(dict.fromkeys(str(f.code) for f in r.findings))
        )
        for r in reports
    ) + tuple(AddressOutcome(address, True, (), why) for address, why in skipped)
    if all(r.findings == first.findings for r in reports[1:]):
        findings: list[Finding] = list(first.findings)
    else:
        findings = sort_findings(
            Finding(f.code, f.severity, f"at {r.address or '(no address)'}: {f.message}")
            for r in reports
            for f in r.findings
        )
    base = next((r for r in reports if not r.ok), first)
    return dataclasses.replace(base, findings=tuple(findings), addresses=outcomes)


def build_report(
    target: Target,
    served: ServedChain | ProbeError,
    *,
    trust_roots: Sequence[x509.Certificate],
    expected_leaf: x509.Certificate | None,
    min_tls_version: str,
    warn_before: timedelta,
    now: datetime,
    extra: Sequence[Finding] = (),
) -> ChainReport:
    """The report on what the probe got (or why it got nothing), judged at `now`, with
    the `extra` findings (a sender profile's request's) added in the fixed order.

    A host with several addresses gets one report over all of them
    (`combine_reports`): it is valid only when every address is. ValueError if
    `min_tls_version` is not a TLS version."""
    judge = functools.partial(
        _report_one,
        target,
        trust_roots=trust_roots,
        expected_leaf=expected_leaf,
        min_tls_version=min_tls_version,
        warn_before=warn_before,
        now=now,
    )
    if isinstance(served, ProbeError) or not served.others:
        return _with_findings(extra, judge(served))
    judged = [o for o in served.others if not _unroutable_ipv6(o)]
    skipped = [
        (o.address or "", SKIPPED_NO_ROUTE)
        for o in served.others
        if isinstance(o, ProbeError) and _unroutable_ipv6(o)
    ]
    return _with_findings(extra, combine_reports([judge(served), *map(judge, judged)], skipped))


#: Why an address was not judged; the report lists it.
SKIPPED_NO_ROUTE: Final = (
    "no IPv6 route from the checker; senders with IPv6 reach it, and fall back to IPv4 "
    "when they cannot connect"
)


def _unroutable_ipv6(result: ServedChain | ProbeError) -> bool:
    """An IPv6 address this machine has no route to, while another address answered:
    not judged, since it says nothing of the endpoint (the checker may run in an
    IPv4-only network) and senders fall back to IPv4 (Happy Eyeballs, RFC 8305)."""
    return (
        isinstance(result, ProbeError)
        and result.failure is Failure.NO_ROUTE
        and result.address is not None
        and result.address.startswith("[")
    )


def _report_one(
    target: Target,
    served: ServedChain | ProbeError,
    *,
    trust_roots: Sequence[x509.Certificate],
    expected_leaf: x509.Certificate | None,
    min_tls_version: str,
    warn_before: timedelta,
    now: datetime,
) -> ChainReport:
    """The report on one address: `connection-failed`, or the chain's and the sender
    handshake's findings."""
    if isinstance(served, ProbeError):
        return ChainReport(
            url=target.url,
            tls_version=None,
            served_chain=(),
            findings=(connection_failed(served.reason),),
            address=served.address,
        )
    findings = analyse(
        served.certificates,
        host=target.host,
        trust_roots=trust_roots,
        now=now,
        tls_version=served.tls_version,
        min_tls_version=min_tls_version,
        expected_leaf=expected_leaf,
        warn_before=warn_before,
    )
    findings += _refusal_findings(served.refusal, findings)
    return ChainReport(
        url=target.url,
        tls_version=served.tls_version,
        served_chain=summarise(served.certificates),
        findings=tuple(sort_findings(findings)),
        address=served.address,
        cipher_suite=served.cipher_suite,
    )


def _refusal_findings(refusal: Refusal | None, findings: Sequence[Finding]) -> list[Finding]:
    """The finding for a sender's handshake that failed, unless `tls-version` in
    `findings` already says why."""
    if refusal is None:
        return []
    if refusal.kind is RefusalKind.CLIENT_CERTIFICATE:
        return [client_certificate_required(refusal.reason)]
    if any(f.code is Code.TLS_VERSION for f in findings):
        return []  # a TLS 1.0/1.1-only server: `tls-version` already says why
    return [handshake_failed(refusal.reason)]


def _with_findings(extra: Sequence[Finding], report: ChainReport) -> ChainReport:
    """`report` with `extra` findings, in the fixed order."""
    if not extra:
        return report
    findings = sort_findings([*report.findings, *extra])
    return dataclasses.replace(report, findings=tuple(findings))

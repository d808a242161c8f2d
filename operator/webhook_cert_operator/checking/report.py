"""Pure: the report on one endpoint (what was served, the findings) and its JSON shape.

A host with several addresses gets one report over all of them (`combine_reports`): a
sender may reach any of them, so the host is valid only when every address is.
`report_to_json` is the shape of `webhook-cert check --json` and `webhook-cert inspect
--json` (a public contract).

No I/O, no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from webhook_cert_operator.checking.certs import fingerprint, format_time, san_dns_names
from webhook_cert_operator.checking.findings import Finding, is_valid, sort_findings


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
    return tuple(
        ServedCertificate(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_after=cert.not_valid_after_utc,
            sha256=fingerprint(cert),
            dns_names=tuple(san_dns_names(cert)),
        )
        for cert in served
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

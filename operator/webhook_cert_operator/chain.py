"""Judge a served certificate chain the way a strict webhook sender does.

Webhook senders such as RingCentral verify the endpoint's certificate with only what the
server sends in its TLS handshake and their own trust store: they never download a
missing intermediate from the leaf's AIA "CA Issuers" URL, as browsers do. A server that
sends its leaf alone therefore works in a browser and fails for the sender (SUB-524).

This module turns a served chain into findings: each has a stable code (a public
contract, used in status, metrics, JSON and the docs), a severity and a message that
names the certificates involved. A chain is valid when no finding is an error.

The verdict comes from `cryptography.x509.verification`, a strict RFC 5280 / CA/Browser
Forum path builder that does no AIA fetching; the reasons come from our own path walk,
which says which issuer is missing, which intermediate expired, what is out of order
or not needed. Pure: no I/O, no clock (`now` is a parameter).
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Code(enum.StrEnum):
    """Finding codes. Their spelling is a public contract: never rename one."""

    INCOMPLETE_CHAIN = "incomplete-chain"
    UNTRUSTED_ROOT = "untrusted-root"
    EXPIRED = "expired"
    INTERMEDIATE_EXPIRED = "intermediate-expired"
    HOSTNAME_MISMATCH = "hostname-mismatch"
    TLS_VERSION = "tls-version"
    STALE_CERTIFICATE = "stale-certificate"
    CONNECTION_FAILED = "connection-failed"
    # The strict verifier rejects the chain for a reason none of the codes above names
    # (a CA without basicConstraints, a leaf without the serverAuth usage, a weak key).
    POLICY_VIOLATION = "policy-violation"
    WRONG_ORDER = "wrong-order"
    ROOT_INCLUDED = "root-included"
    UNRELATED_CERTIFICATE = "unrelated-certificate"
    EXPIRING_SOON = "expiring-soon"


#: Each code's severity. Findings are listed in this order, so the first error is the
#: most fundamental one (it becomes the ChainValid condition's reason).
SEVERITY: Mapping[Code, Severity] = {
    Code.CONNECTION_FAILED: Severity.ERROR,
    Code.INCOMPLETE_CHAIN: Severity.ERROR,
    Code.UNTRUSTED_ROOT: Severity.ERROR,
    Code.EXPIRED: Severity.ERROR,
    Code.INTERMEDIATE_EXPIRED: Severity.ERROR,
    Code.HOSTNAME_MISMATCH: Severity.ERROR,
    Code.TLS_VERSION: Severity.ERROR,
    Code.STALE_CERTIFICATE: Severity.ERROR,
    Code.POLICY_VIOLATION: Severity.ERROR,
    Code.WRONG_ORDER: Severity.WARNING,
    Code.ROOT_INCLUDED: Severity.WARNING,
    Code.UNRELATED_CERTIFICATE: Severity.WARNING,
    Code.EXPIRING_SOON: Severity.WARNING,
}
_ORDER = {code: index for index, code in enumerate(SEVERITY)}


@dataclass(frozen=True)
class Finding:
    code: Code
    severity: Severity
    message: str


def finding(code: Code, message: str) -> Finding:
    """A finding with the severity its code always has."""
    return Finding(code, SEVERITY[code], message)


def connection_failed(reason: str) -> Finding:
    """The finding for an endpoint that gave no TLS connection (refused, timeout, DNS...)."""
    return finding(Code.CONNECTION_FAILED, f"no TLS connection: {reason}")


def is_valid(findings: Iterable[Finding]) -> bool:
    """A chain is valid when no finding is an error; warnings do not count."""
    return all(f.severity is not Severity.ERROR for f in findings)


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
            dns_names=tuple(_san_dns_names(cert)),
        )
        for cert in served
    )


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER encoding, lowercase hex, as `openssl x509 -fingerprint` shows it."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """The outcome of one check of one endpoint, as the CLI and the operator show it."""

    url: str
    tls_version: str | None
    served_chain: tuple[ServedCertificate, ...]
    findings: tuple[Finding, ...]
    #: The address that answered ("192.0.2.1:443"), None without a connection.
    address: str | None = None

    @property
    def ok(self) -> bool:
        return is_valid(self.findings)


def report_to_json(report: ChainReport) -> dict[str, object]:
    """The JSON shape of a report (`webhook-cert check --json`); keys are a public contract."""
    return {
        "url": report.url,
        "ok": report.ok,
        "tls_version": report.tls_version,
        "address": report.address,
        "served_chain": [
            {
                "subject": c.subject,
                "issuer": c.issuer,
                "not_after": format_time(c.not_after),
                "sha256": c.sha256,
            }
            for c in report.served_chain
        ],
        "findings": [
            {"code": str(f.code), "severity": str(f.severity), "message": f.message}
            for f in report.findings
        ],
    }


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC to the second, e.g. 2026-05-01T12:00:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- TLS versions -------------------------------------------------------------------

_TLS_VERSIONS: Mapping[str, tuple[int, int]] = {
    "sslv2": (0, 2),
    "sslv3": (0, 3),
    "1": (1, 0),
    "1.0": (1, 0),
    "1.1": (1, 1),
    "1.2": (1, 2),
    "1.3": (1, 3),
}


def parse_tls_version(text: str) -> tuple[int, int]:
    """(major, minor) of "1.2", "TLSv1.2" or "TLSv1" (OpenSSL's names); ValueError otherwise."""
    key = text.strip().lower()
    for prefix in ("tlsv", "tls"):
        if key.startswith(prefix):
            key = key[len(prefix) :].strip()
            break
    try:
        return _TLS_VERSIONS[key]
    except KeyError:
        raise ValueError(f"unknown TLS version {text!r}") from None


def _tls_findings(tls_version: str | None, min_tls_version: str) -> list[Finding]:
    minimum = parse_tls_version(min_tls_version)
    if tls_version is None:
        return []
    try:
        negotiated = parse_tls_version(tls_version)
    except ValueError:
        return [
            finding(
                Code.TLS_VERSION,
                f"the server negotiated an unknown protocol {tls_version!r}; "
                f"TLS {min_tls_version} or newer is required",
            )
        ]
    if negotiated >= minimum:
        return []
    return [
        finding(
            Code.TLS_VERSION,
            f"the server negotiated {tls_version}, below the minimum TLS {min_tls_version}; "
            "strict webhook senders refuse TLS 1.0 and 1.1 (RFC 8996)",
        )
    ]


# --- naming certificates in messages ------------------------------------------------


def describe_name(name: x509.Name) -> str:
    """The CN of a name if it has one (how people call certificates), else its full DN."""
    common_names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common_names:
        value = common_names[0].value
        return f'"{value if isinstance(value, str) else value.decode(errors="replace")}"'
    text = name.rfc4514_string()
    return f'"{text}"' if text else "(empty name)"


def _cert(cert: x509.Certificate) -> str:
    """How messages name a certificate: its CN or DN, else (ACME leaves from SAN-only CSRs
    have an empty subject) its first DNS name."""
    if not cert.subject.rfc4514_string():
        names = _san_dns_names(cert)
        if names:
            return f'"{names[0]}"'
    return describe_name(cert.subject)


def _san_dns_names(cert: x509.Certificate) -> list[str]:
    san = _subject_alt_names(cert)
    return san.get_values_for_type(x509.DNSName) if san is not None else []


def _ca_issuers_urls(cert: x509.Certificate) -> list[str]:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]


# --- host names ---------------------------------------------------------------------


def _normalise_host(host: str) -> str:
    host = host.strip().removeprefix("[").removesuffix("]").rstrip(".").lower()
    if host.isascii():
        return host
    # Certificates carry A-labels (RFC 5280 section 7.2), so compare in that form.
    return host.encode("idna").decode("ascii")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _dns_name_matches(pattern: str, host: str) -> bool:
    # RFC 9525 (was RFC 6125) section 6.3: a wildcard is the whole leftmost label and
    # stands for exactly one label; it never matches an IP address.
    pattern = pattern.rstrip(".").lower()
    if pattern == host:
        return True
    if not pattern.startswith("*.") or "*" in pattern[1:]:
        return False
    suffix = pattern[1:]
    label = host[: -len(suffix)] if host.endswith(suffix) else ""
    return bool(label) and "." not in label


def _subject_alt_names(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def covers_host(cert: x509.Certificate, host: str) -> bool:
    """Whether the certificate's subjectAltName covers `host` (a DNS name or an IP)."""
    san = _subject_alt_names(cert)
    if san is None:
        # Strict clients ignore the CN (RFC 9525 section 6.1.2, CA/B Forum rules).
        return False
    host = _normalise_host(host)
    address = _ip(host)
    if address is not None:
        return address in san.get_values_for_type(x509.IPAddress)
    return any(_dns_name_matches(p, host) for p in san.get_values_for_type(x509.DNSName))


def _hostname_findings(leaf: x509.Certificate, host: str) -> list[Finding]:
    if covers_host(leaf, host):
        return []
    san = _subject_alt_names(leaf)
    if san is None:
        return [
            finding(
                Code.HOSTNAME_MISMATCH,
                f"the leaf {_cert(leaf)} has no subjectAltName, so it covers no host name "
                f"(clients ignore the CN); {host} is not covered",
            )
        ]
    # Written as OpenSSL prints them, so that a DNS name "192.0.2.7" (which no client
    # matches against an address) is told apart from an IP address entry.
    names = [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)]
    names += [f"IP:{a}" for a in san.get_values_for_type(x509.IPAddress)]
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return [
        finding(
            Code.HOSTNAME_MISMATCH,
            f"the leaf {_cert(leaf)} is for {shown or 'no names'}, not for {host}",
        )
    ]


# --- validity -----------------------------------------------------------------------


def _validity_problem(cert: x509.Certificate, now: datetime) -> str | None:
    if now < cert.not_valid_before_utc:
        return f"is not valid before {format_time(cert.not_valid_before_utc)}"
    if now > cert.not_valid_after_utc:
        return f"expired on {format_time(cert.not_valid_after_utc)}"
    return None


def _leaf_validity_findings(
    leaf: x509.Certificate, now: datetime, warn_before: timedelta
) -> list[Finding]:
    problem = _validity_problem(leaf, now)
    if problem is not None:
        return [finding(Code.EXPIRED, f"the leaf {_cert(leaf)} {problem}")]
    if leaf.not_valid_after_utc <= now + warn_before:
        # An absolute date, not "in N days": the message stays the same from one check
        # to the next, so it does not churn the status.
        return [
            finding(
                Code.EXPIRING_SOON,
                f"the leaf {_cert(leaf)} expires on {format_time(leaf.not_valid_after_utc)}, "
                f"within the {_days(warn_before)} warning window",
            )
        ]
    return []


def _days(delta: timedelta) -> str:
    days = delta / timedelta(days=1)
    return f"{days:g}-day"


# --- path building ------------------------------------------------------------------


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _self_signed(cert: x509.Certificate) -> bool:
    return _issued_by(cert, cert)


def _identity(cert: x509.Certificate) -> tuple[bytes, bytes]:
    # A trust anchor is a name and a key (RFC 5280 section 6.1.1 d): a re-issued or
    # cross-signed copy of a root with the same name and key is the same anchor.
    try:
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, UnsupportedAlgorithm):
        # A key type cryptography cannot load: fall back to the certificate itself.
        spki = cert.public_bytes(serialization.Encoding.DER)
    return cert.subject.public_bytes(), spki


class _End(enum.Enum):
    TRUSTED = "trusted"
    UNTRUSTED_ROOT = "untrusted-root"
    MISSING_ISSUER = "missing-issuer"


@dataclass(frozen=True)
class _Path:
    """Served certificates (indexes into `served`) from the leaf up, and how the walk ended."""

    indexes: tuple[int, ...]
    end: _End
    anchor: x509.Certificate | None = None


_MAX_DEPTH = 8  # as many certificates as the strict verifier's default path length


class _PathBuilder:
    def __init__(
        self,
        served: Sequence[x509.Certificate],
        trust_roots: Sequence[x509.Certificate],
        now: datetime,
    ) -> None:
        self.served = served
        self.roots = trust_roots
        self.trusted = {_identity(r) for r in trust_roots}
        self.now = now

    def build(self) -> _Path:
        return self._extend((0,))

    def _extend(self, indexes: tuple[int, ...]) -> _Path:
        current = self.served[indexes[-1]]
        if _identity(current) in self.trusted:
            return _Path(indexes, _End.TRUSTED, current)
        # Like strict verifiers, prefer ending at a trust anchor over a longer path
        # through served certificates (a served cross-signed root is then not needed).
        for root in self.roots:
            if _issued_by(current, root):
                return _Path(indexes, _End.TRUSTED, root)
        if _self_signed(current):
            return _Path(indexes, _End.UNTRUSTED_ROOT)
        if len(indexes) >= _MAX_DEPTH:
            return _Path(indexes, _End.MISSING_ISSUER)
        candidates = [
            i
            for i, cert in enumerate(self.served)
            if i not in indexes and _issued_by(current, cert)
        ]
        # Currently valid issuers first: an expired cross-sign should lose to a valid copy.
        candidates.sort(key=lambda i: _validity_problem(self.served[i], self.now) is not None)
        first_failure: _Path | None = None
        for index in candidates:
            path = self._extend((*indexes, index))
            if path.end is _End.TRUSTED:
                return path
            first_failure = first_failure or path
        return first_failure or _Path(indexes, _End.MISSING_ISSUER)


def _path_findings(path: _Path, served: Sequence[x509.Certificate]) -> list[Finding]:
    last = served[path.indexes[-1]]
    if path.end is _End.UNTRUSTED_ROOT:
        what = "the leaf" if len(path.indexes) == 1 else "the served root"
        return [
            finding(
                Code.UNTRUSTED_ROOT,
                f"{what} {_cert(last)} is self-signed and not in the trust store",
            )
        ]
    if path.end is _End.MISSING_ISSUER:
        message = (
            f"missing issuer {describe_name(last.issuer)} ({last.issuer.rfc4514_string()}): "
            f"it issued {_cert(last)} but is not served and is not a trusted root, and "
            "strict clients do not download it"
        )
        urls = _ca_issuers_urls(last)
        if urls:
            message += f" (it is published at {urls[0]})"
        message += "; serve the leaf followed by its intermediates (the full chain)"
        return [finding(Code.INCOMPLETE_CHAIN, message)]
    return []


def _intermediate_findings(
    path: _Path, served: Sequence[x509.Certificate], now: datetime
) -> list[Finding]:
    findings = []
    for index in path.indexes[1:]:
        cert = served[index]
        problem = _validity_problem(cert, now)
        if problem is not None:
            findings.append(
                finding(
                    Code.INTERMEDIATE_EXPIRED,
                    f"the served intermediate {_cert(cert)} {problem}",
                )
            )
    return findings


def _order_findings(path: _Path, served: Sequence[x509.Certificate]) -> list[Finding]:
    positions = list(path.indexes[1:])
    if positions == sorted(positions):
        return []
    expected = ", ".join(_cert(served[i]) for i in path.indexes)
    actual = ", ".join(_cert(served[i]) for i in sorted(path.indexes))
    return [
        finding(
            Code.WRONG_ORDER,
            f"the chain is served as {actual}; each certificate should be followed by its "
            f"issuer: {expected} (RFC 8446 section 4.4.2)",
        )
    ]


def _extra_findings(
    path: _Path, served: Sequence[x509.Certificate], trust_roots: Sequence[x509.Certificate]
) -> list[Finding]:
    trusted = {_identity(r) for r in trust_roots}
    on_path = {fingerprint(served[i]): i for i in path.indexes}
    path_identities = {_identity(served[i]) for i in path.indexes}
    if path.anchor is not None:
        path_identities.add(_identity(path.anchor))
    findings = []
    for index, cert in enumerate(served):
        if index in path.indexes or (cert == path.anchor and not _self_signed(cert)):
            # The anchor itself may be served when the trust store holds an
            # intermediate: that is the path, not an extra.
            continue
        if fingerprint(cert) in on_path:
            message = f"{_cert(cert)} is served more than once"
            findings.append(finding(Code.UNRELATED_CERTIFICATE, message))
        elif _self_signed(cert) and _identity(cert) in trusted:
            message = (
                f"the root {_cert(cert)} is served; clients use their own copy, "
                "so it only makes every handshake larger"
            )
            findings.append(finding(Code.ROOT_INCLUDED, message))
        elif _identity(cert) in path_identities:
            message = (
                f"{_cert(cert)} issued by {describe_name(cert.issuer)} is another copy "
                "(cross-signed or re-issued) of a certificate on the path, and is not needed"
            )
            findings.append(finding(Code.UNRELATED_CERTIFICATE, message))
        else:
            message = (
                f"{_cert(cert)} issued by {describe_name(cert.issuer)} is not part of the "
                f"path from the leaf {_cert(served[0])} to a trusted root"
            )
            findings.append(finding(Code.UNRELATED_CERTIFICATE, message))
    return findings


def _stale_findings(
    leaf: x509.Certificate, expected_leaf: x509.Certificate | None
) -> list[Finding]:
    if expected_leaf is None or leaf == expected_leaf:
        return []
    return [
        finding(
            Code.STALE_CERTIFICATE,
            f"the served leaf {_cert(leaf)} (serial {leaf.serial_number:x}, expires "
            f"{format_time(leaf.not_valid_after_utc)}) is not the expected certificate "
            f"{_cert(expected_leaf)} (serial {expected_leaf.serial_number:x}, expires "
            f"{format_time(expected_leaf.not_valid_after_utc)})",
        )
    ]


def _strict_verifier_error(
    served: Sequence[x509.Certificate],
    host: str,
    trust_roots: Sequence[x509.Certificate],
    now: datetime,
) -> str | None:
    """The strict verifier's objection to the chain, or None when it accepts it."""
    if not trust_roots:
        return "the trust store is empty"
    normalised = _normalise_host(host)
    address = _ip(normalised)
    try:
        subject = x509.IPAddress(address) if address is not None else x509.DNSName(normalised)
    except ValueError:
        return f"{host!r} is not a valid DNS name"
    verifier = (
        PolicyBuilder().store(Store(list(trust_roots))).time(now).build_server_verifier(subject)
    )
    try:
        verifier.verify(served[0], list(served[1:]))
    except VerificationError as error:
        return str(error)
    except (ValueError, UnsupportedAlgorithm) as error:
        return f"{type(error).__name__}: {error}"
    return None


_PATH_CODES = frozenset(
    {
        Code.INCOMPLETE_CHAIN,
        Code.UNTRUSTED_ROOT,
        Code.EXPIRED,
        Code.INTERMEDIATE_EXPIRED,
        Code.HOSTNAME_MISMATCH,
    }
)


def analyse(
    served: Sequence[x509.Certificate],
    *,
    host: str,
    trust_roots: Sequence[x509.Certificate],
    now: datetime,
    tls_version: str | None,
    min_tls_version: str = "1.2",
    expected_leaf: x509.Certificate | None = None,
    warn_before: timedelta = timedelta(days=14),
) -> list[Finding]:
    """Findings about a chain as served (leaf first), for a client connecting to `host`.

    `trust_roots` is the client's trust store, `now` the time to judge validity at,
    `tls_version` the negotiated protocol as OpenSSL names it ("TLSv1.3") or None if
    unknown, `expected_leaf` the certificate that should be served (the Secret's).
    ValueError if `min_tls_version` is not a TLS version.
    """
    findings = _tls_findings(tls_version, min_tls_version)
    if not served:
        findings.append(finding(Code.INCOMPLETE_CHAIN, "the server sent no certificate at all"))
        return _sorted(findings)
    # TLS requires the server's own certificate first (RFC 8446 section 4.4.2, RFC 5246
    # section 7.4.2), and a server cannot send another first: its key must match.
    leaf = served[0]
    path = _PathBuilder(served, trust_roots, now).build()
    findings += _path_findings(path, served)
    findings += _leaf_validity_findings(leaf, now, warn_before)
    findings += _intermediate_findings(path, served, now)
    findings += _hostname_findings(leaf, host)
    findings += _stale_findings(leaf, expected_leaf)
    findings += _order_findings(path, served)
    findings += _extra_findings(path, served, trust_roots)
    if not any(f.code in _PATH_CODES for f in findings):
        # Our walk found nothing wrong; the strict verifier still has the last word on
        # the rules we do not explain one by one.
        objection = _strict_verifier_error(served, host, trust_roots, now)
        if objection is not None:
            findings.append(
                finding(Code.POLICY_VIOLATION, f"a strict verifier rejects the chain: {objection}")
            )
    return _sorted(findings)


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: _ORDER[f.code])

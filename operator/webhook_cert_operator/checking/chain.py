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

import dataclasses
import enum
import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
    SignatureAlgorithmOID,
)

from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.checking.target import ascii_host

_E = TypeVar("_E", bound=x509.ExtensionType)


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
    # The chain breaks a rule strict verifiers apply that no code below names (an
    # unhandled critical extension).
    POLICY_VIOLATION = "policy-violation"
    WRONG_ORDER = "wrong-order"
    ROOT_INCLUDED = "root-included"
    UNRELATED_CERTIFICATE = "unrelated-certificate"
    EXPIRING_SOON = "expiring-soon"
    PARTIAL_CHAIN = "partial-chain"
    # Rules every strict client family applies to each certificate of the path.
    ROOT_EXPIRED = "root-expired"
    KEY_IDENTIFIER_MISMATCH = "key-identifier-mismatch"
    WEAK_SIGNATURE = "weak-signature"
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
    WEAK_KEY = "weak-key"
    INVALID_CA = "invalid-ca"
    KEY_USAGE = "key-usage"
    NAME_CONSTRAINTS = "name-constraints"
    # The handshake as a sender makes it (probe.py).
    CLIENT_CERTIFICATE_REQUIRED = "client-certificate-required"
    HANDSHAKE_FAILED = "handshake-failed"
    # A sender profile's validation request (senders.py).
    SENDER_NO_ANSWER = "sender-no-answer"
    SENDER_STATUS = "sender-status"
    SENDER_TOO_SLOW = "sender-too-slow"
    SENDER_TOKEN_NOT_ECHOED = "sender-token-not-echoed"


#: Each code's severity. Findings are listed in this order, so the first error is the
#: most fundamental one (it becomes the ChainValid condition's reason).
SEVERITY: Mapping[Code, Severity] = {
    Code.CONNECTION_FAILED: Severity.ERROR,
    Code.HANDSHAKE_FAILED: Severity.ERROR,
    Code.CLIENT_CERTIFICATE_REQUIRED: Severity.ERROR,
    Code.INCOMPLETE_CHAIN: Severity.ERROR,
    Code.KEY_IDENTIFIER_MISMATCH: Severity.ERROR,
    Code.UNTRUSTED_ROOT: Severity.ERROR,
    Code.EXPIRED: Severity.ERROR,
    Code.INTERMEDIATE_EXPIRED: Severity.ERROR,
    Code.ROOT_EXPIRED: Severity.ERROR,
    Code.HOSTNAME_MISMATCH: Severity.ERROR,
    Code.WEAK_SIGNATURE: Severity.ERROR,
    Code.UNSUPPORTED_ALGORITHM: Severity.ERROR,
    Code.WEAK_KEY: Severity.ERROR,
    Code.INVALID_CA: Severity.ERROR,
    Code.KEY_USAGE: Severity.ERROR,
    Code.NAME_CONSTRAINTS: Severity.ERROR,
    Code.TLS_VERSION: Severity.ERROR,
    Code.STALE_CERTIFICATE: Severity.ERROR,
    Code.POLICY_VIOLATION: Severity.ERROR,
    Code.SENDER_NO_ANSWER: Severity.ERROR,
    Code.SENDER_STATUS: Severity.ERROR,
    Code.SENDER_TOO_SLOW: Severity.ERROR,
    Code.SENDER_TOKEN_NOT_ECHOED: Severity.ERROR,
    Code.WRONG_ORDER: Severity.WARNING,
    Code.ROOT_INCLUDED: Severity.WARNING,
    Code.UNRELATED_CERTIFICATE: Severity.WARNING,
    Code.EXPIRING_SOON: Severity.WARNING,
    Code.PARTIAL_CHAIN: Severity.WARNING,
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


def client_certificate_required(reason: str) -> Finding:
    """The server refused a sender's handshake after asking for a client certificate.

    Webhook senders present none: RingCentral, Stripe or GitHub cannot deliver to an
    endpoint that requires mutual TLS (RFC 8446 section 4.4.2.4: a TLS 1.3 server then
    sends certificate_required after the client's Finished; TLS 1.2 ones fail the
    handshake)."""
    return finding(
        Code.CLIENT_CERTIFICATE_REQUIRED,
        f"the server asks for a client certificate and refuses a client without one, as "
        f"webhook senders are ({reason}); require it only at the HTTP level, or not at all",
    )


def handshake_failed(reason: str) -> Finding:
    """A handshake made as senders make it (TLS >= 1.2, the ECDHE suites and groups that
    Go, Java and OpenSSL clients all offer, no client certificate) failed although the
    server answered a lenient one: no common version, cipher suite or group, typically
    (Go has no X448 and no finite-field groups)."""
    return finding(
        Code.HANDSHAKE_FAILED,
        f"a handshake as webhook senders make it (TLS 1.2 or 1.3, ECDHE on X25519 or "
        f"P-256/384/521 with AES-GCM, ChaCha20 or AES-CBC-SHA) failed: {reason}",
    )


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
        return is_valid(self.findings)


def report_to_json(report: ChainReport) -> dict[str, object]:
    """The JSON shape of a report (`webhook-cert check --json`); keys are a public contract."""
    return {
        "url": report.url,
        "ok": report.ok,
        "tls_version": report.tls_version,
        "cipher_suite": report.cipher_suite,
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
        "addresses": [address_to_json(a) for a in report.addresses],
    }


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
    """How findings name a certificate: its name (`_label`) and its serial number, so that
    two certificates with one name (a renewed leaf, a cross-signed CA) are told apart."""
    return f"{_label(cert)} (serial {cert.serial_number:x})"


def _label(cert: x509.Certificate) -> str:
    """A certificate's CN or DN, else (ACME leaves from SAN-only CSRs have an empty
    subject) its first DNS name."""
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
    if host.isascii() or _ip(host) is not None:
        return host
    # Certificates carry A-labels (RFC 5280 section 7.2), so compare in that form.
    return ascii_host(host)


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


# --- signatures and keys -----------------------------------------------------------

# Signature algorithms every strict client family verifies: Go's crypto/x509 supports
# exactly these (no SHA-224, no DSA, no Ed448), OpenSSL and Java support them too.
_ACCEPTED_SIGNATURES: Mapping[x509.ObjectIdentifier, str] = {
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512WithRSAEncryption",
    SignatureAlgorithmOID.RSASSA_PSS: "RSASSA-PSS",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
    SignatureAlgorithmOID.ED25519: "Ed25519",
}
# Hashes that OpenSSL 3 refuses in certificate signatures from security level 1 on
# (SHA-1 counts as 64 bits there), that Go refuses since 1.18 and Java for public roots.
_FORBIDDEN_HASHES = frozenset({"md2", "md4", "md5", "sha1"})
# PSS with another hash is one Go cannot verify.
_PSS_HASHES = frozenset({"sha256", "sha384", "sha512"})
# ECDSA curves Go's crypto/x509 can verify; Java 17 and OpenSSL support them too.
_ACCEPTED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
#: OpenSSL security level 2 (the default of Debian, Ubuntu, RHEL and Python >= 3.10)
#: wants 112 bits of security: RSA and DSA keys of at least 2048 bits.
MIN_RSA_BITS: Final = 2048
#: Go refuses RSA keys above 8192 bits in TLS (crypto/tls, since Go 1.22).
MAX_RSA_BITS: Final = 8192


def _signature_algorithm_name(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    known = _ACCEPTED_SIGNATURES.get(oid)
    if known is not None:
        return known
    name = getattr(oid, "_name", "")
    return name if name and name != "Unknown OID" else oid.dotted_string


def _signature_hash_name(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    return algorithm.name if algorithm is not None else None


def _signature_finding(cert: x509.Certificate) -> Finding | None:
    """`weak-signature` for an MD5/SHA-1 signature, `unsupported-algorithm` for one that a
    strict client family cannot verify at all; None for an accepted algorithm.

    OpenSSL 3 checks the signature of every certificate but the trust anchor's
    (`check_sig_level`), as do Go and Java: the anchor's own signature is never judged.
    """
    algorithm = _signature_algorithm_name(cert)
    digest = _signature_hash_name(cert)
    if digest in _FORBIDDEN_HASHES:
        return finding(
            Code.WEAK_SIGNATURE,
            f"{_cert(cert)} is signed with {algorithm}: OpenSSL 3 (security level 1 and "
            "up), Go since 1.18 and Java for public CAs refuse "
            f"{digest.upper().replace('SHA1', 'SHA-1')} signatures; reissue it signed "
            "with SHA-256 or better",
        )
    oid = cert.signature_algorithm_oid
    if oid not in _ACCEPTED_SIGNATURES or (
        oid == SignatureAlgorithmOID.RSASSA_PSS and digest not in _PSS_HASHES
    ):
        return finding(
            Code.UNSUPPORTED_ALGORITHM,
            f"{_cert(cert)} is signed with {algorithm}, which Go's crypto/x509 cannot "
            "verify (it accepts RSA PKCS#1 v1.5 or PSS and ECDSA with SHA-256/384/512, "
            "and Ed25519)",
        )
    return None


def _signature_verifies(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer`'s key made `child`'s signature, whatever the hash: a weak hash is
    judged by `_signature_finding`, not by hiding the issuer (the path is still found)."""
    try:
        key = issuer.public_key()
        digest = child.signature_hash_algorithm
        parameters = child.signature_algorithm_parameters
        data, signature = child.tbs_certificate_bytes, child.signature
        if isinstance(key, rsa.RSAPublicKey) and digest is not None:
            if parameters is None and _is_pss(child):
                return False
            # cryptography gives no parameters for the oldest PKCS#1 v1.5 algorithms (MD5).
            rsa_padding = parameters if parameters is not None else padding.PKCS1v15()
            if not isinstance(rsa_padding, padding.PKCS1v15 | padding.PSS):
                return False
            key.verify(signature, data, rsa_padding, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(parameters, ec.ECDSA):
            key.verify(signature, data, parameters)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        elif isinstance(key, dsa.DSAPublicKey) and digest is not None:
            key.verify(signature, data, digest)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def _is_pss(cert: x509.Certificate) -> bool:
    """Whether the certificate is signed with RSASSA-PSS."""
    return cert.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS


def _key_finding(cert: x509.Certificate) -> Finding | None:
    """`weak-key` for a key below OpenSSL security level 2, `unsupported-algorithm` for a
    key type or curve a strict client family cannot use; None when every family accepts it.

    OpenSSL 3 checks the leaf's key (the TLS layer, "EE key too small") and every issuer's,
    the trust anchor's included (`check_auth_level`: "CA key too small").
    """
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return finding(
            Code.UNSUPPORTED_ALGORITHM,
            f"{_cert(cert)} has a public key of a type strict clients cannot use",
        )
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        kind = "RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"
        if key.key_size < MIN_RSA_BITS:
            return finding(
                Code.WEAK_KEY,
                f"{_cert(cert)} has a {key.key_size}-bit {kind} key: OpenSSL at security "
                f"level 2 (the default of current Linux distributions) refuses {kind} keys "
                f"below {MIN_RSA_BITS} bits",
            )
        if isinstance(key, dsa.DSAPublicKey):
            return finding(
                Code.UNSUPPORTED_ALGORITHM,
                f"{_cert(cert)} has a DSA key, which Go's crypto/x509 cannot verify",
            )
        if key.key_size > MAX_RSA_BITS:
            return finding(
                Code.UNSUPPORTED_ALGORITHM,
                f"{_cert(cert)} has a {key.key_size}-bit RSA key: Go refuses RSA keys "
                f"above {MAX_RSA_BITS} bits",
            )
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _ACCEPTED_CURVES:
            return finding(
                Code.UNSUPPORTED_ALGORITHM,
                f"{_cert(cert)} has an ECDSA key on the curve {key.curve.name}: Go accepts "
                "only P-256, P-384 and P-521, and Java 16+ disabled most other curves",
            )
        return None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return None
    return finding(
        Code.UNSUPPORTED_ALGORITHM,
        f"{_cert(cert)} has a {type(key).__name__.removesuffix('PublicKey')} key, which "
        "Go's crypto/x509 cannot verify",
    )


# --- issuer matching ----------------------------------------------------------------


def _extension(cert: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        # A duplicated or malformed extension: treated as absent here; strict parsers
        # refuse the certificate, which `_critical_extension_findings` does not see.
        return None


def _key_ids_agree(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """RFC 5280 section 4.2.1.1: the child's authorityKeyIdentifier names its issuer's
    key. OpenSSL (`X509_check_akid`) and Java's path builder refuse a candidate issuer
    whose subjectKeyIdentifier differs, or whose serial differs from the AKI's serial."""
    aki = _extension(child, x509.AuthorityKeyIdentifier)
    if aki is None:
        return True
    ski = _extension(parent, x509.SubjectKeyIdentifier)
    if aki.key_identifier is not None and ski is not None and aki.key_identifier != ski.digest:
        return False
    serial = aki.authority_cert_serial_number
    return serial is None or serial == parent.serial_number


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    return (
        child.issuer == parent.subject
        and _key_ids_agree(child, parent)
        and _signature_verifies(child, parent)
    )


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
    """Served certificates (indexes into `served`) from the leaf up, and how the walk ended.

    `anchor` is the trust store's certificate the path ends at: the store's own copy when
    the last served certificate is itself a trusted one (same name and key).
    """

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
        self.trusted = {_identity(r): r for r in trust_roots}
        self.now = now

    def build(self) -> _Path:
        return self._extend((0,))

    def _extend(self, indexes: tuple[int, ...]) -> _Path:
        current = self.served[indexes[-1]]
        anchor = self.trusted.get(_identity(current))
        if anchor is not None:
            return _Path(indexes, _End.TRUSTED, anchor)
        # Like strict verifiers, prefer ending at a trust anchor over a longer path
        # through served certificates (a served cross-signed root is then not needed).
        roots = [r for r in self.roots if _issued_by(current, r)]
        if roots:
            roots.sort(key=lambda r: _validity_problem(r, self.now) is not None)
            return _Path(indexes, _End.TRUSTED, roots[0])
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


def _path_findings(
    path: _Path, served: Sequence[x509.Certificate], trust_roots: Sequence[x509.Certificate]
) -> list[Finding]:
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
        return [_missing_issuer_finding(last, [*served, *trust_roots])]
    return []


def _missing_issuer_finding(
    last: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> Finding:
    named = [c for c in candidates if c.subject == last.issuer and c != last]
    for candidate in named:
        if _signature_verifies(last, candidate) and not _key_ids_agree(last, candidate):
            aki = _extension(last, x509.AuthorityKeyIdentifier)
            ski = _extension(candidate, x509.SubjectKeyIdentifier)
            return finding(
                Code.KEY_IDENTIFIER_MISMATCH,
                f"{_cert(candidate)} signed {_cert(last)}, but its subjectKeyIdentifier "
                f"{ski.digest.hex() if ski else '-'} (or serial) is not the one the "
                f"authorityKeyIdentifier names ({_aki_text(aki)}); OpenSSL and Java then do "
                "not take it as the issuer (RFC 5280 section 4.2.1.1): reissue the child "
                "with the issuer's key identifier",
            )
    message = (
        f"missing issuer {describe_name(last.issuer)} ({last.issuer.rfc4514_string()}): "
        f"it issued {_cert(last)} but is not served and is not a trusted root, and "
        "strict clients do not download it"
    )
    urls = _ca_issuers_urls(last)
    if urls:
        message += f" (it is published at {urls[0]})"
    if named:
        message += (
            f"; {_cert(named[0])} has the issuer's name but another key (its signature "
            "does not verify)"
        )
    message += "; serve the leaf followed by its intermediates (the full chain)"
    return finding(Code.INCOMPLETE_CHAIN, message)


def _aki_text(aki: x509.AuthorityKeyIdentifier | None) -> str:
    if aki is None:
        return "-"
    parts = []
    if aki.key_identifier is not None:
        parts.append(f"key id {aki.key_identifier.hex()}")
    if aki.authority_cert_serial_number is not None:
        parts.append(f"serial {aki.authority_cert_serial_number:x}")
    return ", ".join(parts) or "-"


# --- the rules on each certificate of the path ----------------------------------------


@dataclass(frozen=True)
class _Link:
    """One certificate of the path: its position (0 is the leaf) and whether it is the
    trust anchor (from the trust store, or the served copy of one)."""

    cert: x509.Certificate
    depth: int
    anchor: bool


def _links(path: _Path, served: Sequence[x509.Certificate]) -> list[_Link]:
    certs = [served[i] for i in path.indexes]
    if path.anchor is not None:
        if _identity(certs[-1]) == _identity(path.anchor):
            certs[-1] = path.anchor  # judge the store's copy, not a served one
        else:
            certs.append(path.anchor)
    last = len(certs) - 1
    return [
        _Link(cert, depth, anchor=path.anchor is not None and depth == last)
        for depth, cert in enumerate(certs)
    ]


def _dns_within(name: str, subtree: str) -> bool:
    """RFC 5280 section 4.2.1.10: "example.com" covers itself and every name below it; a
    leading dot (".example.com", as OpenSSL and Go read it) covers only names below."""
    name, subtree = name.rstrip(".").lower(), subtree.rstrip(".").lower()
    if not subtree:
        return True
    if subtree.startswith("."):
        return name.endswith(subtree)
    return name == subtree or name.endswith("." + subtree)


def _networks(
    subtrees: Sequence[x509.GeneralName],
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        g.value
        for g in subtrees
        if isinstance(g, x509.IPAddress)
        and isinstance(g.value, ipaddress.IPv4Network | ipaddress.IPv6Network)
    ]


def _name_constraint_findings(links: Sequence[_Link]) -> list[Finding]:
    """Each CA's nameConstraints bound the leaf's subjectAltName DNS names and IP
    addresses (RFC 5280 section 4.2.1.10); OpenSSL, Go and Java enforce them."""
    san = _subject_alt_names(links[0].cert)
    if san is None:
        return []
    dns_names = san.get_values_for_type(x509.DNSName)
    addresses = san.get_values_for_type(x509.IPAddress)
    findings = []
    for link in links[1:]:
        constraints = _extension(link.cert, x509.NameConstraints)
        if constraints is None:
            continue
        permitted = list(constraints.permitted_subtrees or ())
        excluded = list(constraints.excluded_subtrees or ())
        permitted_dns = [g.value for g in permitted if isinstance(g, x509.DNSName)]
        excluded_dns = [g.value for g in excluded if isinstance(g, x509.DNSName)]
        permitted_ip = _networks(permitted)
        excluded_ip = _networks(excluded)
        outside = [
            f"DNS:{n}"
            for n in dns_names
            if (permitted_dns and not any(_dns_within(n, t) for t in permitted_dns))
            or any(_dns_within(n, t) for t in excluded_dns)
        ]
        outside += [
            f"IP:{a}"
            for a in addresses
            if isinstance(a, ipaddress.IPv4Address | ipaddress.IPv6Address)
            and (
                (permitted_ip and not any(a in net for net in permitted_ip))
                or any(a in net for net in excluded_ip)
            )
        ]
        if outside:
            findings.append(
                finding(
                    Code.NAME_CONSTRAINTS,
                    f"the leaf {_cert(links[0].cert)} names {', '.join(outside)}, outside "
                    f"the nameConstraints of {_cert(link.cert)} (RFC 5280 section 4.2.1.10)",
                )
            )
    return findings


def _partial_chain_findings(links: Sequence[_Link]) -> list[Finding]:
    """A path that ends at a trusted certificate which is not a self-signed root: Go,
    Java, curl and Python 3.13+ take any trusted certificate as an anchor, while OpenSSL
    without X509_V_FLAG_PARTIAL_CHAIN (`s_client`, older software) looks for its issuer
    and refuses. A warning, not an error: see docs/conformance.md (deliberate differences).
    """
    anchor = links[-1]
    if not anchor.anchor or _self_signed(anchor.cert):
        return []
    return [
        finding(
            Code.PARTIAL_CHAIN,
            f"the path ends at {_cert(anchor.cert)}, a trusted certificate that is not a "
            f"self-signed root (issued by {describe_name(anchor.cert.issuer)}): OpenSSL-based "
            "senders without partial-chain support refuse it; trust its root instead",
        )
    ]


def _validity_findings(links: Sequence[_Link], now: datetime) -> list[Finding]:
    """Every certificate of the path must be valid now, the trust anchor included: OpenSSL
    and Go check the anchor's dates (Java's PKIX does not; the strictest decides)."""
    findings = []
    for link in links[1:]:
        problem = _validity_problem(link.cert, now)
        if problem is None:
            continue
        if link.anchor:
            message = f"the trusted root {_cert(link.cert)} {problem}"
            findings.append(finding(Code.ROOT_EXPIRED, message))
        else:
            message = f"the served intermediate {_cert(link.cert)} {problem}"
            findings.append(finding(Code.INTERMEDIATE_EXPIRED, message))
    return findings


def _algorithm_findings(links: Sequence[_Link]) -> list[Finding]:
    findings = []
    for link in links:
        if not link.anchor:
            signature = _signature_finding(link.cert)
            if signature is not None:
                findings.append(signature)
        key = _key_finding(link.cert)
        if key is not None:
            findings.append(key)
    return findings


def _ca_findings(links: Sequence[_Link]) -> list[Finding]:
    """Each issuer on the path must be a CA (RFC 5280 sections 4.2.1.9, 4.2.1.3, 6.1.4):
    basicConstraints with cA TRUE (critical or not: OpenSSL, Go and Java accept a
    non-critical one, though RFC 5280 says MUST be critical), keyCertSign when keyUsage is
    present (OpenSSL, Go, Java), and a pathLenConstraint no smaller than the number of
    intermediates below it."""
    findings = []
    for link in links[1:]:
        cert = link.cert
        if link.anchor and link.depth == 0:
            continue
        constraints = _extension(cert, x509.BasicConstraints)
        below = sum(1 for other in links[1 : link.depth] if other.cert.subject != other.cert.issuer)
        if constraints is None or not constraints.ca:
            state = "has no basicConstraints" if constraints is None else "says CA:FALSE"
            findings.append(
                finding(
                    Code.INVALID_CA,
                    f"{_cert(cert)} issues {_cert(links[link.depth - 1].cert)} but {state}: "
                    "OpenSSL, Go and Java accept only CA certificates as issuers "
                    "(RFC 5280 section 4.2.1.9)",
                )
            )
        elif constraints.path_length is not None and below > constraints.path_length:
            findings.append(
                finding(
                    Code.INVALID_CA,
                    f"{_cert(cert)} allows {constraints.path_length} intermediate(s) below it "
                    f"(pathLenConstraint) but has {below} (RFC 5280 section 4.2.1.9)",
                )
            )
        usage = _extension(cert, x509.KeyUsage)
        if usage is not None and not usage.key_cert_sign:
            findings.append(
                finding(
                    Code.INVALID_CA,
                    f"{_cert(cert)} has a keyUsage without keyCertSign, so it may not sign "
                    "certificates: OpenSSL, Go and Java refuse what it issued "
                    "(RFC 5280 section 4.2.1.3)",
                )
            )
    return findings


def _usage_findings(links: Sequence[_Link]) -> list[Finding]:
    """The leaf's keyUsage must allow digitalSignature (Java's end-entity check for
    (EC)DHE and TLS 1.3), and every certificate's extendedKeyUsage, when present, must
    list serverAuth: Go checks it on the whole chain, OpenSSL 3.0 on the leaf, its CAs
    and the anchor, where anyExtendedKeyUsage does not stand for serverAuth."""
    findings = []
    leaf = links[0].cert
    usage = _extension(leaf, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        findings.append(
            finding(
                Code.KEY_USAGE,
                f"the leaf {_cert(leaf)} has a keyUsage without digitalSignature: Java "
                "refuses it for the (EC)DHE and TLS 1.3 handshakes senders use",
            )
        )
    for link in links:
        eku = _extension(link.cert, x509.ExtendedKeyUsage)
        if eku is None or ExtendedKeyUsageOID.SERVER_AUTH in eku:
            continue
        shown = ", ".join(getattr(o, "_name", o.dotted_string) for o in eku) or "nothing"
        what = "the leaf" if link.depth == 0 else "the CA"
        findings.append(
            finding(
                Code.KEY_USAGE,
                f"{what} {_cert(link.cert)} limits its extendedKeyUsage to {shown}, without "
                "serverAuth: Go and OpenSSL refuse it for a TLS server (OpenSSL 3.0 does not "
                "take anyExtendedKeyUsage for serverAuth)",
            )
        )
    return findings


# Extensions that OpenSSL, Go and Java all process, so a critical one is understood.
_UNDERSTOOD = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.POLICY_CONSTRAINTS,
        ExtensionOID.POLICY_MAPPINGS,
        ExtensionOID.INHIBIT_ANY_POLICY,
    }
)


def _critical_extension_findings(links: Sequence[_Link]) -> list[Finding]:
    """RFC 5280 section 4.2: a certificate with a critical extension the client does not
    process must be refused; OpenSSL applies it to every certificate of the chain."""
    findings = []
    for link in links:
        try:
            extensions = list(link.cert.extensions)
        except ValueError as error:
            message = f"{_cert(link.cert)} has malformed extensions ({error})"
            findings.append(finding(Code.POLICY_VIOLATION, message))
            continue
        for extension in extensions:
            if extension.critical and extension.oid not in _UNDERSTOOD:
                name = getattr(extension.oid, "_name", "")
                shown = extension.oid.dotted_string
                if name and name != "Unknown OID":
                    shown = f"{name} ({shown})"
                findings.append(
                    finding(
                        Code.POLICY_VIOLATION,
                        f"{_cert(link.cert)} has the critical extension {shown}, which "
                        "OpenSSL, Go and Java do not process, so they refuse the "
                        "certificate (RFC 5280 section 4.2)",
                    )
                )
    return findings


def _order_findings(path: _Path, served: Sequence[x509.Certificate]) -> list[Finding]:
    positions = list(path.indexes[1:])
    if positions == sorted(positions):
        return []
    expected = ", ".join(_label(served[i]) for i in path.indexes)
    actual = ", ".join(_label(served[i]) for i in sorted(path.indexes))
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
            f"the served leaf {_label(leaf)} (serial {leaf.serial_number:x}, expires "
            f"{format_time(leaf.not_valid_after_utc)}) is not the expected certificate "
            f"{_label(expected_leaf)} (serial {expected_leaf.serial_number:x}, expires "
            f"{format_time(expected_leaf.not_valid_after_utc)})",
        )
    ]


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

    The verdict is the strictest of OpenSSL 3 at security level 2, Go's crypto/x509 and
    Java's PKIX without AIA fetching: each rule is applied here to every certificate of
    the path and named in its own finding, and docs/conformance.md shows the agreement
    with those clients on a corpus of served chains. A rule that only a library (not a
    sender) applies, such as the CA/Browser Forum's critical basicConstraints, is not one.
    """
    findings = _tls_findings(tls_version, min_tls_version)
    if not served:
        findings.append(finding(Code.INCOMPLETE_CHAIN, "the server sent no certificate at all"))
        return _sorted(findings)
    # TLS requires the server's own certificate first (RFC 8446 section 4.4.2, RFC 5246
    # section 7.4.2), and a server cannot send another first: its key must match.
    leaf = served[0]
    path = _PathBuilder(served, trust_roots, now).build()
    links = _links(path, served)
    findings += _path_findings(path, served, trust_roots)
    findings += _leaf_validity_findings(leaf, now, warn_before)
    findings += _validity_findings(links, now)
    findings += _hostname_findings(leaf, host)
    findings += _algorithm_findings(links)
    findings += _ca_findings(links)
    findings += _usage_findings(links)
    findings += _critical_extension_findings(links)
    findings += _name_constraint_findings(links)
    findings += _partial_chain_findings(links)
    findings += _stale_findings(leaf, expected_leaf)
    findings += _order_findings(path, served)
    findings += _extra_findings(path, served, trust_roots)
    return _sorted(findings)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings errors first, in the fixed order of `SEVERITY` (stable within a code)."""
    return sorted(findings, key=lambda f: _ORDER[f.code])


_sorted = sort_findings

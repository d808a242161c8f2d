"""Pure: the rules on one certificate and on the handshake that strict senders apply.

- The negotiated TLS version (RFC 8996: no TLS 1.0 or 1.1).
- The host name: the leaf's subjectAltName must cover the URL's host, compared as
  A-labels (RFC 9525 section 6, RFC 5280 section 7.2); the CN is ignored.
- Validity at a given time (RFC 5280 section 4.1.2.5), and the leaf's warning window.
- The signature algorithm and the public key: the algorithms, curves and key sizes that
  OpenSSL 3 at security level 2, Go's crypto/x509 and Java all accept.

Each rule returns findings (findings.py) naming the certificate; `path_rules.py` applies
them to each certificate of the path. No I/O, no clock (`now` is a parameter).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import SignatureAlgorithmOID

from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.checking.certs import describe, subject_alt_names
from webhook_cert_operator.checking.findings import Code, Finding, finding
from webhook_cert_operator.checking.target import ascii_host

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


def tls_findings(tls_version: str | None, min_tls_version: str) -> list[Finding]:
    """`tls-version` when the negotiated protocol (OpenSSL's name, None if unknown) is
    below `min_tls_version` or not a TLS version at all (RFC 8996 deprecates TLS 1.0 and
    1.1). ValueError if `min_tls_version` is not a TLS version."""
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


def covers_host(cert: x509.Certificate, host: str) -> bool:
    """Whether the certificate's subjectAltName covers `host` (a DNS name or an IP)."""
    san = subject_alt_names(cert)
    if san is None:
        # Strict clients ignore the CN (RFC 9525 section 6.1.2, CA/B Forum rules).
        return False
    host = _normalise_host(host)
    address = _ip(host)
    if address is not None:
        return address in san.get_values_for_type(x509.IPAddress)
    return any(_dns_name_matches(p, host) for p in san.get_values_for_type(x509.DNSName))


def hostname_findings(leaf: x509.Certificate, host: str) -> list[Finding]:
    """`hostname-mismatch` when the leaf's subjectAltName does not cover `host` (RFC 9525
    section 6), listing the names it does cover (the first ten)."""
    if covers_host(leaf, host):
        return []
    san = subject_alt_names(leaf)
    if san is None:
        return [
            finding(
                Code.HOSTNAME_MISMATCH,
                f"the leaf {describe(leaf)} has no subjectAltName, so it covers no host name "
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
            f"the leaf {describe(leaf)} is for {shown or 'no names'}, not for {host}",
        )
    ]


# --- validity -----------------------------------------------------------------------


def validity_problem(cert: x509.Certificate, now: datetime) -> str | None:
    """Why `cert` is not valid at `now` (RFC 5280 section 4.1.2.5), as the end of a
    sentence naming it ("expired on 2026-05-01T12:00:00Z"); None when it is valid."""
    if now < cert.not_valid_before_utc:
        return f"is not valid before {format_time(cert.not_valid_before_utc)}"
    if now > cert.not_valid_after_utc:
        return f"expired on {format_time(cert.not_valid_after_utc)}"
    return None


def leaf_validity_findings(
    leaf: x509.Certificate, now: datetime, warn_before: timedelta
) -> list[Finding]:
    """`expired` when the leaf is not valid at `now`, `expiring-soon` when its notAfter
    is within `warn_before` of `now`."""
    problem = validity_problem(leaf, now)
    if problem is not None:
        return [finding(Code.EXPIRED, f"the leaf {describe(leaf)} {problem}")]
    if leaf.not_valid_after_utc <= now + warn_before:
        # An absolute date, not "in N days": the message stays the same from one check
        # to the next, so it does not churn the status.
        return [
            finding(
                Code.EXPIRING_SOON,
                f"the leaf {describe(leaf)} expires on {format_time(leaf.not_valid_after_utc)}, "
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


def signature_finding(cert: x509.Certificate) -> Finding | None:
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
            f"{describe(cert)} is signed with {algorithm}: OpenSSL 3 (security level 1 and "
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
            f"{describe(cert)} is signed with {algorithm}, which Go's crypto/x509 cannot "
            "verify (it accepts RSA PKCS#1 v1.5 or PSS and ECDSA with SHA-256/384/512, "
            "and Ed25519)",
        )
    return None


def key_finding(cert: x509.Certificate) -> Finding | None:
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
            f"{describe(cert)} has a public key of a type strict clients cannot use",
        )
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        return _modulus_key_finding(cert, key)
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _ACCEPTED_CURVES:
            return finding(
                Code.UNSUPPORTED_ALGORITHM,
                f"{describe(cert)} has an ECDSA key on the curve {key.curve.name}: Go accepts "
                "only P-256, P-384 and P-521, and Java 16+ disabled most other curves",
            )
        return None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return None
    return finding(
        Code.UNSUPPORTED_ALGORITHM,
        f"{describe(cert)} has a {type(key).__name__.removesuffix('PublicKey')} key, which "
        "Go's crypto/x509 cannot verify",
    )


def _modulus_key_finding(
    cert: x509.Certificate, key: rsa.RSAPublicKey | dsa.DSAPublicKey
) -> Finding | None:
    """`key_finding` for an RSA or DSA key: at least `MIN_RSA_BITS` (OpenSSL security
    level 2), at most `MAX_RSA_BITS` (Go), and never DSA (Go)."""
    kind = "RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"
    if key.key_size < MIN_RSA_BITS:
        return finding(
            Code.WEAK_KEY,
            f"{describe(cert)} has a {key.key_size}-bit {kind} key: OpenSSL at security "
            f"level 2 (the default of current Linux distributions) refuses {kind} keys "
            f"below {MIN_RSA_BITS} bits",
        )
    if isinstance(key, dsa.DSAPublicKey):
        return finding(
            Code.UNSUPPORTED_ALGORITHM,
            f"{describe(cert)} has a DSA key, which Go's crypto/x509 cannot verify",
        )
    if key.key_size > MAX_RSA_BITS:
        return finding(
            Code.UNSUPPORTED_ALGORITHM,
            f"{describe(cert)} has a {key.key_size}-bit RSA key: Go refuses RSA keys "
            f"above {MAX_RSA_BITS} bits",
        )
    return None

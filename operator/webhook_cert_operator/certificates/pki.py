"""Pure: keys, CSRs, PEM chains and renewal times, the certificate arithmetic of the operator.

No I/O and no clock. Every moment in time is a parameter, so the same inputs always
give the same answer and the renewal logic can be tested at any date.

Nothing here puts key material into an exception message: the messages say what is wrong
with a PEM or a key, never what is in it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
"""The key types the operator issues certificates for (what WebPKI CAs accept)."""

# ECDSA sizes map to the two curves Let's Encrypt signs for subscriber keys; P-521 is
# refused by Let's Encrypt, so it is not offered here either.
_CURVES: dict[int, ec.EllipticCurve] = {256: ec.SECP256R1(), 384: ec.SECP384R1()}
_RSA_SIZES = frozenset({2048, 3072, 4096})
_RSA_PUBLIC_EXPONENT = 65537

# Let's Encrypt's integration guide: renew when a third of the lifetime is left, and for
# short-lived certificates (its 6-day profile) when half is left, so that a failed attempt
# still leaves time for retries before expiry.
_SHORT_LIVED = timedelta(days=10)


class PkiError(Exception):
    """Base class of the errors this module raises about keys, PEM data and certificates."""


class UnsupportedKey(PkiError):
    """A key algorithm or size the operator does not issue for."""


class PemError(PkiError):
    """PEM data that holds no usable key or certificate."""


class CsrError(PkiError):
    """A certificate signing request that cannot be built from the given names."""


def normalize_algorithm(algorithm: str) -> str:
    """Return "ECDSA" or "RSA" for any spelling of them; raise UnsupportedKey otherwise."""
    upper = algorithm.strip().upper()
    if upper not in ("ECDSA", "RSA"):
        raise UnsupportedKey(f"unsupported key algorithm {algorithm!r}: use ECDSA or RSA")
    return upper


def generate_private_key(algorithm: str, size: int) -> PrivateKey:
    """Generate a fresh private key: ECDSA 256 (P-256) or 384 (P-384), RSA 2048/3072/4096."""
    name = normalize_algorithm(algorithm)
    if name == "ECDSA":
        curve = _CURVES.get(size)
        if curve is None:
            raise UnsupportedKey(f"unsupported ECDSA size {size}: use 256 or 384")
        return ec.generate_private_key(curve)
    if size not in _RSA_SIZES:
        raise UnsupportedKey(f"unsupported RSA size {size}: use 2048, 3072 or 4096")
    return rsa.generate_private_key(public_exponent=_RSA_PUBLIC_EXPONENT, key_size=size)


def key_algorithm_and_size(key: PrivateKey) -> tuple[str, int]:
    """Describe a key the way the spec does: ("ECDSA", 256), ("RSA", 2048), ..."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ECDSA", key.curve.key_size
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA", key.key_size
    raise UnsupportedKey(f"unsupported key type {type(key).__name__}")


def private_key_to_pem(key: PrivateKey) -> bytes:
    """Serialize a key as unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY").

    PKCS#8 is the one format every consumer of a `kubernetes.io/tls` Secret reads (Go's
    crypto/tls behind Traefik and most webhook servers, OpenSSL, Java); it is unencrypted
    because those consumers have no way to get a passphrase.
    """
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> PrivateKey:
    """Load an unencrypted PEM private key (PKCS#8, SEC1 or PKCS#1) of a supported type."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        # The library's message is about the framing, but say nothing of the content.
        raise PemError("the data is not an unencrypted PEM private key") from error
    except UnsupportedAlgorithm as error:
        raise UnsupportedKey("the PEM private key is of an unsupported type") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise UnsupportedKey(f"unsupported key type {type(key).__name__}: use ECDSA or RSA")
    return key


def generate_account_key() -> bytes:
    """Generate an ACME account key: ECDSA P-256 as PKCS#8 PEM.

    P-256 signs with ES256, which every ACME server supports (RFC 8555 section 6.2 asks
    servers to accept ES256) and which keeps request signatures small.
    """
    return private_key_to_pem(ec.generate_private_key(ec.SECP256R1()))


def _unique(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    result: list[str] = []
    for name in names:
        if name not in seen:
            seen.add(name)
            result.append(name)
    return result


def build_csr(key: PrivateKey, dns_names: Sequence[str]) -> bytes:
    """Build a PEM CSR that asks for every name as a subjectAltName dNSName.

    The subject is left empty, with no commonName. RFC 8555 section 7.4 accepts identifiers
    in the subjectAltName extension alone, Let's Encrypt ignores the CSR's CN, and a CN is
    limited to 64 characters while a DNS name may be up to 253: putting the first name
    there would make long names fail for no benefit. The names must be exactly those of
    the order, so they are kept as given (only duplicates are dropped, keeping order).
    """
    names = _unique(dns_names)
    if not names:
        raise CsrError("a CSR needs at least one DNS name")
    try:
        san = x509.SubjectAlternativeName([x509.DNSName(name) for name in names])
    except (ValueError, TypeError) as error:
        raise CsrError(f"invalid DNS name in CSR: {error}") from error
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def split_pem_chain(pem: bytes) -> list[x509.Certificate]:
    """Parse a PEM bundle (leaf first, then intermediates) into its certificates, in order.

    Raises PemError when the data holds no certificate or a certificate block is corrupt:
    a Secret or an ACME response like that is never usable, so it is an error, not an
    empty chain.
    """
    if not pem.strip():
        raise PemError("the PEM data is empty")
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        raise PemError("the data is not a valid PEM certificate chain") from error
    if not certs:
        raise PemError("the PEM data holds no certificate")
    return certs


def chain_to_pem(certs: Sequence[x509.Certificate]) -> bytes:
    """Concatenate certificates as PEM, in the given order (leaf first for `tls.crt`)."""
    if not certs:
        raise PemError("an empty chain has no PEM form")
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


@dataclass(frozen=True)
class CertificateInfo:
    """What the operator reports about a certificate.

    `serial_number` is uppercase hexadecimal without separators, zero-padded to whole
    bytes: what `openssl x509 -noout -serial` prints, so the two can be compared by eye.
    `sha256_fingerprint` is lowercase hexadecimal without separators (as `sha256sum`
    prints) of the DER encoding. Times are timezone-aware UTC datetimes.
    """

    serial_number: str
    not_before: datetime
    not_after: datetime
    issuer: str
    subject: str
    dns_names: tuple[str, ...]
    sha256_fingerprint: str


def _serial_hex(serial: int) -> str:
    digits = f"{abs(serial):X}"
    if len(digits) % 2:
        digits = "0" + digits
    return ("-" if serial < 0 else "") + digits


def certificate_dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The certificate's subjectAltName dNSNames, in order; empty when it has none."""
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return ()
    san = ext.value
    assert isinstance(san, x509.SubjectAlternativeName)
    return tuple(san.get_values_for_type(x509.DNSName))


def describe_certificate(cert: x509.Certificate) -> CertificateInfo:
    """Summarize a certificate for status fields, annotations and log lines."""
    return CertificateInfo(
        serial_number=_serial_hex(cert.serial_number),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        issuer=cert.issuer.rfc4514_string(),
        subject=cert.subject.rfc4514_string(),
        dns_names=certificate_dns_names(cert),
        sha256_fingerprint=hashlib.sha256(
            cert.public_bytes(serialization.Encoding.DER)
        ).hexdigest(),
    )


def _spki(public_key: object) -> bytes:
    assert isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_matches_certificate(key: PrivateKey, cert: x509.Certificate) -> bool:
    """Whether the certificate certifies this key's public half."""
    cert_public = cert.public_key()
    if not isinstance(cert_public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return False
    return _spki(key.public_key()) == _spki(cert_public)


def _require_aware(*moments: datetime) -> None:
    for moment in moments:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("renewal arithmetic needs timezone-aware datetimes")


def default_renewal_time(not_before: datetime, not_after: datetime) -> datetime:
    """When to renew a certificate when the spec sets no renewBefore (and the CA offers no ARI).

    A third of the lifetime before expiry (day 60 of a 90-day certificate), or half of it
    for lifetimes under 10 days, following Let's Encrypt's integration guide. The result is
    rounded down to a whole second so that it reads the same in status on every reconcile.
    """
    _require_aware(not_before, not_after)
    lifetime = not_after - not_before
    if lifetime <= timedelta(0):
        raise PkiError("the certificate's notAfter is not after its notBefore")
    remaining = lifetime / 2 if lifetime < _SHORT_LIVED else lifetime / 3
    return (not_after - remaining).replace(microsecond=0)


def renewal_time_with_renew_before(
    not_after: datetime,
    renew_before: timedelta,
    *,
    not_before: datetime | None = None,
) -> datetime:
    """When to renew given the spec's renewBefore: that long before expiry.

    When `not_before` is given and renewBefore is not shorter than the certificate's whole
    lifetime, every new certificate would be due at once and the operator would reissue in
    a loop; the default rule is used instead (as cert-manager does).
    """
    _require_aware(not_after)
    if renew_before <= timedelta(0):
        raise ValueError("renewBefore must be positive")
    if not_before is not None:
        _require_aware(not_before)
        if renew_before >= not_after - not_before:
            return default_renewal_time(not_before, not_after)
    return (not_after - renew_before).replace(microsecond=0)


def certificate_needs_reissue(
    cert: x509.Certificate,
    key: PrivateKey,
    dns_names: Sequence[str],
    algorithm: str,
    size: int,
) -> str | None:
    """Why an existing certificate and key no longer fit the spec, or None when they do.

    Checked in a fixed order (names, then key pairing, then key type) so that the same
    Secret always gives the same reason and status does not flap. DNS names compare
    case-insensitively (RFC 4343; CAs lower-case them). Expiry is not looked at here: that
    is the renewal time's job, and it needs the clock.
    """
    covered = {name.lower() for name in certificate_dns_names(cert)}
    wanted = [name.lower() for name in _unique(dns_names)]
    for name in wanted:
        if name not in covered:
            return f"the certificate does not cover {name}"
    extra = sorted(covered - set(wanted))
    if extra:
        return f"the certificate also covers {extra[0]}, which the spec no longer lists"
    if not key_matches_certificate(key, cert):
        return "the private key does not match the certificate"
    have_algorithm, have_size = key_algorithm_and_size(key)
    want_algorithm = normalize_algorithm(algorithm)
    if (have_algorithm, have_size) != (want_algorithm, size):
        return f"the key is {have_algorithm} {have_size}, the spec asks for {want_algorithm} {size}"
    return None

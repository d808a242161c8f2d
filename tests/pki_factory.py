"""Build throw-away certificate hierarchies for tests.

Tests need real certificates that look like the ones public CAs issue: a root, one or
more intermediates and a leaf with the extensions strict verifiers insist on (basic
constraints, key usage, key identifiers, extended key usage, subject alternative names),
plus the broken variants a webhook endpoint meets in practice: expired or not yet valid
certificates, self-signed leaves, certificates for the wrong host, certificates whose
issuer has the right name but another key.

Everything here is generated in memory with `cryptography` and nothing touches the
network. Keys are ECDSA P-256, which is fast to generate. Time is an argument: every
function takes `now` (default: the current time), and validity periods are placed
around it, so unit tests can pin the clock and integration tests can use the real one.

Typical use:

    chain = build_chain(["hooks.example.test"])
    chain.leaf.cert, chain.intermediates[0].cert, chain.root.cert
    write_pem(tmp_path / "fullchain.pem", *chain.served())
    write_key(tmp_path / "key.pem", chain.leaf.key)
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

PrivateKey = CertificateIssuerPrivateKeyTypes

DAY = datetime.timedelta(days=1)

# Keys that sign without a separate hash algorithm.
_NO_HASH_KEYS = (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)


def utcnow() -> datetime.datetime:
    """The current time, timezone-aware, to the second (certificates have no fractions)."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def new_key() -> PrivateKey:
    """A fresh ECDSA P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A fresh RSA private key of `bits` bits (1024 for the weak-key cases)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def name(common_name: str, organization: str | None = "Test PKI") -> x509.Name:
    """A distinguished name with an O attribute (unless None) and a CN."""
    attributes = []
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    # The CN comes last, as in the certificates public CAs issue, so that the RFC 4514
    # form (which lists the last attribute first) reads "CN=...,O=...".
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key, so it can issue further certificates or serve TLS."""

    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True)
class Chain:
    """A root, its intermediates (the one nearest the root first) and a leaf."""

    root: Issued
    intermediates: tuple[Issued, ...]
    leaf: Issued

    def served(self) -> tuple[x509.Certificate, ...]:
        """The correctly served chain: leaf first, then each issuer in turn, no root."""
        return (self.leaf.cert, *(i.cert for i in reversed(self.intermediates)))

    def full(self) -> tuple[x509.Certificate, ...]:
        """`served()` followed by the root."""
        return (*self.served(), self.root.cert)


@dataclass(frozen=True)
class Validity:
    """A validity period given relative to `now`: starts `starts` after it, lasts `lasts`."""

    starts: datetime.timedelta = -DAY
    lasts: datetime.timedelta = 90 * DAY

    def bounds(self, now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
        not_before = now + self.starts
        return not_before, not_before + self.lasts


#: Valid now, 90 days long: the usual Let's Encrypt leaf.
CURRENT = Validity()
#: Ended yesterday.
EXPIRED = Validity(starts=-91 * DAY, lasts=90 * DAY)
#: Starts tomorrow.
NOT_YET_VALID = Validity(starts=DAY, lasts=90 * DAY)
#: The validity of test CAs: ten years, started a year ago.
CA_VALIDITY = Validity(starts=-365 * DAY, lasts=3650 * DAY)


def expiring_in(delta: datetime.timedelta) -> Validity:
    """Valid now (started 80 days ago) and ending `delta` from now."""
    return Validity(starts=-80 * DAY, lasts=80 * DAY + delta)


@dataclass
class _Builder:
    subject: x509.Name
    issuer_name: x509.Name
    public_key: CertificateIssuerPublicKeyTypes
    signing_key: PrivateKey
    authority_key: CertificateIssuerPublicKeyTypes
    not_before: datetime.datetime
    not_after: datetime.datetime
    extensions: list[tuple[x509.ExtensionType, bool]] = field(default_factory=list)

    def sign(self) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(self.subject)
            .issuer_name(self.issuer_name)
            .public_key(self.public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.public_key), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.authority_key), False
            )
        )
        for extension, critical in self.extensions:
            builder = builder.add_extension(extension, critical)
        algorithm = None if isinstance(self.signing_key, _NO_HASH_KEYS) else hashes.SHA256()
        return builder.sign(self.signing_key, algorithm)


def _ca_extensions(path_length: int | None) -> list[tuple[x509.ExtensionType, bool]]:
    return [
        (x509.BasicConstraints(ca=True, path_length=path_length), True),
        (
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        ),
    ]


def _aia(ca_issuers_url: str | None) -> list[tuple[x509.ExtensionType, bool]]:
    if ca_issuers_url is None:
        return []
    access = x509.AccessDescription(
        AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(ca_issuers_url)
    )
    return [(x509.AuthorityInformationAccess([access]), False)]


def make_root(
    common_name: str = "Test Root CA",
    *,
    now: datetime.datetime | None = None,
    validity: Validity = CA_VALIDITY,
    key: PrivateKey | None = None,
) -> Issued:
    """A self-signed root CA certificate."""
    key = key or new_key()
    not_before, not_after = validity.bounds(now or utcnow())
    subject = name(common_name)
    cert = _Builder(
        subject=subject,
        issuer_name=subject,
        public_key=key.public_key(),
        signing_key=key,
        authority_key=key.public_key(),
        not_before=not_before,
        not_after=not_after,
        extensions=_ca_extensions(None),
    ).sign()
    return Issued(cert, key)


def make_intermediate(
    issuer: Issued,
    common_name: str = "Test Intermediate CA",
    *,
    now: datetime.datetime | None = None,
    validity: Validity = CA_VALIDITY,
    key: PrivateKey | None = None,
    ca_issuers_url: str | None = None,
) -> Issued:
    """A CA certificate signed by `issuer`; `ca_issuers_url` adds an AIA caIssuers entry."""
    key = key or new_key()
    not_before, not_after = validity.bounds(now or utcnow())
    cert = _Builder(
        subject=name(common_name),
        issuer_name=issuer.cert.subject,
        public_key=key.public_key(),
        signing_key=issuer.key,
        authority_key=issuer.key.public_key(),
        not_before=not_before,
        not_after=not_after,
        extensions=[*_ca_extensions(None), *_aia(ca_issuers_url)],
    ).sign()
    return Issued(cert, key)


SERVER_AUTH = (ExtendedKeyUsageOID.SERVER_AUTH,)


def cross_sign(
    ca: Issued,
    by: Issued,
    *,
    now: datetime.datetime | None = None,
    validity: Validity = CA_VALIDITY,
) -> Issued:
    """Another certificate for `ca`'s name and key, issued by `by` (a cross-signature).

    Certificates issued by `ca` chain to either copy, as Let's Encrypt's ISRG Root X1
    chained to both its self-signed root and its cross-sign by DST Root CA X3.
    """
    not_before, not_after = validity.bounds(now or utcnow())
    cert = _Builder(
        subject=ca.cert.subject,
        issuer_name=by.cert.subject,
        public_key=ca.key.public_key(),
        signing_key=by.key,
        authority_key=by.key.public_key(),
        not_before=not_before,
        not_after=not_after,
        extensions=_ca_extensions(None),
    ).sign()
    return Issued(cert, ca.key)


def _leaf_extensions(
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    extended_key_usage: Sequence[x509.ObjectIdentifier] = SERVER_AUTH,
) -> list[tuple[x509.ExtensionType, bool]]:
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        ),
        (x509.ExtendedKeyUsage(list(extended_key_usage)), False),
    ]
    if alt_names:
        extensions.append((x509.SubjectAlternativeName(alt_names), False))
    return extensions


def make_leaf(
    issuer: Issued,
    dns_names: Sequence[str] = ("hooks.example.test",),
    *,
    ip_addresses: Sequence[str] = (),
    common_name: str | None = None,
    now: datetime.datetime | None = None,
    validity: Validity = CURRENT,
    key: PrivateKey | None = None,
    ca_issuers_url: str | None = None,
    extended_key_usage: Sequence[x509.ObjectIdentifier] = SERVER_AUTH,
) -> Issued:
    """A TLS server certificate signed by `issuer`, for the given names and addresses.

    The CN defaults to the first DNS name (or address); verifiers ignore it and match
    the subject alternative names only, as RFC 9525 (formerly RFC 6125) asks.
    `extended_key_usage` other than serverAuth makes a certificate TLS clients reject.
    """
    key = key or new_key()
    not_before, not_after = validity.bounds(now or utcnow())
    cn = common_name or next(iter([*dns_names, *ip_addresses]), "leaf")
    cert = _Builder(
        subject=name(cn, organization=None),
        issuer_name=issuer.cert.subject,
        public_key=key.public_key(),
        signing_key=issuer.key,
        authority_key=issuer.key.public_key(),
        not_before=not_before,
        not_after=not_after,
        extensions=[
            *_leaf_extensions(dns_names, ip_addresses, extended_key_usage),
            *_aia(ca_issuers_url),
        ],
    ).sign()
    return Issued(cert, key)


def make_self_signed_leaf(
    dns_names: Sequence[str] = ("hooks.example.test",),
    *,
    ip_addresses: Sequence[str] = (),
    now: datetime.datetime | None = None,
    validity: Validity = CURRENT,
) -> Issued:
    """A server certificate that signs itself, as `openssl req -x509` makes by default."""
    key = new_key()
    not_before, not_after = validity.bounds(now or utcnow())
    subject = name(next(iter([*dns_names, *ip_addresses]), "self-signed"), organization=None)
    cert = _Builder(
        subject=subject,
        issuer_name=subject,
        public_key=key.public_key(),
        signing_key=key,
        authority_key=key.public_key(),
        not_before=not_before,
        not_after=not_after,
        extensions=_leaf_extensions(dns_names, ip_addresses),
    ).sign()
    return Issued(cert, key)


def build_chain(
    dns_names: Sequence[str] = ("hooks.example.test",),
    *,
    ip_addresses: Sequence[str] = (),
    depth: int = 1,
    now: datetime.datetime | None = None,
    leaf_validity: Validity = CURRENT,
    intermediate_validity: Validity = CA_VALIDITY,
    prefix: str = "Test",
    ca_issuers_url: str | None = "http://ca.example.test/intermediate.der",
) -> Chain:
    """A root, `depth` intermediates and a leaf for the given names.

    CA names are "<prefix> Root CA", "<prefix> Intermediate CA 1", ...; distinct prefixes
    give unrelated hierarchies. The leaf carries an AIA caIssuers URL (as Let's Encrypt
    leaves do) unless `ca_issuers_url` is None.
    """
    now = now or utcnow()
    root = make_root(f"{prefix} Root CA", now=now)
    intermediates: list[Issued] = []
    issuer = root
    for level in range(1, depth + 1):
        issuer = make_intermediate(
            issuer, f"{prefix} Intermediate CA {level}", now=now, validity=intermediate_validity
        )
        intermediates.append(issuer)
    leaf = make_leaf(
        issuer,
        dns_names,
        ip_addresses=ip_addresses,
        now=now,
        validity=leaf_validity,
        ca_issuers_url=ca_issuers_url,
    )
    return Chain(root=root, intermediates=tuple(intermediates), leaf=leaf)


def write_pem(path: Path, *certs: x509.Certificate) -> Path:
    """Write the certificates to `path` as concatenated PEM blocks, in the given order."""
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def write_key(path: Path, key: PrivateKey) -> Path:
    """Write an unencrypted PKCS#8 PEM private key to `path`."""
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def key_usage(
    *,
    digital_signature: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    """A keyUsage extension with the named bits set."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


CA_KEY_USAGE = key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True)
LEAF_KEY_USAGE = key_usage(digital_signature=True)
_KEEP = object()


def issue(
    issuer: Issued | None,
    common_name: str,
    *,
    key: PrivateKey | None = None,
    now: datetime.datetime | None = None,
    validity: Validity = CA_VALIDITY,
    ca: bool | None = True,
    basic_constraints_critical: bool = True,
    path_length: int | None = None,
    key_usage: x509.KeyUsage | None = CA_KEY_USAGE,
    extended_key_usage: Sequence[x509.ObjectIdentifier] | None = None,
    dns_names: Sequence[str] = (),
    subject_key_id: bytes | object | None = _KEEP,
    authority_key_id: bytes | object | None = _KEEP,
    extra_extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    organization: str | None = "Test PKI",
) -> Issued:
    """Any certificate, with every extension a knob: the corpus of broken hierarchies.

    `issuer` None makes it self-signed. `ca` None leaves basicConstraints out; `key_usage`
    or `extended_key_usage` None leaves those out. `subject_key_id` / `authority_key_id`
    replace the computed key identifiers (None leaves the extension out).
    """
    key = key or new_key()
    signer_key = issuer.key if issuer is not None else key
    subject = name(common_name, organization)
    issuer_name = issuer.cert.subject if issuer is not None else subject
    not_before, not_after = validity.bounds(now or utcnow())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if subject_key_id is _KEEP:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
        )
    elif isinstance(subject_key_id, bytes):
        builder = builder.add_extension(x509.SubjectKeyIdentifier(subject_key_id), False)
    if authority_key_id is _KEEP:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), False
        )
    elif isinstance(authority_key_id, bytes):
        aki = x509.AuthorityKeyIdentifier(authority_key_id, None, None)
        builder = builder.add_extension(aki, False)
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
            basic_constraints_critical,
        )
    if key_usage is not None:
        builder = builder.add_extension(key_usage, True)
    if extended_key_usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended_key_usage)), False)
    if dns_names:
        san = x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names])
        builder = builder.add_extension(san, False)
    for extension, critical in extra_extensions:
        builder = builder.add_extension(extension, critical)
    algorithm = None if isinstance(signer_key, _NO_HASH_KEYS) else hashes.SHA256()
    return Issued(builder.sign(signer_key, algorithm), key)


def issue_leaf(issuer: Issued, dns_names: Sequence[str], **kwargs: object) -> Issued:
    """`issue` with a server leaf's defaults: CA:FALSE, digitalSignature, serverAuth."""
    options: dict[str, object] = {
        "validity": CURRENT,
        "ca": False,
        "key_usage": LEAF_KEY_USAGE,
        "extended_key_usage": SERVER_AUTH,
        "dns_names": dns_names,
        "organization": None,
    }
    options.update(kwargs)
    return issue(issuer, dns_names[0] if dns_names else "leaf", **options)  # type: ignore[arg-type]


# sha256WithRSAEncryption and the legacy RSA signature algorithms, as DER-encoded OIDs of
# the same length, so that a certificate can be re-signed in place.
_RSA_SHA256_OID = bytes.fromhex("06092a864886f70d01010b")
_LEGACY_RSA_OIDS = {
    "md5": (bytes.fromhex("06092a864886f70d010104"), hashes.MD5()),
    "sha1": (bytes.fromhex("06092a864886f70d010105"), hashes.SHA1()),
    "sha224": (bytes.fromhex("06092a864886f70d01010e"), hashes.SHA224()),
}


def resign(cert: x509.Certificate, issuer_key: rsa.RSAPrivateKey, digest: str) -> x509.Certificate:
    """`cert` (signed sha256WithRSAEncryption by `issuer_key`) signed again with a legacy
    hash ("md5", "sha1", "sha224"), which `cryptography` no longer signs with.

    The algorithm identifier is swapped in place in both places it appears (the OIDs have
    the same length) and the signature recomputed over the new to-be-signed part.
    """
    oid, algorithm = _LEGACY_RSA_OIDS[digest]
    der = cert.public_bytes(serialization.Encoding.DER)
    tbs = cert.tbs_certificate_bytes
    assert tbs.count(_RSA_SHA256_OID) == 1, "expected a sha256WithRSAEncryption certificate"
    new_tbs = tbs.replace(_RSA_SHA256_OID, oid)
    head, outer = der[: der.index(tbs) + len(tbs)], der[der.index(tbs) + len(tbs) :]
    signature = issuer_key.sign(new_tbs, padding.PKCS1v15(), algorithm)
    assert len(signature) == len(cert.signature)
    outer = outer.replace(_RSA_SHA256_OID, oid)
    outer = outer[: -len(signature)] + signature
    return x509.load_der_x509_certificate(head.replace(tbs, new_tbs) + outer)

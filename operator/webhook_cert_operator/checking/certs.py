"""Pure: reading served certificates (extensions, names in messages, fingerprints).

The helpers every part of the served-chain check shares: a finding names a certificate
by its CN (or DN, or first DNS name) and its serial number; reports show SHA-256
fingerprints.

No I/O, no clock.
"""

from __future__ import annotations

import hashlib
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

_E = TypeVar("_E", bound=x509.ExtensionType)


# --- naming certificates in messages ----------------------------------------------------


def describe_name(name: x509.Name) -> str:
    """The CN of a name if it has one (how people call certificates), else its full DN."""
    common_names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common_names:
        value = common_names[0].value
        return f'"{value if isinstance(value, str) else value.decode(errors="replace")}"'
    text = name.rfc4514_string()
    return f'"{text}"' if text else "(empty name)"


def describe(cert: x509.Certificate) -> str:
    """How findings name a certificate: its name (`label`) and its serial number, so that
    two certificates with one name (a renewed leaf, a cross-signed CA) are told apart."""
    return f"{label(cert)} (serial {cert.serial_number:x})"


def label(cert: x509.Certificate) -> str:
    """A certificate's CN or DN, else (ACME leaves from SAN-only CSRs have an empty
    subject) its first DNS name."""
    if not cert.subject.rfc4514_string():
        names = san_dns_names(cert)
        if names:
            return f'"{names[0]}"'
    return describe_name(cert.subject)


def san_dns_names(cert: x509.Certificate) -> list[str]:
    """The subjectAltName's DNS names, in the certificate's order; [] without one."""
    san = subject_alt_names(cert)
    return san.get_values_for_type(x509.DNSName) if san is not None else []


def ca_issuers_urls(cert: x509.Certificate) -> list[str]:
    """The authorityInfoAccess "CA Issuers" URLs (RFC 5280 section 4.2.2.1): where the
    issuer is published, which strict clients never fetch."""
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


def subject_alt_names(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    """The subjectAltName extension (RFC 5280 section 4.2.1.6), None without one."""
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER encoding, lowercase hex, as `openssl x509 -fingerprint` shows it."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def extension(cert: x509.Certificate, kind: type[_E]) -> _E | None:
    """The certificate's extension of type `kind`, None when it is absent or unreadable."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        # A duplicated or malformed extension: treated as absent here; strict parsers
        # refuse the certificate, which `path_rules` does not see.
        return None

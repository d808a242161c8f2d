"""Adapter (reads files). Trust stores for the served-chain check: Mozilla's roots, or a PEM bundle.

A strict webhook sender trusts a public root program, so the default is Mozilla's root
store as certifi ships it. Endpoints signed by a private CA (or tests) give their own
PEM bundle instead: a file for the CLI, a ConfigMap or Secret for the operator.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning


class TrustBundleError(Exception):
    """A trust bundle that cannot be read or holds no certificate."""


_PEM_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)


def parse_pem_certificates(
    data: bytes, *, source: str, skip_invalid: bool = False
) -> tuple[x509.Certificate, ...]:
    """Every certificate in PEM `data`, in order; `source` names it in errors.

    Text around the PEM blocks (comments, as in certifi's bundle) is ignored. A block
    that does not parse is an error, or is left out with `skip_invalid`.
    """
    certificates = []
    for number, block in enumerate(_PEM_BLOCK.findall(data), start=1):
        try:
            with warnings.catch_warnings():
                # Some long-lived roots have a serial number RFC 5280 disallows; newer
                # cryptography warns about them, later versions refuse them.
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                certificates.append(x509.load_pem_x509_certificate(block))
        except ValueError as error:
            if not skip_invalid:
                message = f"{source}: certificate {number} is not valid PEM/DER ({error})"
                raise TrustBundleError(message) from None
    if not certificates:
        raise TrustBundleError(f"{source}: no PEM certificate found")
    return tuple(certificates)


def load_pem_file(path: str | Path, *, skip_invalid: bool = False) -> tuple[x509.Certificate, ...]:
    """The certificates in a PEM file; TrustBundleError if unreadable or empty."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise TrustBundleError(f"{path}: {error.strerror or error}") from None
    return parse_pem_certificates(data, source=str(path), skip_invalid=skip_invalid)


def mozilla_roots() -> tuple[x509.Certificate, ...]:
    """Mozilla's trusted roots, as packaged by certifi.

    A root this version of cryptography cannot parse is left out rather than making the
    whole store unusable: a sender's client would not be able to use it either.
    """
    return load_pem_file(certifi.where(), skip_invalid=True)

"""Pure: issuer matching and path building, as strict verifiers do them without AIA.

A certificate's issuer is one whose subject is its issuer name, whose key identifiers
agree with its authorityKeyIdentifier (RFC 5280 sections 4.2.1.1 and 4.2.1.2) and whose
key verifies its signature. The path goes from the served leaf up through the served
certificates to a trust anchor (a name and a key, RFC 5280 section 6.1.1); when there is
none, the findings say which issuer is missing or why a candidate was not taken.

No I/O, no clock (`now` is a parameter).
"""

from __future__ import annotations

import enum
import functools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import SignatureAlgorithmOID

from webhook_cert_operator.checking.certs import ca_issuers_urls, describe, describe_name, extension
from webhook_cert_operator.checking.findings import Code, Finding, finding
from webhook_cert_operator.checking.rules import validity_problem

# --- issuer matching ----------------------------------------------------------------


#: Signature checks remembered: an endpoint's intermediates and root are the same at every
#: check and for every endpoint of one CA, so their checks are made once, not at each check.
SIGNATURES_REMEMBERED: Final = 256


@functools.lru_cache(maxsize=SIGNATURES_REMEMBERED)
def _signature_verifies(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer`'s key made `child`'s signature, whatever the hash: a weak hash is
    judged by `rules.signature_finding`, not by hiding the issuer (the path is still found).

    Remembered by the two certificates (equal certificates have the same DER encoding,
    so the same answer)."""
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


def _key_ids_agree(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """RFC 5280 section 4.2.1.1: the child's authorityKeyIdentifier names its issuer's
    key. OpenSSL (`X509_check_akid`) and Java's path builder refuse a candidate issuer
    whose subjectKeyIdentifier differs, or whose serial differs from the AKI's serial."""
    aki = extension(child, x509.AuthorityKeyIdentifier)
    if aki is None:
        return True
    ski = extension(parent, x509.SubjectKeyIdentifier)
    if aki.key_identifier is not None and ski is not None and aki.key_identifier != ski.digest:
        return False
    serial = aki.authority_cert_serial_number
    return serial is None or serial == parent.serial_number


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """Whether `parent` issued `child`: the names chain (RFC 5280 section 4.2.1.4), the
    key identifiers agree (`_key_ids_agree`) and `parent`'s key verifies the signature."""
    return (
        child.issuer == parent.subject
        and _key_ids_agree(child, parent)
        and _signature_verifies(child, parent)
    )


def self_signed(cert: x509.Certificate) -> bool:
    """Whether the certificate issued itself (a root, or a self-signed leaf)."""
    return _issued_by(cert, cert)


def identity(cert: x509.Certificate) -> tuple[bytes, bytes]:
    """(DER subject, DER subjectPublicKeyInfo): a trust anchor is a name and a key (RFC
    5280 section 6.1.1 d), so a re-issued or cross-signed copy of a root with the same
    name and key is the same anchor."""
    try:
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, UnsupportedAlgorithm):
        # A key type cryptography cannot load: fall back to the certificate itself.
        spki = cert.public_bytes(serialization.Encoding.DER)
    return cert.subject.public_bytes(), spki


# --- the trust store ----------------------------------------------------------------


@dataclass(frozen=True)
class TrustIndex:
    """A trust store looked up by anchor (`identity`) and by subject name, in store order."""

    by_identity: Mapping[tuple[bytes, bytes], x509.Certificate]
    by_subject: Mapping[x509.Name, tuple[x509.Certificate, ...]]


#: Trust stores whose index is kept (by the store tuple itself; see `trust_index`).
INDEXES_KEPT: Final = 32
_indexes: dict[int, tuple[Sequence[x509.Certificate], TrustIndex]] = {}
_indexes_lock = threading.Lock()


def trust_index(trust_roots: Sequence[x509.Certificate]) -> TrustIndex:
    """`trust_roots` indexed. A tuple's index is kept, as long as that very tuple is
    one of the last `INDEXES_KEPT` (the checker hands the same tuple to every check of
    one bundle), so Mozilla's roots are not gone through again at each check."""
    kept = _indexes.get(id(trust_roots)) if isinstance(trust_roots, tuple) else None
    if kept is not None and kept[0] is trust_roots:
        return kept[1]
    by_subject: dict[x509.Name, list[x509.Certificate]] = {}
    for root in trust_roots:
        by_subject.setdefault(root.subject, []).append(root)
    index = TrustIndex(
        by_identity={identity(r): r for r in trust_roots},
        by_subject={name: tuple(roots) for name, roots in by_subject.items()},
    )
    if isinstance(trust_roots, tuple):
        with _indexes_lock:
            while len(_indexes) >= INDEXES_KEPT:
                del _indexes[next(iter(_indexes))]
            _indexes[id(trust_roots)] = (trust_roots, index)
    return index


# --- path building ----------------------------------------------------------------


class PathEnd(enum.Enum):
    """How the walk up from the leaf ended."""

    TRUSTED = "trusted"
    UNTRUSTED_ROOT = "untrusted-root"
    MISSING_ISSUER = "missing-issuer"


@dataclass(frozen=True)
class CertificationPath:
    """Served certificates (indexes into `served`) from the leaf up, and how the walk ended.

    `anchor` is the trust store's certificate the path ends at: the store's own copy when
    the last served certificate is itself a trusted one (same name and key).
    """

    indexes: tuple[int, ...]
    end: PathEnd
    anchor: x509.Certificate | None = None


_MAX_DEPTH = 8  # as many certificates as the strict verifier's default path length


def build_path(
    served: Sequence[x509.Certificate], trust_roots: Sequence[x509.Certificate], now: datetime
) -> CertificationPath:
    """The path from the leaf (`served[0]`) up through served certificates to a trust
    anchor, as strict verifiers build it (RFC 5280 section 6, no AIA fetching): ending
    at a trust anchor is preferred over a longer path, and currently valid issuers
    (at `now`) over expired ones. Without a path to an anchor, the first failed walk."""
    return _PathBuilder(served, trust_roots, now).extend((0,))


class _PathBuilder:
    """A depth-first search for a path to a trust anchor, at most `_MAX_DEPTH` long."""

    def __init__(
        self,
        served: Sequence[x509.Certificate],
        trust_roots: Sequence[x509.Certificate],
        now: datetime,
    ) -> None:
        self.served = served
        self.index = trust_index(trust_roots)
        self.now = now

    def extend(self, indexes: tuple[int, ...]) -> CertificationPath:
        """The best path that starts with the served certificates at `indexes`."""
        current = self.served[indexes[-1]]
        anchor = self.index.by_identity.get(identity(current))
        if anchor is not None:
            return CertificationPath(indexes, PathEnd.TRUSTED, anchor)
        # Like strict verifiers, prefer ending at a trust anchor over a longer path
        # through served certificates (a served cross-signed root is then not needed).
        # Only roots named as the issuer can have issued it (`_issued_by`).
        named = self.index.by_subject.get(current.issuer, ())
        roots = [r for r in named if _issued_by(current, r)]
        if roots:
            roots.sort(key=lambda r: validity_problem(r, self.now) is not None)
            return CertificationPath(indexes, PathEnd.TRUSTED, roots[0])
        if self_signed(current):
            return CertificationPath(indexes, PathEnd.UNTRUSTED_ROOT)
        if len(indexes) >= _MAX_DEPTH:
            return CertificationPath(indexes, PathEnd.MISSING_ISSUER)
        candidates = [
            i
            for i, cert in enumerate(self.served)
            if i not in indexes and _issued_by(current, cert)
        ]
        # Currently valid issuers first: an expired cross-sign should lose to a valid copy.
        candidates.sort(key=lambda i: validity_problem(self.served[i], self.now) is not None)
        first_failure: CertificationPath | None = None
        for index in candidates:
            path = self.extend((*indexes, index))
            if path.end is PathEnd.TRUSTED:
                return path
            first_failure = first_failure or path
        return first_failure or CertificationPath(indexes, PathEnd.MISSING_ISSUER)


def path_findings(
    path: CertificationPath,
    served: Sequence[x509.Certificate],
    trust_roots: Sequence[x509.Certificate],
) -> list[Finding]:
    """`untrusted-root` or `incomplete-chain` (or `key-identifier-mismatch`, when the
    missing issuer is there but its key identifier is not the one named) for a path
    that reaches no trust anchor; [] for one that does."""
    last = served[path.indexes[-1]]
    if path.end is PathEnd.UNTRUSTED_ROOT:
        what = "the leaf" if len(path.indexes) == 1 else "the served root"
        return [
            finding(
                Code.UNTRUSTED_ROOT,
                f"{what} {describe(last)} is self-signed and not in the trust store",
            )
        ]
    if path.end is PathEnd.MISSING_ISSUER:
        return [_missing_issuer_finding(last, [*served, *trust_roots])]
    return []


def _missing_issuer_finding(
    last: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> Finding:
    named = [c for c in candidates if c.subject == last.issuer and c != last]
    for candidate in named:
        if _signature_verifies(last, candidate) and not _key_ids_agree(last, candidate):
            aki = extension(last, x509.AuthorityKeyIdentifier)
            ski = extension(candidate, x509.SubjectKeyIdentifier)
            return finding(
                Code.KEY_IDENTIFIER_MISMATCH,
                f"{describe(candidate)} signed {describe(last)}, but its subjectKeyIdentifier "
                f"{ski.digest.hex() if ski else '-'} (or serial) is not the one the "
                f"authorityKeyIdentifier names ({_aki_text(aki)}); OpenSSL and Java then do "
                "not take it as the issuer (RFC 5280 section 4.2.1.1): reissue the child "
                "with the issuer's key identifier",
            )
    message = (
        f"missing issuer {describe_name(last.issuer)} ({last.issuer.rfc4514_string()}): "
        f"it issued {describe(last)} but is not served and is not a trusted root, and "
        "strict clients do not download it"
    )
    urls = ca_issuers_urls(last)
    if urls:
        message += f" (it is published at {urls[0]})"
    if named:
        message += (
            f"; {describe(named[0])} has the issuer's name but another key (its signature "
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


# --- the path's certificates ------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One certificate of the path: its position (0 is the leaf) and whether it is the
    trust anchor (from the trust store, or the served copy of one)."""

    cert: x509.Certificate
    depth: int
    anchor: bool


def links_of(path: CertificationPath, served: Sequence[x509.Certificate]) -> list[Link]:
    """The path's certificates from the leaf up, ending with its trust anchor (the trust
    store's copy of it) when it reaches one."""
    certs = [served[i] for i in path.indexes]
    if path.anchor is not None:
        if identity(certs[-1]) == identity(path.anchor):
            certs[-1] = path.anchor  # judge the store's copy, not a served one
        else:
            certs.append(path.anchor)
    last = len(certs) - 1
    return [
        Link(cert, depth, anchor=path.anchor is not None and depth == last)
        for depth, cert in enumerate(certs)
    ]

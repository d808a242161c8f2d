"""The served chains the chain-check tests judge, built here: one hierarchy per kind of
fault, and `CASES`, each chain with exactly the finding codes `chain.analyse` gives it."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests import pki_factory as pki
from webhook_cert_operator.checking import chain
from webhook_cert_operator.checking.findings import Code, Finding

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
HOST = "hooks.example.test"
DAY = datetime.timedelta(days=1)

# One public-looking hierarchy with two intermediates, whose roots the client trusts.
GOOD = pki.build_chain([HOST], depth=2, now=NOW, prefix="Good")
ROOT = GOOD.root
UPPER, LOWER = GOOD.intermediates  # ROOT -> UPPER -> LOWER -> leaf
LEAF = GOOD.leaf.cert
TRUSTED = (ROOT.cert,)

# A private hierarchy the client does not trust.
PRIVATE = pki.build_chain([HOST], depth=1, now=NOW, prefix="Private")
OTHER = pki.build_chain(["other.example.test"], depth=1, now=NOW, prefix="Other")


def leaf(**kwargs: object) -> x509.Certificate:
    """A leaf issued by LOWER, so that GOOD's intermediates complete its chain."""
    return pki.make_leaf(LOWER, now=NOW, **kwargs).cert  # type: ignore[arg-type]


EXPIRED_CA = pki.make_intermediate(UPPER, "Expired Intermediate", now=NOW, validity=pki.EXPIRED)
# A leaf used as a CA: it can sign, but clients refuse what it signs.
IMPOSTOR = pki.make_leaf(LOWER, ["ca-impostor.example.test"], now=NOW)
IMPOSTOR_VICTIM = pki.make_leaf(IMPOSTOR, [HOST], now=NOW).cert
# A self-signed certificate a client has pinned in its trust store.
PINNED = pki.make_self_signed_leaf([HOST], now=NOW).cert


# An RSA hierarchy, for key sizes and legacy signature algorithms.
RSA_ROOT = pki.issue(None, "RSA Root CA", key=pki.rsa_key(), now=NOW)
RSA_CA = pki.issue(RSA_ROOT, "RSA Intermediate CA", key=pki.rsa_key(), now=NOW)
RSA_TRUSTED = (RSA_ROOT.cert,)


def rsa_leaf(bits: int = 2048, issuer: pki.Issued = RSA_CA, **kwargs: object) -> x509.Certificate:
    return pki.issue_leaf(issuer, [HOST], key=pki.rsa_key(bits), now=NOW, **kwargs).cert


def ca(issuer: pki.Issued, cn: str, **kwargs: object) -> pki.Issued:
    return pki.issue(issuer, cn, now=NOW, **kwargs)  # type: ignore[arg-type]


def leaf_of(issuer: pki.Issued, **kwargs: object) -> x509.Certificate:
    return pki.issue_leaf(issuer, [HOST], now=NOW, **kwargs).cert


RSA_WEAK_CA = pki.issue(RSA_ROOT, "Weak Intermediate CA", key=pki.rsa_key(1024), now=NOW)
RSA_WEAK_ROOT = pki.issue(None, "Weak Root CA", key=pki.rsa_key(1024), now=NOW)
RSA_UNDER_WEAK_ROOT = pki.issue(RSA_WEAK_ROOT, "Under Weak Root CA", key=pki.rsa_key(), now=NOW)
SHA1_CA = pki.Issued(pki.resign(RSA_CA.cert, RSA_ROOT.key, "sha1"), RSA_CA.key)  # type: ignore[arg-type]
SHA1_ROOT = pki.Issued(
    pki.resign(RSA_ROOT.cert, RSA_ROOT.key, "sha1"),  # type: ignore[arg-type]
    RSA_ROOT.key,
)
# Private CAs as `openssl req -x509` and many scripts make them: CA:TRUE, not critical.
LAX_ROOT = ca(None, "Lax Root CA", basic_constraints_critical=False)  # type: ignore[arg-type]
LAX_CA = ca(LAX_ROOT, "Lax Intermediate CA", basic_constraints_critical=False)
EXPIRED_ROOT = ca(None, "Expired Root CA", validity=pki.EXPIRED)  # type: ignore[arg-type]
EXPIRED_ROOT_CA = ca(EXPIRED_ROOT, "Under Expired Root CA")
NO_BC_CA = ca(ROOT, "No Constraints CA", ca=None)
NO_CERTSIGN_CA = ca(ROOT, "No CertSign CA", key_usage=pki.key_usage(crl_sign=True))
PATHLEN0_CA = ca(ROOT, "Pathlen Zero CA", path_length=0)
BELOW_PATHLEN0 = ca(PATHLEN0_CA, "Below Pathlen Zero CA")
CLIENT_ONLY_CA = ca(ROOT, "Client Only CA", extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
SERVER_ONLY_CA = ca(ROOT, "Server Only CA", extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH])
ANY_EKU_CA = ca(
    ROOT, "Any Usage CA", extended_key_usage=[ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]
)
# The same name as ROOT's child, signed by ROOT, but its key identifier is another.
ODD_SKI_CA = ca(ROOT, "Odd Key Id CA", subject_key_id=b"\x01" * 20)
FUTURE_CA = ca(UPPER, "Future CA", validity=pki.NOT_YET_VALID)
NO_SKI_CA = ca(ROOT, "No Key Id CA", subject_key_id=None)


def constrained_ca(
    permitted: list[x509.GeneralName], excluded: list[x509.GeneralName]
) -> pki.Issued:
    constraints = x509.NameConstraints(permitted or None, excluded or None)
    return ca(ROOT, "Constrained CA", extra_extensions=[(constraints, True)])


def ip_leaf(issuer: pki.Issued, address: str) -> x509.Certificate:
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))])
    return pki.issue_leaf(issuer, [], now=NOW, extra_extensions=[(san, False)]).cert


NC_OTHER = constrained_ca([x509.DNSName("other.test")], [])
NC_EXAMPLE = constrained_ca([x509.DNSName("example.test")], [])
NC_DOT = constrained_ca([x509.DNSName(".hooks.example.test")], [])
NC_EXCLUDED = constrained_ca([], [x509.DNSName("hooks.example.test")])
NC_IP = constrained_ca([x509.IPAddress(ipaddress.ip_network("192.0.2.0/24"))], [])
UNKNOWN_CRITICAL = x509.UnrecognizedExtension(
    x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"
)


@dataclass(frozen=True)
class Case:
    served: Sequence[x509.Certificate]
    codes: set[Code] = field(default_factory=set)
    host: str = HOST
    trust: Sequence[x509.Certificate] = TRUSTED
    tls: str | None = "TLSv1.3"
    expected_leaf: x509.Certificate | None = None


CASES = {
    "a full chain served leaf first": Case([LEAF, LOWER.cert, UPPER.cert]),
    "a leaf served alone": Case([LEAF], {Code.INCOMPLETE_CHAIN}),
    "a chain without its upper intermediate": Case([LEAF, LOWER.cert], {Code.INCOMPLETE_CHAIN}),
    "a self-signed leaf": Case(
        [pki.make_self_signed_leaf([HOST], now=NOW).cert], {Code.UNTRUSTED_ROOT}
    ),
    "a private chain served with its root": Case(
        [PRIVATE.leaf.cert, PRIVATE.intermediates[0].cert, PRIVATE.root.cert],
        {Code.UNTRUSTED_ROOT},
    ),
    "a private chain served without its root": Case(
        [PRIVATE.leaf.cert, PRIVATE.intermediates[0].cert], {Code.INCOMPLETE_CHAIN}
    ),
    "an expired leaf": Case([leaf(validity=pki.EXPIRED), LOWER.cert, UPPER.cert], {Code.EXPIRED}),
    "a leaf not valid yet": Case(
        [leaf(validity=pki.NOT_YET_VALID), LOWER.cert, UPPER.cert], {Code.EXPIRED}
    ),
    "an expired intermediate": Case(
        [pki.make_leaf(EXPIRED_CA, [HOST], now=NOW).cert, EXPIRED_CA.cert, UPPER.cert],
        {Code.INTERMEDIATE_EXPIRED},
    ),
    "a leaf for another host": Case(
        [leaf(dns_names=["other.example.test"]), LOWER.cert, UPPER.cert],
        {Code.HOSTNAME_MISMATCH},
    ),
    "a leaf without subjectAltName": Case(
        [leaf(dns_names=[], common_name=HOST), LOWER.cert, UPPER.cert],
        {Code.HOSTNAME_MISMATCH},
    ),
    "TLS 1.1": Case([LEAF, LOWER.cert, UPPER.cert], {Code.TLS_VERSION}, tls="TLSv1.1"),
    "TLS 1.0": Case([LEAF, LOWER.cert, UPPER.cert], {Code.TLS_VERSION}, tls="TLSv1"),
    "TLS 1.2": Case([LEAF, LOWER.cert, UPPER.cert], tls="TLSv1.2"),
    "an unknown TLS version": Case([LEAF, LOWER.cert, UPPER.cert], tls=None),
    "another leaf than the expected one": Case(
        [LEAF, LOWER.cert, UPPER.cert], {Code.STALE_CERTIFICATE}, expected_leaf=leaf()
    ),
    "the expected leaf": Case([LEAF, LOWER.cert, UPPER.cert], expected_leaf=LEAF),
    "intermediates in reverse order": Case([LEAF, UPPER.cert, LOWER.cert], {Code.WRONG_ORDER}),
    "the root served at the end": Case(
        [LEAF, LOWER.cert, UPPER.cert, ROOT.cert], {Code.ROOT_INCLUDED}
    ),
    "the root served without intermediates": Case(
        [LEAF, ROOT.cert], {Code.INCOMPLETE_CHAIN, Code.ROOT_INCLUDED}
    ),
    "an unrelated certificate among the chain": Case(
        [LEAF, LOWER.cert, OTHER.intermediates[0].cert, UPPER.cert],
        {Code.UNRELATED_CERTIFICATE},
    ),
    "an intermediate served twice": Case(
        [LEAF, LOWER.cert, UPPER.cert, LOWER.cert], {Code.UNRELATED_CERTIFICATE}
    ),
    "a leaf expiring within the window": Case(
        [leaf(validity=pki.expiring_in(10 * DAY)), LOWER.cert, UPPER.cert],
        {Code.EXPIRING_SOON},
    ),
    "a leaf expiring after the window": Case(
        [leaf(validity=pki.expiring_in(20 * DAY)), LOWER.cert, UPPER.cert]
    ),
    "a leaf without the serverAuth usage": Case(
        [
            leaf(extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH]),
            LOWER.cert,
            UPPER.cert,
        ],
        {Code.KEY_USAGE},
    ),
    "a leaf issued by a non-CA certificate": Case(
        [IMPOSTOR_VICTIM, IMPOSTOR.cert, LOWER.cert, UPPER.cert], {Code.INVALID_CA}
    ),
    "a wildcard leaf for a one-label subdomain": Case(
        [leaf(dns_names=["*.example.test"]), LOWER.cert, UPPER.cert]
    ),
    "a wildcard leaf for a two-label subdomain": Case(
        [leaf(dns_names=["*.test"]), LOWER.cert, UPPER.cert], {Code.HOSTNAME_MISMATCH}
    ),
    "a host written with capitals and a trailing dot": Case(
        [LEAF, LOWER.cert, UPPER.cert], host="Hooks.Example.Test."
    ),
    "an IP address in the leaf's subjectAltName": Case(
        [leaf(dns_names=[], ip_addresses=["192.0.2.7"]), LOWER.cert, UPPER.cert],
        host="192.0.2.7",
    ),
    "an IP address the leaf does not cover": Case(
        [leaf(dns_names=["192.0.2.7"]), LOWER.cert, UPPER.cert],
        {Code.HOSTNAME_MISMATCH},
        host="192.0.2.7",
    ),
    "an IPv6 address in brackets": Case(
        [leaf(dns_names=[], ip_addresses=["2001:db8::7"]), LOWER.cert, UPPER.cert],
        host="[2001:db8::7]",
    ),
    "a self-signed leaf the trust store holds": Case([PINNED], trust=(PINNED,)),
    "a served intermediate the trust store holds": Case(
        [LEAF, LOWER.cert], {Code.PARTIAL_CHAIN}, trust=(LOWER.cert,)
    ),
    "a CA-issued leaf the trust store pins": Case([LEAF], {Code.PARTIAL_CHAIN}, trust=(LEAF,)),
    "nothing served": Case([], {Code.INCOMPLETE_CHAIN}),
    # Class 1: every rule of strict clients, on every certificate of the path.
    "an RSA-1024 leaf under RSA-2048 CAs": Case(
        [rsa_leaf(1024), RSA_CA.cert], {Code.WEAK_KEY}, trust=RSA_TRUSTED
    ),
    "an RSA-2048 leaf": Case([rsa_leaf(2048), RSA_CA.cert], trust=RSA_TRUSTED),
    "an RSA-4096 leaf": Case([rsa_leaf(4096), RSA_CA.cert], trust=RSA_TRUSTED),
    "an RSA-1024 intermediate": Case(
        [rsa_leaf(issuer=RSA_WEAK_CA), RSA_WEAK_CA.cert], {Code.WEAK_KEY}, trust=RSA_TRUSTED
    ),
    "an RSA-1024 trusted root": Case(
        [rsa_leaf(issuer=RSA_UNDER_WEAK_ROOT), RSA_UNDER_WEAK_ROOT.cert],
        {Code.WEAK_KEY},
        trust=(RSA_WEAK_ROOT.cert,),
    ),
    "a leaf on the secp256k1 curve": Case(
        [leaf_of(LOWER, key=ec.generate_private_key(ec.SECP256K1())), LOWER.cert, UPPER.cert],
        {Code.UNSUPPORTED_ALGORITHM},
    ),
    "a leaf on P-384": Case(
        [leaf_of(LOWER, key=ec.generate_private_key(ec.SECP384R1())), LOWER.cert, UPPER.cert]
    ),
    "an issuer whose key identifier is not the one the leaf names": Case(
        [leaf_of(ODD_SKI_CA, authority_key_id=b"\x02" * 20), ODD_SKI_CA.cert],
        {Code.KEY_IDENTIFIER_MISMATCH, Code.UNRELATED_CERTIFICATE},
    ),
    "an issuer without a subjectKeyIdentifier": Case([leaf_of(NO_SKI_CA), NO_SKI_CA.cert]),
    "a leaf without authorityKeyIdentifier": Case(
        [leaf_of(LOWER, authority_key_id=None), LOWER.cert, UPPER.cert]
    ),
    "an intermediate without basicConstraints": Case(
        [leaf_of(NO_BC_CA), NO_BC_CA.cert], {Code.INVALID_CA}
    ),
    "an intermediate whose keyUsage lacks keyCertSign": Case(
        [leaf_of(NO_CERTSIGN_CA), NO_CERTSIGN_CA.cert], {Code.INVALID_CA}
    ),
    "an intermediate below a pathLen 0 CA": Case(
        [leaf_of(BELOW_PATHLEN0), BELOW_PATHLEN0.cert, PATHLEN0_CA.cert], {Code.INVALID_CA}
    ),
    "a leaf right below a pathLen 0 CA": Case([leaf_of(PATHLEN0_CA), PATHLEN0_CA.cert]),
    "a leaf whose keyUsage lacks digitalSignature": Case(
        [leaf_of(LOWER, key_usage=pki.key_usage(key_encipherment=True)), LOWER.cert, UPPER.cert],
        {Code.KEY_USAGE},
    ),
    "a leaf without keyUsage or extendedKeyUsage": Case(
        [leaf_of(LOWER, key_usage=None, extended_key_usage=None), LOWER.cert, UPPER.cert]
    ),
    "an intermediate limited to clientAuth": Case(
        [leaf_of(CLIENT_ONLY_CA), CLIENT_ONLY_CA.cert], {Code.KEY_USAGE}
    ),
    "an intermediate limited to serverAuth": Case([leaf_of(SERVER_ONLY_CA), SERVER_ONLY_CA.cert]),
    "an intermediate with anyExtendedKeyUsage": Case(
        [leaf_of(ANY_EKU_CA), ANY_EKU_CA.cert], {Code.KEY_USAGE}
    ),
    "a leaf with an unknown critical extension": Case(
        [leaf_of(LOWER, extra_extensions=[(UNKNOWN_CRITICAL, True)]), LOWER.cert, UPPER.cert],
        {Code.POLICY_VIOLATION},
    ),
    "a leaf with an unknown non-critical extension": Case(
        [leaf_of(LOWER, extra_extensions=[(UNKNOWN_CRITICAL, False)]), LOWER.cert, UPPER.cert]
    ),
    "an intermediate not valid yet": Case(
        [leaf_of(FUTURE_CA), FUTURE_CA.cert, UPPER.cert], {Code.INTERMEDIATE_EXPIRED}
    ),
    "a CA permitted only another domain": Case(
        [leaf_of(NC_OTHER), NC_OTHER.cert], {Code.NAME_CONSTRAINTS}
    ),
    "a CA permitted the host's parent domain": Case([leaf_of(NC_EXAMPLE), NC_EXAMPLE.cert]),
    "a CA permitted only names below the host (leading dot)": Case(
        [leaf_of(NC_DOT), NC_DOT.cert], {Code.NAME_CONSTRAINTS}
    ),
    "a CA excluding the host": Case(
        [leaf_of(NC_EXCLUDED), NC_EXCLUDED.cert], {Code.NAME_CONSTRAINTS}
    ),
    "a CA permitted an address range holding the leaf's address": Case(
        [ip_leaf(NC_IP, "192.0.2.7"), NC_IP.cert], host="192.0.2.7"
    ),
    "a CA permitted an address range without the leaf's address": Case(
        [ip_leaf(NC_IP, "198.51.100.7"), NC_IP.cert], {Code.NAME_CONSTRAINTS}, host="198.51.100.7"
    ),
    # Class 2: a signature the clients refuse is its own finding, not a missing issuer.
    "an intermediate signed with SHA-1 by the trusted root": Case(
        [rsa_leaf(issuer=SHA1_CA), SHA1_CA.cert], {Code.WEAK_SIGNATURE}, trust=RSA_TRUSTED
    ),
    "a leaf signed with MD5": Case(
        [pki.resign(rsa_leaf(), RSA_CA.key, "md5"), RSA_CA.cert],  # type: ignore[arg-type]
        {Code.WEAK_SIGNATURE},
        trust=RSA_TRUSTED,
    ),
    "a leaf signed with SHA-224": Case(
        [pki.resign(rsa_leaf(), RSA_CA.key, "sha224"), RSA_CA.cert],  # type: ignore[arg-type]
        {Code.UNSUPPORTED_ALGORITHM},
        trust=RSA_TRUSTED,
    ),
    "a trusted root self-signed with SHA-1": Case(
        [rsa_leaf(), RSA_CA.cert], trust=(SHA1_ROOT.cert,)
    ),
    # Class 7: what all clients accept, however a library's policy reads RFC 5280.
    "a private CA with non-critical basicConstraints": Case(
        [leaf_of(LAX_CA), LAX_CA.cert], trust=(LAX_ROOT.cert,)
    ),
    # Class 8: the trust anchor is judged too, and named.
    "an expired trusted root": Case(
        [leaf_of(EXPIRED_ROOT_CA), EXPIRED_ROOT_CA.cert],
        {Code.ROOT_EXPIRED},
        trust=(EXPIRED_ROOT.cert,),
    ),
}


def analyse(case: Case, **overrides: object) -> list[Finding]:
    kwargs: dict[str, object] = {
        "host": case.host,
        "trust_roots": case.trust,
        "now": NOW,
        "tls_version": case.tls,
        "expected_leaf": case.expected_leaf,
    }
    served = overrides.pop("served", case.served)
    kwargs.update(overrides)
    return chain.analyse(served, **kwargs)  # type: ignore[arg-type]


def only(findings: list[Finding], code: Code) -> Finding:
    matching = [f for f in findings if f.code is code]
    assert len(matching) == 1, findings
    return matching[0]

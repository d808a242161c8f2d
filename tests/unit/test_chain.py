"""Unit tests of the served-chain analysis, on certificates generated here."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests import pki_factory as pki
from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.checking import chain
from webhook_cert_operator.checking.chain import Code, Finding, Severity

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
    kwargs.update(overrides)
    return chain.analyse(case.served, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_case_gives_exactly_its_findings(case: Case) -> None:
    assert {f.code for f in analyse(case)} == case.codes


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_chain_is_valid_exactly_when_no_finding_is_an_error(case: Case) -> None:
    findings = analyse(case)
    expected = all(chain.SEVERITY[c] is Severity.WARNING for c in case.codes)
    assert chain.is_valid(findings) is expected


ISSUE_TABLE = {
    "incomplete-chain": "error",
    "untrusted-root": "error",
    "expired": "error",
    "intermediate-expired": "error",
    "hostname-mismatch": "error",
    "tls-version": "error",
    "stale-certificate": "error",
    "connection-failed": "error",
    "wrong-order": "warning",
    "root-included": "warning",
    "unrelated-certificate": "warning",
    "expiring-soon": "warning",
    "policy-violation": "error",
    "root-expired": "error",
    "key-identifier-mismatch": "error",
    "weak-signature": "error",
    "unsupported-algorithm": "error",
    "weak-key": "error",
    "invalid-ca": "error",
    "key-usage": "error",
    "partial-chain": "warning",
    "name-constraints": "error",
    "client-certificate-required": "error",
    "handshake-failed": "error",
}


@pytest.mark.parametrize(("code", "severity"), ISSUE_TABLE.items(), ids=ISSUE_TABLE.keys())
def test_each_public_code_keeps_its_spelling_and_severity(code: str, severity: str) -> None:
    assert chain.SEVERITY[Code(code)] == Severity(severity)


def test_every_finding_carries_its_codes_severity() -> None:
    for case in CASES.values():
        for f in analyse(case):
            assert f.severity is chain.SEVERITY[f.code]


def only(findings: list[Finding], code: Code) -> Finding:
    matching = [f for f in findings if f.code is code]
    assert len(matching) == 1, findings
    return matching[0]


def test_incomplete_chain_names_the_missing_issuer_and_where_to_get_it() -> None:
    message = only(analyse(CASES["a leaf served alone"]), Code.INCOMPLETE_CHAIN).message
    assert '"Good Intermediate CA 2"' in message
    assert "CN=Good Intermediate CA 2,O=Test PKI" in message
    assert "http://ca.example.test/intermediate.der" in message
    assert f'it issued "{HOST}"' in message


def test_incomplete_chain_names_the_issuer_of_the_last_served_certificate() -> None:
    case = CASES["a chain without its upper intermediate"]
    message = only(analyse(case), Code.INCOMPLETE_CHAIN).message
    assert '"Good Intermediate CA 1"' in message
    assert 'it issued "Good Intermediate CA 2"' in message
    assert "published at" not in message  # that intermediate has no AIA extension


def test_untrusted_root_names_the_self_signed_leaf() -> None:
    message = only(analyse(CASES["a self-signed leaf"]), Code.UNTRUSTED_ROOT).message
    assert message.startswith(f'the leaf "{HOST}" (serial ')
    assert "is self-signed" in message


def test_untrusted_root_names_the_served_root() -> None:
    case = CASES["a private chain served with its root"]
    message = only(analyse(case), Code.UNTRUSTED_ROOT).message
    assert message.startswith('the served root "Private Root CA"')


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("an expired leaf", "expired on"),
        ("a leaf not valid yet", "is not valid before"),
    ],
    ids=["expired", "not yet valid"],
)
def test_expired_says_which_bound_is_crossed(name: str, words: str) -> None:
    message = only(analyse(CASES[name]), Code.EXPIRED).message
    assert words in message
    assert f'"{HOST}"' in message


def test_intermediate_expired_names_the_intermediate() -> None:
    case = CASES["an expired intermediate"]
    message = only(analyse(case), Code.INTERMEDIATE_EXPIRED).message
    assert (
        f'"Expired Intermediate" (serial {EXPIRED_CA.cert.serial_number:x}) expired on' in message
    )


def test_hostname_mismatch_lists_the_names_the_leaf_covers() -> None:
    message = only(analyse(CASES["a leaf for another host"]), Code.HOSTNAME_MISMATCH).message
    assert message.startswith('the leaf "other.example.test" (serial ')
    assert message.endswith(f") is for DNS:other.example.test, not for {HOST}")


def test_hostname_mismatch_tells_a_dns_name_from_an_ip_address() -> None:
    case = CASES["an IP address the leaf does not cover"]
    message = only(analyse(case), Code.HOSTNAME_MISMATCH).message
    assert "is for DNS:192.0.2.7, not for 192.0.2.7" in message


def test_wrong_order_shows_the_order_served_and_the_order_expected() -> None:
    case = CASES["intermediates in reverse order"]
    message = only(analyse(case), Code.WRONG_ORDER).message
    served = f'"{HOST}", "Good Intermediate CA 1", "Good Intermediate CA 2"'
    expected = f'"{HOST}", "Good Intermediate CA 2", "Good Intermediate CA 1"'
    assert f"served as {served};" in message
    assert f"issuer: {expected}" in message


def test_stale_certificate_shows_both_serial_numbers() -> None:
    case = CASES["another leaf than the expected one"]
    message = only(analyse(case), Code.STALE_CERTIFICATE).message
    assert f"{LEAF.serial_number:x}" in message
    assert case.expected_leaf is not None
    assert f"{case.expected_leaf.serial_number:x}" in message


def test_unrelated_certificate_names_the_extra_certificate() -> None:
    case = CASES["an unrelated certificate among the chain"]
    message = only(analyse(case), Code.UNRELATED_CERTIFICATE).message
    assert message.startswith('"Other Intermediate CA 1" (serial ')
    assert 'issued by "Other Root CA"' in message


def test_expiring_soon_gives_the_date_and_window() -> None:
    case = CASES["a leaf expiring within the window"]
    message = only(analyse(case), Code.EXPIRING_SOON).message
    assert format_time(case.served[0].not_valid_after_utc) in message
    assert "14-day" in message


def test_the_warning_window_is_a_parameter() -> None:
    case = CASES["a leaf expiring within the window"]
    assert analyse(case, warn_before=5 * DAY) == []


def test_tls_version_names_the_negotiated_and_minimum_versions() -> None:
    message = only(analyse(CASES["TLS 1.1"]), Code.TLS_VERSION).message
    assert "negotiated TLSv1.1, below the minimum TLS 1.2" in message


def test_the_minimum_tls_version_is_a_parameter() -> None:
    findings = analyse(CASES["TLS 1.2"], min_tls_version="1.3")
    assert [f.code for f in findings] == [Code.TLS_VERSION]


def test_an_unknown_minimum_tls_version_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown TLS version"):
        analyse(CASES["TLS 1.2"], min_tls_version="1.4")


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("1.2", (1, 2)),
        ("TLSv1.3", (1, 3)),
        ("TLSv1", (1, 0)),
        ("1.0", (1, 0)),
        ("TLSv1.1", (1, 1)),
        ("SSLv3", (0, 3)),
    ],
)
def test_tls_versions_are_read_in_both_spellings(text: str, version: tuple[int, int]) -> None:
    assert chain.parse_tls_version(text) == version


def test_a_served_cross_signed_copy_of_the_root_is_not_needed() -> None:
    legacy = pki.make_root("Legacy Root CA", now=NOW)
    cross = pki.cross_sign(ROOT, legacy, now=NOW)
    findings = chain.analyse(
        [LEAF, LOWER.cert, UPPER.cert, cross.cert],
        host=HOST,
        trust_roots=TRUSTED,
        now=NOW,
        tls_version="TLSv1.3",
    )
    assert [f.code for f in findings] == [Code.UNRELATED_CERTIFICATE]
    assert "another copy" in findings[0].message


def test_a_cross_signed_intermediate_leads_to_a_root_trusted_only_through_it() -> None:
    # Only Legacy is trusted: the path must go through the cross-sign of ROOT.
    legacy = pki.make_root("Legacy Root CA", now=NOW)
    cross = pki.cross_sign(ROOT, legacy, now=NOW)
    findings = chain.analyse(
        [LEAF, LOWER.cert, UPPER.cert, ROOT.cert, cross.cert],
        host=HOST,
        trust_roots=(legacy.cert,),
        now=NOW,
        tls_version="TLSv1.3",
    )
    assert [f.code for f in findings] == [Code.UNRELATED_CERTIFICATE]
    assert 'issued by "Good Root CA" is another copy' in findings[0].message


def test_an_expired_cross_sign_loses_to_a_valid_copy() -> None:
    legacy = pki.make_root("Legacy Root CA", now=NOW)
    old_cross = pki.cross_sign(UPPER, legacy, now=NOW, validity=pki.EXPIRED)
    findings = chain.analyse(
        [LEAF, LOWER.cert, old_cross.cert, UPPER.cert],
        host=HOST,
        trust_roots=(ROOT.cert, legacy.cert),
        now=NOW,
        tls_version="TLSv1.3",
    )
    assert [f.code for f in findings] == [Code.UNRELATED_CERTIFICATE]


def test_an_empty_trust_store_trusts_nothing() -> None:
    findings = analyse(CASES["a full chain served leaf first"], trust_roots=())
    assert [f.code for f in findings] == [Code.INCOMPLETE_CHAIN]


def test_findings_come_errors_first_in_a_fixed_order() -> None:
    served = [leaf(validity=pki.EXPIRED, dns_names=["x.example.test"]), UPPER.cert, ROOT.cert]
    findings = chain.analyse(served, host=HOST, trust_roots=TRUSTED, now=NOW, tls_version="TLSv1")
    assert [f.code for f in findings] == [
        Code.INCOMPLETE_CHAIN,
        Code.EXPIRED,
        Code.HOSTNAME_MISMATCH,
        Code.TLS_VERSION,
        Code.ROOT_INCLUDED,
        Code.UNRELATED_CERTIFICATE,
    ]


def test_connection_failed_is_an_error_with_the_reason() -> None:
    f = chain.connection_failed("connection refused by 192.0.2.1:443")
    assert (f.code, f.severity) == (Code.CONNECTION_FAILED, Severity.ERROR)
    assert "connection refused by 192.0.2.1:443" in f.message
    assert not chain.is_valid([f])


def test_warnings_alone_leave_a_chain_valid() -> None:
    assert chain.is_valid([chain.finding(Code.WRONG_ORDER, "x")])
    assert chain.is_valid([])


def test_summaries_keep_the_served_order() -> None:
    summaries = chain.summarise([LEAF, UPPER.cert])
    assert [s.subject for s in summaries] == [
        f"CN={HOST}",
        "CN=Good Intermediate CA 1,O=Test PKI",
    ]
    assert summaries[0].issuer == "CN=Good Intermediate CA 2,O=Test PKI"
    assert summaries[0].not_after == LEAF.not_valid_after_utc
    assert len(summaries[0].sha256) == 64


def test_the_json_report_has_the_public_keys() -> None:
    report = chain.ChainReport(
        url=f"https://{HOST}/",
        tls_version="TLSv1.3",
        served_chain=chain.summarise([LEAF]),
        findings=tuple(analyse(CASES["a leaf served alone"])),
    )
    data = chain.report_to_json(report)
    assert data["ok"] is False
    assert data["tls_version"] == "TLSv1.3"
    assert data["served_chain"] == [
        {
            "subject": f"CN={HOST}",
            "issuer": "CN=Good Intermediate CA 2,O=Test PKI",
            "not_after": format_time(LEAF.not_valid_after_utc),
            "sha256": chain.fingerprint(LEAF),
        }
    ]
    findings = data["findings"]
    assert isinstance(findings, list)
    assert findings[0]["code"] == "incomplete-chain"
    assert findings[0]["severity"] == "error"


def test_times_are_shown_in_utc_to_the_second() -> None:
    moment = datetime.datetime(2026, 5, 1, 14, 30, 15, 999, tzinfo=datetime.timezone(DAY / 12))
    assert format_time(moment) == "2026-05-01T12:30:15Z"


def test_a_sha1_signature_names_the_certificate_and_the_algorithm() -> None:
    case = CASES["an intermediate signed with SHA-1 by the trusted root"]
    findings = analyse(case)
    assert [f.code for f in findings] == [Code.WEAK_SIGNATURE]
    message = findings[0].message
    assert f'"RSA Intermediate CA" (serial {SHA1_CA.cert.serial_number:x})' in message
    assert "sha1WithRSAEncryption" in message


def test_a_weak_key_names_the_certificate_and_its_size() -> None:
    message = only(analyse(CASES["an RSA-1024 intermediate"]), Code.WEAK_KEY).message
    assert '"Weak Intermediate CA" (serial ' in message
    assert "1024-bit RSA key" in message


def test_an_expired_root_is_named_with_its_serial() -> None:
    message = only(analyse(CASES["an expired trusted root"]), Code.ROOT_EXPIRED).message
    assert f'"Expired Root CA" (serial {EXPIRED_ROOT.cert.serial_number:x}) expired on' in message


def test_an_unknown_critical_extension_is_named_by_its_number_and_the_certificate() -> None:
    case = CASES["a leaf with an unknown critical extension"]
    message = only(analyse(case), Code.POLICY_VIOLATION).message
    assert "1.3.6.1.4.1.55555.1" in message
    assert f'"{HOST}" (serial ' in message


def test_a_key_identifier_mismatch_names_both_identifiers() -> None:
    case = CASES["an issuer whose key identifier is not the one the leaf names"]
    message = only(analyse(case), Code.KEY_IDENTIFIER_MISMATCH).message
    assert "01" * 20 in message
    assert "02" * 20 in message
    assert '"Odd Key Id CA" (serial ' in message


CERTIFICATE_CODES = set(Code) - {
    Code.TLS_VERSION,
    Code.CONNECTION_FAILED,
    Code.HANDSHAKE_FAILED,
    Code.CLIENT_CERTIFICATE_REQUIRED,
    Code.WRONG_ORDER,
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_every_finding_about_a_certificate_names_it_with_its_serial(case: Case) -> None:
    for f in analyse(case):
        if f.code in CERTIFICATE_CODES and case.served:
            assert "(serial " in f.message, f


def _report(address: str, findings: Sequence[Finding]) -> chain.ChainReport:
    return chain.ChainReport(
        url=f"https://{HOST}/",
        tls_version="TLSv1.3",
        served_chain=(),
        findings=tuple(findings),
        address=address,
    )


def test_addresses_that_agree_are_reported_once() -> None:
    warning = chain.finding(Code.ROOT_INCLUDED, "the root is served")
    combined = chain.combine_reports(
        [_report("192.0.2.1:443", [warning]), _report("[2001:db8::1]:443", [warning])]
    )
    assert combined.findings == (warning,)
    assert combined.ok
    assert [(a.address, a.ok) for a in combined.addresses] == [
        ("192.0.2.1:443", True),
        ("[2001:db8::1]:443", True),
    ]


def test_one_failing_address_fails_the_host_and_is_named() -> None:
    missing = chain.finding(Code.INCOMPLETE_CHAIN, "missing issuer")
    combined = chain.combine_reports(
        [_report("192.0.2.1:443", []), _report("192.0.2.2:443", [missing])]
    )
    assert not combined.ok
    assert [f.message for f in combined.findings] == ["at 192.0.2.2:443: missing issuer"]
    assert combined.address == "192.0.2.2:443"

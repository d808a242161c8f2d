"""Unit tests of issuer matching and path building (`path.py`), through `chain.analyse`."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests import pki_factory as pki
from tests.unit.chain_cases import CASES, HOST, LEAF, LOWER, NOW, ROOT, UPPER, analyse, only
from webhook_cert_operator.checking import chain, path
from webhook_cert_operator.checking.findings import Code


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


def test_a_key_identifier_mismatch_names_both_identifiers() -> None:
    case = CASES["an issuer whose key identifier is not the one the leaf names"]
    message = only(analyse(case), Code.KEY_IDENTIFIER_MISMATCH).message
    assert "01" * 20 in message
    assert "02" * 20 in message
    assert '"Odd Key Id CA" (serial ' in message


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


def test_a_root_with_the_issuers_name_but_another_key_is_passed_over() -> None:
    impostor = pki.make_root("Good Root CA", now=NOW)
    assert impostor.cert.subject == ROOT.cert.subject
    served = [LEAF, LOWER.cert, UPPER.cert]
    both = chain.analyse(
        served, host=HOST, trust_roots=(impostor.cert, ROOT.cert), now=NOW, tls_version="TLSv1.3"
    )
    alone = chain.analyse(
        served, host=HOST, trust_roots=(impostor.cert,), now=NOW, tls_version="TLSv1.3"
    )
    assert both == []
    assert [f.code for f in alone] == [Code.INCOMPLETE_CHAIN]
    assert "has the issuer's name but another key" in alone[0].message


def test_a_trust_store_tuple_is_indexed_once_and_a_list_at_each_use() -> None:
    store = (ROOT.cert,)
    assert path.trust_index(store) is path.trust_index(store)
    assert path.trust_index(list(store)) is not path.trust_index(list(store))
    assert path.trust_index(list(store)) == path.trust_index(store)


def test_certificates_seen_again_are_judged_the_same() -> None:
    # Signature checks are remembered by certificate; a copy parsed anew is the same one.
    case = CASES["a full chain served leaf first"]
    first = analyse(case)
    copies = [
        x509.load_der_x509_certificate(c.public_bytes(serialization.Encoding.DER))
        for c in case.served
    ]
    assert analyse(case) == first
    assert analyse(case, served=copies) == first

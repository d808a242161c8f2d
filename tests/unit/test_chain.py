"""Unit tests of the served-chain analysis (`chain.analyse`), on certificates generated here."""

from __future__ import annotations

import pytest

from tests import pki_factory as pki
from tests.unit.chain_cases import (
    CASES,
    HOST,
    LEAF,
    LOWER,
    NOW,
    ROOT,
    TRUSTED,
    UPPER,
    Case,
    analyse,
    leaf,
    only,
)
from webhook_cert_operator.checking import chain
from webhook_cert_operator.checking.findings import SEVERITY, Code, Severity, is_valid


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_case_gives_exactly_its_findings(case: Case) -> None:
    assert {f.code for f in analyse(case)} == case.codes


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_chain_is_valid_exactly_when_no_finding_is_an_error(case: Case) -> None:
    findings = analyse(case)
    expected = all(SEVERITY[c] is Severity.WARNING for c in case.codes)
    assert is_valid(findings) is expected


def test_every_finding_carries_its_codes_severity() -> None:
    for case in CASES.values():
        for f in analyse(case):
            assert f.severity is SEVERITY[f.code]


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

"""Unit tests of the rules on each certificate of the path (`path_rules.py`)."""

from __future__ import annotations

from tests.unit.chain_cases import CASES, EXPIRED_CA, EXPIRED_ROOT, HOST, analyse, only
from webhook_cert_operator.checking.findings import Code


def test_intermediate_expired_names_the_intermediate() -> None:
    case = CASES["an expired intermediate"]
    message = only(analyse(case), Code.INTERMEDIATE_EXPIRED).message
    assert (
        f'"Expired Intermediate" (serial {EXPIRED_CA.cert.serial_number:x}) expired on' in message
    )


def test_an_expired_root_is_named_with_its_serial() -> None:
    message = only(analyse(CASES["an expired trusted root"]), Code.ROOT_EXPIRED).message
    assert f'"Expired Root CA" (serial {EXPIRED_ROOT.cert.serial_number:x}) expired on' in message


def test_an_unknown_critical_extension_is_named_by_its_number_and_the_certificate() -> None:
    case = CASES["a leaf with an unknown critical extension"]
    message = only(analyse(case), Code.POLICY_VIOLATION).message
    assert "1.3.6.1.4.1.55555.1" in message
    assert f'"{HOST}" (serial ' in message

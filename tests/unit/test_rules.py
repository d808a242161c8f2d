"""Unit tests of the rules on one certificate and on the handshake (`rules.py`)."""

from __future__ import annotations

import pytest

from tests.unit.chain_cases import CASES, DAY, HOST, SHA1_CA, analyse, only
from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.checking.findings import Code
from webhook_cert_operator.checking.rules import parse_tls_version


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


def test_hostname_mismatch_lists_the_names_the_leaf_covers() -> None:
    message = only(analyse(CASES["a leaf for another host"]), Code.HOSTNAME_MISMATCH).message
    assert message.startswith('the leaf "other.example.test" (serial ')
    assert message.endswith(f") is for DNS:other.example.test, not for {HOST}")


def test_hostname_mismatch_tells_a_dns_name_from_an_ip_address() -> None:
    case = CASES["an IP address the leaf does not cover"]
    message = only(analyse(case), Code.HOSTNAME_MISMATCH).message
    assert "is for DNS:192.0.2.7, not for 192.0.2.7" in message


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
    assert parse_tls_version(text) == version


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

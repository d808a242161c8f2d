"""ARI (RFC 9773): the certificate identifier, the renewal window, Retry-After and polling."""

from __future__ import annotations

import datetime

import pytest
from acme.client import _renewal_info_path_component

from tests.unit.acme_certificates import NOW, certificate, pem
from webhook_cert_operator.acme.ari import (
    MAX_DEFAULT_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    RenewalInfo,
    cert_id,
    parse_renewal_info,
    parse_retry_after,
    poll_delay,
    renewal_info_url,
)
from webhook_cert_operator.acme.errors import AcmeError

# ---------------------------------------------------------------------------------------
# ARI certificate identifier (RFC 9773 section 4.1)


def test_the_cert_id_matches_the_example_of_rfc_9773() -> None:
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    cert = certificate("leaf", "issuer", serial=0x87654321, aki=aki)
    assert cert_id(pem(cert).encode()) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


@pytest.mark.parametrize(
    "serial",
    [
        pytest.param(1, id="one"),
        pytest.param(0x7F, id="top-bit-clear"),
        pytest.param(0x80, id="top-bit-set-gets-a-zero-byte"),
        pytest.param(0xFFFF, id="two-bytes-top-bit-set"),
        pytest.param(0x0123456789ABCDEF0123456789ABCDEF01234567, id="twenty-bytes"),
    ],
)
def test_the_cert_id_agrees_with_the_acme_library(serial: int) -> None:
    cert = certificate("leaf", "issuer", serial=serial, aki=bytes(range(20)))
    assert cert_id(pem(cert).encode()) == _renewal_info_path_component(cert)


def test_a_certificate_without_authority_key_identifier_has_no_cert_id() -> None:
    cert = certificate("leaf", "issuer", aki=None)
    with pytest.raises(ValueError, match="authority key identifier"):
        cert_id(pem(cert).encode())


# ---------------------------------------------------------------------------------------
# Retry-After and polling


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("120", 120.0, id="delay-seconds"),
        pytest.param(" 7 ", 7.0, id="delay-seconds-with-spaces"),
        pytest.param("Sun, 01 Mar 2026 12:01:30 GMT", 90.0, id="http-date-ahead"),
        pytest.param("Sun, 01 Mar 2026 11:00:00 GMT", 0.0, id="http-date-past-is-now"),
        pytest.param("soon", None, id="nonsense"),
        pytest.param("-5", None, id="negative"),
    ],
)
def test_retry_after_is_read_in_both_forms(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


@pytest.mark.parametrize(
    ("retry_after", "attempt", "expected"),
    [
        pytest.param(3.0, 0, 3.0, id="ca-asks-3s"),
        pytest.param(300.0, 5, 300.0, id="ca-asks-more-than-the-backoff"),
        pytest.param(0.0, 0, MIN_POLL_INTERVAL, id="ca-asks-0-floored"),
        pytest.param(None, 0, 0.5, id="no-header-first"),
        pytest.param(None, 1, 1.0, id="no-header-second"),
        pytest.param(None, 4, 8.0, id="no-header-fifth"),
        pytest.param(None, 30, MAX_DEFAULT_POLL_INTERVAL, id="no-header-capped"),
    ],
)
def test_polling_never_comes_sooner_than_the_ca_asks(
    retry_after: float | None, attempt: int, expected: float
) -> None:
    assert poll_delay(retry_after, attempt) == expected


# ---------------------------------------------------------------------------------------
# The suggested window (RFC 9773 section 4.2)


def test_the_renewal_info_url_is_the_directory_url_and_the_cert_id() -> None:
    cert = certificate("leaf", "issuer", serial=0x87654321, aki=bytes(range(20)))
    cert_pem = pem(cert).encode()
    expected = f"https://ca/ari/{cert_id(cert_pem)}"
    assert renewal_info_url("https://ca/ari/", cert_pem) == expected
    assert renewal_info_url("https://ca/ari", cert_pem) == expected


def test_a_suggested_window_is_read_with_its_explanation_and_retry_after() -> None:
    body = {
        "suggestedWindow": {"start": "2026-05-01T00:00:00Z", "end": "2026-05-03T00:00:00Z"},
        "explanationURL": "https://ca/incident/1",
    }
    assert parse_renewal_info(body, 21600.0) == RenewalInfo(
        start=datetime.datetime(2026, 5, 1, tzinfo=datetime.UTC),
        end=datetime.datetime(2026, 5, 3, tzinfo=datetime.UTC),
        explanation_url="https://ca/incident/1",
        retry_after_seconds=21600.0,
    )


@pytest.mark.parametrize(
    "window",
    [
        pytest.param(None, id="missing"),
        pytest.param({"start": "2026-05-01T00:00:00Z"}, id="no-end"),
        pytest.param({"start": "soon", "end": "2026-05-03T00:00:00Z"}, id="unreadable-start"),
        pytest.param(
            {"start": "2026-05-03T00:00:00Z", "end": "2026-05-03T00:00:00Z"}, id="end-not-after"
        ),
    ],
)
def test_a_window_that_does_not_end_after_it_starts_is_refused(window: object) -> None:
    with pytest.raises(AcmeError, match="without a valid window"):
        parse_renewal_info({"suggestedWindow": window}, None)

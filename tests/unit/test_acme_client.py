"""Pure helpers of the ACME adapter: key algorithms, ARI ids, Retry-After, chains, problems.

The adapter's network behaviour is tested against a real Pebble in
tests/integration/test_acme_client.py.
"""

from __future__ import annotations

import datetime
import pickle

import pytest
from acme.client import _renewal_info_path_component
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from josepy.jwa import ES256, ES384, ES512, RS256

from webhook_cert_operator.acme.client import (
    MAX_DEFAULT_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    AcmeError,
    AcmeUnavailable,
    Order,
    Problem,
    cert_id,
    jws_algorithm_for,
    parse_order,
    parse_problem,
    parse_retry_after,
    poll_delay,
    redact,
    select_chain,
)

NOW = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)
KEY = ec.generate_private_key(ec.SECP256R1())


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificate(
    subject: str,
    issuer: str,
    *,
    serial: int = 1,
    aki: bytes | None = b"\x01" * 20,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(KEY.public_key())
        .serial_number(serial)
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=90))
    )
    if aki is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(aki, None, None), critical=False
        )
    return builder.sign(KEY, hashes.SHA256())


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


# ---------------------------------------------------------------------------------------
# JWS algorithm


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(ec.generate_private_key(ec.SECP256R1()), ES256, id="p256-es256"),
        pytest.param(ec.generate_private_key(ec.SECP384R1()), ES384, id="p384-es384"),
        pytest.param(ec.generate_private_key(ec.SECP521R1()), ES512, id="p521-es512"),
        pytest.param(
            rsa.generate_private_key(public_exponent=65537, key_size=2048), RS256, id="rsa-rs256"
        ),
    ],
)
def test_the_jws_algorithm_follows_the_account_key(key: object, expected: object) -> None:
    assert jws_algorithm_for(key) is expected


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(ed25519.Ed25519PrivateKey.generate(), id="ed25519"),
        pytest.param(ec.generate_private_key(ec.SECP256K1()), id="secp256k1"),
    ],
)
def test_an_account_key_acme_cannot_sign_with_is_refused(key: object) -> None:
    with pytest.raises(ValueError, match="unsupported account key"):
        jws_algorithm_for(key)


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
        pytest.param(None, 0, 1.0, id="no-header-first"),
        pytest.param(None, 1, 2.0, id="no-header-second"),
        pytest.param(None, 3, 8.0, id="no-header-fourth"),
        pytest.param(None, 30, MAX_DEFAULT_POLL_INTERVAL, id="no-header-capped"),
    ],
)
def test_polling_never_comes_sooner_than_the_ca_asks(
    retry_after: float | None, attempt: int, expected: float
) -> None:
    assert poll_delay(retry_after, attempt) == expected


# ---------------------------------------------------------------------------------------
# Redaction

TOKEN = "LiZMlbd0kiLjDLHakZh5V59wAjGUHTUci5AkWVDaObM"
THUMBPRINT = "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
KEY_AUTHORIZATION = f"{TOKEN}.{THUMBPRINT}"


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        pytest.param(
            f'did not match this challenge "{KEY_AUTHORIZATION}" != "wrong"',
            [KEY_AUTHORIZATION, TOKEN],
            'did not match this challenge "[redacted]" != "wrong"',
            id="known-key-authorization",
        ),
        pytest.param(
            f"token {TOKEN} was refused",
            [TOKEN],
            "token [redacted] was refused",
            id="known-token",
        ),
        pytest.param(
            f'got "{KEY_AUTHORIZATION}" instead',
            [],
            'got "[redacted]" instead',
            id="unknown-key-authorization-by-shape",
        ),
        pytest.param(
            f"Invalid response from http://a.example/.well-known/acme-challenge/{TOKEN}: 404",
            [],
            "Invalid response from http://a.example/.well-known/acme-challenge/[redacted]: 404",
            id="token-in-challenge-url",
        ),
        pytest.param(
            "DNS problem: NXDOMAIN looking up A for hooks.example.com",
            [],
            "DNS problem: NXDOMAIN looking up A for hooks.example.com",
            id="ordinary-detail-untouched",
        ),
    ],
)
def test_problem_details_lose_tokens_and_key_authorizations(
    text: str, secrets: list[str], expected: str
) -> None:
    assert redact(text, secrets) == expected


# ---------------------------------------------------------------------------------------
# Problems and orders


@pytest.mark.parametrize(
    ("jobj", "expected"),
    [
        pytest.param(
            {"type": "urn:ietf:params:acme:error:rateLimited", "detail": "too many"},
            Problem("urn:ietf:params:acme:error:rateLimited", "too many"),
            id="plain",
        ),
        pytest.param(
            {
                "type": "urn:ietf:params:acme:error:rejectedIdentifier",
                "detail": "2 identifiers refused",
                "subproblems": [
                    {"detail": "blocked", "identifier": {"type": "dns", "value": "a.test"}},
                    {"detail": "not a public suffix"},
                ],
            },
            Problem(
                "urn:ietf:params:acme:error:rejectedIdentifier",
                "2 identifiers refused; a.test: blocked; not a public suffix",
            ),
            id="subproblems-folded-in",
        ),
        pytest.param({"title": "Bad"}, Problem(None, "Bad"), id="title-only"),
        pytest.param("oops", Problem(None, "the CA sent no problem details"), id="not-an-object"),
    ],
)
def test_problem_documents_are_reduced_to_type_and_detail(jobj: object, expected: Problem) -> None:
    assert parse_problem(jobj) == expected


def test_an_order_is_read_with_sorted_identifiers_and_authorizations() -> None:
    jobj = {
        "status": "invalid",
        "expires": "2026-03-08T12:00:00.123456789Z",
        "identifiers": [{"type": "dns", "value": "b.test"}, {"type": "dns", "value": "a.test"}],
        "authorizations": ["https://ca/authz/2", "https://ca/authz/1"],
        "finalize": "https://ca/finalize/1",
        "error": {"type": "urn:ietf:params:acme:error:unauthorized", "detail": "no"},
        "replaces": "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
        "profile": "shortlived",
        "notAfter": "ignored",
    }
    assert parse_order("https://ca/order/1", jobj) == Order(
        url="https://ca/order/1",
        status="invalid",
        identifiers=("a.test", "b.test"),
        authorizations=("https://ca/authz/1", "https://ca/authz/2"),
        finalize_url="https://ca/finalize/1",
        certificate_url=None,
        error=Problem("urn:ietf:params:acme:error:unauthorized", "no"),
        expires=datetime.datetime(2026, 3, 8, 12, 0, 0, 123456, tzinfo=datetime.UTC),
        replaces="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
        profile="shortlived",
    )


def test_an_order_without_finalize_url_is_refused() -> None:
    with pytest.raises(AcmeError, match="without status or finalize URL"):
        parse_order("https://ca/order/1", {"status": "pending"})


# ---------------------------------------------------------------------------------------
# Preferred chain

LEAF = certificate("hooks.example.com", "Intermediate A", serial=10)
DEFAULT = pem(LEAF, certificate("Intermediate A", "Root X", serial=11))
CROSS = pem(
    LEAF,
    certificate("Intermediate A", "Root X", serial=12),
    certificate("Root X", "Old Root Y", serial=13),
)
OTHER = pem(LEAF, certificate("Intermediate A", "Root Z", serial=14))


@pytest.mark.parametrize(
    ("preferred", "expected"),
    [
        pytest.param(None, DEFAULT, id="no-preference-default"),
        pytest.param("Root Z", OTHER, id="topmost-issuer-matches"),
        pytest.param("Old Root Y", CROSS, id="cross-signed-topmost-issuer"),
        pytest.param("Root X", DEFAULT, id="first-chain-wins-on-ties"),
        pytest.param("Intermediate A", DEFAULT, id="any-issuer-fallback"),
        pytest.param("Nobody", DEFAULT, id="no-match-default"),
    ],
)
def test_the_preferred_chain_is_chosen_by_issuer_common_name(
    preferred: str | None, expected: str
) -> None:
    assert select_chain([DEFAULT, CROSS, OTHER], preferred) == expected


def test_the_topmost_issuer_beats_an_issuer_lower_in_another_chain() -> None:
    # CROSS has "Root X" as an issuer lower down; OTHER2 ends at it.
    other2 = pem(LEAF, certificate("Intermediate A", "Root X", serial=15))
    assert select_chain([CROSS, other2], "Root X") == other2


# ---------------------------------------------------------------------------------------
# Errors


def test_an_acme_error_shows_detail_and_type_and_knows_its_code() -> None:
    error = AcmeUnavailable("urn:ietf:params:acme:error:serverInternal", "the CA failed: boom")
    assert str(error) == "the CA failed: boom (urn:ietf:params:acme:error:serverInternal)"
    assert error.code == "serverInternal"
    assert AcmeError(None, "no type").code is None
    assert str(AcmeError(None, "no type")) == "no type"


def test_an_acme_error_survives_pickling_for_worker_threads_and_processes() -> None:
    when = NOW + datetime.timedelta(minutes=2)
    error = AcmeError("urn:ietf:params:acme:error:rateLimited", "too many", when)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problem_type, copy.detail, copy.retry_after) == (
        error.problem_type,
        "too many",
        when,
    )

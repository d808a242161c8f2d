"""Reading the CA's ACME objects: problems, orders and certificate chains (RFC 8555)."""

from __future__ import annotations

import datetime
import re

import pytest

from tests.unit.acme_certificates import certificate, pem
from webhook_cert_operator.acme.errors import AcmeError
from webhook_cert_operator.acme.messages import (
    Http01Challenge,
    Order,
    Problem,
    http01_challenge,
    parse_order,
    parse_problem,
    select_chain,
)

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
# HTTP-01 challenges (RFC 8555 section 8.3)

TOKEN = "LiZMlbd0kiLjDLHakZh5V59wAjGUHTUci5AkWVDaObM"
THUMBPRINT = "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
AUTHZ_URL = "https://ca/authz/1"


def authz(*challenges: dict[str, object]) -> dict[str, object]:
    return {
        "status": "pending",
        "identifier": {"type": "dns", "value": "hooks.example.com"},
        "challenges": list(challenges),
    }


def test_the_http01_challenge_carries_its_key_authorization_and_path() -> None:
    body = authz(
        {"type": "dns-01", "url": "https://ca/chall/dns", "token": TOKEN},
        {"type": "http-01", "url": "https://ca/chall/http", "token": TOKEN, "status": "pending"},
    )
    challenge = http01_challenge(AUTHZ_URL, body, THUMBPRINT)
    assert challenge == Http01Challenge(
        identifier="hooks.example.com",
        url="https://ca/chall/http",
        authz_url=AUTHZ_URL,
        status="pending",
        token=TOKEN,
        key_authorization=f"{TOKEN}.{THUMBPRINT}",
    )
    assert challenge.path == f"/.well-known/acme-challenge/{TOKEN}"
    assert TOKEN not in repr(challenge)


@pytest.mark.parametrize(
    ("challenges", "message"),
    [
        pytest.param(
            [{"type": "dns-01", "url": "https://ca/c", "token": TOKEN}],
            "offers no http-01 challenge for hooks.example.com (offers: dns-01)",
            id="no-http01",
        ),
        pytest.param(
            [{"type": "http-01", "url": "https://ca/c", "token": "../../etc"}],
            "malformed http-01 token for hooks.example.com",
            id="token-not-base64url",
        ),
        pytest.param(
            [{"type": "http-01", "token": TOKEN}],
            "http-01 challenge without URL for hooks.example.com",
            id="no-url",
        ),
    ],
)
def test_an_authorization_without_a_usable_http01_challenge_fails_clearly(
    challenges: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(AcmeError, match=re.escape(message)) as failed:
        http01_challenge(AUTHZ_URL, authz(*challenges), THUMBPRINT)
    assert TOKEN not in str(failed.value)

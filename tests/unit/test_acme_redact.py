"""Tokens and key authorizations never reach a message (RFC 8555 sections 8.1 and 8.3)."""

from __future__ import annotations

import pytest

from webhook_cert_operator.acme.redact import authorization_failure, redact

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


def test_a_failed_authorization_reports_the_http01_problem_without_secrets() -> None:
    authz = {
        "status": "invalid",
        "identifier": {"type": "dns", "value": "hooks.example.com"},
        "challenges": [
            {"type": "dns-01", "token": "dns-token-0123456789", "error": {"detail": "no TXT"}},
            {
                "type": "http-01",
                "token": TOKEN,
                "error": {
                    "type": "urn:ietf:params:acme:error:unauthorized",
                    "detail": f'key authorization "{KEY_AUTHORIZATION}" != "wrong"',
                },
            },
        ],
    }
    error = authorization_failure(authz, THUMBPRINT)
    assert error.problem_type == "urn:ietf:params:acme:error:unauthorized"
    assert error.detail == (
        'validation of hooks.example.com failed: key authorization "[redacted]" != "wrong"'
    )


def test_a_failed_authorization_without_a_challenge_error_names_its_status() -> None:
    authz = {"status": "expired", "identifier": {"type": "dns", "value": "a.test"}}
    error = authorization_failure(authz, THUMBPRINT)
    assert (error.problem_type, error.detail) == (None, "the authorization for a.test is expired")

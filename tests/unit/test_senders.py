"""Unit tests of the sender profiles: the requests they build and how answers are judged."""

from __future__ import annotations

import json

import pytest

from webhook_cert_operator.api import types as api
from webhook_cert_operator.checking import senders
from webhook_cert_operator.checking.findings import Code
from webhook_cert_operator.checking.senders import Answer

TOKEN = "tok-123"


def answer(
    status: int = 200,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    seconds: float = 0.1,
) -> Answer:
    return Answer(status, headers or {}, body, seconds)


def codes(name: str, reply: Answer | str) -> list[Code]:
    return [f.code for f in senders.profile(name).judge(reply, TOKEN)]


def test_every_api_sender_has_a_profile_with_a_source() -> None:
    assert tuple(senders.PROFILES) == api.SENDERS
    for profile in senders.PROFILES.values():
        assert profile.source


def test_the_generic_profile_sends_nothing() -> None:
    assert senders.profile("generic").request("/hook", TOKEN) is None


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sender 'stripe'"):
        senders.profile("stripe")


@pytest.mark.parametrize("name", ["ringcentral", "msgraph", "slack"])
def test_every_validation_request_says_it_comes_from_the_check(name: str) -> None:
    request = senders.profile(name).request("/hook", TOKEN)
    assert request is not None
    assert request.headers["X-Webhook-Cert-Check"] == "validation"
    assert "webhook-cert-operator" in request.headers["User-Agent"]


def test_ringcentral_sends_the_token_in_a_validation_token_header() -> None:
    request = senders.profile("ringcentral").request("/hook?a=1", TOKEN)
    assert request is not None
    assert (request.method, request.target) == ("POST", "/hook?a=1")
    assert request.headers["Validation-Token"] == TOKEN


def test_msgraph_sends_the_token_as_a_query_parameter() -> None:
    request = senders.profile("msgraph").request("/hook?a=1", TOKEN)
    assert request is not None
    assert request.target == f"/hook?a=1&validationToken={TOKEN}"


def test_slack_sends_a_url_verification_challenge() -> None:
    request = senders.profile("slack").request("/events", TOKEN)
    assert request is not None
    body = json.loads(request.body)
    assert (body["type"], body["challenge"]) == ("url_verification", TOKEN)


JUDGED = {
    "ringcentral echoed in time": ("ringcentral", answer(headers={"validation-token": TOKEN}), []),
    "ringcentral not echoed": ("ringcentral", answer(), [Code.SENDER_TOKEN_NOT_ECHOED]),
    "ringcentral answers 500": (
        "ringcentral",
        answer(500, {"validation-token": TOKEN}),
        [Code.SENDER_STATUS],
    ),
    "ringcentral after 4 s": (
        "ringcentral",
        answer(headers={"validation-token": TOKEN}, seconds=4.0),
        [Code.SENDER_TOO_SLOW],
    ),
    "ringcentral no answer": ("ringcentral", "no answer within 5 s", [Code.SENDER_NO_ANSWER]),
    "msgraph echoed as text/plain": (
        "msgraph",
        answer(headers={"content-type": "text/plain; charset=utf-8"}, body=TOKEN.encode()),
        [],
    ),
    "msgraph echoed as JSON": (
        "msgraph",
        answer(headers={"content-type": "application/json"}, body=TOKEN.encode()),
        [Code.SENDER_TOKEN_NOT_ECHOED],
    ),
    "msgraph after 4 s is still in time": (
        "msgraph",
        answer(headers={"content-type": "text/plain"}, body=TOKEN.encode(), seconds=4.0),
        [],
    ),
    "slack plain challenge": ("slack", answer(body=TOKEN.encode()), []),
    "slack JSON challenge": ("slack", answer(body=json.dumps({"challenge": TOKEN}).encode()), []),
    "slack other JSON": ("slack", answer(body=b'{"ok": true}'), [Code.SENDER_TOKEN_NOT_ECHOED]),
}


@pytest.mark.parametrize(("name", "reply", "expected"), JUDGED.values(), ids=JUDGED.keys())
def test_answers_are_judged_as_the_sender_does(
    name: str, reply: Answer | str, expected: list[Code]
) -> None:
    assert codes(name, reply) == expected


def test_findings_name_the_sender_and_its_limit_but_not_the_token() -> None:
    [slow] = senders.profile("ringcentral").judge(
        answer(headers={"validation-token": TOKEN}, seconds=4.0), TOKEN
    )
    assert "RingCentral" in slow.message and "3000 ms" in slow.message
    for name in ("ringcentral", "msgraph", "slack"):
        for f in senders.profile(name).judge(answer(500, seconds=20), TOKEN):
            assert TOKEN not in f.message

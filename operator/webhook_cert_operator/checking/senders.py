"""Pure. Sender profiles: the subscription handshake a webhook sender makes before it accepts
a URL, and how to judge the endpoint's answer.

A profile is the TLS rules of the check (every profile has them) plus, for a named
sender, the validation request it sends when a subscription is created and what it
insists on in the answer. `webhook-cert check --sender NAME` and
`spec.validation.sender` send that request to the endpoint, so the user learns "this
sender would accept this URL" before creating the subscription. The request reaches
the user's receiver, so only a named profile sends it, and it says what it is in its
`User-Agent` and `X-Webhook-Cert-Check` headers.

Pure: builds requests and judges answers; `sender_request.send_validation_request` sends them.
Each profile cites the sender's published documentation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from webhook_cert_operator.api import types as api
from webhook_cert_operator.checking.findings import Code, Finding, finding

#: Headers that mark every validation request as the check's, not the real sender's.
MARK_HEADERS: Final[Mapping[str, str]] = {
    "User-Agent": "webhook-cert-operator (sender profile check)",
    "X-Webhook-Cert-Check": "validation",
}


@dataclass(frozen=True)
class Request:
    """A validation request: `target` is the path and query to ask, token included."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Answer:
    """The endpoint's answer: status, headers (names lowercased), body, and how long it
    took from the request's first byte to the answer's status line and headers."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    seconds: float


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    #: Where the sender documents its handshake.
    source: str
    #: The answer must arrive within this many seconds; None for a profile without request.
    deadline: float | None = None
    build: Callable[[str, str], Request] | None = field(default=None, repr=False)
    #: Whether an answer echoes the token, and how the echo is expected (for messages).
    echoes: Callable[[Answer, str], bool] | None = field(default=None, repr=False)
    echo: str = ""

    def request(self, target: str, token: str) -> Request | None:
        """The validation request for the URL's path and query `target`, or None."""
        if self.build is None:
            return None
        built = self.build(target or "/", token)
        return Request(built.method, built.target, {**built.headers, **MARK_HEADERS}, built.body)

    def judge(self, answer: Answer | str, token: str) -> list[Finding]:
        """Findings about the answer (or the reason there was none)."""
        if isinstance(answer, str):
            return [
                finding(
                    Code.SENDER_NO_ANSWER,
                    f"{self.title} sends a validation request when a subscription is "
                    f"created; it got no answer: {answer}",
                )
            ]
        findings = []
        if answer.status != 200:
            findings.append(
                finding(
                    Code.SENDER_STATUS,
                    f"{self.title}'s validation request was answered with HTTP "
                    f"{answer.status}; it accepts only 200 OK",
                )
            )
        if self.deadline is not None and answer.seconds > self.deadline:
            findings.append(
                finding(
                    Code.SENDER_TOO_SLOW,
                    f"{self.title}'s validation request was not answered within "
                    f"{self.deadline * 1000:.0f} ms, its limit",
                )
            )
        if self.echoes is not None and not self.echoes(answer, token):
            findings.append(
                finding(
                    Code.SENDER_TOKEN_NOT_ECHOED,
                    f"the answer to {self.title}'s validation request does not echo its "
                    f"token: {self.echo}",
                )
            )
        return findings


def _with_query(target: str, name: str, value: str) -> str:
    separator = "&" if "?" in target else "?"
    return f"{target}{separator}{name}={value}"


def _ringcentral(target: str, token: str) -> Request:
    return Request("POST", target, {"Validation-Token": token, "Content-Type": "application/json"})


def _msgraph(target: str, token: str) -> Request:
    return Request(
        "POST", _with_query(target, "validationToken", token), {"Content-Type": "text/plain"}
    )


def _slack(target: str, token: str) -> Request:
    body = {"token": "webhook-cert-check", "challenge": token, "type": "url_verification"}
    return Request("POST", target, {"Content-Type": "application/json"}, json.dumps(body).encode())


def _slack_echoes(answer: Answer, token: str) -> bool:
    text = answer.body.decode("utf-8", errors="replace").strip()
    if text == token:
        return True
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("challenge") == token


PROFILES: Final[Mapping[str, Profile]] = {
    "generic": Profile(
        "generic",
        "a generic sender",
        "DESIGN.md, the check's contract: OpenSSL 3, Go crypto/tls, Java PKIX",
    ),
    "ringcentral": Profile(
        "ringcentral",
        "RingCentral",
        "https://developers.ringcentral.com/guide/notifications/webhooks/creating-webhooks",
        deadline=3.0,
        build=_ringcentral,
        echoes=lambda answer, token: answer.headers.get("validation-token") == token,
        echo="RingCentral wants its Validation-Token request header back in a "
        "Validation-Token response header",
    ),
    "msgraph": Profile(
        "msgraph",
        "Microsoft Graph",
        "https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks",
        deadline=10.0,
        build=_msgraph,
        echoes=lambda answer, token: (
            answer.body.decode("utf-8", errors="replace").strip() == token
            and answer.headers.get("content-type", "").split(";")[0].strip() == "text/plain"
        ),
        echo="Microsoft Graph wants the validationToken query parameter back, decoded, "
        "as a text/plain body",
    ),
    "slack": Profile(
        "slack",
        "Slack",
        "https://api.slack.com/events/url_verification",
        deadline=3.0,
        build=_slack,
        echoes=_slack_echoes,
        echo='Slack wants the url_verification "challenge" back as the body (plain text '
        'or {"challenge": ...})',
    ),
}

assert tuple(PROFILES) == api.SENDERS, "api.SENDERS lists the profiles, in this order"


def profile(name: str) -> Profile:
    """The profile called `name`; ValueError for an unknown one."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown sender {name!r}: one of {', '.join(PROFILES)}") from None

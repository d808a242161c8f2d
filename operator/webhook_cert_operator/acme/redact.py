"""Pure: keeping challenge tokens, key authorizations and keys out of what the CA's words reach.

Pure: no I/O, no clock. A CA's problem detail may quote what it fetched, and that is a
key authorization (RFC 8555 section 8.1) or a challenge URL holding a token (section
8.3); those details end up in status conditions, events and logs, which must never hold
a secret. The account key never leaves the JWK, so nothing here needs to know it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from webhook_cert_operator.acme.errors import AcmeError
from webhook_cert_operator.acme.messages import (
    identifier_value,
    key_authorization,
    offered_challenges,
    parse_problem,
)
from webhook_cert_operator.api.formats import CHALLENGE_PATH_PREFIX

REDACTED: Final = "[redacted]"
# Besides the secrets a call knows, anything shaped like a key authorization (token "."
# 43-character SHA-256 thumbprint, RFC 8555 section 8.1) or a challenge path's token is
# cut out: a misrouted request may have been answered with another challenge's secret.
_KEY_AUTHORIZATION_RE: Final = re.compile(r"[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
_CHALLENGE_PATH_RE: Final = re.compile(f"({re.escape(CHALLENGE_PATH_PREFIX)})[A-Za-z0-9_-]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secrets, key authorizations and challenge tokens.

    Longer secrets go first, so a key authorization is cut out whole before its token.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _KEY_AUTHORIZATION_RE.sub(REDACTED, text)
    return _CHALLENGE_PATH_RE.sub(rf"\g<1>{REDACTED}", text)


def authorization_failure(authz: Mapping[str, Any], thumbprint: str) -> AcmeError:
    """The error for an authorization that is neither pending nor valid (RFC 8555 7.1.6).

    It carries the failed challenge's problem type and detail (the http-01 one first: that
    is the challenge this operator answers), with every challenge's token and key
    authorization cut out; `thumbprint` is the account key's JWK thumbprint.
    """
    identifier = identifier_value(authz)
    offered = offered_challenges(authz)
    secrets: list[str] = []
    for chall in offered:
        token = chall.get("token")
        if isinstance(token, str) and token:
            secrets += [key_authorization(token, thumbprint), token]
    failed = sorted(
        (c for c in offered if c.get("error")), key=lambda c: c.get("type") != "http-01"
    )
    if failed:
        problem = parse_problem(failed[0]["error"])
        return AcmeError(
            problem.type,
            f"validation of {identifier} failed: {redact(problem.detail, secrets)}",
        )
    return AcmeError(None, f"the authorization for {identifier} is {authz.get('status')}")

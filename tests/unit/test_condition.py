"""Unit tests of the ChainValid condition and its Events (`condition.py`)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from webhook_cert_operator.api import types as api
from webhook_cert_operator.checking import condition
from webhook_cert_operator.checking.findings import Code

REASONS = {
    "incomplete-chain": "IncompleteChain",
    "untrusted-root": "UntrustedRoot",
    "intermediate-expired": "IntermediateExpired",
    "hostname-mismatch": "HostnameMismatch",
    "tls-version": "TLSVersion",
    "stale-certificate": "StaleCertificate",
    "connection-failed": "ConnectionFailed",
    "policy-violation": "PolicyViolation",
}


@pytest.mark.parametrize(("code", "reason"), REASONS.items(), ids=REASONS.keys())
def test_a_finding_code_becomes_a_camel_case_reason(code: str, reason: str) -> None:
    assert condition.reason_for(Code(code)) == reason


@pytest.mark.parametrize("code", list(Code), ids=str)
def test_every_finding_code_makes_a_valid_condition_reason(code: Code) -> None:
    api.Condition("ChainValid", "False", condition.reason_for(code), "")  # no ValueError


FALSE_INCOMPLETE = api.Condition("ChainValid", "False", "IncompleteChain", "missing issuer A")
TRANSITIONS = {
    "the first check": (None, FALSE_INCOMPLETE, True),
    "valid to invalid": (
        api.Condition("ChainValid", "True", "ChainValid", "ok"),
        FALSE_INCOMPLETE,
        True,
    ),
    "invalid to valid": (
        FALSE_INCOMPLETE,
        api.Condition("ChainValid", "True", "ChainValid", "ok"),
        True,
    ),
    "one error to another": (
        FALSE_INCOMPLETE,
        api.Condition("ChainValid", "False", "StaleCertificate", "old leaf"),
        True,
    ),
    "the same error again": (FALSE_INCOMPLETE, FALSE_INCOMPLETE, False),
    "the same error with another message": (
        FALSE_INCOMPLETE,
        replace(FALSE_INCOMPLETE, message="missing issuer B"),
        False,
    ),
    "still valid with a new warning": (
        api.Condition("ChainValid", "True", "ChainValid", "ok"),
        api.Condition("ChainValid", "True", "ChainValid", "ok (warnings: root-included)"),
        False,
    ),
}


@pytest.mark.parametrize(
    ("previous", "new", "expected"), TRANSITIONS.values(), ids=TRANSITIONS.keys()
)
def test_an_event_is_posted_only_when_status_or_reason_changes(
    previous: api.Condition | None, new: api.Condition, expected: bool
) -> None:
    assert condition.is_transition(previous, new) is expected
    event = condition.transition_event(previous, new)
    assert (event is not None) is expected


def test_a_transition_to_invalid_is_a_warning_naming_the_reason_and_message() -> None:
    event = condition.transition_event(None, FALSE_INCOMPLETE)

    assert event == condition.Transition(
        warning=True, reason="IncompleteChain", message="missing issuer A"
    )


def test_a_transition_to_valid_is_a_normal_event() -> None:
    valid = api.Condition("ChainValid", "True", "ChainValid", "ok")

    event = condition.transition_event(FALSE_INCOMPLETE, valid)

    assert event is not None and not event.warning

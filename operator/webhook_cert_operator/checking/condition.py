"""Pure: the check's outcome as the operator writes it, the ChainValid condition,
`status.validation`, and the Events for changes of state.

The condition's reason is the first (most fundamental) error's code in Kubernetes'
CamelCase ("incomplete-chain" -> "IncompleteChain"), or `ChainValid`; its message is
stable for a given state, so that a repeated check does not churn the status. An Event
marks a change of status or reason, not of details.

No I/O, no clock (the check time is a parameter).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.api.types import CHAIN_VALID, FALSE, TRUE, Condition
from webhook_cert_operator.checking.findings import Code, Severity
from webhook_cert_operator.checking.report import (
    ChainReport,
    address_to_json,
    certificate_to_json,
    finding_to_json,
)

#: Condition reasons besides the finding codes.
REASON_VALID: Final = "ChainValid"
REASON_TRUST_BUNDLE_UNAVAILABLE: Final = "TrustBundleUnavailable"

# Kubernetes condition messages may hold 32768 characters; findings never come close,
# but a condition that does not fit would fail the whole status patch.
_MAX_MESSAGE: Final = 4096
# Acronyms written in capitals in reasons, as Kubernetes spells them (e.g. "TLSVersion").
_ACRONYMS: Final = {"tls": "TLS"}


def reason_for(code: Code) -> str:
    """A finding code as a Kubernetes condition reason: "incomplete-chain" -> "IncompleteChain"
    ("tls-version" -> "TLSVersion")."""
    return "".join(_ACRONYMS.get(part, part.capitalize()) for part in str(code).split("-"))


def _clip(message: str) -> str:
    """`message` cut to `_MAX_MESSAGE` characters."""
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


def chain_condition(report: ChainReport) -> Condition:
    """`ChainValid`: True when no finding is an error; else False, with the first (most
    fundamental) error's code as reason and its text as message. Stable for a given state."""
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    if not errors:
        message = "a strict webhook sender accepts the served chain"
        warnings = list(dict.fromkeys(str(f.code) for f in report.findings))
        if warnings:
            message += f" (warnings: {', '.join(warnings)})"
        return Condition(CHAIN_VALID, TRUE, REASON_VALID, message)
    first, others = errors[0], list(dict.fromkeys(str(f.code) for f in errors[1:]))
    message = first.message
    if others:
        message += f" (also: {', '.join(others)})"
    return Condition(CHAIN_VALID, FALSE, reason_for(first.code), _clip(message))


def validation_status(report: ChainReport, checked_at: datetime) -> dict[str, Any]:
    """`status.validation` for a report: the CLI's JSON shape in the CRD's camelCase.

    `tlsVersion` is None without a connection: in a merge patch that removes the previous
    value rather than leaving it next to a `connection-failed` finding.
    """
    return {
        "lastChecked": format_time(checked_at),
        "tlsVersion": report.tls_version,
        "cipherSuite": report.cipher_suite,
        "servedChain": [certificate_to_json(c, camel_case=True) for c in report.served_chain],
        "findings": [finding_to_json(f) for f in report.findings],
        "addresses": [address_to_json(a) for a in report.addresses],
    }


def unavailable_status(checked_at: datetime) -> dict[str, Any]:
    """`status.validation` when nothing was probed: the previous check's details cleared
    rather than left next to a condition about something else."""
    return {
        "lastChecked": format_time(checked_at),
        "tlsVersion": None,
        "cipherSuite": None,
        "servedChain": [],
        "findings": [],
        "addresses": [],
    }


def unavailable_condition(message: str) -> Condition:
    """`ChainValid` False with reason `TrustBundleUnavailable`: no check could be made."""
    return Condition(CHAIN_VALID, FALSE, REASON_TRUST_BUNDLE_UNAVAILABLE, _clip(message))


@dataclass(frozen=True)
class CheckResult:
    """One check of one endpoint: what to write to status, and the report behind it.

    `report` is None when no check could be made (the trust bundle is unavailable).
    """

    validation: dict[str, Any]
    condition: Condition
    checked_at: datetime
    report: ChainReport | None
    differs_from_secret: bool = False

    @property
    def ok(self) -> bool:
        """Whether ChainValid is True."""
        return self.condition.status == TRUE

    @property
    def stale(self) -> bool:
        """The server still serves another leaf than the Secret's, or (check-only) another
        chain than the referenced Secret's: check again soon (`schedule.stale_retry_delay`) after
        an issuance, a renewal or a change of the referenced Secret."""
        return self.differs_from_secret or (
            self.report is not None
            and any(f.code is Code.STALE_CERTIFICATE for f in self.report.findings)
        )


@dataclass(frozen=True)
class Transition:
    """An Event to post: a Warning when the chain became invalid, else Normal."""

    warning: bool
    reason: str
    message: str


def is_transition(previous: Condition | None, new: Condition) -> bool:
    """Whether `new` ChainValid differs from `previous` in status or reason.

    A first check is a transition (from unknown). A new message under the same reason (a
    different missing issuer, a later date) is not: Events mark changes of state, and
    status carries the details.
    """
    return previous is None or (previous.status, previous.reason) != (new.status, new.reason)


def transition_event(previous: Condition | None, new: Condition) -> Transition | None:
    """The Event for a change of ChainValid, or None when the state did not change."""
    if not is_transition(previous, new):
        return None
    return Transition(warning=new.status != TRUE, reason=new.reason, message=new.message)

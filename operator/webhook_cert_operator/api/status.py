"""Pure (no I/O, no clock): the status fields. status.conditions (set one condition, read
one back, the way metav1.Condition works; the caller passes `now` and the object's
generation), and status.order and status.renewal as frozen values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webhook_cert_operator.api.formats import format_time, parse_time
from webhook_cert_operator.api.types import Condition


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    new: Condition,
    *,
    now: datetime,
    generation: int,
) -> list[dict[str, Any]]:
    """Return `conditions` with `new` in place of any condition of the same type.

    `lastTransitionTime` moves to `now` only when the status changes, so writing the same
    state twice yields an identical list (and an empty status patch). Other conditions keep
    their order; a new type is appended; duplicates of the type are dropped.
    """
    result: list[dict[str, Any]] = []
    placed = False
    for existing in conditions:
        if existing.get("type") != new.type:
            result.append(dict(existing))
            continue
        if placed:
            continue
        placed = True
        previous_time = existing.get("lastTransitionTime")
        if existing.get("status") == new.status and isinstance(previous_time, str):
            transition = previous_time
        else:
            transition = format_time(now)
        result.append(_condition_dict(new, transition, generation))
    if not placed:
        result.append(_condition_dict(new, format_time(now), generation))
    return result


def _condition_dict(condition: Condition, transition: str, generation: int) -> dict[str, Any]:
    return {
        "type": condition.type,
        "status": condition.status,
        "reason": condition.reason,
        "message": condition.message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }


def get_condition(conditions: Sequence[Mapping[str, Any]], type: str) -> Condition | None:
    """The condition of `type`, or None when absent or not a well-formed condition."""
    for entry in conditions:
        if entry.get("type") != type:
            continue
        try:
            return Condition(
                type=type,
                status=str(entry.get("status", "")),
                reason=str(entry.get("reason", "")),
                message=str(entry.get("message") or ""),
            )
        except ValueError:
            # Written by hand through the status subresource; treat as not reported.
            return None
    return None


# --- status.order ------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRef:
    """The ACME order in progress, kept in status.order so a restarted operator resumes it.

    `state` is the order's status as the CA reports it (RFC 8555 section 7.1.6: pending,
    ready, processing, valid, invalid); `attempts` counts orders created for this spec.
    """

    url: str
    state: str
    attempts: int
    dns_names: tuple[str, ...]

    def to_status(self) -> dict[str, Any]:
        """status.order as written: url, state, attempts, dnsNames."""
        return {
            "url": self.url,
            "state": self.state,
            "attempts": self.attempts,
            "dnsNames": list(self.dns_names),
        }

    @classmethod
    def from_status(cls, order: Mapping[str, Any] | None) -> OrderRef | None:
        """Read status.order; None when absent or unusable (then a new order is started)."""
        if not isinstance(order, Mapping):
            return None
        url, state, attempts = order.get("url"), order.get("state"), order.get("attempts", 0)
        names = order.get("dnsNames", [])
        if not isinstance(url, str) or not url or not isinstance(state, str):
            return None
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
            return None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return None
        return cls(url=url, state=state, attempts=attempts, dns_names=tuple(names))


# --- status.renewal ----------------------------------------------------------------------


@dataclass(frozen=True)
class RenewalStatus:
    """status.renewal: what the CA's renewal information said about the current certificate.

    ACME Renewal Information (RFC 9773) is per certificate, so everything about it is tied
    to `cert_id` (the certificate's ARI identifier) and ignored once another certificate is
    in the Secret. `ari_window` is the CA's suggested window, `ari_selected_time` the random
    point in it the operator picked (kept while the window does not change, so restarts do
    not re-roll it), `ari_next_fetch` when to ask again (the CA's Retry-After, clamped).
    `ari_error` is a stable sentence when the last fetch failed. `last_renew_request` is the
    value of the `webhookcert.dev/renew` annotation that the last issuance honoured.
    """

    cert_id: str | None = None
    ari_window: tuple[datetime, datetime] | None = None
    ari_selected_time: datetime | None = None
    ari_fetched: datetime | None = None
    ari_next_fetch: datetime | None = None
    ari_explanation_url: str | None = None
    ari_error: str | None = None
    last_renew_request: str | None = None

    def to_status(self) -> dict[str, Any]:
        """Every key, None where unknown: as a merge patch, None removes a stale value."""
        start, end = self.ari_window if self.ari_window is not None else (None, None)
        return {
            "certID": self.cert_id,
            "ariWindowStart": _optional_time(start),
            "ariWindowEnd": _optional_time(end),
            "ariSelectedTime": _optional_time(self.ari_selected_time),
            "ariFetched": _optional_time(self.ari_fetched),
            "ariNextFetch": _optional_time(self.ari_next_fetch),
            "ariExplanationURL": self.ari_explanation_url,
            "ariError": self.ari_error,
            "lastRenewRequest": self.last_renew_request,
        }

    @classmethod
    def from_status(cls, renewal: Mapping[str, Any] | None) -> RenewalStatus:
        """Read status.renewal leniently: a field that does not parse reads as unknown.

        The window is kept only when both ends parse and the end is after the start (RFC
        9773 section 4.2 calls any other window invalid), the selected time only with a
        window.
        """
        if not isinstance(renewal, Mapping):
            return cls()
        start = _status_time(renewal.get("ariWindowStart"))
        end = _status_time(renewal.get("ariWindowEnd"))
        window = (start, end) if start is not None and end is not None and end > start else None
        return cls(
            cert_id=_status_string(renewal.get("certID")),
            ari_window=window,
            ari_selected_time=(
                _status_time(renewal.get("ariSelectedTime")) if window is not None else None
            ),
            ari_fetched=_status_time(renewal.get("ariFetched")),
            ari_next_fetch=_status_time(renewal.get("ariNextFetch")),
            ari_explanation_url=_status_string(renewal.get("ariExplanationURL")),
            ari_error=_status_string(renewal.get("ariError")),
            last_renew_request=_status_string(renewal.get("lastRenewRequest")),
        )


def _optional_time(moment: datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None


def _status_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def _status_string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

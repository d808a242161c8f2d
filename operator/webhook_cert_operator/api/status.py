"""Pure (no I/O, no clock): status.conditions. Set one condition, read one back, the way
metav1.Condition works; the caller passes `now` and the object's generation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from webhook_cert_operator.api.formats import format_time
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

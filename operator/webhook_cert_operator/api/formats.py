"""Pure (no I/O, no clock, standard library only): the shared text formats, one home each.
Durations, timestamps and IP addresses.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Final

# --- durations ---------------------------------------------------------------------------

# Go's time.ParseDuration syntax (what the CRD's CEL `duration()` accepts), limited to the
# units that make sense here: h, m, s, ms. "0" alone is allowed, as in Go.
_DURATION_RE: Final = re.compile(r"[-+]?(?:0|(?:[0-9]+(?:\.[0-9]+)?(?:ms|h|m|s))+)")
_DURATION_PART_RE: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)")
_NANOS_PER_UNIT: Final[Mapping[str, int]] = MappingProxyType(
    {"h": 3_600_000_000_000, "m": 60_000_000_000, "s": 1_000_000_000, "ms": 1_000_000}
)
# Go's time.Duration is an int64 of nanoseconds; anything longer does not parse there either.
_MAX_DURATION_NANOS: Final = 2**63 - 1


def parse_duration(text: str) -> timedelta:
    """Parse a Go-style duration ("1h", "90m", "1h30m", "1.5h", "500ms") into a timedelta.

    Raises ValueError for anything else, including units Go has but this API does not
    use (us, ns) and durations beyond Go's limit of about 292 years.
    """
    if not isinstance(text, str) or not _DURATION_RE.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a duration like '90m', '1h30m' or '720h' (units: h, m, s, ms)"
        )
    negative = text.startswith("-")
    body = text.lstrip("+-")
    nanos = sum(
        (
            Decimal(number) * _NANOS_PER_UNIT[unit]
            for number, unit in _DURATION_PART_RE.findall(body)
        ),
        Decimal(0),
    )
    if nanos > _MAX_DURATION_NANOS:
        raise ValueError(f"{text!r} is too long a duration (at most 2562047h)")
    micros = int((nanos / 1000).to_integral_value())
    result = timedelta(microseconds=micros)
    return -result if negative else result


def format_duration(value: timedelta) -> str:
    """Format a timedelta the way `parse_duration` reads it: "1h30m", "45s", "250ms", "0s"."""
    if value < timedelta(0):
        return "-" + format_duration(-value)
    micros = value // timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    hours, micros = divmod(micros, 3_600_000_000)
    minutes, micros = divmod(micros, 60_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if micros == 0:
        if seconds:
            parts.append(f"{seconds}s")
    elif seconds == 0 and micros % 1000 == 0:
        parts.append(f"{micros // 1000}ms")
    else:
        parts.append(f"{seconds}.{micros:06d}".rstrip("0") + "s")
    return "".join(parts)


# --- timestamps --------------------------------------------------------------------------


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a 'Z' and whole seconds ("2026-05-01T12:00:00Z"), as Kubernetes
    writes metav1.Time. ValueError for a naive datetime: its zone would be a guess."""
    if moment.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Read an RFC 3339 timestamp (as in status) into an aware UTC datetime.

    ValueError when it does not parse or has no offset.
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment.astimezone(UTC)


# --- addresses ---------------------------------------------------------------------------


def is_ip_address(text: str) -> bool:
    """Whether the text is an IPv4 or IPv6 address as it is (no brackets, no port)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True

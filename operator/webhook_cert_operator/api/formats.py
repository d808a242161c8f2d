"""Pure (no I/O, no clock, standard library only): the shared text formats, one home each.
Durations, timestamps, IP addresses, host:port, label values, https URLs, email
addresses and the HTTP-01 challenge path.

The spec parser, the settings reader, the CLI, the served-chain probe, the ACME adapter
and the solver all read and write these through this module, so that each rule is
written once.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

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


@dataclass(frozen=True)
class HostPort:
    """A host (a name, an IPv4 address, or an IPv6 address without brackets) and a port,
    None when the text named none."""

    host: str
    port: int | None


def split_host_port(text: str) -> HostPort:
    """Read HOST, HOST:PORT, a bare IPv6 address, [IPv6] or [IPv6]:PORT (the host and port
    of RFC 3986 section 3.2.2, where an IPv6 address with a port goes in brackets).

    The host is not checked beyond that: callers that need an address test it with
    `is_ip_address`. ValueError, with a reason, for an unclosed bracket, text after the
    bracket other than ":PORT", brackets around anything but an IPv6 address, several
    colons outside brackets that are not an IPv6 address, an empty host, and a port that
    is not a decimal number from 1 to 65535 (also an empty one after the colon).
    """
    host, port = text, None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError("expected HOST:PORT or [IPv6]:PORT")
        if ":" not in host or not is_ip_address(host):
            raise ValueError(f"{host!r} in brackets is not an IPv6 address")
        port = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    elif text.count(":") > 1 and not is_ip_address(text):
        raise ValueError("expected HOST:PORT or [IPv6]:PORT (several colons, not an IPv6 address)")
    if not host:
        raise ValueError("no host")
    if port is None:
        return HostPort(host, None)
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError(f"bad port {port!r} (expected 1 to 65535)")
    return HostPort(host, int(port))


def join_host_port(host: str, port: int) -> str:
    """ "host:port", with an IPv6 address in brackets: what `split_host_port` reads back."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- Kubernetes label values ------------------------------------------------------------

MAX_LABEL_VALUE: Final = 63
_LABEL_VALUE_RE: Final = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


def is_label_value(text: str) -> bool:
    """Whether the text is a valid Kubernetes label value as it is: at most 63 letters,
    digits, '-', '_' or '.', starting and ending with a letter or digit, or empty."""
    return len(text) <= MAX_LABEL_VALUE and _LABEL_VALUE_RE.fullmatch(text) is not None


# --- URLs and email ----------------------------------------------------------------------

_MAX_URL: Final = 2048
# RFC 5321 section 4.5.3.1.3: a path (the address in angle brackets) is at most 256
# octets, so an address is at most 254 characters.
_MAX_EMAIL: Final = 254
# One address, as an ACME contact (RFC 8555 section 7.3) takes it after "mailto:": no
# scheme, no list, no spaces.
_EMAIL_RE: Final = re.compile(r"[^@\s:,]+@[^@\s:,]+\.[^@\s:,]+")


def is_https_url(text: str) -> bool:
    """Whether the text is an https:// URL with a host and a valid port, if any, no white
    space, at most 2048 characters. ACME runs over HTTPS only (RFC 8555 section 6.1)
    and a webhook sender only calls https URLs."""
    if len(text) > _MAX_URL or any(c.isspace() for c in text):
        return False
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname)


def is_email_address(text: str) -> bool:
    """Whether the text is one email address such as ops@example.com (no "mailto:")."""
    return len(text) <= _MAX_EMAIL and _EMAIL_RE.fullmatch(text) is not None


# --- the HTTP-01 challenge ---------------------------------------------------------------

CHALLENGE_PATH_PREFIX: Final = "/.well-known/acme-challenge/"
"""The path under which RFC 8555 section 8.3 has the CA look for a token."""


def challenge_path(token: str) -> str:
    """The path the CA requests for a token (RFC 8555 section 8.3)."""
    return CHALLENGE_PATH_PREFIX + token

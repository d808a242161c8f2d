"""Pure: ACME Renewal Information (RFC 9773) and the Retry-After rules the client follows.

Pure: no I/O; the current time is a parameter. `cert_id` names a certificate to the CA's
`renewalInfo` resource (and is the `replaces` value of a renewal order), `parse_renewal_info`
reads the CA's suggested window, and `parse_retry_after` / `poll_delay` say how long to
wait before asking again: the CA's Retry-After (RFC 9773 section 4.3, RFC 8555 sections
7.4 and 7.5.1), and without one a gentle backoff, as Let's Encrypt's integration guide
asks of clients.
"""

from __future__ import annotations

import datetime
import email.utils
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509

from webhook_cert_operator.acme.errors import AcmeError
from webhook_cert_operator.acme.messages import b64url, parse_time

# Polling: never sooner than the CA's Retry-After, never faster than MIN_POLL_INTERVAL,
# and without a Retry-After a backoff up to MAX_DEFAULT_POLL_INTERVAL (seconds). A CA
# that validates or issues at once (most orders) is seen half a second later, not one;
# one that takes its time is asked 0.5, 1, 2, 4, 8, then every 10 seconds.
MIN_POLL_INTERVAL: Final = 0.5
MAX_DEFAULT_POLL_INTERVAL: Final = 10.0


@dataclass(frozen=True)
class RenewalInfo:
    """The CA's suggested renewal window for one certificate (RFC 9773 section 4.2).

    `retry_after_seconds` is the CA's Retry-After as sent (None when absent); RFC 9773
    section 4.3.3 leaves clamping it to the caller.
    """

    start: datetime.datetime
    end: datetime.datetime
    explanation_url: str | None
    retry_after_seconds: float | None


def cert_id(cert_pem: bytes) -> str:
    """The ARI certificate identifier (RFC 9773 section 4.1), also the value of `replaces`.

    base64url(authority key identifier) "." base64url(DER INTEGER bytes of the serial).
    Raises `ValueError` for a certificate without an authority key identifier.
    """
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        raise ValueError("certificate has no authority key identifier") from None
    key_identifier = aki.value.key_identifier
    if key_identifier is None:
        raise ValueError("certificate's authority key identifier has no key identifier")
    serial = cert.serial_number
    # The DER INTEGER content: big-endian two's complement, so a serial whose top bit is
    # set gets a leading zero byte (RFC 9773 section 4.1 asks for exactly these bytes).
    serial_bytes = serial.to_bytes(math.ceil((serial.bit_length() + 1) / 8), "big", signed=True)
    return f"{b64url(key_identifier)}.{b64url(serial_bytes)}"


def renewal_info_url(renewal_info_base: str, cert_pem: bytes) -> str:
    """The URL of a certificate's renewal information: the directory's `renewalInfo` URL,
    "/", its `cert_id` (RFC 9773 section 4.1)."""
    return f"{renewal_info_base.rstrip('/')}/{cert_id(cert_pem)}"


def parse_renewal_info(body: Mapping[str, Any], retry_after_seconds: float | None) -> RenewalInfo:
    """A renewalInfo response (RFC 9773 section 4.2) as a `RenewalInfo`.

    Raises `AcmeError` when the suggested window is missing, unreadable, or does not end
    after it starts (section 4.2 calls such a window invalid).
    """
    window = body.get("suggestedWindow")
    start = parse_time(window.get("start")) if isinstance(window, Mapping) else None
    end = parse_time(window.get("end")) if isinstance(window, Mapping) else None
    if start is None or end is None or end <= start:
        raise AcmeError(None, "the CA sent renewal information without a valid window")
    explanation = body.get("explanationURL")
    return RenewalInfo(
        start=start,
        end=end,
        explanation_url=explanation if isinstance(explanation, str) else None,
        retry_after_seconds=retry_after_seconds,
    )


def parse_retry_after(value: str | None, now: datetime.datetime) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110 section 10.2.3), None if absent.

    Both forms are accepted: delay-seconds and an HTTP-date (measured from `now`).
    Nonsense yields None, a date in the past yields 0.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - now).total_seconds())


def poll_delay(retry_after: float | None, attempt: int) -> float:
    """Seconds to wait before polling an order or authorization again (RFC 8555 7.5.1).

    Never less than the CA's Retry-After nor MIN_POLL_INTERVAL; without a Retry-After,
    0.5 s, 1 s, 2 s, ... up to MAX_DEFAULT_POLL_INTERVAL. `attempt` counts from 0.
    """
    if retry_after is not None:
        return max(MIN_POLL_INTERVAL, retry_after)
    backoff = MIN_POLL_INTERVAL * 2.0 ** max(attempt, 0)
    return min(MAX_DEFAULT_POLL_INTERVAL, backoff)

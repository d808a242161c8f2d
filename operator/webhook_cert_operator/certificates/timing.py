"""Pure: when to renew a certificate, when to ask the CA again, and when to try again.

No I/O, no clock, no random source: the caller passes the time and numbers drawn
uniformly from [0, 1), so every rule is testable at any date. The rules:

- ACME Renewal Information first (RFC 9773): a random time inside the CA's suggested
  window, kept while the window does not change (`keep_or_choose`); the window is asked
  for again when the CA's Retry-After says, clamped to [1 minute, 1 day], or after 6 to
  12 hours when it sends none (`next_ari_poll`).
- Without ARI (the CA has none, or asking failed): when a third of the lifetime is left,
  half for lifetimes under 10 days (`pki.default_renewal_time`).
- `spec.renewBefore` overrides both (`renewal_time`, `planned_renewal`).
- After a failure, wait 1 minute, 10 minutes, 100 minutes, then about a day, each with
  +-10% jitter, and never less than the CA's Retry-After (`failure_delay`).
- The renewal daemon looks at an endpoint again at its renewal time, at least every
  few minutes, and never before the back-off ends (`next_renewal_check`).

Whether a certificate is to be replaced now is `policies.decide`, which reads these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from webhook_cert_operator.api.status import RenewalStatus
from webhook_cert_operator.api.types import EndpointSpec
from webhook_cert_operator.certificates import pki

# RFC 9773 section 4.3.2: clients must keep the Retry-After of renewalInfo within
# reasonable limits; the RFC's own example is one minute to one day.
ARI_MIN_POLL: Final = timedelta(minutes=1)
ARI_MAX_POLL: Final = timedelta(days=1)
# Without a Retry-After (RFC 9773 section 4.3.3 counts that, and any failed fetch, as a
# long-term error: ask again after six hours), ask about twice a day: 6 to 12 hours,
# spread so that endpoints created together do not poll together.
ARI_DEFAULT_POLL: Final = timedelta(hours=6)
ARI_DEFAULT_POLL_SPREAD: Final = timedelta(hours=6)

# Back-off after a failed issuance: quick retries catch a transient fault (an Ingress not
# routed yet, a CA hiccup), then about daily, so a lasting fault costs the CA one order a
# day (Let's Encrypt's integration guide asks clients to back off after failures, and
# its failed-validation limits punish retry loops).
FAILURE_DELAYS: Final = (
    timedelta(minutes=1),
    timedelta(minutes=10),
    timedelta(minutes=100),
    timedelta(days=1),
)
FAILURE_JITTER: Final = 0.1

Window = tuple[datetime, datetime]


# --- ACME Renewal Information (RFC 9773) ---------------------------------------------------


def _check_unit(value: float, name: str) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def _floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _ceil_second(moment: datetime) -> datetime:
    floor = _floor_second(moment)
    return floor if floor == moment else floor + timedelta(seconds=1)


def _check_window(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("renewal windows need timezone-aware datetimes")
    if end <= start:
        # RFC 9773 section 4.2: such a window is invalid; treat it as no answer.
        raise ValueError("a renewal window must end after it starts")


def choose_ari_time(
    window_start: datetime, window_end: datetime, *, now: datetime, unit_random: float
) -> datetime:
    """A uniformly random time in the CA's suggested window, never before `now`.

    RFC 9773 section 4.2: pick a uniform random time in the window, and renew at once if
    it is in the past. Here the pick is uniform over what is left of the window
    ([max(start, now), end]): for a window already in progress that is the same
    distribution a client polling all along would still be waiting on, without sending
    every late client to the CA at the same instant. A window already over means now.
    The result is a whole second, so it reads back from status unchanged.
    """
    _check_window(window_start, window_end)
    _check_unit(unit_random, "unit_random")
    if window_end <= now:
        return now
    start = max(window_start, now)
    chosen = _floor_second(start + (window_end - start) * unit_random)
    return chosen if chosen >= start else start


def _same_window(a: Window, b: Window) -> bool:
    # Status keeps whole seconds; compare at that precision so a window read back from
    # status equals the same window fresh from the CA.
    return _floor_second(a[0]) == _floor_second(b[0]) and _floor_second(a[1]) == _floor_second(b[1])


def keep_or_choose(
    previous_choice: datetime | None,
    previous_window: Window | None,
    new_window: Window,
    *,
    now: datetime,
    unit_random: float,
) -> datetime:
    """Keep the time chosen before while the CA's window is unchanged, else choose anew.

    Re-rolling on every poll would drift the choice towards the window's start (the
    earliest of many draws wins) and undo the spreading the CA asked for. A previous
    choice outside the window (hand-edited status) is not kept.
    """
    start, end = new_window
    _check_window(start, end)
    if (
        previous_choice is not None
        and previous_window is not None
        and _same_window(previous_window, new_window)
        and _floor_second(start) <= previous_choice <= end
    ):
        return previous_choice
    return choose_ari_time(start, end, now=now, unit_random=unit_random)


def next_ari_poll(
    now: datetime, retry_after_seconds: float | None, *, unit_random: float
) -> datetime:
    """When to fetch a certificate's renewal information again.

    With a Retry-After, at that time (RFC 9773 section 4.3: it is the desired interval,
    both minimum and maximum), clamped to [1 minute, 1 day] (section 4.3.2). Without one,
    or after a failed fetch (section 4.3.3: wait six hours), 6 to 12 hours from now, which
    is about twice a day. Rounded up to a whole second.
    """
    _check_unit(unit_random, "unit_random")
    if retry_after_seconds is not None and not math.isnan(retry_after_seconds):
        seconds = min(max(retry_after_seconds, 0.0), ARI_MAX_POLL.total_seconds())
        wait = max(timedelta(seconds=seconds), ARI_MIN_POLL)
    else:
        wait = ARI_DEFAULT_POLL + ARI_DEFAULT_POLL_SPREAD * unit_random
    return _ceil_second(now + wait)


def ari_fetch_due(
    previous: RenewalStatus | None,
    *,
    cert_id: str,
    not_after: datetime,
    spec: EndpointSpec,
    now: datetime,
) -> bool:
    """Whether to ask the CA for this certificate's renewal information now.

    Never when `spec.renewBefore` decides the renewal time anyway, and never for an
    expired certificate (RFC 9773 section 4.3: clients must not). Otherwise when nothing
    is known yet about this certificate (so also right after issuance, as section 4.3
    asks) or the time to ask again has come.
    """
    if spec.renew_before is not None or now >= not_after:
        return False
    if previous is None or previous.cert_id != cert_id or previous.ari_next_fetch is None:
        return True
    return now >= previous.ari_next_fetch


def record_ari_window(
    previous: RenewalStatus | None,
    *,
    cert_id: str,
    window_start: datetime,
    window_end: datetime,
    explanation_url: str | None,
    retry_after_seconds: float | None,
    now: datetime,
    choice_random: float,
    poll_random: float,
) -> RenewalStatus:
    """status.renewal after the CA answered with a window for certificate `cert_id`.

    The chosen time is kept if the same certificate had the same window before. An
    invalid window (end not after start) is recorded as a failed fetch, as RFC 9773
    section 4.2 asks, so the last valid window, if any, stays in use.

    Long because: each of status.renewal's fields is set by name.
    """
    try:
        _check_window(window_start, window_end)
    except ValueError:
        return record_ari_failure(
            previous,
            cert_id=cert_id,
            error="the CA sent renewal information without a valid window",
            now=now,
            poll_random=poll_random,
        )
    same_certificate = previous is not None and previous.cert_id == cert_id
    base = previous if previous is not None and same_certificate else RenewalStatus()
    chosen = keep_or_choose(
        base.ari_selected_time,
        base.ari_window,
        (window_start, window_end),
        now=now,
        unit_random=choice_random,
    )
    return replace(
        base,
        cert_id=cert_id,
        ari_window=(_floor_second(window_start), _floor_second(window_end)),
        ari_selected_time=chosen,
        ari_fetched=_floor_second(now),
        ari_next_fetch=next_ari_poll(now, retry_after_seconds, unit_random=poll_random),
        ari_explanation_url=explanation_url,
        ari_error=None,
        last_renew_request=previous.last_renew_request if previous is not None else None,
    )


def record_ari_failure(
    previous: RenewalStatus | None,
    *,
    cert_id: str,
    error: str | None,
    now: datetime,
    poll_random: float,
) -> RenewalStatus:
    """status.renewal after asking the CA about `cert_id` gave no window.

    `error` is a stable sentence when the fetch failed (the last window known for the same
    certificate stays in use: it is the CA's latest word), or None when the CA offers no
    renewal information at all (any window is dropped and the default rule applies).
    Either way the CA is asked again in 6 to 12 hours (RFC 9773 section 4.3.3).
    """
    same_certificate = previous is not None and previous.cert_id == cert_id
    base = previous if previous is not None and same_certificate and error else RenewalStatus()
    return replace(
        base,
        cert_id=cert_id,
        ari_next_fetch=next_ari_poll(now, None, unit_random=poll_random),
        ari_error=error,
        last_renew_request=previous.last_renew_request if previous is not None else None,
    )


# --- after a failure -----------------------------------------------------------------------


def failure_delay(
    failed_attempts: int,
    *,
    unit_random: float,
    retry_after: datetime | None,
    now: datetime,
    delays: Sequence[timedelta] = FAILURE_DELAYS,
) -> timedelta:
    """How long to wait after the `failed_attempts`-th failure in a row (1 for the first).

    `delays` in turn, the last one for every later failure (by default 1 minute, 10
    minutes, 100 minutes, then about a day), each spread by +-10% (`unit_random` 0 gives
    -10%, 0.5 the nominal delay) so that endpoints failing together do not retry
    together; never less than the time until the CA's Retry-After (RFC 8555 section 6.6,
    Let's Encrypt's rate limits). Whole seconds.
    """
    if failed_attempts < 1:
        raise ValueError("failed_attempts counts the failure just seen, so it is at least 1")
    _check_unit(unit_random, "unit_random")
    nominal = delays[min(failed_attempts, len(delays)) - 1]
    delay = nominal * (1 - FAILURE_JITTER + 2 * FAILURE_JITTER * unit_random)
    if retry_after is not None:
        delay = max(delay, retry_after - now)
    return timedelta(seconds=math.ceil(delay.total_seconds()))


# --- the renewal time --------------------------------------------------------------------


def renewal_time(not_before: datetime, not_after: datetime, spec: EndpointSpec) -> datetime:
    """The renewal time without ARI: spec.renewBefore, else pki's default rule."""
    if spec.renew_before is not None:
        return pki.renewal_time_with_renew_before(
            not_after, spec.renew_before, not_before=not_before
        )
    return pki.default_renewal_time(not_before, not_after)


@dataclass(frozen=True)
class PlannedRenewal:
    """When a certificate is due, and the renewal information that says so (None: the
    default rule or `spec.renewBefore` decided)."""

    time: datetime
    ari: RenewalStatus | None = None


def planned_renewal(
    not_before: datetime,
    not_after: datetime,
    spec: EndpointSpec,
    *,
    cert_id: str | None,
    renewal: RenewalStatus | None,
) -> PlannedRenewal:
    """The renewal time of the certificate `cert_id` (its ARI identifier, None when unknown).

    The time chosen in the CA's window (`renewal`, status.renewal) when it is for this
    certificate and before its expiry; else `renewal_time`. `spec.renewBefore` overrides
    ARI. Raises `pki.PkiError` when notAfter is not after notBefore.
    """
    fallback = renewal_time(not_before, not_after, spec)
    if (
        spec.renew_before is None
        and renewal is not None
        and cert_id is not None
        and renewal.cert_id == cert_id
        and renewal.ari_window is not None
        and renewal.ari_selected_time is not None
        and renewal.ari_selected_time < not_after
    ):
        return PlannedRenewal(renewal.ari_selected_time, renewal)
    return PlannedRenewal(fallback)


# --- the renewal daemon ----------------------------------------------------------------------

# The renewal daemon looks at each endpoint at least this often (one GET of its Secret),
# even long before the renewal time: to notice a deleted or damaged Secret, and to ask the
# CA for renewal information when that is due.
RENEWAL_CHECK_INTERVAL: Final = timedelta(minutes=5)


def next_renewal_check(
    last_check: datetime,
    renewal_time: datetime | None,
    next_attempt: datetime | None,
    *,
    interval: timedelta = RENEWAL_CHECK_INTERVAL,
) -> datetime:
    """When the renewal daemon next looks at an endpoint (a UTC datetime).

    `interval` after its last look, or at `renewal_time` (status.renewalTime) when that is
    sooner, but never before `next_attempt` (status.nextAttemptTime: the back-off after a
    failed issuance, which already honours the CA's Retry-After, RFC 8555 section 6.6).
    """
    wake = last_check + interval
    if renewal_time is not None:
        wake = min(wake, renewal_time)
    if next_attempt is not None:
        wake = max(wake, next_attempt)
    return wake

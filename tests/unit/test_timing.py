"""Unit tests for certificates.timing: the ACME Renewal Information rules (choosing and
keeping a time in the CA's window, when to ask again), the back-off after failures, and
when the renewal daemon looks at an endpoint again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.pki_factory import DAY
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.api.status import RenewalStatus
from webhook_cert_operator.certificates.timing import (
    FAILURE_DELAYS,
    RENEWAL_CHECK_INTERVAL,
    ari_fetch_due,
    choose_ari_time,
    failure_delay,
    keep_or_choose,
    next_ari_poll,
    next_renewal_check,
    record_ari_failure,
    record_ari_window,
)
from webhook_cert_operator.settings import Settings

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOST = "hooks.example.test"
# The usual 90-day certificate: notBefore T0 - 1 day, notAfter T0 + 89 days.
NOT_AFTER = T0 + 89 * DAY
SECOND = timedelta(seconds=1)


def spec_of(**fields: Any) -> api.EndpointSpec:
    body: dict[str, Any] = {"dnsNames": [HOST], **fields}
    return parse_spec(body, name="ringcentral", settings=Settings())


# ---- ACME Renewal Information: choosing a time in the window (RFC 9773 section 4.2) ---

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
WINDOW_START = T0 + 59 * DAY
WINDOW_END = T0 + 61 * DAY
WINDOW = (WINDOW_START, WINDOW_END)


@pytest.mark.parametrize(
    ("unit_random", "expected"),
    [
        pytest.param(0.0, WINDOW_START, id="lowest-draw-is-the-start"),
        pytest.param(0.25, WINDOW_START + 12 * HOUR, id="a-quarter-in"),
        pytest.param(0.5, WINDOW_START + DAY, id="middle"),
        pytest.param(0.999999999, WINDOW_END - SECOND, id="highest-draw-is-just-before-the-end"),
    ],
)
def test_a_future_window_gives_a_uniformly_placed_time_in_it(
    unit_random: float, expected: datetime
) -> None:
    assert choose_ari_time(*WINDOW, now=T0, unit_random=unit_random) == expected


@pytest.mark.parametrize("unit_random", [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999])
def test_the_chosen_time_is_a_whole_second_inside_the_window(unit_random: float) -> None:
    start = WINDOW_START + timedelta(microseconds=250)
    chosen = choose_ari_time(start, WINDOW_END, now=T0, unit_random=unit_random)
    assert start <= chosen < WINDOW_END
    assert chosen.microsecond == 0 or chosen == start


@pytest.mark.parametrize(
    ("unit_random", "expected"),
    [
        pytest.param(0.0, WINDOW_START + DAY, id="lowest-draw-is-now"),
        pytest.param(0.5, WINDOW_START + DAY + 12 * HOUR, id="middle-of-what-is-left"),
    ],
)
def test_a_window_in_progress_gives_a_time_in_what_is_left_of_it(
    unit_random: float, expected: datetime
) -> None:
    now = WINDOW_START + DAY
    assert choose_ari_time(*WINDOW, now=now, unit_random=unit_random) == expected


@pytest.mark.parametrize("unit_random", [0.0, 0.5, 0.99])
@pytest.mark.parametrize(
    "now",
    [pytest.param(WINDOW_END, id="at-the-end"), pytest.param(WINDOW_END + DAY, id="after-it")],
)
def test_a_window_already_over_means_renew_now(now: datetime, unit_random: float) -> None:
    # RFC 9773 section 4.2: a time in the past means renewing immediately; a CA moves the
    # window into the past to ask for renewal before a revocation.
    assert choose_ari_time(*WINDOW, now=now, unit_random=unit_random) == now


@pytest.mark.parametrize(
    ("start", "end", "unit_random", "message"),
    [
        pytest.param(WINDOW_END, WINDOW_START, 0.5, "must end after it starts", id="reversed"),
        pytest.param(WINDOW_START, WINDOW_START, 0.5, "must end after it starts", id="empty"),
        pytest.param(
            WINDOW_START.replace(tzinfo=None), WINDOW_END, 0.5, "timezone-aware", id="naive"
        ),
        pytest.param(WINDOW_START, WINDOW_END, 1.0, "unit_random", id="draw-of-one"),
        pytest.param(WINDOW_START, WINDOW_END, -0.1, "unit_random", id="negative-draw"),
    ],
)
def test_an_invalid_window_or_draw_is_refused(
    start: datetime, end: datetime, unit_random: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        choose_ari_time(start, end, now=T0, unit_random=unit_random)


# ---- keeping the chosen time while the window stands ------------------------------------

CHOSEN = WINDOW_START + 7 * HOUR


@pytest.mark.parametrize(
    ("previous_choice", "previous_window", "new_window", "now", "expected"),
    [
        pytest.param(CHOSEN, WINDOW, WINDOW, T0, CHOSEN, id="unchanged-window-keeps-it"),
        pytest.param(
            CHOSEN,
            WINDOW,
            (WINDOW_START + timedelta(microseconds=400), WINDOW_END),
            T0,
            CHOSEN,
            id="same-window-to-the-second-keeps-it",
        ),
        pytest.param(
            CHOSEN,
            WINDOW,
            WINDOW,
            CHOSEN + HOUR,
            CHOSEN,
            id="kept-even-once-passed-so-it-falls-due",
        ),
        pytest.param(
            CHOSEN,
            WINDOW,
            (WINDOW_START + DAY, WINDOW_END + DAY),
            T0,
            WINDOW_START + 2 * DAY,
            id="moved-window-chooses-anew",
        ),
        pytest.param(
            CHOSEN,
            WINDOW,
            (T0 - DAY, T0 - HOUR),
            T0,
            T0,
            id="window-moved-into-the-past-renews-now",
        ),
        pytest.param(None, None, WINDOW, T0, WINDOW_START + DAY, id="first-window-chooses"),
        pytest.param(
            WINDOW_END + HOUR, WINDOW, WINDOW, T0, WINDOW_START + DAY, id="choice-outside-redone"
        ),
        pytest.param(CHOSEN, None, WINDOW, T0, WINDOW_START + DAY, id="choice-without-window"),
    ],
)
def test_the_chosen_time_is_kept_while_the_window_is_unchanged(
    previous_choice: datetime | None,
    previous_window: tuple[datetime, datetime] | None,
    new_window: tuple[datetime, datetime],
    now: datetime,
    expected: datetime,
) -> None:
    chosen = keep_or_choose(previous_choice, previous_window, new_window, now=now, unit_random=0.5)
    assert chosen == expected


# ---- when to ask the CA again (RFC 9773 section 4.3) -----------------------------------


@pytest.mark.parametrize(
    ("retry_after", "unit_random", "wait"),
    [
        pytest.param(21600.0, 0.9, 6 * HOUR, id="retry-after-is-followed-as-sent"),
        pytest.param(3600.0, 0.0, HOUR, id="an-hour"),
        pytest.param(0.0, 0.5, MINUTE, id="zero-is-one-minute"),
        pytest.param(10.0, 0.5, MINUTE, id="under-a-minute-is-one-minute"),
        pytest.param(-5.0, 0.5, MINUTE, id="negative-is-one-minute"),
        pytest.param(3 * 86400.0, 0.5, DAY, id="over-a-day-is-one-day"),
        pytest.param(float("inf"), 0.5, DAY, id="infinite-is-one-day"),
        pytest.param(90.4, 0.5, 91 * SECOND, id="rounded-up-to-a-second"),
        pytest.param(None, 0.0, 6 * HOUR, id="none-lowest-draw-is-six-hours"),
        pytest.param(None, 0.5, 9 * HOUR, id="none-middle-draw-is-nine-hours"),
        pytest.param(None, 0.75, 10 * HOUR + 30 * MINUTE, id="none-later-draw-is-later"),
        pytest.param(float("nan"), 0.0, 6 * HOUR, id="nonsense-counts-as-none"),
    ],
)
def test_the_next_poll_follows_retry_after_within_a_minute_and_a_day(
    retry_after: float | None, unit_random: float, wait: timedelta
) -> None:
    polled = next_ari_poll(T0, retry_after, unit_random=unit_random)
    assert polled - T0 >= wait
    assert polled - T0 < wait + SECOND
    assert polled.microsecond == 0


def test_without_retry_after_the_next_poll_is_at_most_twelve_hours_away() -> None:
    assert next_ari_poll(T0, None, unit_random=1 - 1e-12) == T0 + 12 * HOUR


def previous_ari(**changes: Any) -> RenewalStatus:
    base = RenewalStatus(
        cert_id=CERT_ID,
        ari_window=WINDOW,
        ari_selected_time=CHOSEN,
        ari_fetched=T0,
        ari_next_fetch=T0 + 6 * HOUR,
        last_renew_request="first",
    )
    return replace(base, **changes)


CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
OTHER_CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyI"


@pytest.mark.parametrize(
    ("previous", "spec", "now", "due"),
    [
        pytest.param(None, spec_of(), T0, True, id="nothing-known-yet"),
        pytest.param(
            previous_ari(cert_id=OTHER_CERT_ID), spec_of(), T0, True, id="known-for-another-cert"
        ),
        pytest.param(previous_ari(ari_next_fetch=None), spec_of(), T0, True, id="no-next-time"),
        pytest.param(previous_ari(), spec_of(), T0 + 6 * HOUR - SECOND, False, id="before-next"),
        pytest.param(previous_ari(), spec_of(), T0 + 6 * HOUR, True, id="at-next-time"),
        pytest.param(None, spec_of(renewBefore="240h"), T0, False, id="renew-before-overrides"),
        pytest.param(None, spec_of(), NOT_AFTER, False, id="never-after-expiry"),
    ],
)
def test_renewal_information_is_fetched_when_unknown_or_due_and_never_after_expiry(
    previous: RenewalStatus | None, spec: api.EndpointSpec, now: datetime, due: bool
) -> None:
    assert ari_fetch_due(previous, cert_id=CERT_ID, not_after=NOT_AFTER, spec=spec, now=now) is due


# ---- recording what the CA said ---------------------------------------------------------


def record(
    previous: RenewalStatus | None,
    window: tuple[datetime, datetime] = WINDOW,
    *,
    cert_id: str = CERT_ID,
    now: datetime = T0 + 6 * HOUR,
    retry_after: float | None = 21600.0,
    choice_random: float = 0.5,
) -> RenewalStatus:
    return record_ari_window(
        previous,
        cert_id=cert_id,
        window_start=window[0],
        window_end=window[1],
        explanation_url="https://ca.test/ari",
        retry_after_seconds=retry_after,
        now=now,
        choice_random=choice_random,
        poll_random=0.5,
    )


def test_a_first_window_is_recorded_with_a_chosen_time_and_the_next_poll() -> None:
    recorded = record(None, now=T0)
    assert recorded == RenewalStatus(
        cert_id=CERT_ID,
        ari_window=WINDOW,
        ari_selected_time=WINDOW_START + DAY,
        ari_fetched=T0,
        ari_next_fetch=T0 + 6 * HOUR,
        ari_explanation_url="https://ca.test/ari",
    )


def test_the_same_window_again_keeps_the_time_whatever_the_new_draw() -> None:
    recorded = record(previous_ari(), choice_random=0.99)
    assert recorded.ari_selected_time == CHOSEN
    assert recorded.ari_fetched == T0 + 6 * HOUR
    assert recorded.ari_next_fetch == T0 + 12 * HOUR
    assert recorded.last_renew_request == "first"


def test_a_moved_window_gets_a_new_time() -> None:
    moved = (WINDOW_START - 10 * DAY, WINDOW_END - 10 * DAY)
    recorded = record(previous_ari(), moved)
    assert recorded.ari_window == moved
    assert recorded.ari_selected_time == moved[0] + DAY


def test_a_window_for_another_certificate_starts_afresh_but_keeps_the_renew_request() -> None:
    recorded = record(previous_ari(), cert_id=OTHER_CERT_ID, choice_random=0.0)
    assert recorded.cert_id == OTHER_CERT_ID
    assert recorded.ari_selected_time == WINDOW_START
    assert recorded.last_renew_request == "first"


def test_a_successful_fetch_clears_an_earlier_error() -> None:
    recorded = record(previous_ari(ari_error="the CA could not be reached"))
    assert recorded.ari_error is None


def test_an_invalid_window_counts_as_a_failed_fetch_and_keeps_the_last_window() -> None:
    # RFC 9773 section 4.2: treat it as though no response was received.
    recorded = record(previous_ari(), (WINDOW_END, WINDOW_START))
    assert recorded.ari_window == WINDOW
    assert recorded.ari_selected_time == CHOSEN
    assert recorded.ari_error == "the CA sent renewal information without a valid window"


def test_a_failed_fetch_keeps_the_last_window_of_the_same_certificate() -> None:
    now = T0 + 6 * HOUR
    recorded = record_ari_failure(
        previous_ari(), cert_id=CERT_ID, error="the CA is down", now=now, poll_random=0.0
    )
    assert recorded == previous_ari(ari_next_fetch=now + 6 * HOUR, ari_error="the CA is down")


def test_a_failed_fetch_for_a_new_certificate_knows_no_window() -> None:
    recorded = record_ari_failure(
        previous_ari(), cert_id=OTHER_CERT_ID, error="the CA is down", now=T0, poll_random=0.0
    )
    assert recorded == RenewalStatus(
        cert_id=OTHER_CERT_ID,
        ari_next_fetch=T0 + 6 * HOUR,
        ari_error="the CA is down",
        last_renew_request="first",
    )


def test_a_ca_without_renewal_information_drops_the_window() -> None:
    recorded = record_ari_failure(
        previous_ari(), cert_id=CERT_ID, error=None, now=T0, poll_random=1 - 1e-9
    )
    assert recorded.ari_window is None
    assert recorded.ari_selected_time is None
    assert recorded.ari_error is None
    assert recorded.ari_next_fetch == T0 + 12 * HOUR
    assert recorded.last_renew_request == "first"


# ---- back-off after a failure -----------------------------------------------------------


@pytest.mark.parametrize(
    ("failed_attempts", "nominal"),
    [
        pytest.param(1, MINUTE, id="first-failure-1-minute"),
        pytest.param(2, 10 * MINUTE, id="second-10-minutes"),
        pytest.param(3, 100 * MINUTE, id="third-100-minutes"),
        pytest.param(4, DAY, id="fourth-a-day"),
        pytest.param(5, DAY, id="fifth-still-a-day"),
        pytest.param(40, DAY, id="fortieth-still-a-day"),
    ],
)
def test_failures_back_off_1_minute_10_minutes_100_minutes_then_daily(
    failed_attempts: int, nominal: timedelta
) -> None:
    assert failure_delay(failed_attempts, unit_random=0.5, retry_after=None, now=T0) == nominal


@pytest.mark.parametrize(
    ("unit_random", "factor"),
    [
        pytest.param(0.0, 0.9, id="lowest-draw-minus-10-percent"),
        pytest.param(0.25, 0.95, id="quarter-draw-minus-5-percent"),
        pytest.param(0.75, 1.05, id="three-quarter-draw-plus-5-percent"),
    ],
)
def test_each_delay_is_spread_by_ten_percent(unit_random: float, factor: float) -> None:
    for attempt, nominal in enumerate(FAILURE_DELAYS, start=1):
        delay = failure_delay(attempt, unit_random=unit_random, retry_after=None, now=T0)
        assert delay == nominal * factor


def test_configured_delays_are_taken_in_turn_and_the_last_repeats() -> None:
    delays = (2 * SECOND, 4 * SECOND)
    taken = [
        failure_delay(n, unit_random=0.5, retry_after=None, now=T0, delays=delays)
        for n in (1, 2, 3, 9)
    ]
    assert taken == [2 * SECOND, 4 * SECOND, 4 * SECOND, 4 * SECOND]


def test_the_highest_draw_stays_under_ten_percent_more() -> None:
    delay = failure_delay(4, unit_random=1 - 1e-9, retry_after=None, now=T0)
    assert DAY * 1.1 - SECOND <= delay <= DAY * 1.1


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        pytest.param(T0 + 3 * HOUR, 3 * HOUR, id="later-retry-after-wins"),
        pytest.param(T0 + 3 * HOUR + timedelta(milliseconds=1), 3 * HOUR + SECOND, id="rounded-up"),
        pytest.param(T0 + 30 * SECOND, MINUTE, id="earlier-retry-after-changes-nothing"),
        pytest.param(T0 - HOUR, MINUTE, id="past-retry-after-changes-nothing"),
    ],
)
def test_a_retry_is_never_earlier_than_the_cas_retry_after(
    retry_after: datetime, expected: timedelta
) -> None:
    assert failure_delay(1, unit_random=0.5, retry_after=retry_after, now=T0) == expected


def test_delays_are_whole_seconds() -> None:
    delay = failure_delay(2, unit_random=0.123456, retry_after=None, now=T0)
    assert delay.microseconds == 0


@pytest.mark.parametrize(
    ("failed_attempts", "unit_random"),
    [pytest.param(0, 0.5, id="no-failure-yet"), pytest.param(1, 1.0, id="draw-of-one")],
)
def test_a_delay_needs_a_failure_and_a_draw_below_one(
    failed_attempts: int, unit_random: float
) -> None:
    with pytest.raises(ValueError):
        failure_delay(failed_attempts, unit_random=unit_random, retry_after=None, now=T0)


# ---- when the renewal daemon looks again -------------------------------------------------


@pytest.mark.parametrize(
    ("renewal_time", "next_attempt", "wake"),
    [
        pytest.param(None, None, T0 + 5 * MINUTE, id="every-five-minutes"),
        pytest.param(T0 + DAY, None, T0 + 5 * MINUTE, id="renewal-far-off"),
        pytest.param(T0 + 2 * MINUTE, None, T0 + 2 * MINUTE, id="renewal-time-sooner"),
        pytest.param(T0 - HOUR, None, T0 - HOUR, id="renewal-time-passed-means-now"),
        pytest.param(T0 - HOUR, T0 + HOUR, T0 + HOUR, id="never-before-the-back-off"),
        pytest.param(None, T0 + MINUTE, T0 + 5 * MINUTE, id="back-off-over-before-the-interval"),
        pytest.param(T0 + DAY, T0 + 2 * DAY, T0 + 2 * DAY, id="a-retry-after-beyond-all"),
    ],
)
def test_the_renewal_daemon_looks_at_the_renewal_time_or_the_interval_not_before_the_back_off(
    renewal_time: datetime | None, next_attempt: datetime | None, wake: datetime
) -> None:
    assert next_renewal_check(T0, renewal_time, next_attempt) == wake
    assert RENEWAL_CHECK_INTERVAL == 5 * MINUTE


def test_a_retry_after_past_the_back_off_sets_the_next_look() -> None:
    """The CA's Retry-After (RFC 8555 section 6.6) floors the back-off, and with it the
    daemon's next look: nextAttemptTime is written from `failure_delay`."""
    retry_after = T0 + 3 * HOUR
    delay = failure_delay(1, unit_random=0.5, retry_after=retry_after, now=T0)
    assert next_renewal_check(T0, T0, T0 + delay) == retry_after

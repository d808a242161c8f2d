"""Unit tests for glue.check_schedule: when the served-chain daemon checks an endpoint next."""

from __future__ import annotations

from datetime import timedelta

import pytest

from webhook_cert_operator.glue.check_schedule import (
    DAEMON_POLL,
    RECHECK_FAILED,
    STALE_RETRIES,
    Checked,
    CheckSchedule,
)

HOUR = timedelta(hours=1)
SEEN = Checked(serial="05cd", generation=1, secret_version=None)
UID = "uid-ringcentral"


def checked_ok(schedule: CheckSchedule, at: float, interval: timedelta = HOUR) -> CheckSchedule:
    return schedule.after_check(SEEN, at, ok=True, stale=False, interval=interval, uid=UID)


def test_a_new_endpoint_is_checked_at_once() -> None:
    assert CheckSchedule().due(SEEN, 0.0)


def test_an_endpoint_without_a_certificate_yet_is_not_checked_until_it_has_one() -> None:
    # Until its first certificate is stored, the ingress serves something else (its default
    # certificate): a check would only post a warning about that.
    issuing = Checked(serial=None, generation=1, secret_version=None)
    assert not CheckSchedule().due(issuing, 0.0)
    assert not CheckSchedule().due(issuing, 1e9)
    assert CheckSchedule().due(SEEN, 0.0)


def test_a_check_only_endpoint_is_checked_without_a_serial_in_status() -> None:
    check_only = Checked(serial=None, generation=1, secret_version="7", check_only=True)
    assert CheckSchedule().due(check_only, 0.0)


@pytest.mark.parametrize("uid", ["a", "b", "uid-ringcentral", "0" * 36])
def test_the_next_check_is_the_interval_plus_at_most_ten_percent_fixed_per_endpoint(
    uid: str,
) -> None:
    first = CheckSchedule().after_check(SEEN, 100.0, ok=True, stale=False, interval=HOUR, uid=uid)
    again = first.after_check(SEEN, 200.0, ok=True, stale=False, interval=HOUR, uid=uid)

    wait = first.next_check - 100.0
    assert 3600.0 <= wait <= 3960.0
    assert again.next_check - 200.0 == wait  # the same spread every time


def test_nothing_is_due_before_the_next_check_and_everything_at_it() -> None:
    schedule = checked_ok(CheckSchedule(), 0.0)

    assert not schedule.due(SEEN, schedule.next_check - 0.001)
    assert schedule.due(SEEN, schedule.next_check)


@pytest.mark.parametrize(
    "now",
    [
        pytest.param(Checked("06ef", 1, None), id="new-certificate"),
        pytest.param(Checked("05cd", 2, None), id="new-spec-generation"),
        pytest.param(Checked("05cd", 1, "42"), id="new-referenced-secret-version"),
    ],
)
def test_a_change_is_checked_at_once(now: Checked) -> None:
    schedule = checked_ok(CheckSchedule(), 0.0)

    assert schedule.due(now, 1.0)


def test_a_failed_check_is_repeated_within_five_minutes_even_with_a_longer_interval() -> None:
    schedule = CheckSchedule().after_check(SEEN, 0.0, ok=False, stale=False, interval=HOUR, uid=UID)

    assert RECHECK_FAILED.total_seconds() <= schedule.next_check <= 330.0


def test_a_failed_check_keeps_a_shorter_interval() -> None:
    minute = timedelta(minutes=1)
    schedule = CheckSchedule().after_check(
        SEEN, 0.0, ok=False, stale=False, interval=minute, uid=UID
    )

    assert 60.0 <= schedule.next_check <= 66.0


def test_the_old_leaf_still_served_is_checked_again_with_growing_delays() -> None:
    schedule, at, waits = CheckSchedule(), 0.0, []
    for _ in range(STALE_RETRIES):
        schedule = schedule.after_check(SEEN, at, ok=False, stale=True, interval=HOUR, uid=UID)
        waits.append(schedule.next_check - at)
        at = schedule.next_check
    assert waits == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]
    assert schedule.settled is None  # not settled while re-checking


def test_stale_re_checks_stop_after_the_last_retry_and_settle_on_the_interval() -> None:
    schedule = CheckSchedule(stale_attempts=STALE_RETRIES)

    settled = schedule.after_check(SEEN, 0.0, ok=False, stale=True, interval=HOUR, uid=UID)

    assert settled.settled == SEEN
    assert settled.stale_attempts == 0
    assert RECHECK_FAILED.total_seconds() <= settled.next_check <= 330.0


def test_without_a_serial_a_stale_verdict_is_not_retried() -> None:
    unissued = Checked(serial=None, generation=1, secret_version=None)

    schedule = CheckSchedule().after_check(
        unissued, 0.0, ok=False, stale=True, interval=HOUR, uid=UID
    )

    assert schedule.stale_attempts == 0
    assert schedule.settled == unissued


def test_a_change_waits_for_stale_re_checks_under_way() -> None:
    schedule = CheckSchedule(settled=SEEN, stale_attempts=1, next_check=50.0)

    assert not schedule.due(Checked("06ef", 1, None), 10.0)
    assert schedule.due(Checked("06ef", 1, None), 50.0)


def test_an_invalid_spec_is_looked_at_again_at_the_next_wake_up() -> None:
    schedule = CheckSchedule().after_invalid_spec(SEEN, 100.0)

    assert schedule.next_check == 100.0 + DAEMON_POLL
    assert not schedule.due(SEEN, 100.0 + DAEMON_POLL - 0.001)

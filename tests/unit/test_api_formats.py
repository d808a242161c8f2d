"""Unit tests for api/formats.py: durations and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from webhook_cert_operator.api.formats import (
    format_duration,
    format_time,
    parse_duration,
    parse_time,
)

# --- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", timedelta(hours=1)),
        ("90m", timedelta(minutes=90)),
        ("720h", timedelta(days=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2h45m30s", timedelta(hours=2, minutes=45, seconds=30)),
        ("1.5h", timedelta(minutes=90)),
        ("500ms", timedelta(milliseconds=500)),
        ("1s500ms", timedelta(seconds=1, milliseconds=500)),
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
        ("+5m", timedelta(minutes=5)),
        ("-5m", timedelta(minutes=-5)),
        ("1m1m", timedelta(minutes=2)),
    ],
)
def test_go_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "1", "1d", "1w", "h", "1 h", "1H", "1h ", ".5h", "1.h", "1us", "1ns", "--1h", "1h-5m"],
)
def test_other_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_a_duration_beyond_gos_limit_is_refused() -> None:
    assert parse_duration("2562047h") == timedelta(hours=2562047)
    with pytest.raises(ValueError, match="too long"):
        parse_duration("2562048h")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(hours=1), "1h"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=30), "720h"),
        (timedelta(seconds=45), "45s"),
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(seconds=1, milliseconds=500), "1.5s"),
        (timedelta(hours=1, seconds=1), "1h1s"),
        (timedelta(microseconds=1), "0.000001s"),
        (timedelta(minutes=-5), "-5m"),
    ],
)
def test_durations_format_go_style(value: timedelta, expected: str) -> None:
    assert format_duration(value) == expected


@pytest.mark.parametrize(
    "value",
    [timedelta(hours=26, minutes=3, seconds=7, microseconds=120), timedelta(milliseconds=-1)],
)
def test_formatted_durations_parse_back(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


# --- timestamps --------------------------------------------------------------------------


def test_times_are_written_in_utc_with_z_and_whole_seconds() -> None:
    moment = datetime(2026, 3, 1, 14, 30, 5, 999_999, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(moment) == "2026-03-01T12:30:05Z"


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2026, 3, 1))


def test_times_parse_back_as_aware_utc() -> None:
    assert parse_time("2026-03-01T12:30:05Z") == datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="no time zone"):
        parse_time("2026-03-01T12:30:05")

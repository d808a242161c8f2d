"""Unit tests for api/formats.py: durations, timestamps, host:port, https URLs, email
addresses and the HTTP-01 challenge path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from webhook_cert_operator.api.formats import (
    CHALLENGE_PATH_PREFIX,
    HostPort,
    challenge_path,
    format_duration,
    format_time,
    is_email_address,
    is_https_url,
    is_ip_address,
    is_label_value,
    join_host_port,
    parse_duration,
    parse_time,
    split_host_port,
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


# --- host:port ---------------------------------------------------------------------------

HOST_PORTS = {
    "a host name": ("lb.example.com", HostPort("lb.example.com", None)),
    "a host name and port": ("lb.example.com:8443", HostPort("lb.example.com", 8443)),
    "an IPv4 address and port": ("192.0.2.7:443", HostPort("192.0.2.7", 443)),
    "a bare IPv6 address": ("2001:db8::7", HostPort("2001:db8::7", None)),
    "an IPv6 address in brackets": ("[2001:db8::7]", HostPort("2001:db8::7", None)),
    "an IPv6 address and port": ("[2001:db8::7]:53", HostPort("2001:db8::7", 53)),
    "the highest port": ("lb:65535", HostPort("lb", 65535)),
}


@pytest.mark.parametrize(("text", "expected"), HOST_PORTS.values(), ids=HOST_PORTS.keys())
def test_host_and_port_split_with_brackets_around_ipv6(text: str, expected: HostPort) -> None:
    assert split_host_port(text) == expected


BAD_HOST_PORTS = {
    "port zero": "lb:0",
    "a port too large": "lb:65536",
    "a port by name": "lb:https",
    "an empty port": "lb:",
    "a non-ASCII digit port": "lb:\u0664\u0664\u0663",
    "no host": ":443",
    "nothing": "",
    "an unclosed bracket": "[2001:db8::7",
    "garbage after the bracket": "[2001:db8::7]x53",
    "IPv4 in brackets": "[192.0.2.7]:53",
    "a name in brackets": "[lb]:443",
    "several colons that are no IPv6 address": "2001:db8::zz",
}


@pytest.mark.parametrize("text", BAD_HOST_PORTS.values(), ids=BAD_HOST_PORTS.keys())
def test_anything_else_is_refused_as_host_and_port(text: str) -> None:
    with pytest.raises(ValueError):
        split_host_port(text)


@pytest.mark.parametrize(
    ("host", "port", "text"),
    [("192.0.2.7", 443, "192.0.2.7:443"), ("2001:db8::7", 53, "[2001:db8::7]:53")],
)
def test_host_and_port_join_the_way_they_split(host: str, port: int, text: str) -> None:
    assert join_host_port(host, port) == text
    assert split_host_port(text) == HostPort(host, port)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("192.0.2.7", True), ("2001:db8::7", True), ("[2001:db8::7]", False), ("lb", False)],
)
def test_an_ip_address_is_told_from_a_name(text: str, expected: bool) -> None:
    assert is_ip_address(text) is expected


# --- label values ------------------------------------------------------------------------


def test_is_label_value_checks_length_and_characters() -> None:
    assert is_label_value("ok.value_1")
    assert is_label_value("")
    assert is_label_value("x" * 63)
    assert not is_label_value("x" * 64)
    assert not is_label_value("bad/value")
    assert not is_label_value("-dash")


# --- URLs and email addresses ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("https://acme.example/directory", True, id="https"),
        pytest.param("https://[2001:db8::1]:8443/dir", True, id="ipv6-and-port"),
        pytest.param("http://acme.example/directory", False, id="http"),
        pytest.param("acme.example", False, id="no-scheme"),
        pytest.param("https:///directory", False, id="no-host"),
        pytest.param("https://acme.example:port/", False, id="bad-port"),
        pytest.param("https://acme.example/a b", False, id="space"),
        pytest.param("https://a.example/" + "x" * 2048, False, id="too-long"),
    ],
)
def test_an_https_url_needs_a_host(text: str, expected: bool) -> None:
    assert is_https_url(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("ops@example.com", True, id="address"),
        pytest.param("mailto:ops@example.com", False, id="mailto"),
        pytest.param("ops", False, id="no-at"),
        pytest.param("a@example.com,b@example.com", False, id="list"),
        pytest.param("ops@localhost", False, id="no-dot-in-domain"),
        pytest.param("o" * 243 + "@example.com", False, id="longer-than-254"),
    ],
)
def test_an_email_address_is_one_plain_address(text: str, expected: bool) -> None:
    assert is_email_address(text) is expected


def test_the_challenge_path_is_rfc_8555s_well_known_path() -> None:
    assert CHALLENGE_PATH_PREFIX == "/.well-known/acme-challenge/"
    assert challenge_path("tok_en-1") == "/.well-known/acme-challenge/tok_en-1"

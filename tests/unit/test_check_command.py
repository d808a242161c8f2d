"""Unit tests of the check command's pure parts: reading its arguments, the text report."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from webhook_cert_operator.checking.findings import Code, connection_failed, finding
from webhook_cert_operator.checking.report import ChainReport, ServedCertificate
from webhook_cert_operator.checking.target import Dial, Target, parse_dial, parse_url
from webhook_cert_operator.cli import check as check_command

URLS = {
    "a plain https URL": (
        "https://hooks.example.test/",
        Target("https://hooks.example.test/", "hooks.example.test", 443),
    ),
    "a port and path": (
        "https://hooks.example.test:8443/rc?x=1",
        Target("https://hooks.example.test:8443/rc?x=1", "hooks.example.test", 8443),
    ),
    "a bare host name": (
        "hooks.example.test",
        Target("https://hooks.example.test/", "hooks.example.test", 443),
    ),
    "an IPv6 literal": (
        "https://[2001:db8::7]:8443/",
        Target("https://[2001:db8::7]:8443/", "2001:db8::7", 8443),
    ),
    "capitals in the host": (
        "https://Hooks.Example.Test/",
        Target("https://Hooks.Example.Test/", "hooks.example.test", 443),
    ),
}


@pytest.mark.parametrize(("text", "target"), URLS.values(), ids=URLS.keys())
def test_a_url_gives_the_host_and_port_to_check(text: str, target: Target) -> None:
    assert parse_url(text) == target


BAD_URLS = {
    "plain http": "http://hooks.example.test/",
    "no host": "https:///path",
    "a port that is not a number": "https://hooks.example.test:https/",
}


@pytest.mark.parametrize("text", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_a_url_that_is_not_https_with_a_host_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_url(text)


DIALS = {
    "host and port": ("ingress.local:8443", Dial("ingress.local", 8443)),
    "host alone": ("ingress.local", Dial("ingress.local", None)),
    "IPv4 and port": ("192.0.2.7:443", Dial("192.0.2.7", 443)),
    "bare IPv6": ("2001:db8::7", Dial("2001:db8::7", None)),
    "IPv6 and port": ("[2001:db8::7]:443", Dial("2001:db8::7", 443)),
}


@pytest.mark.parametrize(("text", "dial"), DIALS.values(), ids=DIALS.keys())
def test_connect_takes_a_host_and_an_optional_port(text: str, dial: Dial) -> None:
    assert parse_dial(text) == dial


@pytest.mark.parametrize("text", ["host:0", "host:http", ":443", "[2001:db8::7", "2001:db8::zz"])
def test_a_bad_connect_target_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_dial(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="webhook-cert check")
    check_command.add_arguments(p)
    return p


def test_the_arguments_have_the_documented_defaults_and_handler() -> None:
    args = parser().parse_args(["https://hooks.example.test/"])
    assert args.handler is check_command.run
    assert (args.min_tls, args.warn_days, args.timeout, args.json) == ("1.2", 14, 10.0, False)
    assert args.connect is None and args.nameserver is None
    assert args.trust_bundle is None and args.expect_cert is None


def test_nameserver_repeats() -> None:
    args = parser().parse_args(
        ["h.test", "--nameserver", "192.0.2.53", "--nameserver", "[2001:db8::53]:5353"]
    )
    assert [str(n) for n in args.nameserver] == ["192.0.2.53:53", "[2001:db8::53]:5353"]


@pytest.mark.parametrize(
    "args",
    [
        ["ftp://h.test/"],
        ["h.test", "--timeout", "0"],
        ["h.test", "--warn-days", "x"],
        ["h.test", "--min-tls", "1.1.1"],
        ["h.test", "--connect", "h:0"],
    ],
    ids=["not https", "zero timeout", "warn days not a number", "unknown TLS", "port zero"],
)
def test_bad_arguments_exit_with_2(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(args)
    assert exit_info.value.code == 2


EXPIRY = datetime(2026, 5, 1, 12, tzinfo=UTC)
SERVED = (
    ServedCertificate("CN=hooks.example.test", "CN=R11,O=Let's Encrypt,C=US", EXPIRY, "ab" * 32),
)


def test_a_valid_report_says_so_and_lists_the_chain() -> None:
    report = ChainReport("https://hooks.example.test/", "TLSv1.3", SERVED, (), "192.0.2.7:443")
    assert check_command.format_report(report).splitlines() == [
        "VALID: https://hooks.example.test/ (0 errors, 0 warnings)",
        "Connected to 192.0.2.7:443 with TLSv1.3",
        "Served chain, in the order served:",
        "  0  CN=hooks.example.test",
        "     issuer   CN=R11,O=Let's Encrypt,C=US",
        "     expires  2026-05-01T12:00:00Z",
        "No findings: a strict client accepts this chain.",
    ]


def test_findings_are_listed_with_severity_and_code_and_wrapped() -> None:
    findings = (
        finding(Code.INCOMPLETE_CHAIN, "word " * 40),
        finding(Code.ROOT_INCLUDED, "the root is served"),
    )
    report = ChainReport("https://h.test/", "TLSv1.3", SERVED, findings, "192.0.2.7:443")
    text = check_command.format_report(report, width=60)
    lines = text.splitlines()
    assert lines[0] == "INVALID: https://h.test/ (1 error, 1 warning)"
    start = lines.index("Findings:")
    assert lines[start + 1].startswith("  error   incomplete-chain: word word")
    assert all(len(line) <= 60 for line in lines[start:])
    assert lines[start + 2].startswith("          word")
    assert lines[-1] == "  warning root-included: the root is served"


def test_a_failed_connection_shows_no_chain() -> None:
    report = ChainReport(
        "https://h.test/",
        None,
        (),
        (connection_failed("connection refused by 192.0.2.7:443"),),
    )
    assert check_command.format_report(report).splitlines() == [
        "INVALID: https://h.test/ (1 error, 0 warnings)",
        "Findings:",
        "  error   connection-failed: no TLS connection: connection refused by 192.0.2.7:443",
    ]


IDNA_HOSTS = {
    # UTS #46 / IDNA 2008 keeps "ß" (IDNA 2003 mapped it to "ss": another host).
    "sharp s": ("https://straße.example/", "xn--strae-oqa.example"),
    "capital umlaut": ("https://BÜCHER.example/hook", "xn--bcher-kva.example"),
    "final sigma": ("https://βόλος.example/", "xn--nxasmm1c.example"),
    "ascii stays": ("https://Hooks.Example.com/", "hooks.example.com"),
}


@pytest.mark.parametrize(("url", "host"), IDNA_HOSTS.values(), ids=IDNA_HOSTS.keys())
def test_url_hosts_become_idna_2008_a_labels(url: str, host: str) -> None:
    assert parse_url(url).host == host


def test_a_host_that_is_not_valid_idna_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="internationalized"):
        parse_url("https://a\u200db.example/")

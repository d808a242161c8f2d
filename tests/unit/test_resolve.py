"""Unit tests of the pure parts of name resolution: DNS server addresses, IP literals."""

from __future__ import annotations

import pytest

from webhook_cert_operator.checking.resolve import Nameserver, parse_nameserver, resolve_host

VALID = {
    "an IPv4 address": ("192.0.2.53", Nameserver("192.0.2.53", 53)),
    "an IPv4 address and port": ("192.0.2.53:5353", Nameserver("192.0.2.53", 5353)),
    "a bare IPv6 address": ("2001:db8::53", Nameserver("2001:db8::53", 53)),
    "an IPv6 address in brackets": ("[2001:db8::53]", Nameserver("2001:db8::53", 53)),
    "an IPv6 address and port": ("[2001:db8::53]:5353", Nameserver("2001:db8::53", 5353)),
    "surrounding spaces": (" 192.0.2.53 ", Nameserver("192.0.2.53", 53)),
}


@pytest.mark.parametrize(("text", "expected"), VALID.values(), ids=VALID.keys())
def test_a_dns_server_is_an_address_with_an_optional_port(text: str, expected: Nameserver) -> None:
    assert parse_nameserver(text) == expected


INVALID = {
    "a host name": "ns1.example.test",
    "a host name and port": "ns1.example.test:53",
    "a port that is not a number": "192.0.2.53:dns",
    "port zero": "192.0.2.53:0",
    "a port too large": "192.0.2.53:65536",
    "an unclosed bracket": "[2001:db8::53",
    "garbage after the bracket": "[2001:db8::53]x53",
    "nothing": "",
}


@pytest.mark.parametrize("text", INVALID.values(), ids=INVALID.keys())
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid DNS server"):
        parse_nameserver(text)


@pytest.mark.parametrize(
    ("nameserver", "text"),
    [
        (Nameserver("192.0.2.53", 53), "192.0.2.53:53"),
        (Nameserver("2001:db8::53", 5353), "[2001:db8::53]:5353"),
    ],
    ids=["IPv4", "IPv6"],
)
def test_a_dns_server_prints_as_it_is_written(nameserver: Nameserver, text: str) -> None:
    assert str(nameserver) == text


LITERALS = {
    "IPv4": ("192.0.2.7", "192.0.2.7"),
    "IPv6": ("2001:db8::7", "2001:db8::7"),
    "IPv6 in brackets": ("[2001:db8::7]", "2001:db8::7"),
    "IPv6 not in canonical form": ("2001:DB8:0::7", "2001:db8::7"),
}


@pytest.mark.parametrize(("host", "address"), LITERALS.values(), ids=LITERALS.keys())
def test_an_ip_literal_resolves_to_itself_without_asking_anyone(host: str, address: str) -> None:
    # A DNS server that cannot exist: asking it would fail the test.
    unreachable = [Nameserver("192.0.2.1", 1)]
    assert resolve_host(host, nameservers=unreachable, timeout=0.01) == (address,)

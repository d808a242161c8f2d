"""Name resolution through given DNS servers, against a local DNS server."""

from __future__ import annotations

import time

import pytest

from tests.fake_dns import FakeDNS
from webhook_cert_operator.checking.resolve import Nameserver, ResolutionError, resolve_host


def nameserver(server: FakeDNS) -> Nameserver:
    return Nameserver("127.0.0.1", server.port)


def test_addresses_come_from_the_given_server_ipv4_first() -> None:
    records = {"hooks.example.test": ["2001:db8::7", "192.0.2.7", "192.0.2.8"]}
    with FakeDNS(records) as server:
        addresses = resolve_host("hooks.example.test", nameservers=[nameserver(server)])
    # Records within one answer have no order (RFC 2181 section 5), families do.
    assert set(addresses[:2]) == {"192.0.2.7", "192.0.2.8"}
    assert addresses[2:] == ("2001:db8::7",)
    assert server.queries == [("hooks.example.test", "A"), ("hooks.example.test", "AAAA")]


def test_a_name_with_only_ipv6_addresses_resolves() -> None:
    with FakeDNS({"v6.example.test": ["2001:db8::7"]}) as server:
        addresses = resolve_host("v6.example.test", nameservers=[nameserver(server)])
    assert addresses == ("2001:db8::7",)


def test_an_unknown_name_is_nxdomain() -> None:
    with (
        FakeDNS({}) as server,
        pytest.raises(ResolutionError, match=r"cannot resolve nope\.example\.test: no such domain"),
    ):
        resolve_host("nope.example.test", nameservers=[nameserver(server)])


def test_a_name_without_addresses_is_an_error() -> None:
    with (
        FakeDNS({"empty.example.test": []}) as server,
        pytest.raises(ResolutionError, match="no A or AAAA records"),
    ):
        resolve_host("empty.example.test", nameservers=[nameserver(server)])


def test_a_silent_server_times_out_within_the_given_time() -> None:
    with FakeDNS({}, silent=True) as server:
        started = time.monotonic()
        with pytest.raises(ResolutionError, match=r"no answer from 127\.0\.0\.1:\d+ in time"):
            resolve_host("hooks.example.test", nameservers=[nameserver(server)], timeout=0.5)
    assert time.monotonic() - started < 3


def test_without_nameservers_the_system_resolver_is_used() -> None:
    # localhost is in every /etc/hosts; no DNS server answers it here.
    assert "127.0.0.1" in resolve_host("localhost")

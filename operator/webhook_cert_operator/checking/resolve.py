"""Adapter: resolve a host name to addresses, through given DNS servers or the system resolver.

The served-chain probe and the HTTP-01 self-check must reach an endpoint the way the
outside world does. Inside a cluster the system resolver may answer differently
(split-horizon DNS, CoreDNS rewrites), so an operator setting can name the DNS servers
to ask instead, as cert-manager's `--acme-http01-solver-nameservers` does. Without that
setting the system resolver (getaddrinfo, so /etc/hosts too) is used.

Blocking: callers run it in a thread.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.nameserver
import dns.resolver

from webhook_cert_operator.api.formats import is_ip_address, join_host_port, split_host_port


class ResolutionError(Exception):
    """The host has no address we could find; `reason` is stable text for status messages."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"cannot resolve {host}: {reason}")
        self.host = host
        self.reason = reason


@dataclass(frozen=True)
class Nameserver:
    """A DNS server to ask, by IP address (a name would itself need resolving)."""

    address: str
    port: int = 53

    def __str__(self) -> str:
        return join_host_port(self.address, self.port)


def parse_nameserver(text: str) -> Nameserver:
    """Read "192.0.2.53", "192.0.2.53:5353", "2001:db8::53" or "[2001:db8::53]:5353".

    ValueError when it is not an IP address with an optional port.
    """
    text = text.strip()
    try:
        host_port = split_host_port(text)
    except ValueError as error:
        raise ValueError(f"invalid DNS server {text!r}: {error}") from None
    if not is_ip_address(host_port.host):
        raise ValueError(f"invalid DNS server {text!r}: not an IP address")
    return Nameserver(str(ipaddress.ip_address(host_port.host)), host_port.port or 53)


def resolve_host(
    host: str, *, nameservers: Sequence[Nameserver] = (), timeout: float = 5.0
) -> tuple[str, ...]:
    """The IP addresses of `host`, IPv4 first; an IP literal resolves to itself.

    Asks `nameservers` when given (A then AAAA, no search domains), else the system
    resolver. ResolutionError when nothing is found.
    """
    literal = host.strip("[]")
    try:
        return (str(ipaddress.ip_address(literal)),)
    except ValueError:
        pass
    if nameservers:
        return _ask_nameservers(host, nameservers, timeout)
    return _ask_system(host)


def _ask_nameservers(
    host: str, nameservers: Sequence[Nameserver], timeout: float
) -> tuple[str, ...]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver(n.address, n.port) for n in nameservers]
    resolver.lifetime = timeout
    servers = ", ".join(str(n) for n in nameservers)
    addresses: list[str] = []
    for record_type in ("A", "AAAA"):
        try:
            # An absolute name: the host is a public FQDN, never relative to a search list.
            answer = resolver.resolve(
                dns.name.from_text(host), record_type, search=False, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            raise ResolutionError(host, "no such domain (NXDOMAIN)") from None
        except dns.resolver.LifetimeTimeout:
            raise ResolutionError(host, f"no answer from {servers} in time") from None
        except dns.resolver.NoNameservers:
            reason = f"{servers} failed to answer (SERVFAIL or refused)"
            raise ResolutionError(host, reason) from None
        except dns.exception.DNSException as error:
            raise ResolutionError(host, f"DNS error: {type(error).__name__}") from None
        addresses += [rdata.address for rdata in answer]
    if not addresses:
        raise ResolutionError(host, "no A or AAAA records")
    return tuple(dict.fromkeys(addresses))


def _ask_system(host: str) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ResolutionError(host, error.strerror or "name resolution failed") from None
    except UnicodeError:
        raise ResolutionError(host, "not a valid host name") from None
    v4 = [str(info[4][0]) for info in infos if info[0] == socket.AF_INET]
    v6 = [str(info[4][0]) for info in infos if info[0] == socket.AF_INET6]
    addresses = tuple(dict.fromkeys(v4 + v6))
    if not addresses:
        raise ResolutionError(host, "no addresses")
    return addresses

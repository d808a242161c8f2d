"""Adapter: fetch an HTTP-01 answer the way the CA does (RFC 8555 section 8.3).

Port 80 by host name, every address the name resolves to, following redirects as Let's
Encrypt does (at most 10, to http or https on ports 80 and 443). The self-check in
`solver.http01` fetches each challenge URL through this before the CA is asked.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from webhook_cert_operator.api.formats import is_ip_address
from webhook_cert_operator.checking.resolve import ResolutionError, parse_nameserver, resolve_host

#: Let's Encrypt follows at most 10 redirects, to http or https on ports 80 and 443 only.
MAX_REDIRECTS: Final = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
Response = tuple[int | None, bytes, str]


def fetch_over_http(
    host: str,
    path: str,
    *,
    nameservers: Sequence[str],
    port: int,
    timeout: float,
    https_port: int = 443,
) -> Response:
    """GET http://host/path as Let's Encrypt does; returns (status, body, failure reason).

    Like the CA (RFC 8555 section 8.3, and Let's Encrypt's documented behaviour): from
    every address the host resolves to (it validates from several places and prefers
    IPv6, so any A or AAAA record may be the one asked), following up to 10 redirects to
    http or https URLs on ports 80 and 443, without checking the certificate of an HTTPS
    hop. `port` and `https_port` are where "80" and "443" are dialled (tests move them).
    A failure names the address and, after redirects, the final URL (token hidden).
    """
    try:
        addresses = resolve_host(
            host, nameservers=[parse_nameserver(n) for n in nameservers], timeout=timeout
        )
    except ResolutionError as error:
        return None, b"", f"does not resolve ({error})"
    hops = _Hops(host, path, port, https_port, timeout, nameservers)
    answered = _drop_unreachable_ipv6([(address, hops.follow(address)) for address in addresses])
    return _one_response(answered)


def _drop_unreachable_ipv6(answered: list[tuple[str, Response]]) -> list[tuple[str, Response]]:
    """Leave out the IPv6 addresses that gave no connection, when an IPv4 address exists."""
    if all(":" in address for address, _ in answered):
        return answered
    # Let's Encrypt prefers IPv6 but falls back to IPv4 when it cannot connect over
    # IPv6; and this machine may have no IPv6 route at all. So an IPv6 address that
    # gives no connection counts only when there is no IPv4 address to fall back to.
    return [
        (address, result)
        for address, result in answered
        if ":" not in address or not _no_connection(result)
    ]


def _one_response(answered: list[tuple[str, Response]]) -> Response:
    """The verdict over all addresses: the first failure (naming its address), a failure
    when the addresses answer differently, else the common answer."""
    addresses = tuple(address for address, _ in answered)
    results = [result for _, result in answered]
    if len(results) == 1:
        return results[0]
    for address, (status, body, reason) in zip(addresses, results, strict=True):
        if status != 200:
            return status, body, f"{reason} (from {address}, one of {len(addresses)} addresses)"
    if len({body for _, body, _ in results}) > 1:
        shown = ", ".join(addresses)
        return None, b"", f"answers differently from its addresses {shown}"
    return results[0]


def _no_connection(result: Response) -> bool:
    status, _, reason = result
    return status is None and reason.startswith("is unreachable at")


@dataclass(frozen=True)
class _Hops:
    """Fetch a challenge from one first address, following redirects as the CA does."""

    host: str
    path: str
    http_port: int
    https_port: int
    timeout: float
    nameservers: Sequence[str]

    def shown(self, url: str) -> str:
        # The token is the secret-ish part of the path: never shown (status, events, logs).
        token = self.path.rsplit("/", 1)[-1]
        return url.replace(token, "<token>") if token else url

    def follow(self, address: str) -> Response:
        scheme, host, path, dial = "http", self.host, self.path, address
        for hop in range(MAX_REDIRECTS + 1):
            port = self.http_port if scheme == "http" else self.https_port
            status, body, reason, location = _get(scheme, dial, port, host, path, self.timeout)
            url = f"{scheme}://{host}{path}"
            if status not in _REDIRECTS or not location:
                if hop:
                    reason += f" at {self.shown(url)} after {hop} redirect(s)"
                return status, body, reason
            if hop == MAX_REDIRECTS:
                break
            target = urllib.parse.urlsplit(urllib.parse.urljoin(url, location))
            shown = self.shown(target.geturl())
            if target.scheme not in ("http", "https") or not target.hostname:
                return status, b"", f"redirects to {shown}, which the CA does not follow"
            try:
                explicit = target.port
            except ValueError:
                explicit = -1
            if explicit not in (None, 80, 443):
                return status, b"", f"redirects to {shown}: the CA follows only ports 80 and 443"
            if target.hostname.lower() != host.lower():
                try:
                    dial = resolve_host(
                        target.hostname,
                        nameservers=[parse_nameserver(n) for n in self.nameservers],
                        timeout=self.timeout,
                    )[0]
                except ResolutionError as error:
                    return (
                        status,
                        b"",
                        f"redirects to {shown}, whose host does not resolve ({error})",
                    )
            scheme = target.scheme if explicit is None else ("http" if explicit == 80 else "https")
            host = target.hostname
            path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        return None, b"", f"redirects more than {MAX_REDIRECTS} times"


def _get(
    scheme: str, dial: str, port: int, host: str, path: str, timeout: float
) -> tuple[int | None, bytes, str, str | None]:
    """One GET; (status, body, reason, Location)."""
    connection = http.client.HTTPConnection(dial, port, timeout=timeout)
    try:
        if scheme == "https":
            raw = socket.create_connection((dial, port), timeout=timeout)
            # Let's Encrypt does not check the certificate of an HTTPS hop: a default or
            # self-signed one must not fail the self-check either.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            server_name = None if is_ip_address(host) else host
            try:
                connection.sock = context.wrap_socket(raw, server_hostname=server_name)
            except (ssl.SSLError, OSError) as error:
                raw.close()
                reason = getattr(error, "reason", None) or error.strerror or error
                return None, b"", f"fails the TLS handshake at {dial}:{port} ({reason})", None
        connection.request("GET", path, headers={"Host": host, "User-Agent": "webhook-cert"})
        response = connection.getresponse()
        body = response.read(4096)
        location = response.getheader("Location")
        return response.status, body, f"answered HTTP {response.status}", location
    except OSError as error:
        reason = f"is unreachable at {dial}:{port} ({error.strerror or error})"
        return None, b"", reason, None
    except http.client.HTTPException:  # e.g. a TLS-only port: no status line to read
        return None, b"", f"answered something other than HTTP at {dial}:{port}", None
    finally:
        connection.close()


Fetch = Callable[[str, str], Response]

"""Adapter: connect to an HTTPS endpoint and record what it serves in the TLS handshake.

The probe does what a webhook sender's TLS client does up to the point where it would
judge the certificates: resolve the host, connect, send the host as SNI, complete the
handshake. It then records the negotiated protocol version and the certificates exactly
as served, in order, and verifies nothing: judging them is `chain.analyse`'s job, so a
broken chain is reported in detail instead of as one handshake error.

Two handshakes per address. The first is lenient (every version down to TLS 1.0, every
cipher) so that the server's own choices and its chain are seen even when a sender
would fail; a chain received before the handshake failed is kept. The second is made as
a sender makes it: TLS 1.2 or newer, the ECDHE cipher suites and groups that current Go,
Java and OpenSSL clients all offer, no client certificate; after it the probe reads briefly,
because a TLS 1.3 server that wants a client certificate says so in an alert that
arrives only after the client's Finished (RFC 8446 section 4.4.2.4). Its outcome is a
`Refusal` (client certificate required, or another handshake failure) or the negotiated
cipher suite.

The two handshakes run at the same time, in the calling thread (`handshake.py`), and
every address the host resolves to is probed this way, in parallel, all within the one
timeout. Blocking; callers run it in a thread.

Adapter: sockets, DNS (resolve.py) and pyOpenSSL (handshake.py); what it returns is in
served.py.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from webhook_cert_operator.api.formats import join_host_port
from webhook_cert_operator.checking import handshake
from webhook_cert_operator.checking.resolve import Nameserver, ResolutionError, resolve_host
from webhook_cert_operator.checking.served import (
    Failure,
    ProbeError,
    Refusal,
    RefusalKind,
    ServedChain,
)

#: connect() errors that mean "no route from here", not "the endpoint is down".
NO_ROUTE_ERRNOS: Final = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL})


def fetch_served_chain(
    host: str,
    port: int,
    *,
    server_name: str,
    timeout: float,
    connect_address: str | None = None,
    nameservers: Sequence[Nameserver] = (),
    run: handshake.Runner = handshake.run_together,
) -> ServedChain:
    """Handshake with `host`:`port` sending SNI `server_name`; return what was served.

    `host` is resolved (through `nameservers` when given, else the system resolver)
    unless `connect_address`, an IP address, says where to dial instead. Every address
    is probed (at most `MAX_ADDRESSES`, in parallel, within `timeout`): the first that gave a
    TLS connection is the answer, the others are in its `others`. ProbeError when no
    address gave a TLS connection (the first address's error). `run` drives the
    handshakes: in this thread by default, or on a `driver.SharedRunner`'s thread.
    """
    if connect_address is not None:
        addresses: tuple[str, ...] = (connect_address.strip("[]"),)
    else:
        try:
            addresses = resolve_host(host, nameservers=nameservers, timeout=timeout)
        except ResolutionError as error:
            raise ProbeError(Failure.DNS, str(error)) from None
    results = _probe_addresses(addresses[:MAX_ADDRESSES], port, server_name, timeout, run)
    served = [r for r in results if isinstance(r, ServedChain)]
    if not served:
        first = results[0]
        assert isinstance(first, ProbeError)
        raise first
    primary = served[0]
    return dataclasses.replace(primary, others=tuple(r for r in results if r is not primary))


#: A host with more addresses than this is judged on its first ones.
MAX_ADDRESSES: Final = 8


def _probe_addresses(
    addresses: Sequence[str], port: int, server_name: str, timeout: float, run: handshake.Runner
) -> list[ServedChain | ProbeError]:
    """What each address gave, in order; in parallel, so that all stay within `timeout`."""

    def attempt(address: str) -> ServedChain | ProbeError:
        try:
            return _probe_address(address, port, server_name, timeout, run)
        except ProbeError as error:
            return error

    if len(addresses) == 1:
        return [attempt(addresses[0])]
    with ThreadPoolExecutor(max_workers=len(addresses)) as pool:
        return list(pool.map(attempt, addresses))


def _probe_address(
    address: str, port: int, server_name: str, timeout: float, run: handshake.Runner
) -> ServedChain:
    """Both handshakes with one address, within `timeout`."""
    deadline = time.monotonic() + timeout
    where = join_host_port(address, port)
    try:
        return _probe(address, where, port, server_name, deadline, timeout, run)
    except ProbeError as error:
        error.address = where
        raise


def _probe(
    address: str,
    where: str,
    port: int,
    server_name: str,
    deadline: float,
    timeout: float,
    run: handshake.Runner,
) -> ServedChain:
    """Both handshakes at once, each on a connection of its own: a check waits for one
    handshake's round trips, not two in a row."""
    dial = (address, where, port, server_name, deadline, timeout)
    lenient, sender = run([_connected(*dial, sender=False), _connected(*dial, sender=True)])
    # What the first handshake alone would have said comes first, as when they ran in turn.
    if isinstance(lenient, ProbeError):
        raise lenient
    if lenient.error is not None and not lenient.certificates:
        raise ProbeError(Failure.HANDSHAKE, lenient.error)
    if isinstance(sender, ProbeError):
        raise sender
    refusal = None
    if sender.error is not None:
        kind = (
            RefusalKind.CLIENT_CERTIFICATE
            if sender.asked_for_certificate
            else RefusalKind.HANDSHAKE
        )
        refusal = Refusal(kind, sender.error)
    return ServedChain(
        tls_version=lenient.version or "unknown",
        certificates=lenient.certificates,
        address=where,
        cipher_suite=sender.cipher if sender.error is None else None,
        refusal=refusal,
    )


def _connected(
    address: str,
    where: str,
    port: int,
    server_name: str,
    deadline: float,
    timeout: float,
    *,
    sender: bool,
) -> handshake.Step[handshake.Outcome]:
    """A connection of its own and one handshake on it; ProbeError when it cannot connect."""
    sock = yield from _connect(address, port, where, deadline, timeout)
    try:
        return (
            yield from handshake.handshake(
                sock, where, server_name, deadline, timeout, sender=sender
            )
        )
    finally:
        sock.close()


def _connect(
    address: str, port: int, where: str, deadline: float, timeout: float
) -> handshake.Step[socket.socket]:
    """A non-blocking TCP connection to `address` (an IP address); ProbeError when none
    comes by `deadline`."""
    if deadline <= time.monotonic():
        raise ProbeError(
            Failure.TIMEOUT, f"timed out after {timeout:g}s before connecting to port {port}"
        )
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(address, port, 0, socket.SOCK_STREAM)[
            0
        ]
    except socket.gaierror as error:
        raise ProbeError(Failure.NETWORK, f"cannot connect to {where}: {error.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        code = sock.connect_ex(sockaddr)
        if code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            if not (yield sock, False, deadline):
                raise ProbeError(
                    Failure.TIMEOUT, f"timed out after {timeout:g}s connecting to {where}"
                )
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise _connect_error(code, where, timeout)
    except BaseException:
        sock.close()
        raise
    return sock


def _connect_error(code: int, where: str, timeout: float) -> ProbeError:
    if code == errno.ETIMEDOUT:
        return ProbeError(Failure.TIMEOUT, f"timed out after {timeout:g}s connecting to {where}")
    if code == errno.ECONNREFUSED:
        return ProbeError(Failure.REFUSED, f"connection refused by {where}")
    failure = Failure.NO_ROUTE if code in NO_ROUTE_ERRNOS else Failure.NETWORK
    return ProbeError(failure, f"cannot connect to {where}: {os.strerror(code)}")

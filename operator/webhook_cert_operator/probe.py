"""Connect to an HTTPS endpoint and record what it serves in the TLS handshake.

The probe does what a webhook sender's TLS client does up to the point where it would
judge the certificates: resolve the host, connect, send the host as SNI, complete the
handshake. It then records the negotiated protocol version and the certificates exactly
as served, in order, and verifies nothing: judging them is `chain.analyse`'s job, so a
broken chain is reported in detail instead of as one handshake error.

Blocking, with one deadline for the whole probe; callers run it in a thread.
"""

from __future__ import annotations

import contextlib
import enum
import select
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

# pyOpenSSL rather than the standard library's `ssl`: `get_peer_cert_chain()` is its
# public, documented way to read the chain as served (leaf first, in the server's
# order, unverified). The standard library has that only as a private method before
# Python 3.13 (`SSLSocket._sslobj.get_unverified_chain()`). pyOpenSSL also brings its
# own OpenSSL (the one inside `cryptography`), so what the probe can negotiate does
# not depend on the distribution's OpenSSL build or configuration.
from OpenSSL import SSL

from webhook_cert_operator.api import is_ip_address
from webhook_cert_operator.resolve import Nameserver, ResolutionError, resolve_host
from webhook_cert_operator.target import ascii_host


class Failure(enum.StrEnum):
    """Why no TLS connection was made."""

    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    NETWORK = "network"
    HANDSHAKE = "handshake"


class ProbeError(Exception):
    """No TLS connection. `reason` is stable text (no timings, no ephemeral ports)."""

    def __init__(self, failure: Failure, reason: str) -> None:
        super().__init__(reason)
        self.failure = failure
        self.reason = reason


@dataclass(frozen=True)
class ServedChain:
    """What the server sent: the protocol as OpenSSL names it ("TLSv1.3"), the
    certificates in served order, and the address that answered ("192.0.2.1:443")."""

    tls_version: str
    certificates: tuple[x509.Certificate, ...]
    address: str


def fetch_served_chain(
    host: str,
    port: int,
    *,
    server_name: str,
    timeout: float,
    connect_address: str | None = None,
    nameservers: Sequence[Nameserver] = (),
) -> ServedChain:
    """Handshake with `host`:`port` sending SNI `server_name`; return what was served.

    `host` is resolved (through `nameservers` when given, else the system resolver)
    unless `connect_address`, an IP address, says where to dial instead. Each address
    is tried in turn until one accepts the connection. `timeout` bounds the whole probe.
    ProbeError when there is no TLS connection.
    """
    deadline = time.monotonic() + timeout
    if connect_address is not None:
        addresses: tuple[str, ...] = (connect_address.strip("[]"),)
    else:
        try:
            addresses = resolve_host(host, nameservers=nameservers, timeout=timeout)
        except ResolutionError as error:
            raise ProbeError(Failure.DNS, str(error)) from None
    sock, address = _connect(addresses, port, deadline, timeout)
    try:
        return _handshake(sock, address, server_name, deadline, timeout)
    finally:
        sock.close()


def _format_address(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _connect(
    addresses: Sequence[str], port: int, deadline: float, timeout: float
) -> tuple[socket.socket, str]:
    error: ProbeError | None = None
    for address in addresses:
        where = _format_address(address, port)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            return socket.create_connection((address, port), timeout=remaining), where
        except TimeoutError:
            error = ProbeError(
                Failure.TIMEOUT, f"timed out after {timeout:g}s connecting to {where}"
            )
        except ConnectionRefusedError:
            error = ProbeError(Failure.REFUSED, f"connection refused by {where}")
        except OSError as os_error:
            text = os_error.strerror or type(os_error).__name__
            error = ProbeError(Failure.NETWORK, f"cannot connect to {where}: {text}")
    raise error or ProbeError(
        Failure.TIMEOUT, f"timed out after {timeout:g}s before connecting to port {port}"
    )


def _client_context() -> SSL.Context:
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    # Offer everything down to TLS 1.0 so that the server's own choice is observed:
    # a server stuck on TLS 1.0/1.1 must show up as a `tls-version` finding, not as an
    # unexplained handshake failure. OpenSSL 3 refuses TLS < 1.2 (and SHA-1 handshake
    # signatures) at its default security level 1+, hence @SECLEVEL=0 (measured: with
    # the default cipher string a TLS 1.0-only server fails the handshake).
    context.set_min_proto_version(SSL.TLS1_VERSION)
    context.set_cipher_list(b"ALL:@SECLEVEL=0")
    # Old servers without secure renegotiation (RFC 5746) would otherwise be refused.
    context.set_options(getattr(SSL, "OP_LEGACY_SERVER_CONNECT", 0))
    # Nothing is verified here on purpose; the chain is judged afterwards.
    context.set_verify(SSL.VERIFY_NONE)
    return context


def _handshake(
    sock: socket.socket, where: str, server_name: str, deadline: float, timeout: float
) -> ServedChain:
    connection = SSL.Connection(_client_context(), sock)
    if not is_ip_address(server_name.strip("[]")):
        # RFC 6066 section 3: SNI carries DNS names only, never IP literals.
        connection.set_tlsext_host_name(ascii_host(server_name).rstrip(".").encode("ascii"))
    connection.set_connect_state()
    # The socket has a timeout, so it is non-blocking underneath and OpenSSL asks to be
    # called again when it can read or write: wait for that, up to the deadline.
    while True:
        try:
            connection.do_handshake()
            break
        except SSL.WantReadError:
            _wait(sock, deadline, readable=True, timeout=timeout, where=where)
        except SSL.WantWriteError:
            _wait(sock, deadline, readable=False, timeout=timeout, where=where)
        except SSL.SysCallError as error:
            raise ProbeError(Failure.HANDSHAKE, _syscall_reason(error, where)) from None
        except SSL.ZeroReturnError:
            reason = f"{where} closed the connection during the TLS handshake"
            raise ProbeError(Failure.HANDSHAKE, reason) from None
        except SSL.Error as error:
            reason = f"TLS handshake with {where} failed: {_openssl_reason(error)}"
            raise ProbeError(Failure.HANDSHAKE, reason) from None
    certificates = connection.get_peer_cert_chain(as_cryptography=True) or []
    version = connection.get_protocol_version_name()
    # The close_notify is a courtesy; the answer is already recorded.
    with contextlib.suppress(SSL.Error):
        connection.shutdown()
    return ServedChain(tls_version=version, certificates=tuple(certificates), address=where)


def _wait(
    sock: socket.socket, deadline: float, *, readable: bool, timeout: float, where: str
) -> None:
    remaining = deadline - time.monotonic()
    if remaining > 0:
        ready = select.select([sock] if readable else [], [] if readable else [sock], [], remaining)
        if ready != ([], [], []):
            return
    reason = f"timed out after {timeout:g}s in the TLS handshake with {where}"
    raise ProbeError(Failure.TIMEOUT, reason)


def _syscall_reason(error: SSL.SysCallError, where: str) -> str:
    # pyOpenSSL reports an unexpected EOF as (-1, "Unexpected EOF") and socket errors as
    # (errno, strerror).
    code, text = (*error.args, None, None)[:2]
    if code == -1 or code is None:
        return f"{where} closed the connection during the TLS handshake"
    return f"TLS handshake with {where} failed: {text}"


def _openssl_reason(error: SSL.Error) -> str:
    # args[0] is OpenSSL's error queue: [(library, function, reason), ...].
    queue = error.args[0] if error.args else None
    if isinstance(queue, list):
        reasons = [entry[2] for entry in queue if isinstance(entry, tuple) and len(entry) == 3]
        if reasons:
            return "; ".join(str(r) for r in reasons)
    return str(error) or type(error).__name__

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

Every address the host resolves to is probed this way, in parallel, all within the
one timeout. Blocking; callers run it in a thread.

Adapter: sockets, DNS (resolve.py) and pyOpenSSL; what it returns is in served.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import select
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

from cryptography import x509

# pyOpenSSL rather than the standard library's `ssl`: `get_peer_cert_chain()` is its
# public, documented way to read the chain as served (leaf first, in the server's
# order, unverified). The standard library has that only as a private method before
# Python 3.13 (`SSLSocket._sslobj.get_unverified_chain()`). pyOpenSSL also brings its
# own OpenSSL (the one inside `cryptography`), so what the probe can negotiate does
# not depend on the distribution's OpenSSL build or configuration.
from OpenSSL import SSL
from OpenSSL._util import lib as _openssl_lib

from webhook_cert_operator.api.formats import is_ip_address, join_host_port
from webhook_cert_operator.checking.resolve import Nameserver, ResolutionError, resolve_host
from webhook_cert_operator.checking.served import (
    Failure,
    ProbeError,
    Refusal,
    RefusalKind,
    ServedChain,
)
from webhook_cert_operator.checking.target import ascii_host

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
) -> ServedChain:
    """Handshake with `host`:`port` sending SNI `server_name`; return what was served.

    `host` is resolved (through `nameservers` when given, else the system resolver)
    unless `connect_address`, an IP address, says where to dial instead. Every address
    is probed (at most `MAX_ADDRESSES`, in parallel, within `timeout`): the first that gave a
    TLS connection is the answer, the others are in its `others`. ProbeError when no
    address gave a TLS connection (the first address's error).
    """
    if connect_address is not None:
        addresses: tuple[str, ...] = (connect_address.strip("[]"),)
    else:
        try:
            addresses = resolve_host(host, nameservers=nameservers, timeout=timeout)
        except ResolutionError as error:
            raise ProbeError(Failure.DNS, str(error)) from None
    results = _probe_addresses(addresses[:MAX_ADDRESSES], port, server_name, timeout)
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
    addresses: Sequence[str], port: int, server_name: str, timeout: float
) -> list[ServedChain | ProbeError]:
    """What each address gave, in order; in parallel, so that all stay within `timeout`."""

    def attempt(address: str) -> ServedChain | ProbeError:
        try:
            return _probe_address(address, port, server_name, timeout)
        except ProbeError as error:
            return error

    if len(addresses) == 1:
        return [attempt(addresses[0])]
    with ThreadPoolExecutor(max_workers=len(addresses)) as pool:
        return list(pool.map(attempt, addresses))


def _probe_address(address: str, port: int, server_name: str, timeout: float) -> ServedChain:
    """Both handshakes with one address, within `timeout`."""
    deadline = time.monotonic() + timeout
    where = join_host_port(address, port)
    try:
        return _probe(address, where, port, server_name, deadline, timeout)
    except ProbeError as error:
        error.address = where
        raise


def _probe(
    address: str, where: str, port: int, server_name: str, deadline: float, timeout: float
) -> ServedChain:
    sock, _ = _connect((address,), port, deadline, timeout)
    try:
        lenient = _handshake(sock, where, server_name, deadline, timeout, sender=False)
    finally:
        sock.close()
    if lenient.error is not None and not lenient.certificates:
        raise ProbeError(Failure.HANDSHAKE, lenient.error)
    sock, _ = _connect((address,), port, deadline, timeout)
    try:
        sender = _handshake(sock, where, server_name, deadline, timeout, sender=True)
    finally:
        sock.close()
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


def _connect(
    addresses: Sequence[str], port: int, deadline: float, timeout: float
) -> tuple[socket.socket, str]:
    error: ProbeError | None = None
    for address in addresses:
        where = join_host_port(address, port)
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
            failure = Failure.NO_ROUTE if os_error.errno in NO_ROUTE_ERRNOS else Failure.NETWORK
            error = ProbeError(failure, f"cannot connect to {where}: {text}")
    raise error or ProbeError(
        Failure.TIMEOUT, f"timed out after {timeout:g}s before connecting to port {port}"
    )


def _client_context(*, sender: bool, asked: list[bool]) -> SSL.Context:
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    if sender:
        # What Go's crypto/tls, Java and OpenSSL clients all offer: TLS 1.2 and 1.3,
        # ECDHE key exchange with AES-GCM, ChaCha20-Poly1305 or AES-CBC with SHA-1 (Go
        # dropped RSA key exchange from its defaults in 1.22 and never enabled the
        # CBC-SHA256/384 suites by default); TLS 1.3 suites are OpenSSL's defaults.
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        context.set_cipher_list(SENDER_CIPHERS)
        _offer_groups(context, SENDER_GROUPS)
    else:
        # Offer everything down to TLS 1.0 so that the server's own choice is observed:
        # a server stuck on TLS 1.0/1.1 must show up as a `tls-version` finding, not as
        # an unexplained handshake failure. OpenSSL 3 refuses TLS < 1.2 (and SHA-1
        # handshake signatures) at its default security level 1+, hence @SECLEVEL=0
        # (measured: with the default cipher string a TLS 1.0-only server fails).
        context.set_min_proto_version(SSL.TLS1_VERSION)
        context.set_cipher_list(b"ALL:@SECLEVEL=0")
        # Old servers without secure renegotiation (RFC 5746) would otherwise be refused.
        context.set_options(getattr(SSL, "OP_LEGACY_SERVER_CONNECT", 0))
    # Nothing is verified here on purpose; the chain is judged afterwards.
    context.set_verify(SSL.VERIFY_NONE)

    def record(connection: SSL.Connection, where: int, ret: int) -> None:
        # OpenSSL names the state it is in; a CertificateRequest shows as
        # "SSLv3/TLS read server certificate request" (pyOpenSSL has no message callback).
        if b"certificate request" in connection.get_state_string():
            asked.append(True)

    context.set_info_callback(record)
    return context


#: The TLS 1.2 cipher suites Go's crypto/tls, Java and OpenSSL clients all offer.
SENDER_CIPHERS: Final = (
    b"ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"
    b"ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA"
)
#: The key exchange groups Go's crypto/tls, Java and OpenSSL clients all offer (Go has
#: no X448 and no finite-field groups; OpenSSL's default list adds X448 and ffdhe).
SENDER_GROUPS: Final = b"X25519:P-256:P-384:P-521"


def _offer_groups(context: SSL.Context, groups: bytes) -> None:
    # pyOpenSSL has no public call for the groups list; its bindings (the OpenSSL
    # inside `cryptography`) have SSL_CTX_set1_curves_list, the same function under
    # its older name. Without it the sender handshake offers OpenSSL's default list.
    setter = getattr(_openssl_lib, "SSL_CTX_set1_curves_list", None)
    if setter is not None:
        setter(context._context, groups)


@dataclass(frozen=True)
class _Outcome:
    version: str | None
    certificates: tuple[x509.Certificate, ...]
    cipher: str | None
    asked_for_certificate: bool
    error: str | None


#: How long a sender's handshake waits for what the server says right after it.
POST_HANDSHAKE_WAIT: Final = 0.3


def _handshake(
    sock: socket.socket,
    where: str,
    server_name: str,
    deadline: float,
    timeout: float,
    *,
    sender: bool,
) -> _Outcome:
    asked: list[bool] = []
    connection = SSL.Connection(_client_context(sender=sender, asked=asked), sock)
    if not is_ip_address(server_name.strip("[]")):
        # RFC 6066 section 3: SNI carries DNS names only, never IP literals.
        connection.set_tlsext_host_name(ascii_host(server_name).rstrip(".").encode("ascii"))
    connection.set_connect_state()
    error = _drive(connection.do_handshake, sock, where, deadline, timeout)
    if error is None and sender and asked:
        # Only a server that asked for a client certificate refuses a client without one
        # after the handshake (TLS 1.3's certificate_required, RFC 8446 section 4.4.2.4);
        # waiting on any other server would only cost the wait.
        error = _read_after_handshake(connection, sock, where, deadline)
    certificates = tuple(connection.get_peer_cert_chain(as_cryptography=True) or [])
    version = connection.get_protocol_version_name()
    cipher = connection.get_cipher_name()
    if error is None:
        # The close_notify is a courtesy; the answer is already recorded.
        with contextlib.suppress(SSL.Error):
            connection.shutdown()
    return _Outcome(
        version=version if version and version != "unknown" else None,
        certificates=certificates,
        cipher=cipher,
        asked_for_certificate=bool(asked),
        error=error,
    )


def _drive(
    step: Callable[[], object], sock: socket.socket, where: str, deadline: float, timeout: float
) -> str | None:
    """Run an OpenSSL step to completion; the reason it failed, or None.

    The socket has a timeout, so it is non-blocking underneath and OpenSSL asks to be
    called again when it can read or write: wait for that, up to the deadline.
    ProbeError on timeout.
    """
    while True:
        try:
            step()
            return None
        except SSL.WantReadError:
            _wait(sock, deadline, readable=True, timeout=timeout, where=where)
        except SSL.WantWriteError:
            _wait(sock, deadline, readable=False, timeout=timeout, where=where)
        except SSL.SysCallError as error:
            return _syscall_reason(error, where)
        except SSL.ZeroReturnError:
            return f"{where} closed the connection during the TLS handshake"
        except SSL.Error as error:
            return f"TLS handshake with {where} failed: {_openssl_reason(error)}"


def _read_after_handshake(
    connection: SSL.Connection, sock: socket.socket, where: str, deadline: float
) -> str | None:
    """What the server says right after the handshake: an alert is a refusal (TLS 1.3's
    certificate_required comes then); data, a clean close or silence is not."""
    until = min(deadline, time.monotonic() + POST_HANDSHAKE_WAIT)
    while True:
        try:
            connection.recv(1)
            return None
        except SSL.WantReadError:
            remaining = until - time.monotonic()
            if remaining <= 0 or select.select([sock], [], [], remaining) == ([], [], []):
                return None
        except (SSL.ZeroReturnError, SSL.SysCallError):
            return None
        except SSL.Error as error:
            return f"{where} refused the connection after the handshake: {_openssl_reason(error)}"


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

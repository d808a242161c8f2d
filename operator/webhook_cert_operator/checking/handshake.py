"""Adapter: TLS handshakes as a client, several at once in one thread.

Adapter (sockets and pyOpenSSL), for `probe.py`. A handshake is written as a step
generator: it yields what it waits for (a socket to become readable or writable, and
until when) and is sent whether that came in time. `run_together` drives several such
steps in the calling thread with one `poll`, so that an endpoint's two handshakes (the
lenient one and the sender's, see `probe.py`) cost one handshake's round trips and no
thread of their own; `driver.SharedRunner` drives the steps of many threads on one. The
client contexts are built once and shared.
"""

from __future__ import annotations

import contextlib
import functools
import select
import socket
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

from cryptography import x509

# pyOpenSSL rather than the standard library's `ssl`: `get_peer_cert_chain()` is its
# public, documented way to read the chain as served (leaf first, in the server's
# order, unverified). The standard library has that only as a private method before
# Python 3.13 (`SSLSocket._sslobj.get_unverified_chain()`). pyOpenSSL also brings its
# own OpenSSL (the one inside `cryptography`), so what the probe can negotiate does
# not depend on the distribution's OpenSSL build or configuration.
from OpenSSL import SSL
from OpenSSL._util import lib as _openssl_lib

from webhook_cert_operator.api.formats import is_ip_address
from webhook_cert_operator.checking.served import Failure, ProbeError
from webhook_cert_operator.checking.target import ascii_host

Wait = tuple[socket.socket, bool, float]
"""What a step waits for: (socket, True to read or False to write, until on the
`time.monotonic` clock). The step is sent True when the socket is ready, else False."""

T = TypeVar("T")
Step = Generator[Wait, bool, T]


class Runner(Protocol):
    """What runs steps to their ends: `run_together`, or `driver.SharedRunner`."""

    def __call__(self, steps: Sequence[Step[T]], /) -> list[T | ProbeError]: ...


def run_together(steps: Sequence[Step[T]]) -> list[T | ProbeError]:
    """Run `steps` to their ends in this thread; what each returned, or the ProbeError it
    raised, in order. Any other exception propagates, and every step is closed."""
    results: dict[int, T | ProbeError] = {}
    waits: dict[int, Wait] = {}

    def advance(index: int, ready: bool | None) -> None:
        try:
            waits[index] = steps[index].send(ready)  # type: ignore[arg-type]
        except StopIteration as done:
            results[index] = done.value
            waits.pop(index, None)
        except ProbeError as error:
            results[index] = error
            waits.pop(index, None)

    try:
        for index in range(len(steps)):
            advance(index, None)
        while waits:
            for index in _ready(waits):
                advance(index, True)
            now = time.monotonic()
            for index in [i for i, (_, _, until) in waits.items() if until <= now]:
                advance(index, False)
    finally:
        for step in steps:
            step.close()
    return [results[index] for index in range(len(steps))]


def _ready(waits: dict[int, Wait]) -> list[int]:
    """The waits whose socket is ready, after polling until the earliest `until`."""
    poller = select.poll()
    for sock, readable, _ in waits.values():
        poller.register(sock, select.POLLIN if readable else select.POLLOUT)
    remaining = min(until for _, _, until in waits.values()) - time.monotonic()
    events = dict(poller.poll(max(0.0, remaining) * 1000))
    # An error or hang-up is ready too: the step's next call finds out what happened.
    return [index for index, (sock, _, _) in waits.items() if events.get(sock.fileno())]


@functools.cache
def _client_context(*, sender: bool) -> SSL.Context:
    """The context of one kind of handshake, built once and shared by every connection
    and thread (OpenSSL contexts are safe to share once set up): building one costs as
    much CPU as a tenth of a handshake. Clients keep no sessions, so nothing carries
    over from one connection to the next. A sender's connection records in its app data
    (a list) whether its server asked for a client certificate."""
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    if sender:
        # What Go's crypto/tls, Java and OpenSSL clients all offer: TLS 1.2 and 1.3,
        # ECDHE key exchange with AES-GCM, ChaCha20-Poly1305 or AES-CBC with SHA-1 (Go
        # dropped RSA key exchange from its defaults in 1.22 and never enabled the
        # CBC-SHA256/384 suites by default); TLS 1.3 suites are OpenSSL's defaults.
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        context.set_cipher_list(SENDER_CIPHERS)
        _offer_groups(context, SENDER_GROUPS)
        # Only the sender's outcome says whether a certificate was asked for, so only its
        # handshakes pay for the callback (a call into Python at every state change).
        context.set_info_callback(_record_certificate_request)
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
    return context


def _record_certificate_request(connection: SSL.Connection, where: int, ret: int) -> None:
    # OpenSSL names the state it is in; a CertificateRequest shows as
    # "SSLv3/TLS read server certificate request" (pyOpenSSL has no message callback).
    if b"certificate request" in connection.get_state_string():
        connection.get_app_data().append(True)


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
class Outcome:
    """One handshake: the protocol version, the chain as served (lenient handshakes
    only), the cipher suite, whether the server asked for a client certificate (sender
    handshakes only), and why it failed (None when it did not)."""

    version: str | None
    certificates: tuple[x509.Certificate, ...]
    cipher: str | None
    asked_for_certificate: bool
    error: str | None


#: How long a sender's handshake waits for what the server says right after it.
POST_HANDSHAKE_WAIT: Final = 0.3


def handshake(
    sock: socket.socket,
    where: str,
    server_name: str,
    deadline: float,
    timeout: float,
    *,
    sender: bool,
) -> Step[Outcome]:
    """A handshake on the connected, non-blocking `sock`, sending SNI `server_name`:
    lenient, or as a sender makes it. ProbeError when `deadline` passes."""
    asked: list[bool] = []
    connection = SSL.Connection(_client_context(sender=sender), sock)
    connection.set_app_data(asked)
    if not is_ip_address(server_name.strip("[]")):
        # RFC 6066 section 3: SNI carries DNS names only, never IP literals.
        connection.set_tlsext_host_name(ascii_host(server_name).rstrip(".").encode("ascii"))
    connection.set_connect_state()
    error = yield from _drive(connection.do_handshake, sock, where, deadline, timeout)
    if error is None and sender and asked:
        # Only a server that asked for a client certificate refuses a client without one
        # after the handshake (TLS 1.3's certificate_required, RFC 8446 section 4.4.2.4);
        # waiting on any other server would only cost the wait.
        error = yield from _read_after_handshake(connection, sock, where, deadline)
    # The sender's handshake is judged on its outcome; the chain is the lenient one's.
    served = None if sender else connection.get_peer_cert_chain(as_cryptography=True)
    version = connection.get_protocol_version_name()
    cipher = connection.get_cipher_name()
    if error is None:
        # The close_notify is a courtesy; the answer is already recorded.
        with contextlib.suppress(SSL.Error):
            connection.shutdown()
    return Outcome(
        version=version if version and version != "unknown" else None,
        certificates=tuple(served or []),
        cipher=cipher,
        asked_for_certificate=bool(asked),
        error=error,
    )


def _drive(
    step: Callable[[], object], sock: socket.socket, where: str, deadline: float, timeout: float
) -> Step[str | None]:
    """Run an OpenSSL step to completion; the reason it failed, or None.

    The socket is non-blocking, so OpenSSL asks to be called again when it can read or
    write: wait for that, up to the deadline. ProbeError on timeout.
    """
    while True:
        try:
            step()
            return None
        except SSL.WantReadError:
            readable = True
        except SSL.WantWriteError:
            readable = False
        except SSL.SysCallError as error:
            return _syscall_reason(error, where)
        except SSL.ZeroReturnError:
            return f"{where} closed the connection during the TLS handshake"
        except SSL.Error as error:
            return f"TLS handshake with {where} failed: {_openssl_reason(error)}"
        if not (yield sock, readable, deadline):
            reason = f"timed out after {timeout:g}s in the TLS handshake with {where}"
            raise ProbeError(Failure.TIMEOUT, reason)


def _read_after_handshake(
    connection: SSL.Connection, sock: socket.socket, where: str, deadline: float
) -> Step[str | None]:
    """What the server says right after the handshake: an alert is a refusal (TLS 1.3's
    certificate_required comes then); data, a clean close or silence is not."""
    until = min(deadline, time.monotonic() + POST_HANDSHAKE_WAIT)
    while True:
        try:
            connection.recv(1)
            return None
        except SSL.WantReadError:
            if not (yield sock, True, until):
                return None
        except (SSL.ZeroReturnError, SSL.SysCallError):
            return None
        except SSL.Error as error:
            return f"{where} refused the connection after the handshake: {_openssl_reason(error)}"


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

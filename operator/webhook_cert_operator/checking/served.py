"""Pure: what a probe of an endpoint gives, the chain served at each address or why none.

The values the TLS probe (probe.py, the adapter) returns and the report (report.py)
judges: no connection is a `ProbeError` with a `Failure`, a connection a `ServedChain`
with the protocol, the certificates in served order, and what a sender's own handshake
got (a cipher suite, or a `Refusal`).

No I/O, no clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography import x509


class Failure(enum.StrEnum):
    """Why no TLS connection was made."""

    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    NETWORK = "network"
    #: This machine has no route to the address (typically: an IPv6 address from a
    #: network without IPv6). Says nothing about the endpoint.
    NO_ROUTE = "no-route"
    HANDSHAKE = "handshake"


class ProbeError(Exception):
    """No TLS connection. `reason` is stable text (no timings, no ephemeral ports);
    `address` the address ("192.0.2.1:443") that failed, when one was dialled."""

    def __init__(self, failure: Failure, reason: str, address: str | None = None) -> None:
        super().__init__(reason)
        self.failure = failure
        self.reason = reason
        self.address = address


class RefusalKind(enum.StrEnum):
    """Why a sender's handshake failed where the lenient one got a chain."""

    CLIENT_CERTIFICATE = "client-certificate"
    HANDSHAKE = "handshake"


@dataclass(frozen=True)
class Refusal:
    """A sender's handshake failed: `reason` is stable text (OpenSSL's reason, no ports)."""

    kind: RefusalKind
    reason: str


@dataclass(frozen=True)
class ServedChain:
    """What the server sent: the protocol as OpenSSL names it ("TLSv1.3"), the
    certificates in served order, and the address that answered ("192.0.2.1:443").

    `cipher_suite` is what a sender's handshake negotiated (OpenSSL's name), None when
    it failed; `refusal` says why it failed.
    """

    tls_version: str
    certificates: tuple[x509.Certificate, ...]
    address: str
    cipher_suite: str | None = None
    refusal: Refusal | None = None
    #: What the host's other addresses gave, in resolution order: every A and AAAA
    #: record is a server a sender may reach, so each is probed and judged.
    others: tuple[ServedChain | ProbeError, ...] = ()

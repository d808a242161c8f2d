"""Pure: the served-chain check's vocabulary, finding codes, severities and findings.

Each finding has a stable code (a public contract, used in status, metrics, JSON, the
CRD's documentation and the docs), the severity its code always has, and a message that
names the certificates involved. A chain is valid when no finding is an error. The
findings of the handshake (probe.py) and of a sender profile's request (senders.py) are
spelled here too, so that all of them share one order.

No I/O, no clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class Severity(enum.StrEnum):
    """An error makes the chain invalid (a strict sender refuses it); a warning does not."""

    ERROR = "error"
    WARNING = "warning"


class Code(enum.StrEnum):
    """Finding codes. Their spelling is a public contract: never rename one."""

    INCOMPLETE_CHAIN = "incomplete-chain"
    UNTRUSTED_ROOT = "untrusted-root"
    EXPIRED = "expired"
    INTERMEDIATE_EXPIRED = "intermediate-expired"
    HOSTNAME_MISMATCH = "hostname-mismatch"
    TLS_VERSION = "tls-version"
    STALE_CERTIFICATE = "stale-certificate"
    CONNECTION_FAILED = "connection-failed"
    # The chain breaks a rule strict verifiers apply that no code below names (an
    # unhandled critical extension).
    POLICY_VIOLATION = "policy-violation"
    WRONG_ORDER = "wrong-order"
    ROOT_INCLUDED = "root-included"
    UNRELATED_CERTIFICATE = "unrelated-certificate"
    EXPIRING_SOON = "expiring-soon"
    PARTIAL_CHAIN = "partial-chain"
    # Rules every strict client family applies to each certificate of the path.
    ROOT_EXPIRED = "root-expired"
    KEY_IDENTIFIER_MISMATCH = "key-identifier-mismatch"
    WEAK_SIGNATURE = "weak-signature"
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
    WEAK_KEY = "weak-key"
    INVALID_CA = "invalid-ca"
    KEY_USAGE = "key-usage"
    NAME_CONSTRAINTS = "name-constraints"
    # The handshake as a sender makes it (probe.py).
    CLIENT_CERTIFICATE_REQUIRED = "client-certificate-required"
    HANDSHAKE_FAILED = "handshake-failed"
    # A sender profile's validation request (senders.py).
    SENDER_NO_ANSWER = "sender-no-answer"
    SENDER_STATUS = "sender-status"
    SENDER_TOO_SLOW = "sender-too-slow"
    SENDER_TOKEN_NOT_ECHOED = "sender-token-not-echoed"


#: Each code's severity. Findings are listed in this order, so the first error is the
#: most fundamental one (it becomes the ChainValid condition's reason).
SEVERITY: Mapping[Code, Severity] = {
    Code.CONNECTION_FAILED: Severity.ERROR,
    Code.HANDSHAKE_FAILED: Severity.ERROR,
    Code.CLIENT_CERTIFICATE_REQUIRED: Severity.ERROR,
    Code.INCOMPLETE_CHAIN: Severity.ERROR,
    Code.KEY_IDENTIFIER_MISMATCH: Severity.ERROR,
    Code.UNTRUSTED_ROOT: Severity.ERROR,
    Code.EXPIRED: Severity.ERROR,
    Code.INTERMEDIATE_EXPIRED: Severity.ERROR,
    Code.ROOT_EXPIRED: Severity.ERROR,
    Code.HOSTNAME_MISMATCH: Severity.ERROR,
    Code.WEAK_SIGNATURE: Severity.ERROR,
    Code.UNSUPPORTED_ALGORITHM: Severity.ERROR,
    Code.WEAK_KEY: Severity.ERROR,
    Code.INVALID_CA: Severity.ERROR,
    Code.KEY_USAGE: Severity.ERROR,
    Code.NAME_CONSTRAINTS: Severity.ERROR,
    Code.TLS_VERSION: Severity.ERROR,
    Code.STALE_CERTIFICATE: Severity.ERROR,
    Code.POLICY_VIOLATION: Severity.ERROR,
    Code.SENDER_NO_ANSWER: Severity.ERROR,
    Code.SENDER_STATUS: Severity.ERROR,
    Code.SENDER_TOO_SLOW: Severity.ERROR,
    Code.SENDER_TOKEN_NOT_ECHOED: Severity.ERROR,
    Code.WRONG_ORDER: Severity.WARNING,
    Code.ROOT_INCLUDED: Severity.WARNING,
    Code.UNRELATED_CERTIFICATE: Severity.WARNING,
    Code.EXPIRING_SOON: Severity.WARNING,
    Code.PARTIAL_CHAIN: Severity.WARNING,
}
_ORDER = {code: index for index, code in enumerate(SEVERITY)}


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a served chain: its `code`, the severity that code always has
    (`SEVERITY`), and a message that names the certificates involved (stable for a given
    state, so that it does not churn the status)."""

    code: Code
    severity: Severity
    message: str


def finding(code: Code, message: str) -> Finding:
    """A finding with the severity its code always has."""
    return Finding(code, SEVERITY[code], message)


def connection_failed(reason: str) -> Finding:
    """The finding for an endpoint that gave no TLS connection (refused, timeout, DNS...)."""
    return finding(Code.CONNECTION_FAILED, f"no TLS connection: {reason}")


def client_certificate_required(reason: str) -> Finding:
    """The server refused a sender's handshake after asking for a client certificate.

    Webhook senders present none: RingCentral, Stripe or GitHub cannot deliver to an
    endpoint that requires mutual TLS (RFC 8446 section 4.4.2.4: a TLS 1.3 server then
    sends certificate_required after the client's Finished; TLS 1.2 ones fail the
    handshake)."""
    return finding(
        Code.CLIENT_CERTIFICATE_REQUIRED,
        f"the server asks for a client certificate and refuses a client without one, as "
        f"webhook senders are ({reason}); require it only at the HTTP level, or not at all",
    )


def handshake_failed(reason: str) -> Finding:
    """A handshake made as senders make it (TLS >= 1.2, the ECDHE suites and groups that
    Go, Java and OpenSSL clients all offer, no client certificate) failed although the
    server answered a lenient one: no common version, cipher suite or group, typically
    (Go has no X448 and no finite-field groups)."""
    return finding(
        Code.HANDSHAKE_FAILED,
        f"a handshake as webhook senders make it (TLS 1.2 or 1.3, ECDHE on X25519 or "
        f"P-256/384/521 with AES-GCM, ChaCha20 or AES-CBC-SHA) failed: {reason}",
    )


def is_valid(findings: Iterable[Finding]) -> bool:
    """A chain is valid when no finding is an error; warnings do not count."""
    return all(f.severity is not Severity.ERROR for f in findings)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings errors first, in the fixed order of `SEVERITY` (stable within a code)."""
    return sorted(findings, key=lambda f: _ORDER[f.code])

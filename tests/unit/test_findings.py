"""Unit tests of the finding vocabulary (`findings.py`): codes, severities, validity."""

from __future__ import annotations

import pytest

from webhook_cert_operator.checking.findings import (
    SEVERITY,
    Code,
    Severity,
    connection_failed,
    finding,
    is_valid,
)

ISSUE_TABLE = {
    "incomplete-chain": "error",
    "untrusted-root": "error",
    "expired": "error",
    "intermediate-expired": "error",
    "hostname-mismatch": "error",
    "tls-version": "error",
    "stale-certificate": "error",
    "connection-failed": "error",
    "wrong-order": "warning",
    "root-included": "warning",
    "unrelated-certificate": "warning",
    "expiring-soon": "warning",
    "policy-violation": "error",
    "root-expired": "error",
    "key-identifier-mismatch": "error",
    "weak-signature": "error",
    "unsupported-algorithm": "error",
    "weak-key": "error",
    "invalid-ca": "error",
    "key-usage": "error",
    "partial-chain": "warning",
    "name-constraints": "error",
    "client-certificate-required": "error",
    "handshake-failed": "error",
}


@pytest.mark.parametrize(("code", "severity"), ISSUE_TABLE.items(), ids=ISSUE_TABLE.keys())
def test_each_public_code_keeps_its_spelling_and_severity(code: str, severity: str) -> None:
    assert SEVERITY[Code(code)] == Severity(severity)


def test_connection_failed_is_an_error_with_the_reason() -> None:
    f = connection_failed("connection refused by 192.0.2.1:443")
    assert (f.code, f.severity) == (Code.CONNECTION_FAILED, Severity.ERROR)
    assert "connection refused by 192.0.2.1:443" in f.message
    assert not is_valid([f])


def test_warnings_alone_leave_a_chain_valid() -> None:
    assert is_valid([finding(Code.WRONG_ORDER, "x")])
    assert is_valid([])

"""Unit tests of the report on an endpoint (`report.py`): summaries, JSON, addresses."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from tests.unit.chain_cases import CASES, DAY, HOST, LEAF, UPPER, analyse
from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.checking.certs import fingerprint
from webhook_cert_operator.checking.findings import Code, Finding, finding
from webhook_cert_operator.checking.report import (
    ChainReport,
    combine_reports,
    report_to_json,
    summarise,
)


def test_summaries_keep_the_served_order() -> None:
    summaries = summarise([LEAF, UPPER.cert])
    assert [s.subject for s in summaries] == [
        f"CN={HOST}",
        "CN=Good Intermediate CA 1,O=Test PKI",
    ]
    assert summaries[0].issuer == "CN=Good Intermediate CA 2,O=Test PKI"
    assert summaries[0].not_after == LEAF.not_valid_after_utc
    assert len(summaries[0].sha256) == 64


def test_the_json_report_has_the_public_keys() -> None:
    report = ChainReport(
        url=f"https://{HOST}/",
        tls_version="TLSv1.3",
        served_chain=summarise([LEAF]),
        findings=tuple(analyse(CASES["a leaf served alone"])),
    )
    data = report_to_json(report)
    assert data["ok"] is False
    assert data["tls_version"] == "TLSv1.3"
    assert data["served_chain"] == [
        {
            "subject": f"CN={HOST}",
            "issuer": "CN=Good Intermediate CA 2,O=Test PKI",
            "not_after": format_time(LEAF.not_valid_after_utc),
            "sha256": fingerprint(LEAF),
        }
    ]
    findings = data["findings"]
    assert isinstance(findings, list)
    assert findings[0]["code"] == "incomplete-chain"
    assert findings[0]["severity"] == "error"


def test_times_are_shown_in_utc_to_the_second() -> None:
    moment = datetime.datetime(2026, 5, 1, 14, 30, 15, 999, tzinfo=datetime.timezone(DAY / 12))
    assert format_time(moment) == "2026-05-01T12:30:15Z"


def _report(address: str, findings: Sequence[Finding]) -> ChainReport:
    return ChainReport(
        url=f"https://{HOST}/",
        tls_version="TLSv1.3",
        served_chain=(),
        findings=tuple(findings),
        address=address,
    )


def test_addresses_that_agree_are_reported_once() -> None:
    warning = finding(Code.ROOT_INCLUDED, "the root is served")
    combined = combine_reports(
        [_report("192.0.2.1:443", [warning]), _report("[2001:db8::1]:443", [warning])]
    )
    assert combined.findings == (warning,)
    assert combined.ok
    assert [(a.address, a.ok) for a in combined.addresses] == [
        ("192.0.2.1:443", True),
        ("[2001:db8::1]:443", True),
    ]


def test_one_failing_address_fails_the_host_and_is_named() -> None:
    missing = finding(Code.INCOMPLETE_CHAIN, "missing issuer")
    combined = combine_reports([_report("192.0.2.1:443", []), _report("192.0.2.2:443", [missing])])
    assert not combined.ok
    assert [f.message for f in combined.findings] == ["at 192.0.2.2:443: missing issuer"]
    assert combined.address == "192.0.2.2:443"

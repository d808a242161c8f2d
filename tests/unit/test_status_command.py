"""`webhook-cert status NAMESPACE/NAME`: what it reports, how, and its exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from webhook_cert_operator import __main__
from webhook_cert_operator.cli import status as status_command
from webhook_cert_operator.kube import Secret
from webhook_cert_operator.kube_client import ApiError

NOW = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
SHA_STORED = "a" * 64
SHA_OLD = "b" * 64


def endpoint(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "payments", "name": "ringcentral", "generation": 2},
        "spec": {"dnsNames": ["hooks.example.com"]},
        "status": {"observedGeneration": 2, **status},
    }


def condition(kind: str, value: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": kind, "status": value, "reason": reason, "message": message}


HEALTHY = endpoint(
    conditions=[
        condition("Ready", "True", "Issued", "certificate valid until 2027-02-28T17:00:00Z"),
        condition("Issuing", "False", "Issued", "certificate issued"),
        condition("ChainValid", "True", "ChainValid", "the served chain is valid"),
    ],
    serialNumber="04ab",
    issuer="CN=Pebble Intermediate CA",
    dnsNames=["hooks.example.com"],
    notBefore="2026-11-30T16:00:00Z",
    notAfter="2027-02-28T16:00:00Z",
    renewalTime="2027-01-28T10:00:00Z",
    renewal={
        "ariWindowStart": "2027-01-27T00:00:00Z",
        "ariWindowEnd": "2027-01-29T00:00:00Z",
        "ariSelectedTime": "2027-01-28T10:00:00Z",
        "ariFetched": "2026-11-30T16:01:00Z",
    },
    validation={
        "lastChecked": "2026-11-30T16:58:00Z",
        "tlsVersion": "TLSv1.3",
        "servedChain": [
            {
                "subject": "CN=hooks.example.com",
                "issuer": "CN=Pebble Intermediate CA",
                "notAfter": "2027-02-28T16:00:00Z",
                "sha256": SHA_STORED,
            },
        ],
        "findings": [],
    },
)


class Cluster:
    def __init__(
        self,
        endpoint: dict[str, Any] | None,
        *,
        events: list[dict[str, Any]] | None = None,
        secret_forbidden: bool = False,
        events_forbidden: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.events = events or []
        self.secret_forbidden = secret_forbidden
        self.events_forbidden = events_forbidden
        self.secret_reads: list[tuple[str, str]] = []

    def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.endpoint

    def get_secret(self, namespace: str, name: str) -> Secret | None:
        self.secret_reads.append((namespace, name))
        if self.secret_forbidden:
            raise ApiError(403, "Forbidden")
        return None

    def list_events(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        if self.events_forbidden:
            raise ApiError(403, "Forbidden")
        return self.events


def run(cluster: Cluster, *argv: str) -> int:
    args = __main__.build_parser(["status"]).parse_args(["status", "payments/ringcentral", *argv])
    return status_command.run(args, api_factory=lambda _: cluster, clock=lambda: NOW)


def test_a_ready_endpoint_with_a_valid_chain_is_healthy_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster = Cluster(HEALTHY)
    assert run(cluster) == status_command.EXIT_HEALTHY
    out = capsys.readouterr().out
    assert out.startswith("WebhookEndpoint payments/ringcentral: healthy")
    assert "TLSv1.3" in out
    assert "renewal window the CA suggests" in out
    assert "2027-01-28T10:00:00Z (in 58d 17h)" in out
    # The Secret named by default is read, to compare its leaf with the served one.
    assert cluster.secret_reads == [("payments", "ringcentral-tls")]


def test_a_failing_renewal_shows_the_reason_and_the_back_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    failing = endpoint(
        **{
            **HEALTHY["status"],
            "conditions": [
                condition("Ready", "True", "Issued"),
                condition("Issuing", "False", "SelfCheckFailed", "answered HTTP 404"),
                condition("ChainValid", "True", "ChainValid"),
            ],
            "failedAttempts": 2,
            "lastFailureTime": "2026-11-30T16:50:00Z",
            "lastFailureReason": "self-check: http://hooks.example.com/... answered HTTP 404",
            "nextAttemptTime": "2026-11-30T17:00:00Z",
        }
    )
    assert run(Cluster(failing)) == status_command.EXIT_HEALTHY  # still Ready: no outage
    out = capsys.readouterr().out
    assert "Last failure (2 in a row) 2026-11-30T16:50:00Z (10m ago)" in out
    assert "answered HTTP 404" in out
    assert "next attempt 2026-11-30T17:00:00Z (in 0m) (back-off)" in out


@pytest.mark.parametrize(
    ("conditions", "healthy"),
    [
        pytest.param([condition("Ready", "False", "Issuing")], False, id="not-ready"),
        pytest.param(
            [
                condition("Ready", "True", "Issued"),
                condition("ChainValid", "False", "IncompleteChain"),
            ],
            False,
            id="chain-invalid",
        ),
        pytest.param(
            [condition("Ready", "True", "Issued"), condition("ChainValid", "Unknown", "Checking")],
            True,
            id="chain-not-yet-checked",
        ),
        pytest.param([], False, id="no-status-yet"),
    ],
)
def test_an_endpoint_needs_attention_when_not_ready_or_its_chain_is_invalid(
    conditions: list[dict[str, str]], healthy: bool
) -> None:
    expected = status_command.EXIT_HEALTHY if healthy else status_command.EXIT_ATTENTION
    assert run(Cluster(endpoint(conditions=conditions))) == expected


def test_a_served_leaf_other_than_the_stored_one_is_called_out() -> None:
    report = status_command.describe(
        HEALTHY, stored_sha256=SHA_OLD, secret_readable=True, events=[]
    )
    assert report["served"]["sameAsStored"] is False
    text = status_command.format_status(report, NOW)
    assert "serves ANOTHER certificate than the stored one" in text


def test_json_output_is_the_report_and_lists_recent_events(
    capsys: pytest.CaptureFixture[str],
) -> None:
    events = [
        {
            "metadata": {"name": f"e{i}"},
            "type": "Normal",
            "reason": "Step",
            "message": f"m{i}",
            "lastTimestamp": f"2026-11-30T16:{i:02d}:00Z",
            "count": 1,
        }
        for i in range(15)
    ]
    assert run(Cluster(HEALTHY, events=events), "-o", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["namespace"] == "payments" and report["healthy"] is True
    assert [e["message"] for e in report["events"]] == [f"m{i}" for i in range(5, 15)]
    assert report["renewal"]["time"] == "2027-01-28T10:00:00Z"
    assert report["stored"]["serialNumber"] == "04ab"
    assert report["served"]["leaf"]["sha256"] == SHA_STORED
    assert report["failure"] is None


def test_without_rights_on_secrets_and_events_it_still_reports_and_says_what_is_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster = Cluster(HEALTHY, secret_forbidden=True, events_forbidden=True)
    assert run(cluster) == status_command.EXIT_HEALTHY
    out = capsys.readouterr().out
    assert "the Secret could not be read" in out
    assert "no `list` on events" in out


def test_a_missing_endpoint_exits_3_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(Cluster(None)) == status_command.EXIT_UNAVAILABLE
    assert capsys.readouterr().err == (
        "webhook-cert status: WebhookEndpoint payments/ringcentral not found\n"
    )


def test_a_refused_read_of_the_endpoint_exits_3_and_names_the_http_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Refusing(Cluster):
        def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None:
            raise ApiError(403, "Forbidden")

    assert run(Refusing(None)) == status_command.EXIT_UNAVAILABLE
    assert "forbidden (HTTP 403)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        pytest.param({}, {}, "no certificate stored yet", id="first-issuance"),
        pytest.param(
            {"renewBefore": "720h"}, {"renewalTime": "x"}, "spec.renewBefore: 720h", id="override"
        ),
        pytest.param(
            {},
            {"renewalTime": "x", "renewal": {"ariError": "the CA answered HTTP 500"}},
            "renewal information is unavailable: the CA answered HTTP 500",
            id="ari-failed",
        ),
        pytest.param({}, {"renewalTime": "x"}, "offers no renewal information", id="no-ari"),
    ],
)
def test_the_renewal_time_comes_with_its_reason(
    spec: dict[str, Any], status: dict[str, Any], expected: str
) -> None:
    assert expected in status_command.renewal_reason(spec, status)


def test_the_parser_needs_a_reference() -> None:
    with pytest.raises(SystemExit) as exit_info:
        __main__.build_parser(["status"]).parse_args(["status"])
    assert exit_info.value.code == 2


def test_events_of_the_same_second_keep_the_order_they_were_written_in() -> None:
    from webhook_cert_operator.kube import event_order

    def event(version: str, time: str) -> dict[str, Any]:
        return {"metadata": {"resourceVersion": version}, "lastTimestamp": time}

    written = [
        event("98", "2026-11-30T17:00:01Z"),
        event("100", "2026-11-30T17:00:02Z"),
        event("101", "2026-11-30T17:00:02Z"),
        event("99", "2026-11-30T17:00:02Z"),
    ]
    ordered = sorted(written, key=event_order)
    assert [e["metadata"]["resourceVersion"] for e in ordered] == ["98", "99", "100", "101"]


def test_event_times_are_written_like_every_other_time_of_the_report() -> None:
    events = [
        {
            "metadata": {"name": "e"},
            "type": "Normal",
            "reason": "Issued",
            "message": "m",
            "lastTimestamp": "2026-11-30T17:55:31+00:00",
        }
    ]
    report = status_command.describe(
        HEALTHY, stored_sha256=None, secret_readable=False, events=events
    )
    assert report["events"][0]["time"] == "2026-11-30T17:55:31Z"


def test_an_acme_leaf_without_subject_is_shown_as_such_beside_the_stored_serial() -> None:
    served = {**HEALTHY["status"]["validation"]["servedChain"][0], "subject": ""}
    status = {**HEALTHY["status"], "validation": {"servedChain": [served], "findings": []}}
    report = status_command.describe(
        {**HEALTHY, "status": status}, stored_sha256=SHA_STORED, secret_readable=True, events=[]
    )
    text = status_command.format_status(report, NOW)
    assert "leaf             serial 04ab" in text
    assert text.split("serial 04ab", 1)[1].lstrip().startswith("(no subject: names in SAN only)")

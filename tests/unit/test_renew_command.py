"""`webhook-cert renew NAMESPACE/NAME`: the annotation it sets, its output and exit codes."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from webhook_cert_operator import __main__
from webhook_cert_operator.certificates import policies
from webhook_cert_operator.cli import renew as renew_command
from webhook_cert_operator.cli.references import parse_reference
from webhook_cert_operator.cli.renew import request_value

NOW = datetime(2026, 11, 30, 17, 0, 0, 250000, tzinfo=UTC)


class Endpoints:
    """WebhookEndpoints by (namespace, name), and the patches sent."""

    def __init__(self, **annotations_by_name: dict[str, str]) -> None:
        self.objects = {
            ("payments", name): {"metadata": {"annotations": annotations}}
            for name, annotations in annotations_by_name.items()
        }
        self.patches: list[tuple[str, str, dict[str, Any]]] = []

    def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((namespace, name))

    def patch_endpoint(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.patches.append((namespace, name, patch))

    def list_events(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        return []


def parse(*argv: str) -> argparse.Namespace:
    return __main__.build_parser().parse_args(["renew", *argv])


def run(endpoints: Endpoints, *argv: str) -> int:
    return renew_command.run(parse(*argv), api=lambda _: endpoints, clock=lambda: NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("payments/ringcentral", ("payments", "ringcentral"), id="simple"),
        pytest.param("a/hooks.example.com", ("a", "hooks.example.com"), id="dotted-name"),
    ],
)
def test_a_reference_is_namespace_slash_name(text: str, expected: tuple[str, str]) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("ringcentral", "is not NAMESPACE/NAME", id="no-slash"),
        pytest.param("Payments/x", "is not a namespace name", id="upper-case-namespace"),
        pytest.param("payments/", "is not a WebhookEndpoint name", id="empty-name"),
        pytest.param("payments/a/b", "is not a WebhookEndpoint name", id="two-slashes"),
    ],
)
def test_a_malformed_reference_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_reference(text)


def test_the_value_is_the_unix_time_unless_that_is_already_set() -> None:
    assert request_value(NOW, None) == "1796058000"
    assert request_value(NOW, "1796058000") == "1796058000.250000"


def test_renew_sets_only_the_annotation_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    endpoints = Endpoints(ringcentral={})
    assert run(endpoints, "payments/ringcentral") == renew_command.EXIT_REQUESTED
    assert endpoints.patches == [
        (
            "payments",
            "ringcentral",
            {"metadata": {"annotations": {policies.RENEW_ANNOTATION: "1796058000"}}},
        )
    ]
    assert "renewal requested for payments/ringcentral" in capsys.readouterr().out


def test_each_request_is_a_new_value_the_operator_honours_once() -> None:
    endpoints = Endpoints(ringcentral={policies.RENEW_ANNOTATION: "1796058000"})
    run(endpoints, "payments/ringcentral")
    value = endpoints.patches[0][2]["metadata"]["annotations"][policies.RENEW_ANNOTATION]
    assert policies.renew_requested(value, last_honoured="1796058000")


def test_json_output_names_the_annotation_and_value(capsys: pytest.CaptureFixture[str]) -> None:
    run(Endpoints(ringcentral={}), "payments/ringcentral", "-o", "json")
    assert json.loads(capsys.readouterr().out) == {
        "namespace": "payments",
        "name": "ringcentral",
        "annotation": "webhookcert.dev/renew",
        "value": "1796058000",
    }


def test_a_missing_endpoint_exits_1_and_patches_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoints = Endpoints()
    assert run(endpoints, "payments/ringcentral") == renew_command.EXIT_NOT_FOUND
    assert endpoints.patches == []
    assert "WebhookEndpoint payments/ringcentral not found" in capsys.readouterr().err


def test_a_bad_reference_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("ringcentral")
    assert exited.value.code == renew_command.EXIT_USAGE
    assert "is not NAMESPACE/NAME" in capsys.readouterr().err


class Renewing(Endpoints):
    """An endpoint whose status moves through `states` (one per poll), with its Events."""

    def __init__(self, states: list[dict[str, Any]], events: list[list[dict[str, Any]]]) -> None:
        super().__init__(ringcentral={})
        self.states = states
        self.event_lists = events
        self.polls = 0

    def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None:
        state = self.states[min(self.polls, len(self.states) - 1)]
        return {"metadata": {"annotations": {}}, "status": state}

    def list_events(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        events = self.event_lists[min(self.polls, len(self.event_lists) - 1)]
        self.polls += 1
        return events


def issuing(reason: str, order: str | None = None, **more: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [{"type": "Issuing", "status": "True", "reason": reason, "message": reason}],
        **more,
    }
    if order:
        status["order"] = {"state": order}
    return status


OLD_EVENT = {"metadata": {"name": "old"}, "type": "Normal", "reason": "Issued", "message": "old"}
NEW_EVENT = {
    "metadata": {"name": "new"},
    "type": "Normal",
    "reason": "OrderCreated",
    "message": "ACME order created",
}


def test_renew_wait_prints_each_step_once_and_exits_0_when_the_request_is_honoured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    done = {
        **issuing("Issued"),
        "renewal": {"lastRenewRequest": "1796058000"},
        "serialNumber": "05cd",
        "notAfter": "2027-02-28T17:00:00Z",
    }
    endpoints = Renewing(
        states=[{}, {}, issuing("Ordering", "pending"), issuing("Ordering", "pending"), done],
        events=[[OLD_EVENT], [OLD_EVENT], [OLD_EVENT, NEW_EVENT], [OLD_EVENT, NEW_EVENT]],
    )
    args = parse("payments/ringcentral", "--wait")
    status = renew_command.run(
        args, api=lambda _: endpoints, clock=lambda: NOW, sleep=lambda _: None
    )
    out = capsys.readouterr().out
    assert status == renew_command.EXIT_REQUESTED
    assert "event Normal OrderCreated: ACME order created" in out
    assert out.count("(ACME order pending)") == 1  # shown when it changes, not at each poll
    assert "old" not in out.replace("older", "")  # events from before the request are not news
    assert out.rstrip().endswith(
        "renewed: serial 05cd, valid until 2027-02-28T17:00:00Z, next renewal None"
    )


def test_renew_wait_exits_4_on_a_new_failure_and_says_when_it_is_retried(
    capsys: pytest.CaptureFixture[str],
) -> None:
    failed = {
        "failedAttempts": 1,
        "lastFailureReason": "self-check: answered HTTP 404",
        "nextAttemptTime": "2026-11-30T17:01:00Z",
    }
    endpoints = Renewing(states=[{}, {}, failed], events=[[]])
    args = parse("payments/ringcentral", "--wait", "-o", "json")
    status = renew_command.run(
        args, api=lambda _: endpoints, clock=lambda: NOW, sleep=lambda _: None
    )
    captured = capsys.readouterr()
    assert status == renew_command.EXIT_FAILED
    assert json.loads(captured.out)["outcome"] == "failed"
    # With -o json the steps go to stderr, so stdout stays one JSON document.
    assert "failed: self-check: answered HTTP 404; the operator tries again at " in captured.err


def test_renew_wait_gives_up_after_the_timeout_with_exit_5() -> None:
    endpoints = Renewing(states=[{}], events=[[]])
    clock = iter(range(0, 1000, 10))
    request = renew_command.RenewRequest("payments", "ringcentral", "1")
    lines: list[str] = []
    outcome = renew_command.wait_for_renewal(
        endpoints,
        request,
        renew_command.Progress.start("1", {}, []),
        timeout=30,
        emit=lines.append,
        sleep=lambda _: None,
        monotonic=lambda: float(next(clock)),
    )
    assert outcome == "timeout"
    assert lines[-1].endswith("still not renewed after 30s; giving up waiting")

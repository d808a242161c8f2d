"""`webhook-cert renew NAMESPACE/NAME`: the annotation it sets, its output and exit codes."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from webhook_cert_operator import __main__, renew_command, renewal
from webhook_cert_operator.cli_kube import parse_reference
from webhook_cert_operator.renew_command import request_value

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
            {"metadata": {"annotations": {renewal.RENEW_ANNOTATION: "1796058000"}}},
        )
    ]
    assert "renewal requested for payments/ringcentral" in capsys.readouterr().out


def test_each_request_is_a_new_value_the_operator_honours_once() -> None:
    endpoints = Endpoints(ringcentral={renewal.RENEW_ANNOTATION: "1796058000"})
    run(endpoints, "payments/ringcentral")
    value = endpoints.patches[0][2]["metadata"]["annotations"][renewal.RENEW_ANNOTATION]
    assert renewal.renew_requested(value, last_honoured="1796058000")


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

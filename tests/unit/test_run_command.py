"""`webhook-cert run`'s process options (--log-format) and `webhook-cert --version`."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator

import kopf
import pytest

from webhook_cert_operator import __main__, __version__
from webhook_cert_operator.glue import run as run_command


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """kopf.configure replaces the root logger's handlers: put them back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run_command.add_arguments(parser)
    return parser.parse_args(args)


def test_the_log_format_is_text_unless_asked() -> None:
    assert parse().log_format == "text"
    assert parse("--log-format", "json").log_format == "json"


def test_an_unknown_log_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("--log-format", "xml")
    assert exited.value.code == 2
    assert "invalid choice: 'xml'" in capsys.readouterr().err


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    run_command.configure_logging("json", verbose=False)
    logging.getLogger("webhook_cert_operator.test").info("checked %s", "payments/ringcentral")
    logging.getLogger("webhook_cert_operator.test").debug("not shown without --verbose")

    (line,) = json_lines(capsys.readouterr().err)
    assert line["message"] == "checked payments/ringcentral"
    assert line["severity"] == "info"
    assert "timestamp" in line


def test_json_logs_about_an_endpoint_name_it_as_an_object(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_command.configure_logging("json", verbose=True)
    body = kopf.Body(
        {
            "apiVersion": "webhookcert.dev/v1alpha1",
            "kind": "WebhookEndpoint",
            "metadata": {"namespace": "payments", "name": "ringcentral", "uid": "u-1"},
        }
    )
    logger = kopf.LocalObjectLogger(body=body, settings=kopf.OperatorSettings())
    logger.debug("Handler 'reconcile' succeeded.")

    (line,) = json_lines(capsys.readouterr().err)
    assert line["message"] == "Handler 'reconcile' succeeded."
    assert line["severity"] == "debug"
    assert line["object"] == {
        "apiVersion": "webhookcert.dev/v1alpha1",
        "kind": "WebhookEndpoint",
        "name": "ringcentral",
        "uid": "u-1",
        "namespace": "payments",
    }
    assert "settings" not in line


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        __main__.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"webhook-cert {__version__}\n"

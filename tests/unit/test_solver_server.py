"""Unit tests for webhook_cert_operator.solver.server: the solver Pod's HTTP server.

The server is started for real on 127.0.0.1 with an ephemeral port and spoken to over HTTP;
`run` is started as a real process to see it exit cleanly on SIGTERM.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from webhook_cert_operator.solver import server as solver_server
from webhook_cert_operator.solver.resources import ChallengeError

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
KEYAUTH = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
OTHER_TOKEN = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
CHALLENGES = {TOKEN: KEYAUTH}
SECRETS = (TOKEN, KEYAUTH, KEYAUTH.partition(".")[2])
LOGGER = "webhook_cert_operator.solver.server"
SOURCE_ROOT = Path(__file__).resolve().parents[2] / "operator"


@pytest.fixture
def served() -> Iterator[tuple[str, int]]:
    """A running challenge server on 127.0.0.1, stopped after the test."""
    httpd = solver_server.create_server(CHALLENGES, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        host, port = httpd.server_address[:2]
        yield str(host), int(port)
    finally:
        httpd.shutdown()
        thread.join(timeout=5)
        httpd.server_close()


def request(
    address: tuple[str, int], path: str, method: str = "GET"
) -> tuple[int, bytes, http.client.HTTPMessage]:
    connection = http.client.HTTPConnection(*address, timeout=5)
    try:
        connection.request(method, path, headers={"Host": "hooks.example.com"})
        response = connection.getresponse()
        return response.status, response.read(), response.headers
    finally:
        connection.close()


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# --- answering over HTTP ----------------------------------------------------------------


def test_known_token_is_answered_with_exactly_its_key_authorization(
    served: tuple[str, int],
) -> None:
    status, body, headers = request(served, f"/.well-known/acme-challenge/{TOKEN}")
    assert status == 200
    assert body == KEYAUTH.encode("ascii")
    assert headers["Content-Type"] == "text/plain"
    assert headers["Content-Length"] == str(len(KEYAUTH))


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(f"/.well-known/acme-challenge/{OTHER_TOKEN}", id="unknown-token"),
        pytest.param("/.well-known/acme-challenge/", id="no-token"),
        pytest.param(f"/.well-known/acme-challenge/{TOKEN}/extra", id="token-with-suffix"),
        pytest.param(f"/.well-known/acme-challenge/{TOKEN[:-1]}", id="token-prefix"),
        pytest.param(f"/{TOKEN}", id="token-elsewhere"),
        pytest.param("/", id="root"),
        pytest.param("/.well-known/other", id="other-well-known"),
    ],
)
def test_anything_but_a_known_token_is_not_found(served: tuple[str, int], path: str) -> None:
    status, body, _ = request(served, path)
    assert status == 404
    assert_no_secret(body.decode())


def test_healthz_answers_ok(served: tuple[str, int]) -> None:
    status, body, _ = request(served, "/healthz")
    assert (status, body) == (200, b"ok\n")


def test_head_answers_without_a_body(served: tuple[str, int]) -> None:
    status, body, headers = request(served, f"/.well-known/acme-challenge/{TOKEN}", "HEAD")
    assert status == 200
    assert body == b""
    assert headers["Content-Length"] == str(len(KEYAUTH))


def test_other_methods_are_refused(served: tuple[str, int]) -> None:
    status, body, _ = request(served, f"/.well-known/acme-challenge/{TOKEN}", "POST")
    assert status == 501
    assert_no_secret(body.decode())


def test_server_header_does_not_reveal_the_python_version(served: tuple[str, int]) -> None:
    _, _, headers = request(served, "/healthz")
    assert headers["Server"] == "webhook-cert-solver"


# --- logging ----------------------------------------------------------------------------


def test_requests_are_logged_without_tokens_or_key_authorizations(
    served: tuple[str, int], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    request(served, f"/.well-known/acme-challenge/{TOKEN}")
    request(served, f"/.well-known/acme-challenge/{OTHER_TOKEN}")
    request(served, f"/{TOKEN}/{KEYAUTH}")
    request(served, "/healthz")
    request(served, f"/.well-known/acme-challenge/{TOKEN}", "POST")
    lines = [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO]
    assert lines == [
        "127.0.0.1 GET /.well-known/acme-challenge/<redacted> 200",
        "127.0.0.1 GET /.well-known/acme-challenge/<redacted> 404",
        "127.0.0.1 GET <other> 404",
        "127.0.0.1 GET /healthz 200",
        "127.0.0.1 POST /.well-known/acme-challenge/<redacted> 501",
    ]
    assert_no_secret(caplog.text)
    assert OTHER_TOKEN not in caplog.text
    captured = capfd.readouterr()
    assert_no_secret(captured.out + captured.err)


def test_malformed_requests_are_not_logged_verbatim(
    served: tuple[str, int], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with socket.create_connection(served, timeout=5) as raw:
        # Four words: the standard library answers 400 "Bad request syntax" and quotes the
        # whole request line in the message it would log.
        raw.sendall(f"GET /.well-known/acme-challenge/{TOKEN} x HTTP/1.1\r\n\r\n".encode())
        reply = raw.recv(4096)
    assert b"400" in reply
    assert "<other> 400" in caplog.text
    assert_no_secret(caplog.text)
    captured = capfd.readouterr()
    assert_no_secret(captured.out + captured.err)


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        pytest.param(
            f"/.well-known/acme-challenge/{TOKEN}",
            "/.well-known/acme-challenge/<redacted>",
            id="known-token",
        ),
        pytest.param(
            f"/.well-known/acme-challenge/{OTHER_TOKEN}?x=1",
            "/.well-known/acme-challenge/<redacted>",
            id="unknown-token",
        ),
        pytest.param("/healthz", "/healthz", id="healthz"),
        pytest.param("/healthz?probe=1", "/healthz", id="query-dropped"),
        pytest.param("/", "/", id="root"),
        pytest.param("/wp-login.php", "/wp-login.php", id="one-segment"),
        pytest.param("/admin/secret/path", "/admin/...", id="first-segment-only"),
        pytest.param(f"/x?{KEYAUTH}", "<other>", id="key-authorization-in-query"),
        pytest.param(f"/{TOKEN}", "<other>", id="known-token-elsewhere"),
        pytest.param("/" + "a" * 100, "<other>", id="too-long"),
        pytest.param("/caf\u00e9", "<other>", id="not-ascii"),
        pytest.param("/a\x1b[31m", "<other>", id="control-characters"),
        pytest.param(None, "<other>", id="no-path"),
        pytest.param("", "<other>", id="empty"),
    ],
)
def test_loggable_path_keeps_only_what_is_safe_to_log(path: str | None, logged: str) -> None:
    assert solver_server.loggable_path(path, CHALLENGES) == logged


# --- challenges from the environment ----------------------------------------------------


def test_challenges_are_read_from_the_environment() -> None:
    environ = {"WEBHOOK_CERT_CHALLENGES": json.dumps(CHALLENGES)}
    assert solver_server.load_challenges(environ) == CHALLENGES


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param({}, "is not set", id="missing"),
        pytest.param({"WEBHOOK_CERT_CHALLENGES": " "}, "is not set", id="blank"),
        pytest.param({"WEBHOOK_CERT_CHALLENGES": KEYAUTH}, "not valid JSON", id="not-json"),
        pytest.param(
            {"WEBHOOK_CERT_CHALLENGES": json.dumps([TOKEN, KEYAUTH])}, "JSON object", id="array"
        ),
        pytest.param({"WEBHOOK_CERT_CHALLENGES": "{}"}, "no challenges", id="empty-object"),
        pytest.param({"WEBHOOK_CERT_CHALLENGES": json.dumps({TOKEN: 1})}, "not text", id="number"),
        pytest.param(
            {"WEBHOOK_CERT_CHALLENGES": json.dumps({"a/b": "a/b.x"})}, "base64url", id="bad-token"
        ),
        pytest.param(
            {"WEBHOOK_CERT_CHALLENGES": json.dumps({OTHER_TOKEN: KEYAUTH})},
            "<token>.<thumbprint>",
            id="mismatched",
        ),
    ],
)
def test_unusable_challenges_are_refused_without_quoting_them(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ChallengeError) as caught:
        solver_server.load_challenges(environ)
    assert "WEBHOOK_CERT_CHALLENGES" in str(caught.value)
    assert message in str(caught.value)
    assert_no_secret(str(caught.value))
    assert OTHER_TOKEN not in str(caught.value)


# --- command line -----------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="webhook-cert solve")
    solver_server.add_arguments(parser)
    return parser.parse_args(argv)


def test_solve_listens_on_all_ipv4_addresses_and_port_8089_by_default() -> None:
    args = parse()
    assert (args.address, args.port) == ("0.0.0.0", 8089)
    assert args.handler is solver_server.run


def test_solve_takes_address_and_port() -> None:
    args = parse("--address", "127.0.0.1", "--port", "9000")
    assert (args.address, args.port) == ("127.0.0.1", 9000)


def test_run_refuses_to_start_without_challenges(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WEBHOOK_CERT_CHALLENGES", raising=False)
    assert solver_server.run(parse("--address", "127.0.0.1", "--port", "0")) == 2
    assert "WEBHOOK_CERT_CHALLENGES is not set" in capsys.readouterr().err


def test_run_reports_a_port_it_cannot_bind(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEBHOOK_CERT_CHALLENGES", json.dumps(CHALLENGES))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert solver_server.run(parse("--address", "127.0.0.1", "--port", str(port))) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert_no_secret(err)


SOLVE = """
import argparse, sys
from webhook_cert_operator.solver import server
parser = argparse.ArgumentParser()
server.add_arguments(parser)
args = parser.parse_args(sys.argv[1:])
sys.exit(args.handler(args))
"""


def test_run_serves_until_sigterm_and_then_exits_zero() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(SOURCE_ROOT),
        "WEBHOOK_CERT_CHALLENGES": json.dumps(CHALLENGES),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", SOLVE, "--address", "127.0.0.1", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        match = re.search(r"serving 1 challenge\(s\) on 127\.0\.0\.1:(\d+)", first)
        assert match, first
        status, body, _ = request(
            ("127.0.0.1", int(match.group(1))), f"/.well-known/acme-challenge/{TOKEN}"
        )
        assert (status, body) == (200, KEYAUTH.encode())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        rest = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "stopping" in rest
    assert "/.well-known/acme-challenge/<redacted> 200" in rest
    assert_no_secret(first + rest)

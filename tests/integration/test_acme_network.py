"""The ACME network against small fake CAs: a CA that is down, overloaded or rate limiting.

Real sockets, no Pebble needed: these always run. The client's exchanges with a real CA
are in test_acme_client.py.
"""

from __future__ import annotations

import datetime
import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from webhook_cert_operator.acme.client import AcmeClient
from webhook_cert_operator.acme.errors import AcmeError, AcmeUnavailable
from webhook_cert_operator.certificates import pki


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------
# A CA that is down, overloaded or rate limiting (fake CAs, no Pebble needed)


def test_an_unreachable_directory_is_unavailable() -> None:
    port = _unused_port()  # nothing listens there
    acme = AcmeClient(f"https://127.0.0.1:{port}/directory", pki.generate_account_key(), timeout=5)
    with pytest.raises(AcmeUnavailable) as failure:
        acme.ensure_account(None, agree_tos=True)
    assert str(failure.value) == f"cannot reach the ACME server 127.0.0.1:{port}: connection failed"


class FakeCA:
    """A plain-HTTP ACME server with canned answers for the failure modes of a real CA."""

    def __init__(self, new_account: tuple[int, dict[str, str], dict[str, Any]]) -> None:
        self.new_account = new_account
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                base = f"http://127.0.0.1:{fake.port}"
                self._send(
                    200,
                    {},
                    {
                        "newNonce": f"{base}/nonce",
                        "newAccount": f"{base}/account",
                        "newOrder": f"{base}/order",
                        "meta": {},
                    },
                )

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Replay-Nonce", uuid.uuid4().hex)
                self.end_headers()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, headers, body = fake.new_account
                self._send(status, headers, body)

            def _send(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                content_type = "application/problem+json" if status >= 400 else "application/json"
                self.send_header("Content-Type", content_type)
                self.send_header("Replay-Nonce", uuid.uuid4().hex)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def directory_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/directory"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.mark.parametrize(
    ("answer", "unavailable", "problem_type"),
    [
        pytest.param(
            (
                503,
                {"Retry-After": "120"},
                {"type": "urn:ietf:params:acme:error:serverInternal", "detail": "maintenance"},
            ),
            True,
            "urn:ietf:params:acme:error:serverInternal",
            id="503-is-unavailable",
        ),
        pytest.param(
            (
                429,
                {"Retry-After": "120"},
                {"type": "urn:ietf:params:acme:error:rateLimited", "detail": "too many"},
            ),
            False,
            "urn:ietf:params:acme:error:rateLimited",
            id="429-rate-limited",
        ),
    ],
)
def test_a_ca_refusal_carries_its_problem_type_and_retry_after(
    answer: tuple[int, dict[str, str], dict[str, Any]],
    unavailable: bool,
    problem_type: str,
) -> None:
    ca = FakeCA(new_account=answer)
    try:
        acme = AcmeClient(ca.directory_url, pki.generate_account_key())
        before = datetime.datetime.now(datetime.UTC)
        with pytest.raises(AcmeError) as failure:
            acme.ensure_account(None, agree_tos=True)
    finally:
        ca.close()
    error = failure.value
    assert isinstance(error, AcmeUnavailable) is unavailable
    assert error.problem_type == problem_type
    assert error.retry_after is not None
    assert (
        before + datetime.timedelta(seconds=119)
        <= error.retry_after
        <= before + datetime.timedelta(seconds=130)
    )

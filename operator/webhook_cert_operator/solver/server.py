"""Adapter and entry point: `webhook-cert solve`, the HTTP-01 solver Pod's program.

A tiny threaded HTTP server from the standard library. It answers
`GET /.well-known/acme-challenge/<token>` with the token's key authorization (RFC 8555
section 8.3) for the tokens it was given and nothing else, and `GET /healthz` for the
readiness probe. The challenges come in the WEBHOOK_CERT_CHALLENGES environment variable
as JSON {token: keyAuthorization}; see solver/resources.py, which builds the Pod.

Only the standard library and the pure resources module are imported, so the Pod starts
fast and stays within its small memory limit.

Request logs never hold a token or a key authorization: challenge paths are logged as
`/.well-known/acme-challenge/<redacted>`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from webhook_cert_operator.api.formats import CHALLENGE_PATH_PREFIX
from webhook_cert_operator.solver.resources import (
    CHALLENGES_ENV,
    DEFAULT_PORT,
    HEALTH_PATH,
    ChallengeError,
    validate_challenges,
)

logger = logging.getLogger(__name__)

REDACTED_CHALLENGE_PATH = CHALLENGE_PATH_PREFIX + "<redacted>"
_OTHER_PATH = "<other>"
_MAX_LOGGED_PATH = 64
_STOP_POLL_SECONDS = 0.2

# Exit codes of `run`: 0 after SIGTERM/SIGINT, 2 when the Pod was handed bad input (a
# restart will not help), 1 when the port cannot be bound or the server dies (a restart,
# which restartPolicy OnFailure gives, may help).
EXIT_OK = 0
EXIT_BIND_FAILED = 1
EXIT_SERVER_FAILED = 1
EXIT_BAD_CHALLENGES = 2


def load_challenges(environ: Mapping[str, str]) -> dict[str, str]:
    """Read and check the challenges from the environment; raise ChallengeError if unusable.

    The messages name the variable and the rule that is broken, never its content.
    """
    raw = environ.get(CHALLENGES_ENV)
    if raw is None or not raw.strip():
        raise ChallengeError(f"{CHALLENGES_ENV} is not set")
    try:
        parsed: Any = json.loads(raw)
    except ValueError as error:
        raise ChallengeError(f"{CHALLENGES_ENV} is not valid JSON") from error
    if not isinstance(parsed, dict):
        raise ChallengeError(f"{CHALLENGES_ENV} is not a JSON object of token: keyAuthorization")
    try:
        validate_challenges(parsed)
    except ChallengeError as error:
        raise ChallengeError(f"{CHALLENGES_ENV}: {error}") from error
    return {str(token): str(key_authorization) for token, key_authorization in parsed.items()}


def loggable_path(path: str | None, secrets: Mapping[str, str]) -> str:
    """The form of a request path that may be logged.

    Challenge paths lose their token, known or not. Other paths keep only their first
    segment, and anything that holds one of the served tokens or key authorizations in
    any position is replaced as a whole: a log line must never carry them.
    """
    if not path:
        return _OTHER_PATH
    bare = urlsplit(path).path if path.startswith("/") else path
    if bare.startswith(CHALLENGE_PATH_PREFIX):
        return REDACTED_CHALLENGE_PATH
    for token, key_authorization in secrets.items():
        if token in path or key_authorization in path:
            return _OTHER_PATH
    if bare == HEALTH_PATH or bare == "/":
        return bare
    first, _, rest = bare.lstrip("/").partition("/")
    shown = "/" + first + ("/..." if rest else "")
    if len(shown) > _MAX_LOGGED_PATH or not shown.isprintable() or not shown.isascii():
        return _OTHER_PATH
    return shown


class ChallengeHandler(BaseHTTPRequestHandler):
    """Answers challenge paths and /healthz; 404 for everything else."""

    server: ChallengeServer
    # Say nothing about the Python version to whoever asks.
    server_version = "webhook-cert-solver"
    sys_version = ""
    # A stalled client must not hold a thread forever.
    timeout = 10

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        path = urlsplit(self.path).path
        if path == HEALTH_PATH:
            self._reply(200, b"ok\n", send_body)
            return
        if path.startswith(CHALLENGE_PATH_PREFIX):
            token = path[len(CHALLENGE_PATH_PREFIX) :]
            key_authorization = self.server.challenges.get(token)
            if key_authorization is not None:
                # Exactly the key authorization, no trailing newline (RFC 8555 section 8.3).
                self._reply(200, key_authorization.encode("ascii"), send_body)
                return
        self._reply(404, b"not found\n", send_body)

    def _reply(self, status: int, body: bytes, send_body: bool) -> None:
        self.send_response(status)
        # The CA reads only the body (RFC 8555 section 8.3); text/plain is what people
        # expect to see when they fetch the URL by hand to debug a failed validation.
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = code.value if hasattr(code, "value") else code
        logger.info(
            "%s %s %s %s",
            self.client_address[0] if self.client_address else "-",
            self.command or "-",
            loggable_path(getattr(self, "path", None), self.server.challenges),
            status,
        )

    def log_error(self, format: str, *args: Any) -> None:
        # The standard messages quote the raw request line, which may hold a token. The
        # status of every answered request is logged by log_request anyway.
        logger.debug("rejected a malformed or timed-out request")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http.server message suppressed")


class ChallengeServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that holds the challenges its handler serves."""

    daemon_threads = True

    def __init__(self, challenges: Mapping[str, str], address: str, port: int) -> None:
        self.challenges: dict[str, str] = dict(challenges)
        # IPv6 literals need an IPv6 socket; "::" then also takes IPv4 where the system
        # maps it (Linux does by default).
        self.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        super().__init__((address, port), ChallengeHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the address to a host name, a DNS lookup that can
        # stall start-up for seconds where DNS is slow; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


def create_server(challenges: Mapping[str, str], address: str, port: int) -> ChallengeServer:
    """Bind a server for the challenges (port 0 picks a free port); serve it with
    `serve_forever()` and stop it with `shutdown()` and `server_close()`."""
    validate_challenges(challenges)
    return ChallengeServer(challenges, address, port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `solve` subcommand's options and route it to `run`."""
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--address",
        default="0.0.0.0",
        help="address to listen on (default 0.0.0.0, all IPv4 addresses; '::' for IPv6)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Serve the challenges from the environment until SIGTERM or SIGINT; return the exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(message)s",
        )
    try:
        challenges = load_challenges(os.environ)
    except ChallengeError as error:
        print(f"webhook-cert solve: {error}", file=sys.stderr)
        return EXIT_BAD_CHALLENGES
    try:
        server = create_server(challenges, args.address, args.port)
    except OSError as error:
        print(
            f"webhook-cert solve: cannot listen on {args.address}:{args.port}: {error.strerror}",
            file=sys.stderr,
        )
        return EXIT_BIND_FAILED
    if not _serve_until_signalled(server, len(challenges)):
        logger.error("the HTTP server stopped unexpectedly")
        return EXIT_SERVER_FAILED
    return EXIT_OK


def _serve_until_signalled(server: ThreadingHTTPServer, challenges: int) -> bool:
    """Serve until SIGTERM or SIGINT (True) or until the server thread dies (False); then
    close the server and put the previous signal handlers back."""
    # The signal handler only flips a flag: taking a lock there (Event.set, shutdown) could
    # deadlock against the same lock held by the interrupted main thread.
    stopping: list[int] = []

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)
    }
    thread = threading.Thread(target=server.serve_forever, name="solver-http", daemon=True)
    try:
        thread.start()
        host, port = server.server_address[:2]
        logger.info("serving %d challenge(s) on %s:%s", challenges, host, port)
        while not stopping and thread.is_alive():
            time.sleep(_STOP_POLL_SECONDS)
        logger.info("stopping")
        server.shutdown()
        thread.join()
    finally:
        server.server_close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return bool(stopping)

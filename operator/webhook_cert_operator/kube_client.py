"""Adapter: HTTP to the Kubernetes API server, over `requests`: credentials, one pooled
session, JSON in and out, and the API's error answers as `ApiError`.

The operator's calls are plain REST on a handful of paths (`kube.Kube` holds them), so a
thin client over `requests` (already the ACME client's) does the job of the `kubernetes`
package, which costs about 20 MiB of resident memory in a process that imports it (kopf
imports it too, whenever it is installed). Credentials come from the Pod's
ServiceAccount (`in_cluster`) or from a kubeconfig already interpreted by a loader that
knows its many forms (kopf's, or the `kubernetes` package's for the CLI).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import requests
from requests.adapters import HTTPAdapter

SERVICE_ACCOUNT: Final = "/var/run/secrets/kubernetes.io/serviceaccount"
# The kubelet rewrites a projected ServiceAccount token well before it expires; client-go
# reads the file again after a minute, and so does this client.
TOKEN_REREAD: Final = 60.0
# Seconds to connect, and to wait for an answer: the API server answers the operator's
# calls (no watches here) in well under a second unless it is in trouble.
TIMEOUT: Final = (10.0, 60.0)

JSON: Final = "application/json"
MERGE_PATCH: Final = "application/merge-patch+json"


class ApiError(Exception):
    """The API server answered `status` (an int, e.g. 404, 409, 503) with `reason` (its
    HTTP reason phrase). The answer's body is left out: it may echo object data."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Credentials:
    """How to reach and authenticate to an API server.

    `server` is its base URL (https://host:port). `ca_path` is a PEM file of the CAs to
    trust (None: the system's); `insecure` skips verification. A bearer token comes from
    `token`, or from the file `token_path`, read again every TOKEN_REREAD seconds as it
    rotates. `cert_path` and `key_path` are a client certificate and its key (PEM files).
    """

    server: str
    ca_path: str | None = None
    insecure: bool = False
    token: str | None = field(default=None, repr=False)
    token_path: str | None = None
    cert_path: str | None = None
    key_path: str | None = None


def in_cluster(environ: Mapping[str, str] = os.environ) -> Credentials | None:
    """The Pod's ServiceAccount, as every in-cluster client uses it; None outside a Pod
    (no KUBERNETES_SERVICE_HOST or no mounted token)."""
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    token_path = f"{SERVICE_ACCOUNT}/token"
    if not host or not os.path.exists(token_path):
        return None
    if ":" in host:
        host = f"[{host}]"
    return Credentials(
        server=f"https://{host}:{port or 443}",
        ca_path=f"{SERVICE_ACCOUNT}/ca.crt",
        token_path=token_path,
    )


def read_token(path: str) -> str | None:
    """The bearer token in the file `path` (a ServiceAccount's); None when it is empty."""
    with open(path, encoding="utf-8") as file:
        return file.read().strip() or None


def data_file(data: str | bytes, suffix: str) -> str:
    """A kubeconfig's base64 `*-data` value (a CA, certificate or key) written to a private
    temporary file, removed at exit, for TLS libraries that read files; its path."""
    raw = base64.b64decode(data)
    handle, path = tempfile.mkstemp(prefix="webhook-cert-", suffix=suffix)
    with os.fdopen(handle, "wb") as file:
        file.write(raw)
    atexit.register(_remove, path)
    return path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class ApiClient:
    """One pooled HTTPS session to the API server, shared by threads.

    `request` sends one call and returns the decoded JSON answer; an error status raises
    ApiError, a failed connection `requests.RequestException` (ConnectionError, Timeout).
    `connections` is the pool size: one per thread that may call at once.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        connections: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self._clock = clock
        self._token_lock = threading.Lock()
        self._token: tuple[str | None, float] | None = None
        session = requests.Session()
        session.trust_env = False  # no proxy from the environment for the cluster's own API
        session.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=connections))
        session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=connections))
        if credentials.insecure:
            session.verify = False
        elif credentials.ca_path:
            session.verify = credentials.ca_path
        if credentials.cert_path:
            session.cert = (credentials.cert_path, credentials.key_path or credentials.cert_path)
        self.session = session

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = JSON,
    ) -> Any:
        """`method` on `path` (from /api or /apis) with the JSON `body`; the answer's JSON
        (None when it has none). ApiError for a status of 400 or more."""
        headers = {"Accept": JSON}
        token = self.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = content_type
        response = self.session.request(
            method,
            self.credentials.server.rstrip("/") + path,
            params=params,
            json=body,
            headers=headers,
            timeout=TIMEOUT,
        )
        with response:
            if response.status_code >= 400:
                raise ApiError(response.status_code, response.reason or "")
            return response.json() if response.content else None

    def token(self) -> str | None:
        """The bearer token, read again from `token_path` after TOKEN_REREAD seconds."""
        credentials = self.credentials
        if credentials.token_path is None:
            return credentials.token
        now = self._clock()
        with self._token_lock:
            if self._token is None or now - self._token[1] >= TOKEN_REREAD:
                self._token = (read_token(credentials.token_path), now)
            return self._token[0]

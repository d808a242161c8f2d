"""A CA behind a requests transport, for unit tests of the real `AcmeClient`.

It answers as an RFC 8555 CA would for what the tests ask (directory, nonces, accounts,
ARI, orders, authorizations, challenges) and counts every request, so that a test can
say what a client cost the CA. Nonces are checked: each is good once, and a POST with
any other gets `badNonce` (RFC 8555 section 6.5) with a fresh one, as every answer has.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

CA = "https://ca.test"
DIRECTORY = f"{CA}/directory"


class FakeCaNetwork(BaseAdapter):
    """A CA behind a requests transport: directory, nonces, accounts, ARI, orders.

    `asked` counts (method, path) pairs; `closed` counts how often a session that uses
    it was closed. `forget_accounts()` acts as a reset CA; with `refuse_accounts` set it
    forgets each account as soon as it is found. `reject_nonces` makes the next POSTs
    fail with `badNonce` whatever their nonce. `/new-order` opens an order for one name
    with one pending authorization (`authorizations` by path), whose http-01 challenge
    is validated as soon as it is answered; other `/order/` paths are ready orders.
    """

    def __init__(self) -> None:
        super().__init__()
        self.asked: Counter[tuple[str, str]] = Counter()
        self.closed = 0
        self.refuse_accounts = False
        self._generation = 1
        self._known: set[str] = set()
        self.reject_nonces = 0
        self.latency = 0.0  # seconds each request takes, so that concurrent ones overlap
        self.authorizations: dict[str, dict[str, Any]] = {}
        self._nonces = itertools.count(1)
        self._unused_nonces: set[str] = set()
        self._lock = threading.Lock()

    def forget_nonces(self) -> None:
        """As a restarted CA does: every nonce handed out so far is refused."""
        with self._lock:
            self._unused_nonces.clear()

    def forget_accounts(self) -> None:
        with self._lock:
            self._generation += 1
            self._known.clear()

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        path = urlsplit(str(request.url)).path
        with self._lock:
            self.asked[str(request.method), path] += 1
        time.sleep(self.latency)
        if path == "/directory":
            return self._answer(request, 200, _DIRECTORY)
        if request.method == "HEAD":
            return self._answer(request, 200, None)
        if request.method == "POST" and not self._nonce_accepted(request):
            problem = {"type": "urn:ietf:params:acme:error:badNonce", "detail": "stale"}
            return self._answer(request, 400, problem)
        if path == "/new-order":
            return self._new_order(request)
        if path in self.authorizations:
            return self._answer(request, 200, self.authorizations[path])
        if path.replace("/order/", "/authz/") in self.authorizations:
            return self._answer(request, 200, self._order(path))
        if path.startswith("/chall/"):
            return self._validate(request, path.replace("/chall/", "/authz/"))
        if path == "/new-account" and _kid(request) != "None":
            # RFC 8555 section 6.2: newAccount is signed with the key, not an account.
            return self._answer(request, 400, {"type": "urn:ietf:params:acme:error:malformed"})
        if path == "/new-account":
            return self._answer(request, 200, {"status": "valid"}, Location=self._account())
        if path.startswith("/renewal-info/"):
            window = {"start": "2026-05-01T00:00:00Z", "end": "2026-05-03T00:00:00Z"}
            return self._answer(request, 200, {"suggestedWindow": window}, **{"Retry-After": "60"})
        if path.startswith("/order/") and _kid(request) in self._known:
            order = {"status": "ready", "finalize": f"{CA}{path}/finalize", "identifiers": []}
            return self._answer(request, 200, order)
        if path.startswith("/order/"):
            problem = {"type": "urn:ietf:params:acme:error:accountDoesNotExist", "detail": "?"}
            return self._answer(request, 400, problem)
        return self._answer(request, 404, {"type": "urn:ietf:params:acme:error:malformed"})

    def _nonce_accepted(self, request: requests.PreparedRequest) -> bool:
        nonce = str(_protected(request).get("nonce"))
        with self._lock:
            if self.reject_nonces > 0:
                self.reject_nonces -= 1
                return False
            if nonce not in self._unused_nonces:
                return False
            self._unused_nonces.remove(nonce)
            return True

    def _new_order(self, request: requests.PreparedRequest) -> requests.Response:
        with self._lock:
            number = len(self.authorizations) + 1
            self.authorizations[f"/authz/{number}"] = {
                "status": "pending",
                "identifier": {"type": "dns", "value": f"host{number}.example.com"},
                "challenges": [
                    {"type": "http-01", "url": f"{CA}/chall/{number}", "token": f"{number:043d}"}
                ],
            }
        order = self._order(f"/order/{number}")
        return self._answer(request, 201, order, Location=f"{CA}/order/{number}")

    def _order(self, path: str) -> dict[str, Any]:
        """An order made by `/new-order`: ready once its authorization is valid."""
        authz_path = path.replace("/order/", "/authz/")
        authz = self.authorizations[authz_path]
        return {
            "status": "ready" if authz["status"] == "valid" else "pending",
            "identifiers": [authz["identifier"]],
            "authorizations": [f"{CA}{authz_path}"],
            "finalize": f"{CA}{path}/finalize",
        }

    def _validate(self, request: requests.PreparedRequest, authz_path: str) -> requests.Response:
        authz = self.authorizations[authz_path]
        if authz["status"] != "pending":
            problem = {"type": "urn:ietf:params:acme:error:malformed", "detail": "not pending"}
            return self._answer(request, 400, problem)
        authz["status"] = "valid"
        return self._answer(request, 200, {**authz["challenges"][0], "status": "valid"})

    def requests_to(self, prefix: str) -> int:
        """How many requests went to paths that start with `prefix`."""
        return sum(n for (_, p), n in self.asked.items() if p.startswith(prefix))

    def _account(self) -> str:
        with self._lock:
            url = f"{CA}/acct/{self._generation}"
            if not self.refuse_accounts:
                self._known.add(url)
            return url

    def _answer(
        self,
        request: requests.PreparedRequest,
        status: int,
        body: Mapping[str, Any] | None,
        **headers: str,
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response.url = str(request.url)
        response.request = request
        nonce = base64.urlsafe_b64encode(f"nonce-{next(self._nonces)}".encode()).decode()
        with self._lock:
            self._unused_nonces.add(nonce.rstrip("="))
        response.headers = CaseInsensitiveDict({"Replay-Nonce": nonce.rstrip("="), **headers})
        response._content = b""
        if body is not None:
            kind = "application/problem+json" if status >= 400 else "application/json"
            response.headers["Content-Type"] = kind
            response._content = json.dumps(body).encode()
        return response

    def close(self) -> None:
        # requests closes each mounted transport when its session closes.
        self.closed += 1

    def fetches(self, path: str) -> int:
        return sum(n for (_, p), n in self.asked.items() if p == path)


def _kid(request: requests.PreparedRequest) -> str:
    """The account URL a signed request names (RFC 8555 section 6.2)."""
    return str(_protected(request).get("kid"))


def _protected(request: requests.PreparedRequest) -> dict[str, Any]:
    """The protected header of a signed request (RFC 8555 section 6.2)."""
    body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
    protected = json.loads(body)["protected"]
    header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
    return dict(header)


_DIRECTORY = {
    "newNonce": f"{CA}/new-nonce",
    "newAccount": f"{CA}/new-account",
    "newOrder": f"{CA}/new-order",
    "renewalInfo": f"{CA}/renewal-info/",
    "meta": {},
}

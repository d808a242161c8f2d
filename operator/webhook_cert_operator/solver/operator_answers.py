"""Adapter: the operator answers HTTP-01 challenges itself, from its own Pod.

One `ChallengeServer` (solver/server.py, the same handler a solver Pod runs) listens in
the operator's process for the whole time it runs; the orders in flight publish their
answers here, and withdraw them when they are done. The ingress reaches it through each
order's selector-less Service and its EndpointSlice (solver/resources.py), so no Pod has to
start before the CA can be told to validate.

The server reads a snapshot of the answers that is replaced as a whole on every change,
never changed in place: a request handled while an order publishes sees the old answers
or the new ones, never a half-written map.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from webhook_cert_operator.solver.server import ChallengeServer

logger = logging.getLogger(__name__)


EndpointKey = tuple[str, str]
"""A WebhookEndpoint as (namespace, name)."""


class OperatorAnswers:
    """The answers of every order in flight, per endpoint and order, served over HTTP by
    the operator. `publish` and `withdraw` are thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._orders: dict[EndpointKey, dict[str, dict[str, str]]] = {}
        self._server: ChallengeServer | None = None

    def start(self, address: str, port: int) -> None:
        """Listen on `address`:`port` ("0.0.0.0", or "::" for IPv6) in a daemon thread.
        OSError when the port cannot be bound."""
        server = ChallengeServer({}, address, port)
        with self._lock:
            server.challenges = self._merged()
            self._server = server
        threading.Thread(target=server.serve_forever, name="http01-answers", daemon=True).start()
        logger.info("answering HTTP-01 challenges on port %d", port)

    def stop(self) -> None:
        """Stop listening (tests; the operator's server lives as long as its process)."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def publish(self, endpoint: EndpointKey, order: str, challenges: Mapping[str, str]) -> None:
        """Serve `challenges` ({token: keyAuthorization}) for the endpoint's `order` (its
        URL), replacing what was served for that order."""
        with self._lock:
            self._orders.setdefault(endpoint, {})[order] = dict(challenges)
            self._swap()

    def withdraw(self, endpoint: EndpointKey, *, keep_order: str | None = None) -> None:
        """Stop serving the endpoint's orders, but `keep_order`."""
        with self._lock:
            kept = {
                order: challenges
                for order, challenges in self._orders.pop(endpoint, {}).items()
                if order == keep_order
            }
            if kept:
                self._orders[endpoint] = kept
            self._swap()

    def _merged(self) -> dict[str, str]:
        return {
            token: key_authorization
            for orders in self._orders.values()
            for challenges in orders.values()
            for token, key_authorization in challenges.items()
        }

    def _swap(self) -> None:
        if self._server is not None:
            self._server.challenges = self._merged()

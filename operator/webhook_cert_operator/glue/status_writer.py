"""Adapter: writes a WebhookEndpoint's status conditions and fields, and posts its Events.

The issuance handler and the served-chain daemon both set conditions, and a merge patch
replaces the whole list; so each write re-reads the current list under a per-endpoint
lock and changes only the conditions it was given. Implements `certificates.ports.Report`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.status import OrderRef, set_condition
from webhook_cert_operator.api.types import Endpoint
from webhook_cert_operator.certificates import ports
from webhook_cert_operator.metrics import Metrics

PostEvent = Callable[[str, str, str], None]  # (type Normal|Warning, reason, message)


class StatusWriter:
    """Status conditions set since the last write, plus fields, for one endpoint.

    `body` is the endpoint as the handler got it (its conditions are the starting point);
    `post_event` posts an Event on it. Writes are skipped once the endpoint is deleted.
    """

    def __init__(
        self,
        body: Mapping[str, Any],
        post_event: PostEvent,
        *,
        kube: ports.EndpointStatus,
        locks: ports.Locks,
        metrics: Metrics,
        clock: Callable[[], datetime],
    ) -> None:
        self.kube, self.locks, self.metrics, self.clock = kube, locks, metrics, clock
        self._post_event = post_event
        meta = body["metadata"]
        self.endpoint = Endpoint(meta["namespace"], meta["name"], meta["uid"])
        self.generation = int(meta.get("generation") or 0)
        self.conditions: list[dict[str, Any]] = list(
            (body.get("status") or {}).get("conditions") or []
        )
        self.pending: dict[str, api.Condition] = {}
        self.pending_fields: dict[str, Any] = {}

    def condition(self, type: str, status: str, reason: str, message: str) -> None:
        self.pending[type] = api.Condition(type, status, reason, message)

    def write(self, **fields: Any) -> None:
        endpoint = self.endpoint
        with self.locks.lock("status", endpoint.uid):
            current = self.kube.get_endpoint(endpoint.namespace, endpoint.name)
            if current is None:
                return  # deleted meanwhile
            conditions = list((current.get("status") or {}).get("conditions") or [])
            for condition in self.pending.values():
                conditions = set_condition(
                    conditions, condition, now=self.clock(), generation=self.generation
                )
            status = {"conditions": conditions, "observedGeneration": self.generation}
            patch = {**status, **self.pending_fields, **fields}
            self.kube.patch_endpoint_status(endpoint.namespace, endpoint.name, patch)
        ready = self.pending.get(api.READY)
        if ready is not None:
            self.metrics.observe_ready(endpoint.namespace, endpoint.name, ready.status == "True")
        self.conditions = conditions
        self.pending.clear()
        self.pending_fields.clear()

    def post_event(self, type: str, reason: str, message: str) -> None:
        self._post_event(type, reason, message)

    # ports.Progress
    def step(self, reason: str, message: str, **fields: Any) -> None:
        self.condition(api.ISSUING, "True", reason, message)
        self.pending_fields.update(fields)

    def waiting(self, reason: str, message: str) -> None:
        self.step(reason, message)
        self.write()

    def order(self, order: OrderRef, reason: str, message: str) -> None:
        self.step(reason, message)
        self.write(order=order.to_status())
        self.post_event("Normal", reason, message)

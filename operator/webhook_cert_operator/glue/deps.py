"""Glue: the operator's dependencies, built once at startup, and its per-endpoint locks.

`Deps` is kopf's memo (`kopf.run(memo=deps)`): kopf hands each handler a shallow copy,
so the handlers' `memo: Deps` is typed and every copy shares the same clients, metrics
and locks. Nothing here does I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from webhook_cert_operator.certificates.lifecycle import Lifecycle
from webhook_cert_operator.checking.checker import ChainChecker
from webhook_cert_operator.kube import Kube
from webhook_cert_operator.metrics import Metrics
from webhook_cert_operator.settings import Settings


@dataclass
class EndpointLocks:
    """One lock per (purpose, endpoint uid), made on first use (`certificates.ports.Locks`).

    "issuance": one issuance per endpoint at a time; "status": one status write at a time.
    `forget` drops a deleted endpoint's locks.
    """

    _locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def lock(self, purpose: str, uid: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((purpose, uid), threading.Lock())

    def forget(self, uid: str) -> None:
        with self._guard:
            for key in [k for k in self._locks if k[1] == uid]:
                del self._locks[key]


@dataclass(frozen=True)
class Deps:
    """Everything the handlers use; `lifecycle` and `checker` share `kube`, `metrics`
    and `locks`. `clock` gives timezone-aware UTC datetimes."""

    settings: Settings
    kube: Kube
    metrics: Metrics
    locks: EndpointLocks
    lifecycle: Lifecycle
    checker: ChainChecker
    clock: Callable[[], datetime]

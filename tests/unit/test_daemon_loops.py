"""The per-endpoint loops keep nothing of a finished check while they sleep."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import kopf
import pytest

from webhook_cert_operator.glue import handlers


class Outcome:
    """Stands for a CheckResult: weakly referenceable, with what the loop reads."""

    ok = True
    stale = False


def test_the_check_loop_drops_the_last_check_and_the_status_it_saw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outcomes: list[weakref.ref[Outcome]] = []

    def check(deps: Any, body: Any) -> tuple[Outcome, timedelta]:
        outcome = Outcome()
        outcomes.append(weakref.ref(outcome))
        return outcome, timedelta(hours=1)

    monkeypatch.setattr(handlers, "run_chain_check", check)
    meta = {"namespace": "n", "name": "e", "uid": "u"}
    raw: Any = {"metadata": meta, "status": _Status(serialNumber="01")}
    body = kopf.Body(raw)
    del raw  # only the body holds the status
    seen_status = weakref.ref(body["status"])
    memo: Any = SimpleNamespace(metrics=SimpleNamespace(forget_chain_check=lambda *_: None))

    async def run_then_look() -> list[bool]:
        task = asyncio.create_task(handlers.check_served_chain(body=body, memo=memo))
        await asyncio.sleep(0.1)  # checked once, now sleeping
        body._replace_with({"metadata": meta})  # kopf's next event: a new status
        gc.collect()
        alive = [outcomes[0]() is not None, seen_status() is not None]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return alive

    assert asyncio.run(run_then_look()) == [False, False]


class _Status(dict[str, Any]):
    """A status dict that can be weakly referenced."""

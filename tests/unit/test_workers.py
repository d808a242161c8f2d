"""The executor whose idle threads end (workers.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, wait

import pytest

from webhook_cert_operator.workers import IdleExitingExecutor


def until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


def add(x: int, y: int = 1) -> int:
    return x + y


def test_calls_return_their_results_and_raise_their_errors() -> None:
    executor = IdleExitingExecutor(2)
    assert executor.submit(add, 1, y=2).result(timeout=5) == 3
    with pytest.raises(ZeroDivisionError):
        executor.submit(lambda: 1 / 0).result(timeout=5)
    executor.shutdown()


def test_no_more_than_max_workers_run_at_once() -> None:
    executor = IdleExitingExecutor(3)
    running, peak, lock = [0], [0], threading.Lock()
    gate = threading.Event()

    def work() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        gate.wait(5)
        with lock:
            running[0] -= 1

    futures = [executor.submit(work) for _ in range(10)]
    assert until(lambda: running[0] == 3)
    assert executor.threads == 3
    gate.set()
    wait(futures, timeout=5)
    assert peak[0] == 3
    executor.shutdown()


def test_idle_threads_end_and_new_work_starts_them_again() -> None:
    executor = IdleExitingExecutor(4, idle_timeout=0.1)
    wait([executor.submit(time.sleep, 0.05) for _ in range(4)], timeout=5)
    assert until(lambda: executor.threads == 0)
    assert executor.submit(lambda: "again").result(timeout=5) == "again"
    executor.shutdown()


def test_an_idle_thread_takes_new_work_rather_than_a_new_thread_starting() -> None:
    executor = IdleExitingExecutor(4, idle_timeout=5.0)
    for _ in range(20):
        executor.submit(lambda: None).result(timeout=5)
    assert executor.threads == 1
    executor.shutdown()


def test_work_submitted_as_the_last_thread_times_out_is_still_run() -> None:
    executor = IdleExitingExecutor(1, idle_timeout=0.01)
    for _ in range(200):
        assert executor.submit(lambda: 7).result(timeout=5) == 7
        time.sleep(0.01)
    executor.shutdown()


def test_shutdown_refuses_new_work_and_can_cancel_the_queued() -> None:
    executor = IdleExitingExecutor(1)
    gate = threading.Event()
    first = executor.submit(gate.wait, 5)
    queued = executor.submit(lambda: "never")
    threading.Timer(0.1, gate.set).start()
    executor.shutdown(wait=True, cancel_futures=True)
    assert first.result() is True
    with pytest.raises(CancelledError):
        queued.result()
    with pytest.raises(RuntimeError):
        executor.submit(lambda: None)


def test_kopf_can_change_the_pool_size() -> None:
    import kopf

    settings = kopf.OperatorSettings()
    settings.execution.executor = IdleExitingExecutor(2)
    settings.execution.max_workers = 5
    assert settings.execution.max_workers == 5


def test_asyncio_takes_it_as_the_loops_default_executor() -> None:
    import asyncio

    executor = IdleExitingExecutor(2, thread_name_prefix="check")

    async def in_a_thread() -> str:
        asyncio.get_running_loop().set_default_executor(executor)
        return await asyncio.to_thread(lambda: threading.current_thread().name)

    assert asyncio.run(in_a_thread()).startswith("check-")


def test_the_operator_runs_kopfs_handlers_and_its_checks_on_idle_exiting_workers() -> None:
    import asyncio
    from types import SimpleNamespace
    from typing import Any

    import kopf

    from webhook_cert_operator.glue import handlers
    from webhook_cert_operator.settings import Settings

    settings = kopf.OperatorSettings()
    first_pool = settings.execution.executor
    memo = SimpleNamespace(settings=Settings(), metrics=SimpleNamespace(serve=lambda port: None))
    configure: Any = handlers.configure  # as kopf calls it: with keyword arguments only
    configure(settings=settings, memo=memo)
    executor = settings.execution.executor
    assert isinstance(executor, IdleExitingExecutor)
    assert executor._max_workers == Settings().max_concurrent_issuances
    with pytest.raises(RuntimeError):
        first_pool.submit(lambda: None)  # shut down: its thread ends

    async def check_pool() -> Any:
        size: Any = handlers.size_check_threads
        await size(memo=memo)
        return asyncio.get_running_loop()._default_executor  # type: ignore[attr-defined]

    assert isinstance(asyncio.run(check_pool()), IdleExitingExecutor)


def test_under_a_steady_trickle_the_threads_a_burst_started_still_end() -> None:
    executor = IdleExitingExecutor(8, idle_timeout=0.3)
    gate = threading.Event()
    burst = [executor.submit(gate.wait, 5) for _ in range(8)]
    assert until(lambda: executor.threads == 8)
    gate.set()
    wait(burst, timeout=5)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # one short call every 50 ms, one at a time
        executor.submit(lambda: None).result(timeout=5)
        time.sleep(0.05)
    assert executor.threads == 1
    executor.shutdown()

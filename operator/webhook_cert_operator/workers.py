"""Adapter (threads): an executor whose idle worker threads end, so that an idle operator
holds no thread stacks.

`concurrent.futures.ThreadPoolExecutor` keeps every thread it ever started. After a burst
(a thousand endpoints created at once: their change handlers, first checks and status
writes) the operator's two pools may hold up to 110 threads for good (60 for kopf's
handlers, 50 for checks), and each keeps the stack pages its deepest call touched. Measured
with glibc and two malloc arenas: 100 idle threads that had each made TLS handshakes held
11 MiB; once they had ended, 1.7 MiB was left. A thread of `IdleExitingExecutor` ends
after `idle_timeout` seconds without work, and glibc gives its stack back to the system;
the next burst starts threads again (microseconds each, next to the network calls they
make).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final, ParamSpec, TypeVar

#: Seconds a worker thread waits for work before it ends.
DEFAULT_IDLE_TIMEOUT: Final = 10.0

P = ParamSpec("P")
T = TypeVar("T")

_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class IdleExitingExecutor(ThreadPoolExecutor):
    """Runs calls in at most `max_workers` threads (named `thread_name_prefix`-N); a thread
    with no work for `idle_timeout` seconds ends. Thread-safe; `shutdown` as
    `concurrent.futures.Executor`'s. `_max_workers` may be changed while it runs (kopf's
    `settings.execution.max_workers` does so).

    A ThreadPoolExecutor by type only, because asyncio's `set_default_executor` accepts
    nothing else: `submit` and `shutdown` are its own, and the parent's threads and queue
    are never used.
    """

    def __init__(
        self,
        max_workers: int,
        *,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        thread_name_prefix: str = "worker",
    ) -> None:
        super().__init__(max_workers, thread_name_prefix=thread_name_prefix)
        self._idle_timeout = idle_timeout
        self._prefix = thread_name_prefix
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers: set[threading.Thread] = set()  # the running ones
        self._idle = 0  # threads waiting for work that no submitted call has claimed yet
        self._started = 0
        self._shut_down = False

    @property
    def threads(self) -> int:
        """How many worker threads run now."""
        with self._lock:
            return len(self._workers)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run `fn(*args, **kwargs)` in a worker: an idle one, a new one while fewer than
        `max_workers` run, else the first to be free. RuntimeError after `shutdown`."""
        future: Future[T] = Future()
        with self._lock:
            if self._shut_down:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._queue.put((future, fn, args, kwargs))
            if self._idle > 0:
                self._idle -= 1
            elif len(self._workers) < self._max_workers:
                self._started += 1
                thread = threading.Thread(
                    target=self._work, name=f"{self._prefix}-{self._started}", daemon=True
                )
                self._workers.add(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while True:
            try:
                work = self._queue.get(timeout=self._idle_timeout)
            except queue.Empty:
                with self._lock:
                    # A call put meanwhile is still queued: stay for it. Otherwise end, and
                    # stop counting as idle (a submit may have counted on this thread).
                    if not self._queue.empty():
                        continue
                    self._idle = max(0, self._idle - 1)
                    self._workers.discard(threading.current_thread())
                    return
            if work is None:  # shutdown
                with self._lock:
                    self._workers.discard(threading.current_thread())
                return
            self._run(*work)
            del work  # drop the call's arguments before waiting again

    def _run(self, future: Future[Any], fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
        """Run one call; this thread counts as idle again before its caller hears back, so
        that a caller's next call finds it rather than starting another thread."""
        if not future.set_running_or_notify_cancel():
            self._ready()
            return
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            self._ready()
            future.set_exception(error)
            return
        self._ready()
        future.set_result(result)

    def _ready(self) -> None:
        with self._lock:
            self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new calls; with `cancel_futures` queued ones are cancelled; the workers end
        once the queue is drained (with `wait`, this returns after they did)."""
        with self._lock:
            self._shut_down = True
            threads = list(self._workers)
        if cancel_futures:
            with contextlib.suppress(queue.Empty):
                while True:
                    work = self._queue.get_nowait()
                    if work is not None:
                        work[0].cancel()
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join()

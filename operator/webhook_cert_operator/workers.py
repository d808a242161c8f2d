"""Adapter (threads): an executor whose idle worker threads end, so that an idle operator
holds no thread stacks.

`concurrent.futures.ThreadPoolExecutor` keeps every thread it ever started. After a burst
(a thousand endpoints created at once: their change handlers, first checks and status
writes) the operator's two pools may hold up to 150 threads for good (100 for kopf's
handlers, 50 for checks), and each keeps the stack pages its deepest call touched. Measured
with glibc and two malloc arenas: 100 idle threads that had each made TLS handshakes held
11 MiB; once they had ended, 1.7 MiB was left. A thread of `IdleExitingExecutor` ends
after `idle_timeout` seconds without work, and glibc gives its stack back to the system;
the next burst starts threads again (microseconds each, next to the network calls they
make).
"""

from __future__ import annotations

import collections
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
        self._lock = threading.Lock()
        self._workers: set[threading.Thread] = set()  # the running ones
        # The idle workers' mailboxes, the most recently idle last: new work goes to that
        # one, so that under a steady trickle the others stay idle and end.
        self._idle: list[queue.SimpleQueue[_Work | None]] = []
        self._backlog: collections.deque[_Work] = collections.deque()  # all workers busy
        self._started = 0
        self._shut_down = False

    @property
    def threads(self) -> int:
        """How many worker threads run now."""
        with self._lock:
            return len(self._workers)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run `fn(*args, **kwargs)` in a worker: the most recently idle one, a new one while
        fewer than `max_workers` run, else the first to be free. RuntimeError after
        `shutdown`."""
        future: Future[T] = Future()
        work: _Work = (future, fn, args, kwargs)
        with self._lock:
            if self._shut_down:
                raise RuntimeError("cannot schedule new calls after shutdown")
            if self._idle:
                self._idle.pop().put(work)
            elif len(self._workers) < self._max_workers:
                self._started += 1
                thread = threading.Thread(
                    target=self._work,
                    args=(work,),
                    name=f"{self._prefix}-{self._started}",
                    daemon=True,
                )
                self._workers.add(thread)
                thread.start()
            else:
                self._backlog.append(work)
        return future

    def _work(self, work: _Work | None) -> None:
        mailbox: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        while work is not None:
            future, fn, args, kwargs = work
            del work  # drop the call's arguments once it has run
            outcome: tuple[bool, Any] | None = None
            if future.set_running_or_notify_cancel():
                try:
                    outcome = (True, fn(*args, **kwargs))
                except BaseException as error:
                    outcome = (False, error)
            del fn, args, kwargs
            # Idle (or given queued work) before the caller hears back: a caller's next
            # call then finds this thread rather than starting another.
            work, listed = self._after(mailbox)
            if outcome is not None:
                _settle(future, *outcome)
            del future, outcome
            if listed:
                work = self._wait(mailbox)
        with self._lock:
            self._workers.discard(threading.current_thread())

    def _after(self, mailbox: queue.SimpleQueue[_Work | None]) -> tuple[_Work | None, bool]:
        """After a call: queued work to run next, or (None, True) once this worker is
        listed as idle, or (None, False) to end (shut down)."""
        with self._lock:
            if self._backlog:
                return self._backlog.popleft(), False
            if self._shut_down:
                return None, False
            self._idle.append(mailbox)
            return None, True

    def _wait(self, mailbox: queue.SimpleQueue[_Work | None]) -> _Work | None:
        """The work handed to this idle worker; None to end: idle for `idle_timeout`
        seconds, or shut down."""
        try:
            return mailbox.get(timeout=self._idle_timeout)
        except queue.Empty:
            with self._lock:
                if mailbox in self._idle:
                    self._idle.remove(mailbox)
                    return None
            return mailbox.get()  # handed work just as it timed out

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new calls; with `cancel_futures` queued ones are cancelled, else they still
        run; the workers then end (with `wait`, this returns after they did)."""
        with self._lock:
            self._shut_down = True
            threads = list(self._workers)
            idle, self._idle = self._idle, []
            cancelled = list(self._backlog) if cancel_futures else []
            if cancel_futures:
                self._backlog.clear()
        for future, *_ in cancelled:
            future.cancel()
        for mailbox in idle:
            mailbox.put(None)
        if wait:
            for thread in threads:
                thread.join()


def _settle(future: Future[Any], ok: bool, value: Any) -> None:
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)

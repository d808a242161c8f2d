"""Adapter: one thread that drives the handshakes of every check of a `ChainChecker`.

`handshake.run_together` drives one check's steps in the calling thread. When many
threads do that at once (the operator checks up to `settings.check_concurrency`
endpoints at a time, each in a thread of its own), each of them polls its own sockets,
and every OpenSSL or socket call releases the interpreter lock: each release wakes
another thread, which finds the lock taken again and sleeps. Measured with 50 checks at
once on loopback: up to about 200 context switches per check, and up to twice the CPU
of the same checks made one at a time. `SharedRunner` instead runs every caller's steps
on one thread of its own, under one `poll`; the callers only wait for their results, so
one thread does the handshakes, and the wake-ups stay at a few per check. The CPU work
that follows (judging the chain) runs there too (`SharedRunner.call`): on the callers'
threads it took the lock from the handshakes at each of their OpenSSL calls and kept it
until done (measured: a tenth fewer checks a second).

Each step still has its own deadline, so a silent server holds only its own steps: the
others go on. The thread starts when steps come and ends after `LINGER` seconds without
any, so an idle runner holds no thread.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Generic, TypeVar

from webhook_cert_operator.checking.handshake import Step, T, Wait
from webhook_cert_operator.checking.served import ProbeError

#: Seconds the thread waits for new steps before it ends.
LINGER: Final = 2.0

R = TypeVar("R")


class _Job(Generic[T]):
    """One caller's steps: what each returned (or its ProbeError), or the other
    exception one of them raised, and the event its caller waits on."""

    def __init__(self, steps: Sequence[Step[T]]) -> None:
        self.steps = list(steps)
        self.results: dict[int, T | ProbeError] = {}
        self.error: BaseException | None = None
        self.done = threading.Event()

    def advance(self, index: int, ready: bool | None) -> Wait | None:
        """Send `ready` to step `index`; what it waits for next, None when it ended."""
        try:
            return self.steps[index].send(ready)  # type: ignore[arg-type]
        except StopIteration as stopped:
            self.results[index] = stopped.value
        except ProbeError as error:
            self.results[index] = error
        except BaseException as error:  # handed to the caller, which re-raises it
            self.error = error
        return None

    def finished(self) -> bool:
        return self.error is not None or len(self.results) == len(self.steps)


def _at_once(function: Callable[[], R]) -> Step[R]:
    """A step that waits for nothing."""
    return function()
    yield  # a generator, though it never gets here


class SharedRunner:
    """`run_together` for many threads at once, all their steps on one thread (module
    docstring). Thread-safe; build one per checker and share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._incoming: list[_Job[Any]] = []
        self._running = False
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)

    def __call__(self, steps: Sequence[Step[T]]) -> list[T | ProbeError]:
        """What `handshake.run_together(steps)` gives, in order: what each step returned
        or the ProbeError it raised. Any other exception a step raised is raised here,
        after the caller's other steps are closed."""
        job: _Job[T] = _Job(steps)
        with self._lock:
            # A wake-up is already on its way when others are waiting to be taken.
            wake = not self._incoming
            self._incoming.append(job)
            start, self._running = not self._running, True
        if start:
            thread = threading.Thread(target=self._serve, name="tls-handshakes", daemon=True)
            try:
                thread.start()
            except BaseException as error:  # no thread (RuntimeError): nobody may wait for one
                self._fail([], error)
        elif wake:
            with contextlib.suppress(BlockingIOError):
                self._wake_write.send(b"\0")
        job.done.wait()
        if job.error is not None:
            raise job.error
        return [job.results[index] for index in range(len(job.steps))]

    def call(self, function: Callable[[], R]) -> R:
        """`function()` run on the runner's thread, between two handshake steps: what it
        returns, or what it raises. For the CPU work that follows the handshakes (judging
        what they got): on the callers' threads it would take the interpreter lock from
        the handshakes at each of their OpenSSL calls, and hold it until it is done."""
        [result] = self([_at_once(function)])
        if isinstance(result, ProbeError):
            raise result
        return result

    def _serve(self) -> None:
        """The thread: take new jobs, poll, advance, until there is nothing to do."""
        loop = _Loop(self._wake_read)
        try:
            while True:
                with self._lock:
                    incoming, self._incoming = self._incoming, []
                    if not incoming and not loop.waits and loop.idle_since_linger():
                        self._running = False
                        return
                for job in incoming:
                    loop.start(job)
                loop.turn()
        except BaseException as error:
            # A fault of the loop itself: no caller may wait for ever.
            self._fail(loop.jobs(), error)
            raise

    def _fail(self, jobs: list[_Job[Any]], error: BaseException) -> None:
        """End `jobs` and those not taken yet with `error`; the next caller starts anew."""
        with self._lock:
            incoming, self._incoming, self._running = self._incoming, [], False
        for job in [*jobs, *incoming]:
            job.error = job.error or error
            job.done.set()


class _Loop:
    """The state of the runner's thread: what each socket's step waits for."""

    def __init__(self, wake: socket.socket) -> None:
        self.wake = wake
        self.poller = select.poll()
        self.poller.register(wake, select.POLLIN)
        # By file descriptor: each step has a socket of its own.
        self.waits: dict[int, tuple[_Job[Any], int, Wait]] = {}
        self.idle_until = time.monotonic() + LINGER

    def jobs(self) -> list[_Job[Any]]:
        return list({id(job): job for job, _, _ in self.waits.values()}.values())

    def idle_since_linger(self) -> bool:
        return time.monotonic() >= self.idle_until

    def start(self, job: _Job[Any]) -> None:
        for index in range(len(job.steps)):
            self.advance(job, index, None)
        if not job.steps:
            job.done.set()

    def advance(self, job: _Job[Any], index: int, ready: bool | None) -> None:
        if job.finished():
            return  # an earlier step failed; its steps are closed
        wait = job.advance(index, ready)
        if wait is not None:
            try:
                self.poller.register(wait[0], select.POLLIN if wait[1] else select.POLLOUT)
            except (OSError, ValueError) as error:  # a closed socket: that caller's fault
                job.error = error
            else:
                self.waits[wait[0].fileno()] = (job, index, wait)
        if job.error is not None:
            self._close(job)
        if job.finished():
            job.done.set()

    def _close(self, job: _Job[Any]) -> None:
        """Forget and close the steps of a job that failed."""
        for fd in [fd for fd, (waiting, _, _) in self.waits.items() if waiting is job]:
            del self.waits[fd]
            self.poller.unregister(fd)
        for step in job.steps:
            step.close()

    def turn(self) -> None:
        """Poll until a socket is ready or the earliest deadline, then advance the steps
        that can go on and tell those past their deadline."""
        now = time.monotonic()
        until = min((w[2] for _, _, w in self.waits.values()), default=now + LINGER)
        events = self.poller.poll(max(0.0, until - now) * 1000)
        for fd, _ in events:
            if fd == self.wake.fileno():
                with contextlib.suppress(BlockingIOError):
                    self.wake.recv(4096)
                continue
            # An error or hang-up is ready too: the step's next call finds out what happened.
            self._resume(fd, True)
        now = time.monotonic()
        for fd in [fd for fd, (_, _, w) in self.waits.items() if w[2] <= now]:
            self._resume(fd, False)
        if self.waits:
            self.idle_until = now + LINGER

    def _resume(self, fd: int, ready: bool) -> None:
        entry = self.waits.pop(fd, None)
        if entry is None:
            return  # its job failed earlier in this turn
        self.poller.unregister(fd)
        self.advance(entry[0], entry[1], ready)

"""Unit tests of the shared runner: steps of many threads driven on one thread, with
local socket pairs standing in for connections (no network)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from webhook_cert_operator.checking import driver
from webhook_cert_operator.checking.handshake import Step, run_together
from webhook_cert_operator.checking.served import Failure, ProbeError

Pairs = list[tuple[socket.socket, socket.socket]]


@pytest.fixture
def pairs() -> Iterator[Pairs]:
    made: Pairs = []
    yield made
    for a, b in made:
        a.close()
        b.close()


def pair(made: Pairs) -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    made.append((a, b))
    return a, b


def read_one(sock: socket.socket, timeout: float) -> Step[bytes]:
    """Wait until `sock` is readable, then read; ProbeError past the deadline."""
    if not (yield sock, True, time.monotonic() + timeout):
        raise ProbeError(Failure.TIMEOUT, "timed out")
    return sock.recv(16)


def test_each_caller_gets_its_own_results_in_order(pairs: Pairs) -> None:
    runner = driver.SharedRunner()
    (a, peer_a), (b, peer_b) = pair(pairs), pair(pairs)
    peer_b.send(b"second")
    peer_a.send(b"first")
    assert runner([read_one(a, 5), read_one(b, 5)]) == [b"first", b"second"]


def test_a_step_past_its_deadline_is_a_probe_error_and_the_others_go_on(pairs: Pairs) -> None:
    runner = driver.SharedRunner()
    silent, _ = pair(pairs)
    answering, peer = pair(pairs)
    results: dict[str, object] = {}

    def slow() -> None:
        results["silent"] = runner([read_one(silent, 1.0)])[0]

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.05)
    peer.send(b"hello")
    started = time.monotonic()
    assert runner([read_one(answering, 5)]) == [b"hello"]
    assert time.monotonic() - started < 0.5  # not held up by the silent one
    thread.join()
    assert isinstance(results["silent"], ProbeError)


def test_many_threads_at_once_each_get_their_answer(pairs: Pairs) -> None:
    runner = driver.SharedRunner()
    sockets = [pair(pairs) for _ in range(40)]
    answers: dict[int, list[object]] = {}

    def one(number: int) -> None:
        answers[number] = runner([read_one(sockets[number][0], 5)])

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(sockets))]
    for thread in threads:
        thread.start()
    for number, (_, peer) in reversed(list(enumerate(sockets))):
        peer.send(str(number).encode())
    for thread in threads:
        thread.join()
    assert answers == {n: [str(n).encode()] for n in range(len(sockets))}


def test_another_exception_reaches_its_caller_and_closes_its_other_steps(pairs: Pairs) -> None:
    runner = driver.SharedRunner()
    waiting, _ = pair(pairs)
    closed: list[bool] = []

    def failing() -> Step[bytes]:
        raise RuntimeError("a fault")
        yield  # pragma: no cover

    def tracked() -> Step[bytes]:
        try:
            return (yield from read_one(waiting, 5))
        finally:
            closed.append(True)

    with pytest.raises(RuntimeError, match="a fault"):
        runner([tracked(), failing()])
    assert closed == [True]


def test_it_answers_as_run_together_does(pairs: Pairs) -> None:
    (a, peer_a), (b, _) = pair(pairs), pair(pairs)
    peer_a.send(b"x")
    shared = driver.SharedRunner()([read_one(a, 5), read_one(b, 0.05)])
    peer_a.send(b"x")
    alone = run_together([read_one(a, 5), read_one(b, 0.05)])
    assert shared[0] == alone[0] == b"x"
    assert isinstance(shared[1], ProbeError) and isinstance(alone[1], ProbeError)


def test_no_steps_is_no_results() -> None:
    assert driver.SharedRunner()([]) == []


def test_its_thread_ends_when_idle_and_starts_again_when_needed(
    pairs: Pairs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(driver, "LINGER", 0.05)
    runner = driver.SharedRunner()
    a, peer = pair(pairs)
    peer.send(b"1")
    assert runner([read_one(a, 5)]) == [b"1"]
    deadline = time.monotonic() + 5
    while "tls-handshakes" in [t.name for t in threading.enumerate()]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    peer.send(b"2")
    assert runner([read_one(a, 5)]) == [b"2"]


def test_a_call_runs_on_the_runners_thread_and_returns_or_raises() -> None:
    runner = driver.SharedRunner()

    def fails() -> None:
        raise ValueError("judged badly")

    assert runner.call(lambda: threading.current_thread().name) == "tls-handshakes"
    with pytest.raises(ValueError, match="judged badly"):
        runner.call(fails)


def test_a_step_waiting_on_a_closed_socket_fails_its_caller_only(pairs: Pairs) -> None:
    runner = driver.SharedRunner()
    closed, _ = pair(pairs)
    closed.close()
    answering, peer = pair(pairs)
    peer.send(b"fine")

    with pytest.raises(ValueError):
        runner([read_one(closed, 5)])
    assert runner([read_one(answering, 5)]) == [b"fine"]

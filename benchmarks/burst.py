"""A burst: many WebhookEndpoints applied in one `kubectl apply`, beside the bare `acme`
client ordering as many certificates at once from the same Pebble.

The goal: all Ready, the last within 3x the bare client's wall time. Those not
Ready by the deadline are listed by their Ready and Issuing reasons.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from benchmarks import bare_acme
from benchmarks.harness import (
    Bench,
    Figure,
    condition,
    endpoint,
    parse_time,
    spread,
    utc_now,
    wait_until_ready,
)

PART = "burst"


def _stuck_reasons(items: list[dict[str, Any]], ready: set[str]) -> Counter[str]:
    reasons: Counter[str] = Counter()
    for item in items:
        if item["metadata"]["name"] in ready:
            continue
        ready_condition = condition(item, "Ready") or {}
        issuing = condition(item, "Issuing") or {}
        message = str(issuing.get("message", ""))[:90]
        reasons[
            f"Ready={ready_condition.get('reason', '-')} Issuing={issuing.get('reason', '-')}: "
            f"{message}"
        ] += 1
    return reasons


STEPS = ("OrderCreated", "Issued")
"""The issuance steps the operator posts an Event for."""
# With the solver Pods' own moments (seen by polling, where solver Pods answer) slotted in.
ALL_STEPS = ("OrderCreated", "SolverPodSeen", "SolverPodRunning", "SolverPodReady", "Issued")


def _step_times(bench: Bench, namespace: str, applied: datetime) -> dict[str, dict[str, float]]:
    """For each endpoint, when (seconds after the apply) the operator first posted each
    issuance step's Event."""
    steps: dict[str, dict[str, float]] = {}
    for event in bench.items(f"/api/v1/namespaces/{namespace}/events"):
        when = parse_time(event.get("eventTime") or event.get("firstTimestamp"))
        reason = event.get("reason", "")
        if event["involvedObject"]["kind"] != "WebhookEndpoint" or when is None:
            continue
        if reason in STEPS:
            mine = steps.setdefault(event["involvedObject"]["name"], {})
            at = (when - applied).total_seconds()
            mine[reason] = min(mine.get(reason, at), at)
    return steps


ENDPOINT_LABEL = "webhookcert.dev/endpoint"  # on each solver object (the operator's naming)


class _SolverPods:
    """When each endpoint's solver Pod was first seen, running and ready (seconds after
    `started`, to within the poll interval): Pods go away after issuance, so they are
    watched while the burst runs."""

    def __init__(self, bench: Bench, namespace: str, started: float) -> None:
        self.bench, self.namespace, self.started = bench, namespace, started
        self.seen: dict[str, dict[str, float]] = {}

    def __call__(self, _: object) -> None:
        now = time.monotonic() - self.started
        for pod in self.bench.items(f"/api/v1/namespaces/{self.namespace}/pods"):
            name = (pod["metadata"].get("labels") or {}).get(ENDPOINT_LABEL)
            if name is None:
                continue
            mine = self.seen.setdefault(name, {})
            mine.setdefault("SolverPodSeen", now)
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            if any("running" in (c.get("state") or {}) for c in statuses):
                mine.setdefault("SolverPodRunning", now)
            if statuses and all(c.get("ready") for c in statuses):
                mine.setdefault("SolverPodReady", now)


def _print_steps(steps: dict[str, dict[str, float]]) -> None:
    """Where a burst's time goes: up to the order (a worker thread, the account, the new
    order), then each step the operator posts an Event for."""
    done = {name: s for name, s in steps.items() if {"OrderCreated", "Issued"} <= s.keys()}
    if not done:
        return
    windows = [(s["OrderCreated"], s["Issued"]) for s in done.values()]
    busiest = max(sum(1 for a, b in windows if a <= t < b) for t, _ in windows)
    print(
        f"    from the operator's Events, {len(done)} issued: at most {busiest} orders in "
        "progress at once; medians (max) in seconds:"
    )
    print(
        f"      {statistics.median(a for a, _ in windows):6.1f} ({max(a for a, _ in windows):5.1f})"
        "  apply -> OrderCreated (a worker thread, the account, the order)"
    )
    spans: dict[tuple[str, str], list[float]] = {}
    for moments in done.values():
        seen = [step for step in ALL_STEPS if step in moments]
        for before, after in itertools.pairwise(seen):
            spans.setdefault((before, after), []).append(moments[after] - moments[before])
    for (before, after), values in spans.items():
        print(f"      {statistics.median(values):6.1f} ({max(values):5.1f})  {before} -> {after}")


PEBBLE_CHECK_EVERY = 20.0  # seconds between checks that Pebble still answers
TRIES = 2  # bursts, when Pebble deadlocks in the first


class PebbleHung(Exception):
    """Pebble stopped answering mid-burst (`bare_acme.pebble_alive`: a Pebble bug)."""


class _PebbleWatch:
    """Raises PebbleHung, from the wait's poll, once Pebble no longer registers an account."""

    def __init__(self, bench: Bench, then: Callable[[list[dict[str, Any]]], None]) -> None:
        self.bench, self.then = bench, then
        self.checked = time.monotonic()

    def __call__(self, items: list[dict[str, Any]]) -> None:
        self.then(items)
        if time.monotonic() - self.checked < PEBBLE_CHECK_EVERY:
            return
        self.checked = time.monotonic()
        if not bare_acme.pebble_alive(self.bench.cluster):
            raise PebbleHung


def run(bench: Bench, count: int = 100, deadline: float = 600.0) -> list[Figure]:
    """Apply `count` endpoints at once; wait at most `deadline` seconds for all Ready.
    When Pebble deadlocks meanwhile, it is restarted and the burst applied again in a new
    namespace (at most TRIES bursts): the operator's figure, not Pebble's bug."""
    bare = bare_acme.baseline(bench.cluster, count)
    print(f"  {bare.line()}")
    for attempt in range(1, TRIES + 1):
        try:
            return _burst(bench, bare, count, deadline, watch_pebble=attempt < TRIES)
        except PebbleHung:
            print(f"  (burst {attempt}: Pebble deadlocked; restarted, the burst applied again)")
            bench.delete_namespaces(wait=True)
            bare_acme.ensure_pebble(bench.cluster)
    raise AssertionError("unreachable: the last burst does not watch Pebble")


def _burst(
    bench: Bench, bare: bare_acme.BareResult, count: int, deadline: float, *, watch_pebble: bool
) -> list[Figure]:
    namespace = bench.new_namespace("bench-burst")
    names = [f"e{i}" for i in range(count)]
    items = [endpoint(namespace, n, [f"{n}.{namespace}.example.test"]) for n in names]
    applied = utc_now()
    started = time.monotonic()
    bench.apply(items)
    applied_after = time.monotonic() - started
    pods = _SolverPods(bench, namespace, started)
    on_poll = _PebbleWatch(bench, pods) if watch_pebble else pods
    ready_at, last_items = wait_until_ready(
        bench, namespace, names, started=started, deadline=started + deadline, on_poll=on_poll
    )
    times = sorted(ready_at.values())
    print(
        f"  operator, {count} endpoints in one apply ({applied_after:.1f}s to apply): "
        f"{len(times)} Ready within {deadline:.0f}s"
    )
    first = median = last = None
    if times:
        first, median, last = spread(times)
        print(f"    Ready: first {first:.1f}s, median {median:.1f}s, last {last:.1f}s")
    steps = _step_times(bench, namespace, applied)
    for name, moments in pods.seen.items():
        steps.setdefault(name, {}).update(moments)
    _print_steps(steps)
    stuck = _stuck_reasons(last_items, set(ready_at))
    for reason, how_many in stuck.most_common():
        print(f"    {how_many:3d} not Ready: {reason}")
    all_ready_last = last if len(times) == count else None
    return [
        Figure(PART, f"{count} at once: last Ready", all_ready_last, "s", bare.wall_if_any,
               f"bare {count} orders, wall", 3.0,
               note="" if all_ready_last is not None else f"{count - len(times)} not Ready"),
        Figure(PART, f"{count} at once: median Ready", median, "s", bare.last,
               f"bare {count} orders, last"),
        Figure(PART, f"{count} at once: Ready within {deadline:.0f}s", float(len(times)), "",
               goal=float(count), higher_is_better=True),
        Figure(PART, f"{count} at once: first Ready", first, "s"),
    ]  # fmt: skip

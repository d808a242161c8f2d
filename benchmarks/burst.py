"""A burst: many WebhookEndpoints applied in one `kubectl apply`, beside the bare `acme`
client ordering as many certificates at once from the same Pebble.

The goal (issue 11): all Ready, the last within 3x the bare client's wall time. Those not
Ready by the deadline are listed by their Ready and Issuing reasons.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from benchmarks import bare_acme
from benchmarks.harness import Bench, Figure, condition, endpoint, spread, wait_until_ready

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


def run(bench: Bench, count: int = 100, deadline: float = 600.0) -> list[Figure]:
    """Apply `count` endpoints at once; wait at most `deadline` seconds for all Ready."""
    bare = bare_acme.run(bench.cluster, count)
    print(f"  {bare.line()}")
    if bare_acme.ensure_pebble(bench.cluster):
        print(
            "  Pebble hung after the bare client's orders (see bare_acme.pebble_alive); restarted"
        )
    namespace = bench.new_namespace("bench-burst")
    names = [f"e{i}" for i in range(count)]
    items = [endpoint(namespace, n, [f"{n}.{namespace}.example.test"]) for n in names]
    started = time.monotonic()
    bench.apply(items)
    applied_after = time.monotonic() - started
    ready_at, last_items = wait_until_ready(
        bench, namespace, names, started=started, deadline=started + deadline
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
    stuck = _stuck_reasons(last_items, set(ready_at))
    for reason, how_many in stuck.most_common():
        print(f"    {how_many:3d} not Ready: {reason}")
    all_ready_last = last if len(times) == count else None
    return [
        Figure(PART, f"{count} at once: last Ready", all_ready_last, "s", bare.wall,
               f"bare {count} orders, wall", 3.0,
               note="" if all_ready_last is not None else f"{count - len(times)} not Ready"),
        Figure(PART, f"{count} at once: median Ready", median, "s", bare.last,
               f"bare {count} orders, last"),
        Figure(PART, f"{count} at once: Ready within {deadline:.0f}s", float(len(times)), "",
               goal=float(count), higher_is_better=True),
        Figure(PART, f"{count} at once: first Ready", first, "s"),
    ]  # fmt: skip

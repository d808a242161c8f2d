"""`make bench`: every benchmark on the local cluster, then one summary table.

    python -m benchmarks                      # all parts, in this order:
    python -m benchmarks latency burst politeness memory checks
    python -m benchmarks burst --burst 20 --deadline 300

Parts: `latency` (1 endpoint, with its stages and its API writes; `writes` is the same
part), `burst`, `politeness`, `memory`, `checks`. Each prints its figures beside the
baseline it measured in the same run; the table at the end gives figure, baseline,
ratio, goal and verdict. It asserts nothing and exits 0 unless a part crashed.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable

from benchmarks import bare_acme, burst, check_rate, latency, memory, politeness
from benchmarks.harness import Bench, Figure, summary_table

# Politeness before memory: it clears the namespaces, and 100 endpoints go faster than 1,000.
PARTS = ("latency", "burst", "politeness", "memory", "checks")
ALIASES = {"writes": "latency", "api-writes": "latency", "check-rate": "checks"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("parts", nargs="*", help=f"any of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--burst", type=int, default=100, help="endpoints in the burst")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds to wait for Ready")
    args = parser.parse_args(argv)
    chosen = [ALIASES.get(p, p) for p in args.parts] or list(PARTS)
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    bench = Bench.connect()  # first: everything below runs inside the cluster's network
    if set(chosen) - {"checks"}:
        bench.start_operator()
    runs: dict[str, Callable[[], list[Figure]]] = {
        "latency": lambda: latency.run(bench),
        "burst": lambda: burst.run(bench, args.burst, args.deadline),
        "memory": lambda: memory.run(bench, deadline=args.deadline),
        "politeness": lambda: politeness.run(bench),
        "checks": check_rate.run,
    }
    figures: list[Figure] = []
    failed = False
    for part in dict.fromkeys(chosen):
        print(f"\n== {part}", flush=True)
        started = time.monotonic()
        if part != "checks" and bare_acme.ensure_pebble(bench.cluster):
            print("   Pebble did not answer (see bare_acme.pebble_alive); restarted it")
        try:
            figures += runs[part]()
        except Exception:
            traceback.print_exc()
            failed = True
        print(f"   ({part}: {time.monotonic() - started:.0f}s)", flush=True)
    bench.delete_namespaces()
    print("\n== summary\n" + summary_table(figures))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

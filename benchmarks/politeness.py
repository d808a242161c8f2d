"""Politeness: how many ACME requests an endpoint that can never be issued costs the CA.

The endpoint's name never resolves (the cluster's DNS answers SERVFAIL for it, as for a
name whose DNS is not set up yet), so every attempt fails. The operator runs with its
failure back-off and self-check timeout compressed by `COMPRESSION` (the steps of the
default 1m,10m,100m,24h and the 2m timeout, divided), and Pebble's log is read for the
requests made during one compressed hour: at the default settings the same requests
would be spread over one real hour.
"""

from __future__ import annotations

import re
import time
from collections import Counter

from benchmarks import bare_acme
from benchmarks.harness import Bench, Figure, endpoint

PART = "politeness"
COMPRESSION = 20
COMPRESSED_SETTINGS = {
    "WEBHOOK_CERT_FAILURE_BACKOFF": "3s,30s,5m,72m",  # 1m,10m,100m,24h / 20
    "WEBHOOK_CERT_SELF_CHECK_TIMEOUT": "6s",  # 2m / 20
}
HOUR = 3600.0 / COMPRESSION
_REQUEST = re.compile(r"(GET|HEAD|POST) (\S+) -> calling handler\(\)")


def pebble_requests(log: str) -> Counter[str]:
    return Counter(" ".join(m.groups()) for m in _REQUEST.finditer(log))


def run(bench: Bench) -> list[Figure]:
    bench.delete_namespaces(wait=True)  # nothing else asks Pebble for anything meanwhile
    bench.start_operator(COMPRESSED_SETTINGS)
    namespace = bench.new_namespace("bench-polite")
    host = f"never.{namespace}.example.test"
    bare_acme.challtestsrv("/set-servfail", {"host": host})
    pebble_log = bench.cluster.processes.log_file("pebble")
    try:
        time.sleep(10)  # the restarted operator's start-up requests, if any, come first
        offset = pebble_log.stat().st_size
        bench.apply([endpoint(namespace, "never", [host])])
        time.sleep(HOUR)
        with pebble_log.open() as log:
            log.seek(offset)
            requests = pebble_requests(log.read())
        status = bench.endpoint(namespace, "never").get("status") or {}
    finally:
        bare_acme.challtestsrv("/clear-servfail", {"host": host})
        bench.kubectl("delete", "namespace", namespace, "--wait=false")
        bench.start_operator()  # the default settings again
    total = sum(requests.values())
    print(
        f"  endpoint {namespace}/never (name never resolves), back-off and self-check timeout "
        f"/{COMPRESSION}: {HOUR:.0f}s stand for 1 h at the defaults"
    )
    print(
        f"  failedAttempts {status.get('failedAttempts')}, last failure: "
        f"{str(status.get('lastFailureReason', ''))[:100]}"
    )
    print(f"  ACME requests at Pebble in that time: {total}")
    for request, count in requests.most_common():
        print(f"    {count:4d}  {request}")
    return [Figure(PART, "ACME requests/h, failing endpoint", float(total), "", goal=10)]

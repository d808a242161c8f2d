"""The operator Pod's resident memory at 0, 100 and 1,000 Ready, idle endpoints, and
then with 300 unrelated 1 MiB Secrets in the cluster.

RSS is the operator process's own (`VmRSS` of PID 1 in its container, read through
`kubectl exec`), sampled three times a few seconds apart once the operator is idle; the
median is reported. The first 100 endpoints are issued by the operator from Pebble;
the other 900 are check-only endpoints (`spec.checkOnly.secretRef`) that reference one
Secret holding a certificate issued to the first: issuing 1,000 certificates here
takes too long, and a check-only endpoint costs the operator the same objects, watch
events, daemons and served-chain checks as an issued one, less the issuance itself.

When the operator is OOM-killed under the manifests' memory limit, that is said, and
the limit is raised (RAISED_LIMIT) to measure what it would use.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import time
import urllib.parse

from localcluster.operator import DEPLOYMENT, OPERATOR_NAMESPACE, POD_SELECTOR

from benchmarks.harness import Bench, Figure, endpoint, wait_until_ready

PART = "memory"
SETTLE = 30.0  # seconds of idleness before sampling
UNRELATED_SECRETS = 300
SECRET_BYTES = 1024 * 1024
RAISED_LIMIT = "1Gi"


def operator_rss_mib(bench: Bench) -> float:
    """Median of three samples of the operator process's VmRSS, in MiB."""
    samples = []
    for _ in range(3):
        status = bench.kubectl(
            "exec", "-n", OPERATOR_NAMESPACE, bench.operator_pod(), "--", "cat", "/proc/1/status"
        )
        kib = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
        samples.append(kib / 1024)
        time.sleep(3)
    return statistics.median(samples)


def operator_restarts(bench: Bench) -> tuple[int, str | None]:
    """Restarts of the operator's container(s), and why the last one ended (OOMKilled)."""
    selector = urllib.parse.quote(POD_SELECTOR)
    pods = bench.items(f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/pods?labelSelector={selector}")
    restarts, reason = 0, None
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            restarts += int(status.get("restartCount") or 0)
            ended = (status.get("lastState") or {}).get("terminated") or {}
            reason = ended.get("reason") or reason
    return restarts, reason


def _raise_memory_limit(bench: Bench, limit: str) -> None:
    """Let the operator live past the shipped limit, to measure what it would use; the
    next `start_operator()` applies the manifests' limit again."""
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "operator", "resources": {"limits": {"memory": limit}}}]
                }
            }
        }
    }
    bench.kubectl(
        "patch", "deployment", "-n", OPERATOR_NAMESPACE, DEPLOYMENT, "-p", json.dumps(patch)
    )
    bench.kubectl("rollout", "status", "-n", OPERATOR_NAMESPACE, f"deployment/{DEPLOYMENT}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(bench.operator_pods()) != 1:
        time.sleep(1)


def _restart_operator(bench: Bench) -> None:
    old = bench.operator_pod()
    bench.kubectl("delete", "pod", "-n", OPERATOR_NAMESPACE, old, "--wait=true")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pods = bench.operator_pods()
        if pods and pods[0] != old:
            return
        time.sleep(1)


def _idle_rss(bench: Bench, what: str) -> float:
    time.sleep(SETTLE)
    rss = operator_rss_mib(bench)
    print(f"    {rss:6.1f} MiB  {what}")
    return rss


def _issue(bench: Bench, count: int, deadline: float) -> tuple[str, int]:
    namespace = bench.new_namespace("bench-memory")
    names = [f"e{i}" for i in range(count)]
    started = time.monotonic()
    bench.apply(endpoint(namespace, n, [f"{n}.{namespace}.example.test"]) for n in names)
    ready, _ = wait_until_ready(
        bench, namespace, names, started=started, deadline=started + deadline
    )
    return namespace, len(ready)


def _check_only(bench: Bench, source_namespace: str, count: int, deadline: float) -> int:
    namespace = bench.new_namespace("bench-memory-check")
    source = bench.get(f"/api/v1/namespaces/{source_namespace}/secrets/e0-tls")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": "shared-tls", "namespace": namespace},
        "data": {k: source["data"][k] for k in ("tls.crt", "tls.key")},
    }
    names = [f"c{i}" for i in range(count)]
    started = time.monotonic()
    bench.apply(
        [secret]
        + [
            endpoint(
                namespace, n, [f"{n}.{namespace}.example.test"],
                checkOnly={"secretRef": {"name": "shared-tls"}},
            )
            for n in names
        ]
    )  # fmt: skip
    ready, _ = wait_until_ready(
        bench, namespace, names, started=started, deadline=started + deadline, poll=3.0
    )
    return len(ready)


def _unrelated_secrets(bench: Bench) -> None:
    namespace = bench.new_namespace("bench-memory-bulk")
    for i in range(UNRELATED_SECRETS):
        bench.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/secrets",
            {
                "metadata": {"name": f"bulk-{i}"},
                "data": {"blob": base64.b64encode(os.urandom(SECRET_BYTES)).decode()},
            },
        )


def run(
    bench: Bench, issued: int = 100, total: int = 1000, deadline: float = 600.0
) -> list[Figure]:
    bench.delete_namespaces(wait=True)
    _restart_operator(bench)
    print("  operator RSS (restarted first; median of 3 samples after 30 s idle):")
    rss0 = _idle_rss(bench, "0 endpoints")
    namespace, ready = _issue(bench, issued, deadline)
    rss100 = _idle_rss(bench, f"{issued} endpoints issued ({ready} Ready)")
    restarts_before, _ = operator_restarts(bench)
    checked = _check_only(bench, namespace, total - issued, deadline)
    time.sleep(SETTLE)
    restarts, reason = operator_restarts(bench)
    note = ""
    if restarts > restarts_before:
        note = (
            f"the operator restarted {restarts - restarts_before}x at {total} endpoints "
            f"(last: {reason}) under the shipped limit; measured with limits.memory "
            f"{RAISED_LIMIT}"
        )
        print(f"    {note}")
        _raise_memory_limit(bench, RAISED_LIMIT)
        time.sleep(SETTLE)  # it resumes every endpoint first
    rss1000 = _idle_rss(
        bench, f"{total} endpoints: + {total - issued} check-only ({checked} Ready)"
    )
    _unrelated_secrets(bench)
    rss_bulk = _idle_rss(bench, f"+ {UNRELATED_SECRETS} unrelated Secrets of 1 MiB")
    if note:
        bench.start_operator()  # the shipped limit again
    return [
        Figure(PART, "RSS, 0 endpoints", rss0, "MiB"),
        Figure(PART, f"RSS, {issued} endpoints", rss100, "MiB"),
        Figure(PART, f"RSS, {total} endpoints", rss1000, "MiB", goal=150, note=note),
        Figure(PART, f"RSS, {total} + {UNRELATED_SECRETS} x 1 MiB Secrets", rss_bulk, "MiB",
               rss1000, f"RSS at {total}", 1.05),
    ]  # fmt: skip

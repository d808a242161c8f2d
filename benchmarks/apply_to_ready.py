"""Benchmark: time from `kubectl apply` of N WebhookEndpoints to Ready, on the local cluster.

    make bench                      # 1 endpoint, then 20 at once
    .venv/bin/python -m benchmarks.apply_to_ready 1 20 50

Uses the operator that `make demo` leaves running (or starts one the same way), a fresh
namespace per round, and prints per-round figures; it asserts nothing.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid

from kubernetes import client, config
from localcluster.cluster import LocalCluster
from localcluster.demo import start_operator


def one_round(cluster: LocalCluster, api: client.CustomObjectsApi, count: int) -> None:
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", namespace)
    endpoints = [
        {
            "apiVersion": "webhookcert.dev/v1alpha1",
            "kind": "WebhookEndpoint",
            "metadata": {"name": f"e{i}", "namespace": namespace},
            "spec": {"dnsNames": [f"e{i}.{namespace}.example.test"]},
        }
        for i in range(count)
    ]
    started = time.monotonic()
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": endpoints}),
    )
    ready_at: dict[str, float] = {}
    deadline = started + 600
    while len(ready_at) < count and time.monotonic() < deadline:
        items = api.list_namespaced_custom_object(
            "webhookcert.dev", "v1alpha1", namespace, "webhookendpoints"
        )["items"]
        for item in items:
            name = item["metadata"]["name"]
            conditions = (item.get("status") or {}).get("conditions") or []
            if name not in ready_at and any(
                c["type"] == "Ready" and c["status"] == "True" for c in conditions
            ):
                ready_at[name] = time.monotonic() - started
        time.sleep(0.2)
    times = sorted(ready_at.values())
    if times:
        print(
            f"{count:4d} endpoint(s): {len(times)} Ready; first {times[0]:6.1f}s, "
            f"median {statistics.median(times):6.1f}s, last {times[-1]:6.1f}s"
        )
    if len(times) < count:
        print(f"      {count - len(times)} not Ready within 600s")
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def main(argv: list[str]) -> int:
    counts = [int(a) for a in argv] or [1, 20]
    cluster = LocalCluster(log=lambda _: None)
    cluster.up()
    start_operator(cluster)
    api = client.CustomObjectsApi(config.new_client_from_config(str(cluster.kubeconfig)))
    for count in counts:
        one_round(cluster, api, count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

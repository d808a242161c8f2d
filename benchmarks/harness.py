"""What every benchmark shares: the cluster, the figures they print, endpoints and waiting.

A benchmark measures; it asserts nothing. Each returns `Figure`s, which `__main__` prints
as one table with the baseline measured in the same run beside each figure, their ratio,
the goal and a verdict. The machine is small and shared, so a figure only means something
next to a baseline taken moments before or after it.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes import client, config
from localcluster.cluster import LocalCluster
from localcluster.operator import OPERATOR_NAMESPACE, POD_SELECTOR, install_operator

GROUP, VERSION, PLURAL = "webhookcert.dev", "v1alpha1", "webhookendpoints"
BENCH_LABEL = "webhookcert.dev/benchmark"


@dataclass(frozen=True)
class Figure:
    """One measured figure, with its same-run baseline (if any) and its goal.

    `goal` is the largest (or, with `higher_is_better`, the smallest) acceptable value of
    `ratio` when the figure names a baseline, else of `value`; None prints no verdict.
    """

    part: str
    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    goal: float | None = None
    higher_is_better: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return ""
        if self.baseline_name and self.baseline is None:
            return "no baseline"
        judged = self.ratio if self.baseline_name else self.value
        if judged is None:
            return "MISS (no figure)"
        met = judged >= self.goal if self.higher_is_better else judged <= self.goal
        return "ok" if met else "MISS"

    def goal_text(self) -> str:
        if self.goal is None:
            return ""
        sign = ">=" if self.higher_is_better else "<="
        suffix = "x" if self.baseline_name else f" {self.unit}"
        return f"{sign}{self.goal:g}{suffix}"


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = (
        f"{value:.0f}"
        if abs(value) >= 100
        else f"{value:.2f}"
        if abs(value) < 10
        else f"{value:.1f}"
    )
    return f"{text} {unit}".strip()


def summary_table(figures: Sequence[Figure]) -> str:
    """The figures as a fixed-width table: figure, baseline, ratio, goal, verdict."""
    rows = [("part", "figure", "value", "baseline", "ratio", "goal", "verdict")]
    for f in figures:
        baseline = (
            f"{fmt(f.baseline, f.unit)} ({f.baseline_name})" if f.baseline is not None else ""
        )
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else ""
        rows.append(
            (f.part, f.name, fmt(f.value, f.unit), baseline, ratio, f.goal_text(), f.verdict)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {f.part}/{f.name}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["notes:", *notes] if notes else []))


def spread(times: Sequence[float]) -> tuple[float, float, float]:
    """(first, median, last) of some durations."""
    ordered = sorted(times)
    return ordered[0], statistics.median(ordered), ordered[-1]


def parse_time(text: str | None) -> datetime | None:
    """A Kubernetes timestamp (RFC 3339, with or without fraction) as an aware datetime."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Bench:
    """The local cluster, its API clients, and the operator Deployment under test.

    Built by `connect()` after `LocalCluster.up()`, which moves this process into the
    cluster's network namespace: every request below stays inside it.
    """

    cluster: LocalCluster
    api: client.ApiClient

    @classmethod
    def connect(cls) -> Bench:
        cluster = LocalCluster(log=lambda _: None)
        cluster.up()  # idempotent; enters the cluster's network namespace
        api = config.new_client_from_config(str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
        return cls(cluster, api)

    def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """One API request by path; the JSON answer as plain data (no client models)."""
        response = self.api.call_api(
            method,
            self.api.configuration.host + path,
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=body,
        )
        response.read()  # type: ignore[no-untyped-call]
        data = response.data or b"{}"
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {data[:300]!r}")
        return cast(dict[str, Any], json.loads(data))

    def get(self, path: str) -> dict[str, Any]:
        return self.request("GET", path)

    def items(self, path: str) -> list[dict[str, Any]]:
        return list(self.get(path)["items"])

    def endpoint(self, namespace: str, name: str) -> dict[str, Any]:
        return self.get(f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}")

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return self.cluster.kubectl(*args, input=input)

    def start_operator(self, env: Mapping[str, str] | None = None) -> None:
        """Install (or reconfigure) the operator Deployment with `env` and no other
        changes, and wait until its one Pod runs."""
        install_operator(self.kubectl, self.cluster.operator_overlay, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(self.operator_pods()) != 1:
            time.sleep(0.5)

    def operator_pods(self) -> list[str]:
        """The names of the running, ready, not terminating operator Pods."""
        selector = urllib.parse.quote(POD_SELECTOR)
        pods = self.items(f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/pods?labelSelector={selector}")
        return [
            p["metadata"]["name"]
            for p in pods
            if not p["metadata"].get("deletionTimestamp")
            and p["status"].get("phase") == "Running"
            and all(s.get("ready") for s in p["status"].get("containerStatuses") or [])
        ]

    def operator_pod(self) -> str:
        return self.operator_pods()[0]

    def new_namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        body = {"metadata": {"name": name, "labels": {BENCH_LABEL: prefix}}}
        self.request("POST", "/api/v1/namespaces", body)
        return name

    def delete_namespaces(self, wait: bool = False) -> None:
        """Every namespace a benchmark made (they hold the endpoints and their Secrets)."""
        self.kubectl("delete", "namespace", "-l", BENCH_LABEL, f"--wait={str(wait).lower()}")

    def apply(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Objects in one `kubectl apply`, as a user applies a manifest."""
        body = {"apiVersion": "v1", "kind": "List", "items": list(items)}
        self.kubectl("apply", "-f", "-", input=json.dumps(body))

    def endpoints(self, namespace: str) -> list[dict[str, Any]]:
        return self.items(f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}")


def endpoint(namespace: str, name: str, dns_names: Sequence[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WebhookEndpoint",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"dnsNames": list(dns_names), **spec},
    }


def condition(item: Mapping[str, Any], type: str) -> Mapping[str, Any] | None:
    for entry in (item.get("status") or {}).get("conditions") or []:
        if entry.get("type") == type:
            return dict(entry)
    return None


def is_ready(item: Mapping[str, Any]) -> bool:
    ready = condition(item, "Ready")
    return ready is not None and ready.get("status") == "True"


def wait_until_ready(
    bench: Bench,
    namespace: str,
    names: Sequence[str],
    *,
    started: float,
    deadline: float,
    poll: float = 1.0,
    on_poll: Callable[[list[dict[str, Any]]], None] | None = None,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Poll the namespace's endpoints until all `names` are Ready or `deadline` (monotonic)
    passes. Returns when each became Ready (seconds after `started`, to within `poll`)
    and the last listing."""
    ready_at: dict[str, float] = {}
    items: list[dict[str, Any]] = []
    while True:
        items = bench.endpoints(namespace)
        now = time.monotonic() - started
        for item in items:
            name = item["metadata"]["name"]
            if name in names and name not in ready_at and is_ready(item):
                ready_at[name] = now
        if on_poll is not None:
            on_poll(items)
        if len(ready_at) == len(names) or time.monotonic() >= deadline:
            return ready_at, items
        time.sleep(poll)

"""One endpoint, apply to Ready, beside one bare `acme` order (the medians of ROUNDS
each); where the time goes; and the API writes that one single-name issuance costs (from
the apiserver's audit log).

Stages come from three clocks of one machine: the operator's Events (kopf sets
`eventTime` to the microsecond), what this process sees polling every 0.2 s (the solver
EndpointSlice, or a solver Pod running; Traefik routing the challenge path to it; the
Secret; Ready), and the audit log's timestamps.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from localcluster import network

from benchmarks import audit, bare_acme
from benchmarks.harness import Bench, Figure, endpoint, is_ready, parse_time, utc_now

PART = "latency"
WRITES_PART = "api-writes"
POLL = 0.2
TIMEOUT = 180.0
# Single issuances on each side, the figure their median: a client polls the CA every so
# often, so one issuance takes whole steps of that (the bare client's 1.0 s or 2.0 s).
ROUNDS = 3
KIND = "WebhookEndpoint"
# The operator's step Events, in issuance order, and the stage each one ends.
STEP_EVENTS = {
    "OrderCreated": "order created",
    "SelfCheck": "solver objects created, self-check starts",
    "Validating": "self-check passed, challenge answered",
    "Finalizing": "CA validated the challenge",
    "Issued": "certificate stored (Issued event)",
}


def _routed_to_solver(host: str, path: str) -> bool:
    """Whether Traefik answers the challenge path (the solver Ingress's Exact path) from
    the solver: 200, where Traefik without a route answers 404."""
    connection = http.client.HTTPConnection(network.NODE_IP, 80, timeout=2)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        connection.close()


@dataclass
class _Watcher:
    """Polls what the operator's Events do not say, from another thread."""

    bench: Bench
    namespace: str
    name: str
    host: str
    seen: dict[str, datetime] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def _note(self, stage: str) -> None:
        self.seen.setdefault(stage, utc_now())

    def run(self) -> None:
        while not self.stop.is_set():
            ns = f"/api/v1/namespaces/{self.namespace}"
            for pod in self.bench.items(f"{ns}/pods"):
                self._note("solver Pod created")
                statuses = (pod.get("status") or {}).get("containerStatuses") or []
                if any("running" in (s.get("state") or {}) for s in statuses):
                    self._note("solver Pod running")
                if statuses and all(s.get("ready") for s in statuses):
                    self._note("solver Pod ready")
            slices = f"/apis/discovery.k8s.io/v1/namespaces/{self.namespace}/endpointslices"
            if any(
                (item["metadata"].get("labels") or {}).get("webhookcert.dev/role") == "solver"
                for item in self.bench.items(slices)
            ):
                self._note("solver EndpointSlice created (the operator answers)")
            ingresses = f"/apis/networking.k8s.io/v1/namespaces/{self.namespace}/ingresses"
            for ingress in self.bench.items(ingresses):
                self._note("solver Ingress created")
                paths = [
                    path["path"]
                    for rule in ingress["spec"].get("rules") or []
                    for path in (rule.get("http") or {}).get("paths") or []
                ]
                if paths and _routed_to_solver(self.host, paths[0]):
                    self._note("ingress routes to solver")
            if self.bench.items(f"{ns}/secrets?fieldSelector=metadata.name%3D{self.name}-tls"):
                self._note("Secret stored")
            time.sleep(POLL)


def run(bench: Bench) -> list[Figure]:
    """ROUNDS single issuances one after another on each side, the medians compared; the
    stages and the writes of the operator's last."""
    bare_lasts = []
    for _ in range(ROUNDS):
        bare = bare_acme.baseline(bench.cluster, 1)
        print(f"  {bare.line()}")
        if bare.last is not None:
            bare_lasts.append(bare.last)
    namespace = bench.new_namespace("bench-latency")
    # The last in detail: the first issuance after the operator started also stores its
    # ACME account key (a Secret written once per CA account, not per issuance).
    last = ROUNDS - 1
    rounds = [_issue_one(bench, namespace, f"e{i}", detail=i == last) for i in range(ROUNDS)]
    readies = [ready for ready, _ in rounds if ready is not None]
    print(f"  apply->Ready, {ROUNDS} endpoints one after another: " + ", ".join(
        "-" if ready is None else f"{ready:.2f}s" for ready, _ in rounds
    ))  # fmt: skip
    ready_median = statistics.median(readies) if len(readies) == ROUNDS else None
    bare_median = statistics.median(bare_lasts) if bare_lasts else None
    return [
        Figure(PART, "1 endpoint apply->Ready", ready_median, "s", bare_median,
               f"bare 1 order, median of {ROUNDS}", 2.0),
        Figure(WRITES_PART, "writes per 1-name issuance", float(rounds[last][1]), "", goal=12),
    ]  # fmt: skip


def _issue_one(
    bench: Bench, namespace: str, name: str, *, detail: bool
) -> tuple[float | None, int]:
    """Apply one endpoint and wait for Ready: (seconds to Ready or None, the operator's
    API writes until then). With `detail`, print the stages and the writes."""
    host = f"{name}.{namespace}.example.test"
    mark = audit.Mark.now(bench.cluster.audit_log)
    watcher = _Watcher(bench, namespace, name, host)
    thread = threading.Thread(target=watcher.run, daemon=True)
    applied = utc_now()
    started = time.monotonic()
    bench.apply([endpoint(namespace, name, [host])])
    thread.start()
    ready_after: float | None = None
    while time.monotonic() - started < TIMEOUT:
        if is_ready(bench.endpoint(namespace, name)):
            ready_after = time.monotonic() - started
            break
        time.sleep(POLL)
    ready_at = utc_now()
    time.sleep(2.0)  # the last Events and status writes of the issuance land
    watcher.stop.set()
    thread.join()
    writes = audit.operator_writes(mark, applied, ready_at, namespace)
    if not detail:
        return ready_after, len(writes)
    stages = dict(watcher.seen)
    for event in bench.items(f"/api/v1/namespaces/{namespace}/events"):
        stage = STEP_EVENTS.get(event.get("reason", ""))
        when = parse_time(event.get("eventTime") or event.get("firstTimestamp"))
        involved = event["involvedObject"]
        if stage and when is not None and (involved["kind"], involved["name"]) == (KIND, name):
            stages.setdefault(stage, when)
    stages["Ready"] = ready_at
    _print_stages(applied, stages)
    if ready_after is None:
        print(f"  not Ready within {TIMEOUT:.0f}s")
    print(f"  API writes by the operator's ServiceAccount, apply to Ready ({namespace}):")
    print(audit.table(writes))
    later = audit.operator_writes(mark, ready_at, utc_now(), namespace)
    print(f"  and {len(later)} more in the 2 s after Ready")
    return ready_after, len(writes)


def _print_stages(applied: datetime, stages: dict[str, datetime]) -> None:
    print("  stage (seconds after apply; duration since the stage before):")
    previous = 0.0
    for stage, when in sorted(stages.items(), key=lambda kv: kv[1]):
        seconds = (when - applied).total_seconds()
        print(f"    {seconds:6.2f}s  +{seconds - previous:5.2f}s  {stage}")
        previous = seconds

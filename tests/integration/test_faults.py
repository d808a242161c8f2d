"""The operator under faults, on the real node: killed at random moments, a lost active
replica, a flaky CA, a restarted apiserver and etcd. Delays that waiting is the point of
are compressed through settings (the failure back-off), never by patching the operator.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from cryptography import x509
from kubernetes import client
from localcluster.cluster import LocalCluster

from tests.integration import k8s
from tests.integration.conftest import Cluster
from tests.integration.operator_deployment import (
    OperatorDeployment,
    endpoint,
    get_status,
    wait_for_condition,
    wait_for_self_check,
)
from tests.integration.test_issuance import assert_solver_objects_removed, secret_data
from tests.integration.test_operator_lifecycle import active
from tests.integration.test_served_chain import serve_through_traefik
from tests.integration.workloads import wait_for
from webhook_cert_operator.checking import probe
from webhook_cert_operator.checking.resolve import parse_nameserver

pytestmark = pytest.mark.cluster

# A fault that lasts makes the operator back off; a test waits seconds, not minutes.
FAST_BACKOFF = {"WEBHOOK_CERT_FAILURE_BACKOFF": "2s,4s,8s"}
# A slow self-check keeps an issuance in its middle long enough to break something there.
SLOW_SELF_CHECK = {
    **FAST_BACKOFF,
    "WEBHOOK_CERT_SELF_CHECK_SUCCESSES": "8",
    "WEBHOOK_CERT_SELF_CHECK_INTERVAL": "1s",
}
SEED = 20261130
# The CA's outage in the renewal test: long enough for several back-off steps.
OUTAGE_SECONDS = 60


@pytest.fixture
def operator(cluster: Cluster) -> Iterator[OperatorDeployment]:
    deployment = OperatorDeployment(cluster)
    yield deployment
    deployment.configure()  # the overlay's settings again, one replica


def apply(cluster: Cluster, *bodies: dict[str, object]) -> None:
    items = {"apiVersion": "v1", "kind": "List", "items": list(bodies)}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(items))


def orders_added(harness: LocalCluster) -> int:
    """New orders Pebble has taken since it started (it logs each one)."""
    log = harness.processes.log_file("pebble").read_text(errors="replace")
    return len(re.findall(r"Added order \"[^\"]+\" to the db", log))


def live_operator_pods(operator: OperatorDeployment) -> list[str]:
    """Operator Pods that exist and are not being deleted, ready or not."""
    found = operator.core.list_namespaced_pod(
        "webhook-cert-system", label_selector="app.kubernetes.io/component=operator"
    )
    return [k8s.name(p) for p in found.items if k8s.metadata(p).deletion_timestamp is None]


@pytest.mark.harness
def test_an_operator_killed_at_ten_random_moments_issues_every_endpoint_once(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    schedule = random.Random(SEED)
    operator.configure(FAST_BACKOFF)
    harness = LocalCluster(log=lambda _: None)
    names = [f"e{i}" for i in range(10)]
    before = orders_added(harness)
    apply(cluster, *(endpoint(namespace, n, [f"{n}.{namespace}.example.test"]) for n in names))

    for _ in range(10):
        time.sleep(schedule.uniform(0.5, 4.0))
        victim = wait_for(lambda: live_operator_pods(operator), timeout=60, what="an operator Pod")
        operator.delete_pod(victim[0], grace_seconds=0)  # SIGKILL, as when a node dies

    for name in names:
        wait_for_condition(cluster, namespace, name, "Ready", "True", timeout=300)
    assert_solver_objects_removed(cluster, namespace)
    assert orders_added(harness) - before <= 2 * len(names), "at most one extra order each"


def test_another_replica_takes_over_from_a_killed_active_one_within_30_seconds(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    """The standby, or the killed Pod's replacement when it starts first with a higher
    random priority, resumes within 30 s and finishes the order in flight."""
    operator.configure(SLOW_SELF_CHECK, replicas=2)
    replicas = [k8s.name(pod) for pod in operator.pods()]

    def active_replica() -> str | None:
        working = [r for r in replicas if active(operator.logs(r))]
        return working[0] if len(working) == 1 else None

    leader = wait_for(active_replica, timeout=90, what="one replica to work")
    host = f"takeover.{namespace}.example.test"
    apply(cluster, endpoint(namespace, "takeover", [host]))
    wait_for_self_check(cluster, namespace, "takeover")
    order = get_status(cluster, namespace, "takeover")["order"]["url"]

    def resumed_elsewhere() -> int:
        """Peering resumptions logged by the live replicas but the leader."""
        count = 0
        for pod in live_operator_pods(operator):
            if pod != leader:
                with contextlib.suppress(AssertionError):  # kubectl logs: not started yet
                    count += operator.logs(pod).count("Resuming operations")
        return count

    before = resumed_elsewhere()
    operator.delete_pod(leader, grace_seconds=0)
    killed = time.monotonic()
    wait_for(lambda: resumed_elsewhere() > before, timeout=60, what="another replica to resume")
    took_over = time.monotonic() - killed

    wait_for_condition(cluster, namespace, "takeover", "Ready", "True", timeout=180)
    status = get_status(cluster, namespace, "takeover")
    assert took_over <= 30, f"another replica took {took_over:.0f}s to take over"
    assert status["order"]["url"] == order, "the order in flight was finished"
    assert status["order"]["attempts"] == 1


@pytest.mark.harness
def test_a_flaky_ca_that_rejects_half_the_nonces_and_validates_slowly_still_issues(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    operator.configure(FAST_BACKOFF)
    harness = LocalCluster(log=lambda _: None)
    # Pebble's defaults: a random sleep of up to 5 s before each validation; and half the
    # good nonces refused with badNonce (RFC 8555 section 6.5: the client retries).
    harness.restart_pebble({"PEBBLE_WFE_NONCEREJECT": "50", "PEBBLE_CHAIN_LENGTH": "3"})
    try:
        names = [f"flaky{i}" for i in range(3)]
        apply(cluster, *(endpoint(namespace, n, [f"{n}.{namespace}.example.test"]) for n in names))
        for name in names:
            wait_for_condition(cluster, namespace, name, "Ready", "True", timeout=300)
        log = harness.processes.log_file("pebble").read_text(errors="replace")
    finally:
        harness.processes.stop("pebble")
        harness.up()  # the usual Pebble again
    assert "reject 50% of good nonces" in log


@pytest.mark.harness
def test_the_operator_rides_out_an_apiserver_restart_and_an_etcd_outage_mid_issuance(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    operator.configure(SLOW_SELF_CHECK)
    pod = k8s.name(operator.pod())
    harness = LocalCluster(log=lambda _: None)
    apply(cluster, endpoint(namespace, "steady", [f"steady.{namespace}.example.test"]))
    wait_for_self_check(cluster, namespace, "steady")
    order = get_status(cluster, namespace, "steady")["order"]["url"]

    harness.processes.stop("kube-apiserver")
    time.sleep(5)
    harness.up()
    harness.processes.stop("etcd")
    time.sleep(5)
    harness.up()

    wait_for_condition(cluster, namespace, "steady", "Ready", "True", timeout=240)
    status = get_status(cluster, namespace, "steady")
    assert status["order"]["url"] == order, "no second order"
    assert status["order"]["attempts"] == 1
    current = client.CoreV1Api(cluster.api_client).read_namespaced_pod(pod, "webhook-cert-system")
    statuses = k8s.present(k8s.status(current).container_statuses, "container statuses")
    assert statuses[0].restart_count == 0, "no restart of its own"
    assert_solver_objects_removed(cluster, namespace)


def served_serial(cluster: Cluster, host: str) -> int:
    """The serial of the leaf the ingress serves for `host`, fetched as a sender would."""
    nameservers = tuple(parse_nameserver(item) for item in cluster.nameservers)
    served = probe.fetch_served_chain(
        host, 443, server_name=host, timeout=10, nameservers=nameservers
    )
    return served.certificates[0].serial_number


@pytest.mark.harness
def test_a_ca_outage_during_renewal_keeps_the_certificate_served_and_ready_until_it_recovers(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> None:
    """The CA down while a renewal is due: the stored certificate stays in the Secret and on
    the wire, Ready stays True, each attempt waits its back-off step (compressed here to
    2s, 4s, 8s), and the renewal goes through once the CA is back."""
    operator.configure(FAST_BACKOFF)
    host = f"outage.{namespace}.example.test"
    serve_through_traefik(cluster, namespace, host, "outage-tls")
    apply(cluster, endpoint(namespace, "outage", [host], secretName="outage-tls"))
    wait_for_condition(cluster, namespace, "outage", "Ready", "True", timeout=180)
    before = secret_data(cluster, namespace, "outage-tls")
    serial = x509.load_pem_x509_certificate(before["tls.crt"]).serial_number
    wait_for(
        lambda: served_serial(cluster, host) == serial,
        timeout=60,
        what="the ingress to serve the first certificate",
    )

    harness = LocalCluster(log=lambda _: None)
    harness.processes.stop("pebble")
    try:
        cluster.kubectl("annotate", "whe", "outage", "-n", namespace, "webhookcert.dev/renew=1")
        gaps = watch_the_outage(cluster, namespace, "outage", seconds=OUTAGE_SECONDS)
        assert secret_data(cluster, namespace, "outage-tls") == before, "the Secret is kept"
        assert served_serial(cluster, host) == serial, "the old certificate is still served"
    finally:
        harness.up()  # the CA is back (a fresh Pebble: new roots, no accounts)

    wait_for(
        lambda: get_status(cluster, namespace, "outage").get("failedAttempts") == 0,
        timeout=120,
        what="the renewal after the outage",
    )
    renewed = secret_data(cluster, namespace, "outage-tls")["tls.crt"]
    assert x509.load_pem_x509_certificate(renewed).serial_number != serial
    # Back-off steps as configured, +-10% jitter, the last one repeating; the status times
    # are to the second.
    assert len(gaps) >= 3, f"attempts during the outage: {gaps}"
    steps = [2.0, 4.0] + [8.0] * (len(gaps) - 2)
    for gap, step in zip(gaps, steps, strict=True):
        assert step * 0.9 - 1 <= gap <= step * 1.1 + 1, (gaps, steps)


def watch_the_outage(cluster: Cluster, namespace: str, name: str, *, seconds: float) -> list[float]:
    """Poll the endpoint through the outage: Ready must stay True all along. Returns the
    back-off of each failed attempt (nextAttemptTime - lastFailureTime), in order."""
    gaps: dict[int, float] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = get_status(cluster, namespace, name)
        ready = [c for c in status.get("conditions", []) if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", f"Ready went away: {ready}"
        attempts = status.get("failedAttempts") or 0
        if attempts and attempts not in gaps and status.get("nextAttemptTime"):
            failed = datetime.fromisoformat(status["lastFailureTime"])
            retry = datetime.fromisoformat(status["nextAttemptTime"])
            gaps[attempts] = (retry - failed).total_seconds()
        time.sleep(0.5)
    return [gaps[attempt] for attempt in sorted(gaps)]

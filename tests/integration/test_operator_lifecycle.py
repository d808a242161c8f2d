"""The operator survives what happens to operators: restarts mid-issuance, a second replica."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.conftest import Cluster
from tests.integration.operator_process import (
    condition,
    endpoint,
    get_status,
    operator_factory,
    solver_objects,
    wait_for_condition,
)
from tests.integration.test_issuance import assert_solver_objects_removed
from tests.integration.workloads import wait_for

pytestmark = pytest.mark.cluster

# A slow self-check keeps the issuance in its middle (solver objects up, order created)
# long enough to kill the operator there.
SLOW_SELF_CHECK = {
    "WEBHOOK_CERT_SELF_CHECK_SUCCESSES": "8",
    "WEBHOOK_CERT_SELF_CHECK_INTERVAL": "1s",
}


def test_an_operator_killed_mid_issuance_is_resumed_by_the_next_one(
    cluster: Cluster, namespace: str
) -> None:
    host = f"restart.{namespace}.example.test"
    with operator_factory(cluster) as start:
        first = start((), SLOW_SELF_CHECK)
        cluster.kubectl(
            "apply", "-f", "-", input=json.dumps(endpoint(namespace, "restart", [host]))
        )
        wait_for(
            lambda: (
                (condition(cluster, namespace, "restart", "Issuing") or {}).get("reason")
                == "SelfCheck"
            ),
            timeout=60,
            what="the self-check to start",
        )
        order_before = get_status(cluster, namespace, "restart")["order"]["url"]
        assert solver_objects(cluster, namespace)

        first.kill()
        start((), {})

        wait_for_condition(cluster, namespace, "restart", "Ready", "True", timeout=180)
    status = get_status(cluster, namespace, "restart")
    assert status["order"]["url"] == order_before
    assert status["order"]["attempts"] == 1
    assert_solver_objects_removed(cluster, namespace)


def active(log: str) -> bool:
    """Whether kopf peering last let this replica work (it starts paused when peered)."""
    lines = [
        line
        for line in log.splitlines()
        if "Resuming operations" in line or "Pausing operations" in line
    ]
    return bool(lines) and "Resuming operations" in lines[-1]


def test_two_peered_replicas_issue_once(cluster: Cluster, namespace: str) -> None:
    host = f"peers.{namespace}.example.test"
    with operator_factory(cluster) as start:
        replicas = [start(("--peering", "webhook-cert-operator"), {}) for _ in range(2)]
        wait_for(
            lambda: any(active(r.log.read_text()) for r in replicas),
            timeout=60,
            what="peering to let a replica work",
        )
        time.sleep(3)  # the second replica's keep-alive has been seen by now
        working = [r for r in replicas if active(r.log.read_text())]
        cluster.kubectl("apply", "-f", "-", input=json.dumps(endpoint(namespace, "peers", [host])))

        wait_for_condition(cluster, namespace, "peers", "Ready", "True", timeout=180)

    issued = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "reason=Issued", "-o", "name"
    ).stdout.split()
    assert len(working) == 1, "exactly one replica works, the other waits"
    assert len(issued) == 1, "the certificate was issued once, by one replica"
    assert get_status(cluster, namespace, "peers")["order"]["attempts"] == 1

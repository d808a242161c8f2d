"""The operator survives what happens to operators: restarts mid-issuance, a second replica."""

from __future__ import annotations

import json
import time

import pytest
from localcluster.operator import OPERATOR_NAMESPACE

from tests.integration import k8s
from tests.integration.conftest import Cluster
from tests.integration.operator_deployment import (
    OperatorDeployment,
    endpoint,
    get_status,
    solver_objects,
    wait_for_condition,
    wait_for_self_check,
)
from tests.integration.test_issuance import assert_solver_objects_removed
from tests.integration.workloads import project_image, seen_from_inside, wait_for

pytestmark = pytest.mark.cluster

# A slow self-check keeps the issuance in its middle (solver objects up, order created)
# long enough to kill the operator there.
SLOW_SELF_CHECK = {
    "WEBHOOK_CERT_SELF_CHECK_SUCCESSES": "8",
    "WEBHOOK_CERT_SELF_CHECK_INTERVAL": "1s",
}


def test_an_operator_pod_deleted_mid_issuance_is_resumed_by_its_replacement(
    cluster: Cluster, namespace: str
) -> None:
    operator = OperatorDeployment(cluster)
    operator.configure(SLOW_SELF_CHECK)
    first = k8s.name(operator.pod())
    host = f"restart.{namespace}.example.test"
    cluster.kubectl("apply", "-f", "-", input=json.dumps(endpoint(namespace, "restart", [host])))
    wait_for_self_check(cluster, namespace, "restart")
    order_before = get_status(cluster, namespace, "restart")["order"]["url"]
    assert solver_objects(cluster, namespace)

    operator.delete_pod(first, grace_seconds=0)
    replacement = wait_for(
        lambda: [k8s.name(p) for p in operator.pods() if k8s.name(p) != first],
        timeout=120,
        what="the Deployment's replacement Pod",
    )

    wait_for_condition(cluster, namespace, "restart", "Ready", "True", timeout=180)
    status = get_status(cluster, namespace, "restart")
    assert status["order"]["url"] == order_before
    assert status["order"]["attempts"] == 1
    assert_solver_objects_removed(cluster, namespace)
    assert "Issued" in operator.logs(replacement[0]) or status["order"]["url"] == order_before


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
    operator = OperatorDeployment(cluster)
    operator.configure(replicas=2)
    try:
        replicas = [k8s.name(pod) for pod in operator.pods()]
        wait_for(
            lambda: any(active(operator.logs(r)) for r in replicas),
            timeout=90,
            what="peering to let a replica work",
        )
        time.sleep(3)  # the second replica's keep-alive has been seen by now
        working = [r for r in replicas if active(operator.logs(r))]
        cluster.kubectl("apply", "-f", "-", input=json.dumps(endpoint(namespace, "peers", [host])))

        wait_for_condition(cluster, namespace, "peers", "Ready", "True", timeout=180)
    finally:
        operator.configure()

    issued = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "reason=Issued", "-o", "name"
    ).stdout.split()
    assert len(working) == 1, "exactly one replica works, the other waits"
    assert len(issued) == 1, "the certificate was issued once, by one replica"
    assert get_status(cluster, namespace, "peers")["order"]["attempts"] == 1


def test_the_operator_pod_runs_unprivileged_on_a_read_only_root(cluster: Cluster) -> None:
    """The Deployment's securityContext as the runtime applies it, seen from inside."""
    operator = OperatorDeployment(cluster)
    operator.configure()
    pod = operator.pod()

    inside = seen_from_inside(cluster, OPERATOR_NAMESPACE, k8s.name(pod))

    assert (inside["uid"], inside["gid"]) == (65532, 65532)
    assert inside["root"] == "Read-only file system"
    assert (inside["cap_eff"], inside["cap_bnd"]) == (0, 0)
    assert inside["no_new_privs"] == "1"
    assert inside["seccomp"] == "2"
    assert inside["token"] is True, "the operator reaches the API with its ServiceAccount token"
    container = k8s.present(k8s.status(pod).container_statuses, "container statuses")[0]
    assert k8s.present(container.container_id, "the container id").startswith("containerd://")
    assert container.image.endswith(project_image(cluster))

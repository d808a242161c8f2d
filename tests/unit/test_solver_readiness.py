"""Unit tests for solver.readiness: why a solver Pod is not ready, read from its status."""

from __future__ import annotations

from typing import Any

import pytest

from webhook_cert_operator.solver.readiness import READY, pod_readiness


def pod(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "solver"}, "status": status}


def test_a_ready_pod_is_ready() -> None:
    ready = pod(phase="Running", conditions=[{"type": "Ready", "status": "True"}])
    assert pod_readiness(ready) == READY


@pytest.mark.parametrize(
    ("status", "starting", "said"),
    [
        pytest.param({}, True, "the solver Pod is starting (phase Pending)", id="no status yet"),
        pytest.param(
            {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "message": "0/1 nodes are available: 1 Too many pods.",
                    }
                ],
            },
            True,
            "the solver Pod is not scheduled yet: 0/1 nodes are available: 1 Too many pods.",
            id="unschedulable",
        ),
        pytest.param(
            {
                "phase": "Pending",
                "containerStatuses": [
                    {"state": {"waiting": {"reason": "ContainerCreating"}}, "ready": False}
                ],
            },
            True,
            "the solver Pod is starting (phase Pending)",
            id="being created",
        ),
        pytest.param(
            {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "state": {
                            "waiting": {
                                "reason": "ErrImageNeverPull",
                                "message": 'image "webhook-cert-solver:9" is not present',
                            }
                        }
                    }
                ],
            },
            False,
            'the solver container is waiting (ErrImageNeverPull): image "webhook-cert-solver:9"'
            " is not present",
            id="image missing",
        ),
        pytest.param(
            {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"state": {"terminated": {"reason": "Error"}}}],
            },
            False,
            "the solver container is terminated (Error)",
            id="crashed",
        ),
    ],
)
def test_a_pod_that_is_not_ready_says_why_and_whether_it_is_still_starting(
    status: dict[str, Any], starting: bool, said: str
) -> None:
    readiness = pod_readiness(pod(**status))
    assert (readiness.ready, readiness.starting, readiness.why) == (False, starting, said)


def test_a_missing_pod_is_not_ready_and_not_starting() -> None:
    readiness = pod_readiness(None)
    assert (readiness.ready, readiness.starting) == (False, False)
    assert readiness.why == "the solver Pod does not exist"

"""Pure: whether the HTTP-01 solver Pod is ready to answer, and if not, why not.

The self-check's time limit is for the route through the ingress; a solver Pod that is
still starting (a busy node, an image being pulled) is the cluster being slow, not the
route being wrong. Reads the Pod's status as the API returns it (a dict): its `Ready` and
`PodScheduled` conditions and its container's state (Kubernetes API, `PodStatus`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Readiness:
    """`ready`: the Pod's `Ready` condition is True. `starting`: not ready yet for a
    reason that passes on its own (waiting for a node, the container being created), as
    opposed to one that needs a person (a missing image, a crashing container, no Pod).
    `why`: a short stable sentence (no timestamps) for a status condition's message."""

    ready: bool
    starting: bool
    why: str


READY = Readiness(ready=True, starting=False, why="the solver Pod is ready")


def pod_readiness(pod: Mapping[str, Any] | None) -> Readiness:
    """How ready the solver Pod (as the API returns it, or None when there is none) is."""
    if pod is None:
        return Readiness(False, False, "the solver Pod does not exist")
    status = pod.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if (conditions.get("Ready") or {}).get("status") == "True":
        return READY
    scheduled = conditions.get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        said = scheduled.get("message") or "no reason given"
        return Readiness(False, True, f"the solver Pod is not scheduled yet: {said}")
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        for kind in ("waiting", "terminated"):
            detail = state.get(kind)
            if detail and detail.get("reason") not in (None, "ContainerCreating"):
                said = f": {detail['message']}" if detail.get("message") else ""
                return Readiness(
                    False, False, f"the solver container is {kind} ({detail['reason']}){said}"
                )
    phase = status.get("phase") or "Pending"
    return Readiness(False, True, f"the solver Pod is starting (phase {phase})")

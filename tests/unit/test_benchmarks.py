"""Unit tests for the benchmarks' pure parts: verdicts, the summary table, audit counting
and Pebble's request lines. The benchmarks themselves run on the local cluster."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from benchmarks import audit, politeness
from benchmarks.harness import Figure, summary_table


@pytest.mark.parametrize(
    ("figure", "verdict"),
    [
        pytest.param(Figure("p", "n", 5.0, "s", 2.0, "base", 3.0), "ok", id="ratio-within-goal"),
        pytest.param(Figure("p", "n", 7.0, "s", 2.0, "base", 3.0), "MISS", id="ratio-over-goal"),
        pytest.param(Figure("p", "n", 11.0, "", goal=12), "ok", id="value-within-goal"),
        pytest.param(
            Figure("p", "n", 60.0, "/s", 80.0, "base", 3, higher_is_better=True),
            "MISS",
            id="rate-below-goal",
        ),
        pytest.param(Figure("p", "n", None, "s", 2.0, "base", 3.0), "MISS (no figure)", id="none"),
        pytest.param(Figure("p", "n", 1.0, "s"), "", id="no-goal"),
        pytest.param(
            Figure("p", "n", 1.0, "s", None, "base", 3.0), "no baseline", id="failed-base"
        ),
    ],
)
def test_a_figure_is_judged_against_its_goal(figure: Figure, verdict: str) -> None:
    assert figure.verdict == verdict


def test_the_summary_shows_value_baseline_ratio_goal_and_verdict() -> None:
    table = summary_table([Figure("burst", "last Ready", 9.0, "s", 3.0, "bare wall", 3.0)])

    row = table.splitlines()[2]
    for cell in ("burst", "last Ready", "9.00 s", "3.00 s (bare wall)", "3.00x", "<=3x", "ok"):
        assert cell in row


def _event(user: str, verb: str, resource: str, at: str, subresource: str = "") -> str:
    ref = {"resource": resource, "namespace": "ns"}
    if subresource:
        ref["subresource"] = subresource
    return json.dumps(
        {
            "user": {"username": user},
            "verb": verb,
            "objectRef": ref,
            "stageTimestamp": at,
            "responseStatus": {"code": 200},
        }
    )


def test_only_the_operators_writes_after_the_mark_and_in_the_window_count(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    operator = audit.OPERATOR_USER_PREFIX + "webhook-cert-operator"
    log.write_text(_event(operator, "create", "pods", "2026-01-01T00:00:01.000000Z") + "\n")
    mark = audit.Mark.now(log)
    with log.open("a") as out:
        for line in (
            _event(operator, "patch", "webhookendpoints", "2026-01-01T00:00:02Z", "status"),
            _event("system:node:wco-node", "patch", "pods", "2026-01-01T00:00:02Z", "status"),
            _event(operator, "create", "events", "2026-01-01T00:00:09Z"),
        ):
            out.write(line + "\n")

    writes = audit.operator_writes(
        mark, datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    )

    assert [(w.verb, w.resource) for w in writes] == [("patch", "webhookendpoints/status")]
    assert "1  total" in audit.table(writes)


def test_pebbles_request_lines_are_counted_by_method_and_path() -> None:
    log = (
        "Pebble 2026/11/30 20:02:07 POST /order-plz -> calling handler()\n"
        "Pebble 2026/11/30 20:02:07 authz x set VALID by completed challenge y\n"
        "Pebble 2026/11/30 20:02:08 POST /order-plz -> calling handler()\n"
        "Pebble 2026/11/30 20:02:08 HEAD /nonce-plz -> calling handler()\n"
    )

    assert politeness.pebble_requests(log) == {"POST /order-plz": 2, "HEAD /nonce-plz": 1}

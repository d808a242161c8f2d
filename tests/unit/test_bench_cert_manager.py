"""The cert-manager side-by-side benchmark's pure parts: which audit entries count as a
system's API writes, and the table's ratios."""

from __future__ import annotations

from typing import Any

import pytest
from benchmarks.cert_manager import CERT_MANAGER, OPERATOR, Round, count_writes, table

ROUND = "bench-cm-0001"
USER = "system:serviceaccount:cert-manager:cert-manager"


def entry(
    *,
    verb: str = "create",
    resource: str = "orders",
    namespace: str = ROUND,
    user: str = USER,
    at: str = "2026-11-30T20:00:05.000000Z",
    stage: str = "ResponseComplete",
) -> dict[str, Any]:
    return {
        "stage": stage,
        "verb": verb,
        "user": {"username": user},
        "objectRef": {"resource": resource, "namespace": namespace},
        "stageTimestamp": at,
    }


START = 1_796_068_800.0  # 2026-11-30T20:00:00Z
END = START + 10


@pytest.mark.parametrize(
    "audit_entry",
    [
        pytest.param(entry(), id="a create in the round"),
        pytest.param(entry(verb="delete", resource="pods"), id="a solver Pod deleted"),
        pytest.param(entry(resource="secrets", namespace="cert-manager"), id="an account Secret"),
    ],
)
def test_a_write_of_the_system_in_its_round_counts(audit_entry: dict[str, Any]) -> None:
    assert count_writes(
        [audit_entry], "system:serviceaccount:cert-manager:", ROUND, START, END
    ) == (
        1,
        0,
    )


@pytest.mark.parametrize(
    "audit_entry",
    [
        pytest.param(entry(stage="ResponseStarted"), id="not complete"),
        pytest.param(entry(verb="head"), id="not a write"),
        pytest.param(entry(resource="leases", namespace="kube-system"), id="leader election"),
        pytest.param(entry(resource="subjectaccessreviews", namespace=""), id="a review"),
        pytest.param(entry(namespace="bench-cm-0000"), id="an earlier round's clean-up"),
        pytest.param(entry(user="system:serviceaccount:other:x"), id="another system"),
        pytest.param(entry(at="2026-11-30T20:00:11.000000Z"), id="after the round"),
    ],
)
def test_other_entries_do_not_count(audit_entry: dict[str, Any]) -> None:
    assert count_writes(
        [audit_entry], "system:serviceaccount:cert-manager:", ROUND, START, END
    ) == (
        0,
        0,
    )


def test_events_are_counted_as_writes_and_apart() -> None:
    audit = [entry(resource="events"), entry()]
    assert count_writes(audit, "system:serviceaccount:cert-manager:", ROUND, START, END) == (2, 1)


def test_the_table_gives_the_operators_figure_over_cert_managers() -> None:
    rounds = {
        OPERATOR.label: {1: Round(1, [5.0], writes=20, events=4)},
        CERT_MANAGER.label: {1: Round(1, [10.0], writes=80, events=16)},
    }
    lines = table(rounds, [1]).splitlines()
    assert lines[2].split()[-3:] == ["5.0s", "10.0s", "0.50"]
    assert lines[3].split()[-3:] == ["20.0", "80.0", "0.25"]


def test_a_burst_not_all_ready_has_no_last_time() -> None:
    assert Round(3, [1.0, 2.0], writes=0, events=0).stat("last") is None

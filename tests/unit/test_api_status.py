"""Unit tests for api/status.py: setting and reading status.conditions, and the rules of
a Condition value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webhook_cert_operator.api.status import get_condition, set_condition
from webhook_cert_operator.api.types import CHAIN_VALID, ISSUING, READY, Condition

# --- conditions --------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_condition_types_are_the_documented_names() -> None:
    assert (READY, ISSUING, CHAIN_VALID) == ("Ready", "Issuing", "ChainValid")


def test_a_new_condition_is_appended_with_the_time_and_generation() -> None:
    conditions = set_condition(
        [], Condition(READY, "False", "Issuing", "Waiting for the CA"), now=T0, generation=3
    )
    assert conditions == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Issuing",
            "message": "Waiting for the CA",
            "lastTransitionTime": "2026-03-01T12:00:00Z",
            "observedGeneration": 3,
        }
    ]


def test_the_same_status_keeps_the_transition_time_so_the_patch_is_stable() -> None:
    first = set_condition([], Condition(READY, "True", "Issued", "ok"), now=T0, generation=1)
    again = set_condition(first, Condition(READY, "True", "Issued", "ok"), now=T1, generation=1)
    assert again == first


def test_a_new_reason_with_the_same_status_keeps_the_transition_time() -> None:
    first = set_condition([], Condition(READY, "False", "Issuing"), now=T0, generation=1)
    later = set_condition(
        first, Condition(READY, "False", "OrderFailed", "x"), now=T1, generation=2
    )
    assert later[0]["lastTransitionTime"] == "2026-03-01T12:00:00Z"
    assert later[0]["reason"] == "OrderFailed"
    assert later[0]["observedGeneration"] == 2


def test_a_status_change_moves_the_transition_time() -> None:
    first = set_condition([], Condition(READY, "False", "Issuing"), now=T0, generation=1)
    later = set_condition(first, Condition(READY, "True", "Issued"), now=T1, generation=1)
    assert later[0]["lastTransitionTime"] == "2026-03-01T12:05:00Z"
    assert later[0]["status"] == "True"


def test_other_conditions_keep_their_place_and_content() -> None:
    conditions = set_condition([], Condition(READY, "True", "Issued"), now=T0, generation=1)
    conditions = set_condition(
        conditions, Condition(CHAIN_VALID, "True", "Ok"), now=T0, generation=1
    )
    updated = set_condition(conditions, Condition(READY, "False", "Expired"), now=T1, generation=1)

    assert [c["type"] for c in updated] == ["Ready", "ChainValid"]
    assert updated[1] == conditions[1]


def test_set_condition_does_not_change_its_input() -> None:
    original = [{"type": "Ready", "status": "True", "reason": "Issued", "message": ""}]
    set_condition(original, Condition(READY, "False", "Expired"), now=T0, generation=1)
    assert original == [{"type": "Ready", "status": "True", "reason": "Issued", "message": ""}]


def test_duplicate_entries_of_a_type_collapse_into_one() -> None:
    stored = [
        {"type": "Ready", "status": "True", "reason": "A", "lastTransitionTime": "x"},
        {"type": "Ready", "status": "False", "reason": "B", "lastTransitionTime": "y"},
    ]
    updated = set_condition(stored, Condition(READY, "True", "A"), now=T1, generation=1)
    assert len(updated) == 1
    assert updated[0]["lastTransitionTime"] == "x"


def test_a_stored_condition_without_a_time_gets_one() -> None:
    stored = [{"type": "Ready", "status": "True", "reason": "Issued"}]
    updated = set_condition(stored, Condition(READY, "True", "Issued"), now=T1, generation=1)
    assert updated[0]["lastTransitionTime"] == "2026-03-01T12:05:00Z"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        pytest.param("true", "Issued", id="lowercase-status"),
        pytest.param("True", "", id="empty-reason"),
        pytest.param("True", "not camel", id="reason-with-space"),
        pytest.param("True", "Ends_with,", id="reason-trailing-comma"),
    ],
)
def test_a_malformed_condition_is_a_programming_error(status: str, reason: str) -> None:
    with pytest.raises(ValueError, match="condition"):
        Condition(READY, status, reason)


def test_get_condition_reads_back_what_set_condition_wrote() -> None:
    written = Condition(CHAIN_VALID, "False", "MissingIntermediate", "Send the intermediates")
    conditions = set_condition([], written, now=T0, generation=1)
    assert get_condition(conditions, CHAIN_VALID) == written
    assert get_condition(conditions, READY) is None


def test_get_condition_ignores_a_malformed_entry() -> None:
    assert get_condition([{"type": "Ready", "status": "Maybe", "reason": "X"}], READY) is None

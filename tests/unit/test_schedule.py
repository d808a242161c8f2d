"""Unit tests of when the served chain is checked again (`schedule.py`)."""

from __future__ import annotations

import pytest

from webhook_cert_operator.checking import schedule

DELAYS = {0: 5.0, 1: 10.0, 2: 20.0, 3: 40.0, 5: 160.0, 6: 300.0, 7: 300.0, 1000: 300.0}


@pytest.mark.parametrize(
    ("attempt", "seconds"), DELAYS.items(), ids=[f"attempt {a}" for a in DELAYS]
)
def test_stale_certificate_retries_double_from_5s_up_to_5_minutes(
    attempt: int, seconds: float
) -> None:
    assert schedule.stale_retry_delay(attempt) == seconds


def test_a_negative_retry_attempt_is_refused() -> None:
    with pytest.raises(ValueError):
        schedule.stale_retry_delay(-1)

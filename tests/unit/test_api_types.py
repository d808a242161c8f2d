"""Unit tests for api/types.py: status.order and status.renewal round trips, lenient
reading of damaged status, and plain copies of read-only values."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.api.status import OrderRef, RenewalStatus
from webhook_cert_operator.api.types import to_plain
from webhook_cert_operator.settings import Settings

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def parse(**spec: Any) -> Any:
    spec.setdefault("dnsNames", ["hooks.example.com"])
    return parse_spec(spec, name="ringcentral", settings=Settings())


# --- status.order ------------------------------------------------------------------------


def test_an_order_round_trips_through_status() -> None:
    order = OrderRef(
        url="https://ca.test/order/1",
        state="pending",
        attempts=2,
        dns_names=("a.example.com", "b.example.com"),
    )
    status = order.to_status()
    assert status == {
        "url": "https://ca.test/order/1",
        "state": "pending",
        "attempts": 2,
        "dnsNames": ["a.example.com", "b.example.com"],
    }
    assert OrderRef.from_status(status) == order


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(None, id="absent"),
        pytest.param({}, id="empty"),
        pytest.param({"state": "pending", "attempts": 1}, id="no-url"),
        pytest.param({"url": "https://x/o", "attempts": 1}, id="no-state"),
        pytest.param({"url": "https://x/o", "state": "pending", "attempts": -1}, id="negative"),
        pytest.param({"url": "https://x/o", "state": "ready", "attempts": "1"}, id="text-count"),
        pytest.param({"url": "https://x/o", "state": "ready", "dnsNames": "a"}, id="names-text"),
        pytest.param("https://x/o", id="not-an-object"),
    ],
)
def test_an_unusable_stored_order_reads_as_none(stored: Any) -> None:
    assert OrderRef.from_status(stored) is None


def test_a_stored_order_without_attempts_or_names_reads_with_defaults() -> None:
    order = OrderRef.from_status({"url": "https://x/o", "state": "ready"})
    assert order == OrderRef(url="https://x/o", state="ready", attempts=0, dns_names=())


def test_to_plain_turns_read_only_views_into_json_types() -> None:
    spec = parse(http01={"podTemplate": {"tolerations": [{"key": "k", "operator": "Exists"}]}})
    plain = to_plain(spec.http01.pod_template.tolerations)
    assert plain == [{"key": "k", "operator": "Exists"}]
    assert type(plain) is list
    assert type(plain[0]) is dict


# --- status.renewal ----------------------------------------------------------------------

HOUR = timedelta(hours=1)
FULL_RENEWAL = RenewalStatus(
    cert_id="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
    ari_window=(T0 + 50 * 24 * HOUR, T0 + 52 * 24 * HOUR),
    ari_selected_time=T0 + 51 * 24 * HOUR,
    ari_fetched=T0,
    ari_next_fetch=T0 + 6 * HOUR,
    ari_explanation_url="https://ca.test/docs/ari",
    ari_error=None,
    last_renew_request="2026-03-01",
)


def test_the_renewal_status_round_trips_through_status() -> None:
    written = FULL_RENEWAL.to_status()
    assert written == {
        "certID": "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
        "ariWindowStart": "2026-04-20T12:00:00Z",
        "ariWindowEnd": "2026-04-22T12:00:00Z",
        "ariSelectedTime": "2026-04-21T12:00:00Z",
        "ariFetched": "2026-03-01T12:00:00Z",
        "ariNextFetch": "2026-03-01T18:00:00Z",
        "ariExplanationURL": "https://ca.test/docs/ari",
        "ariError": None,
        "lastRenewRequest": "2026-03-01",
    }
    assert RenewalStatus.from_status(written) == FULL_RENEWAL


def test_an_empty_renewal_status_writes_every_key_as_null_so_a_patch_clears_them() -> None:
    written = RenewalStatus().to_status()
    assert set(written) == set(FULL_RENEWAL.to_status())
    assert set(written.values()) == {None}


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        pytest.param(None, RenewalStatus(), id="absent"),
        pytest.param("x", RenewalStatus(), id="not-an-object"),
        pytest.param(
            {**FULL_RENEWAL.to_status(), "ariWindowEnd": "2026-04-20T12:00:00Z"},
            replace(FULL_RENEWAL, ari_window=None, ari_selected_time=None),
            id="window-ends-at-its-start",
        ),
        pytest.param(
            {**FULL_RENEWAL.to_status(), "ariWindowStart": "soon"},
            replace(FULL_RENEWAL, ari_window=None, ari_selected_time=None),
            id="window-start-unparsable",
        ),
        pytest.param(
            {**FULL_RENEWAL.to_status(), "ariNextFetch": "2026-03-01T18:00:00"},
            replace(FULL_RENEWAL, ari_next_fetch=None),
            id="time-without-zone",
        ),
        pytest.param(
            {**FULL_RENEWAL.to_status(), "certID": 7, "lastRenewRequest": ""},
            replace(FULL_RENEWAL, cert_id=None, last_renew_request=None),
            id="wrong-types",
        ),
    ],
)
def test_a_damaged_renewal_status_reads_leniently(stored: Any, expected: RenewalStatus) -> None:
    # Hand-edited status must not stop the operator: what does not parse is unknown, and
    # the operator asks the CA again.
    assert RenewalStatus.from_status(stored) == expected

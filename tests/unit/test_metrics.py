"""The per-endpoint gauges the alerts read, and what they never carry."""

from __future__ import annotations

import asyncio
import contextlib
import platform
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from prometheus_client import generate_latest

from webhook_cert_operator import __version__
from webhook_cert_operator.glue import handlers
from webhook_cert_operator.glue.status_writer import StatusWriter
from webhook_cert_operator.metrics import Metrics

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ENDPOINT = {"namespace": "payments", "name": "ringcentral"}


def sample(metrics: Metrics, metric: str, **labels: str) -> float | None:
    value: float | None = metrics.registry.get_sample_value(metric, labels)
    return value


def check(metrics: Metrics, *findings: tuple[str, str], served: int = 2) -> None:
    metrics.observe_chain_check(
        "payments",
        "ringcentral",
        valid=not any(severity == "error" for _, severity in findings),
        findings=findings,
        served_not_after=[NOW + timedelta(days=90 - 30 * i) for i in range(served)],
        checked_at=NOW,
    )


def test_build_info_names_the_version_python_and_kopf() -> None:
    metrics = Metrics()
    text = generate_latest(metrics.registry).decode()
    line = next(x for x in text.splitlines() if x.startswith("webhook_cert_build_info{"))
    assert f'version="{__version__}"' in line
    assert f'python_version="{platform.python_version()}"' in line
    assert 'kopf_version="' in line
    assert line.endswith(" 1.0")


def test_a_check_sets_one_finding_series_per_code_with_its_count() -> None:
    metrics = Metrics()
    check(
        metrics,
        ("incomplete-chain", "error"),
        ("wrong-order", "warning"),
        ("wrong-order", "warning"),
    )
    finding = "webhook_cert_chain_finding"
    assert sample(metrics, finding, **ENDPOINT, code="incomplete-chain", severity="error") == 1
    assert sample(metrics, finding, **ENDPOINT, code="wrong-order", severity="warning") == 2
    assert sample(metrics, "webhook_cert_chain_valid", **ENDPOINT) == 0


def test_a_later_check_removes_the_findings_it_no_longer_sees() -> None:
    metrics = Metrics()
    check(metrics, ("incomplete-chain", "error"))
    check(metrics, ("root-included", "warning"))
    finding = "webhook_cert_chain_finding"
    assert sample(metrics, finding, **ENDPOINT, code="incomplete-chain", severity="error") is None
    assert sample(metrics, finding, **ENDPOINT, code="root-included", severity="warning") == 1
    assert sample(metrics, "webhook_cert_chain_valid", **ENDPOINT) == 1


def test_the_earliest_expiry_of_the_served_chain_and_the_check_time_are_recorded() -> None:
    metrics = Metrics()
    check(metrics, served=3)
    earliest = "webhook_cert_served_chain_earliest_not_after_timestamp_seconds"
    assert sample(metrics, earliest, **ENDPOINT) == (NOW + timedelta(days=30)).timestamp()
    leaf = "webhook_cert_served_certificate_not_after_timestamp_seconds"
    assert sample(metrics, leaf, **ENDPOINT) == (NOW + timedelta(days=90)).timestamp()
    last = "webhook_cert_chain_last_check_timestamp_seconds"
    assert sample(metrics, last, **ENDPOINT) == NOW.timestamp()


def test_a_check_that_saw_no_certificate_drops_the_served_expiries() -> None:
    metrics = Metrics()
    check(metrics)
    check(metrics, ("connection-failed", "error"), served=0)
    for name in (
        "webhook_cert_served_chain_earliest_not_after_timestamp_seconds",
        "webhook_cert_served_certificate_not_after_timestamp_seconds",
    ):
        assert sample(metrics, name, **ENDPOINT) is None


def test_forgetting_an_endpoint_drops_every_series_it_had() -> None:
    metrics = Metrics()
    check(metrics, ("incomplete-chain", "error"))
    metrics.observe_ready("payments", "ringcentral", True)
    metrics.observe_certificate("payments", "ringcentral", NOW, NOW - timedelta(days=30))
    metrics.observe_failures("payments", "ringcentral", 2)
    metrics.observe_ready("payments", "other", True)

    metrics.forget_endpoint("payments", "ringcentral")
    metrics.forget_chain_check("payments", "ringcentral")
    metrics.forget_chain_check("payments", "ringcentral")  # twice is fine

    text = generate_latest(metrics.registry).decode()
    assert 'name="ringcentral"' not in text
    assert 'name="other"' in text


def test_a_forgotten_endpoint_keeps_no_record_and_the_families_stay_declared() -> None:
    metrics = Metrics()
    check(metrics, ("expiring-soon", "warning"))
    metrics.observe_ready("payments", "ringcentral", True)
    metrics.forget_endpoint("payments", "ringcentral")
    assert sample(metrics, "webhook_cert_chain_valid", **ENDPOINT) == 1
    metrics.forget_chain_check("payments", "ringcentral")
    assert metrics.endpoints.get("payments", "ringcentral", 0) is None
    text = generate_latest(metrics.registry).decode()
    for family in ("webhook_cert_ready", "webhook_cert_chain_finding"):
        assert f"# TYPE {family} gauge" in text


def test_the_stored_certificate_its_renewal_and_the_back_off_are_recorded() -> None:
    metrics = Metrics()
    metrics.observe_certificate("payments", "ringcentral", NOW, NOW - timedelta(days=30))
    metrics.observe_failures("payments", "ringcentral", 3)
    assert sample(metrics, "webhook_cert_certificate_not_after_timestamp_seconds", **ENDPOINT) == (
        NOW.timestamp()
    )
    assert sample(metrics, "webhook_cert_renewal_timestamp_seconds", **ENDPOINT) == (
        (NOW - timedelta(days=30)).timestamp()
    )
    assert sample(metrics, "webhook_cert_issuance_consecutive_failures", **ENDPOINT) == 3


class StatusKube:
    """The two calls StatusWriter.write makes."""

    def __init__(self, exists: bool = True) -> None:
        self.exists = exists
        self.patches: list[dict[str, Any]] = []

    def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None:
        return {"status": {}} if self.exists else None

    def patch_endpoint_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self.patches.append(dict(status))


class Locks:
    def lock(self, purpose: str, uid: str) -> threading.Lock:
        return threading.Lock()


def writer(metrics: Metrics, kube: StatusKube) -> StatusWriter:
    body = {"metadata": {"namespace": "payments", "name": "ringcentral", "uid": "u1"}}
    return StatusWriter(
        body, lambda *_: None, kube=kube, locks=Locks(), metrics=metrics, clock=lambda: NOW
    )


def test_writing_the_ready_condition_sets_the_ready_gauge() -> None:
    metrics = Metrics()
    status = writer(metrics, StatusKube())
    status.condition("Ready", "True", "CertificateValid", "valid")
    status.write()
    assert sample(metrics, "webhook_cert_ready", **ENDPOINT) == 1
    status.condition("Ready", "False", "Issuing", "issuing")
    status.write()
    assert sample(metrics, "webhook_cert_ready", **ENDPOINT) == 0


def test_other_conditions_and_deleted_endpoints_leave_the_ready_gauge_alone() -> None:
    metrics = Metrics()
    status = writer(metrics, StatusKube())
    status.condition("Issuing", "True", "Issuing", "issuing")
    status.write()
    gone = writer(metrics, StatusKube(exists=False))
    gone.condition("Ready", "True", "CertificateValid", "valid")
    gone.write()
    assert sample(metrics, "webhook_cert_ready", **ENDPOINT) is None


def test_no_metric_has_a_label_that_could_carry_private_data() -> None:
    """Labels name an endpoint (namespace, name) or a closed set of values: never a host,
    URL, serial, account, key or Secret content (high cardinality, and readable by anyone
    who can read metrics)."""
    metrics = Metrics()
    check(metrics, ("incomplete-chain", "error"))
    metrics.observe_ready("payments", "ringcentral", True)
    metrics.observe_certificate("payments", "ringcentral", NOW, NOW)
    metrics.observe_failures("payments", "ringcentral", 1)
    metrics.observe_acme_request("new-order", 201, 0.1)
    metrics.issuance_attempts.labels("success", "Issued").inc()
    labels = {
        label
        for family in metrics.registry.collect()
        for sample in family.samples
        for label in sample.labels
    }
    assert labels <= {
        "namespace",
        "name",
        "code",
        "severity",
        "result",
        "reason",
        "kind",
        "status",
        "le",
        "version",
        "python_version",
        "kopf_version",
    }


# ---- the daemons drop their endpoint's series when they stop ------------------------------


def stopped_daemon(daemon: Any, metrics: Metrics, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run a per-endpoint daemon until it waits, then stop it as kopf does (cancel)."""
    monkeypatch.setattr(handlers, "run_chain_check", lambda deps, body: None)
    memo = SimpleNamespace(metrics=metrics, clock=lambda: NOW)
    body = kopf.Body(
        {"metadata": {"namespace": "payments", "name": "ringcentral", "uid": "u1"}, "status": {}}
    )

    async def run_then_stop() -> None:
        task = asyncio.create_task(daemon(body=body, memo=memo))
        await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run_then_stop())


def test_a_stopped_check_daemon_drops_the_chain_series(monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf stops daemons when peering pauses a replica: a paused replica must not go on
    exporting the last check's findings."""
    metrics = Metrics()
    check(metrics, ("incomplete-chain", "error"))
    stopped_daemon(handlers.check_served_chain, metrics, monkeypatch)
    text = generate_latest(metrics.registry).decode()
    assert 'name="ringcentral"' not in text


def test_a_stopped_renewal_daemon_drops_the_certificate_series(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics = Metrics()
    metrics.observe_ready("payments", "ringcentral", True)
    metrics.observe_certificate("payments", "ringcentral", NOW, NOW)
    metrics.observe_failures("payments", "ringcentral", 2)
    stopped_daemon(handlers.renew_on_time, metrics, monkeypatch)
    text = generate_latest(metrics.registry).decode()
    assert 'name="ringcentral"' not in text


def test_the_endpoints_one_daemon_stops_both_loops_and_drops_all_its_series(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics = Metrics()
    metrics.observe_ready("payments", "ringcentral", True)
    check(metrics, ("incomplete-chain", "error"))
    stopped_daemon(handlers.keep_endpoint, metrics, monkeypatch)
    text = generate_latest(metrics.registry).decode()
    assert 'name="ringcentral"' not in text

"""Adapter: the operator's Prometheus metrics, on their own registry, served on the metrics port.

Per-endpoint series carry only the WebhookEndpoint's namespace and name (plus a finding's
code and severity): never a host name, URL, serial number, key or anything from a Secret.
They are what the alerts in manifests/components/monitoring/ read, and each is set where
the operator learns the value:

- `webhook_cert_ready`, `..._certificate_not_after_timestamp_seconds`,
  `..._renewal_timestamp_seconds`, `..._issuance_consecutive_failures`:
  certificates/lifecycle.py, as it writes the Ready condition, the certificate's status
  fields and the back-off;
- `webhook_cert_chain_valid`, `..._chain_finding`, `..._served_...`,
  `..._chain_last_check_timestamp_seconds`: checking/checker.py, after each served-chain check.

Gauges of an endpoint are removed when it is deleted and when its daemons stop
(`forget_endpoint`, `forget_chain_check`; glue/handlers.py), which includes kopf peering pausing
this replica: only the working replica exports them, so neither a deleted endpoint nor a
waiting replica's stale values keep an alert firing.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from datetime import datetime
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from webhook_cert_operator import __version__
from webhook_cert_operator import metrics_endpoints as series


def _distribution_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


class Metrics:
    """The operator's series (module docstring), on `registry` (default: a registry of its
    own). Times are Unix seconds; durations are seconds."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._declare_operator_series()
        self._declare_chain_series()
        # The gauges with one series per WebhookEndpoint (labels: namespace, name).
        self.endpoints = series.EndpointGauges()
        self.registry.register(self.endpoints)

    def _declare_operator_series(self) -> None:
        """The operator's own series: its build, issuance attempts, ACME requests."""
        self.build_info = Gauge(
            "webhook_cert_build_info",
            "Always 1; the labels say which operator build is running.",
            ["version", "python_version", "kopf_version"],
            registry=self.registry,
        )
        self.build_info.labels(
            __version__, platform.python_version(), _distribution_version("kopf")
        ).set(1)
        self.issuance_attempts = Counter(
            "webhook_cert_issuance_attempts_total",
            "Certificate issuance attempts, by result and reason.",
            ["result", "reason"],
            registry=self.registry,
        )
        self.acme_requests = Counter(
            "webhook_cert_acme_requests_total",
            "HTTP requests to ACME servers, by request kind and HTTP status.",
            ["kind", "status"],
            registry=self.registry,
        )
        self.acme_request_seconds = Histogram(
            "webhook_cert_acme_request_duration_seconds",
            "Latency of HTTP requests to ACME servers, by request kind.",
            ["kind"],
            registry=self.registry,
        )

    def _declare_chain_series(self) -> None:
        """The served-chain check (checking/checker.py), besides its per-endpoint gauges."""
        self.chain_findings = Counter(
            "webhook_cert_chain_findings_total",
            "Findings of served-chain checks, by finding code and severity.",
            ["code", "severity"],
            registry=self.registry,
        )
        self.chain_check_seconds = Histogram(
            "webhook_cert_chain_check_duration_seconds",
            "Duration of served-chain checks (connection, handshake and analysis).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )

    # ---- the stored certificate (certificates/lifecycle.py) -----------------------------

    def observe_ready(self, namespace: str, name: str, ready: bool) -> None:
        """The endpoint's Ready condition: 1 True, 0 otherwise."""
        self.endpoints.set(namespace, name, {series.READY: 1 if ready else 0})

    def observe_certificate(
        self, namespace: str, name: str, not_after: datetime, renewal_time: datetime | None
    ) -> None:
        """The stored certificate's notAfter and, when planned, its renewal time."""
        values = {series.NOT_AFTER: not_after.timestamp()}
        if renewal_time is not None:
            values[series.RENEWAL] = renewal_time.timestamp()
        self.endpoints.set(namespace, name, values)

    def observe_failures(self, namespace: str, name: str, consecutive: int) -> None:
        """Failed issuance attempts since the last success."""
        self.endpoints.set(namespace, name, {series.FAILURES: consecutive})

    def forget_endpoint(self, namespace: str, name: str) -> None:
        """Drop an endpoint's certificate series (the endpoint was deleted)."""
        certificate = (series.READY, series.NOT_AFTER, series.RENEWAL, series.FAILURES)
        self.endpoints.remove(namespace, name, certificate)

    # ---- the served-chain check (checking/checker.py) ----------------------------------

    def observe_chain_check(
        self,
        namespace: str,
        name: str,
        *,
        valid: bool,
        findings: Iterable[tuple[str, str]],
        served_not_after: Iterable[datetime],
        checked_at: datetime,
    ) -> None:
        """One check's outcome: `findings` as (code, severity) pairs, one per finding, and
        the notAfter of each served certificate, leaf first (none: nothing was served)."""
        counts: dict[tuple[str, str], int] = {}
        for code, severity in findings:
            self.chain_findings.labels(code, severity).inc()
            counts[code, severity] = counts.get((code, severity), 0) + 1
        self.endpoints.set_findings(namespace, name, counts)
        values = {series.CHAIN_VALID: 1 if valid else 0, series.LAST_CHECK: checked_at.timestamp()}
        expiries = list(served_not_after)
        if expiries:
            values[series.SERVED_NOT_AFTER] = expiries[0].timestamp()
            values[series.EARLIEST] = min(expiries).timestamp()
        else:
            # Nothing served: an old expiry would look current.
            self.endpoints.remove(namespace, name, (series.SERVED_NOT_AFTER, series.EARLIEST))
        self.endpoints.set(namespace, name, values)

    def forget_chain_check(self, namespace: str, name: str) -> None:
        """Drop an endpoint's served-chain series (the endpoint was deleted)."""
        checked = (series.CHAIN_VALID, series.SERVED_NOT_AFTER, series.EARLIEST, series.LAST_CHECK)
        self.endpoints.remove(namespace, name, checked)
        self.endpoints.set_findings(namespace, name, {})

    def observe_acme_request(self, kind: str, status: int | None, seconds: float) -> None:
        """One HTTP request to an ACME server: its HTTP status (None: no answer), its latency."""
        self.acme_requests.labels(kind, str(status) if status is not None else "error").inc()
        self.acme_request_seconds.labels(kind).observe(seconds)

    def serve(self, port: int) -> None:
        """Serve the registry over HTTP on `port` (/metrics), from a daemon thread."""
        start_http_server(port, registry=self.registry)

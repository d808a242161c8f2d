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

import contextlib
import platform
import threading
from collections.abc import Iterable
from datetime import datetime
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from webhook_cert_operator import __version__

ENDPOINT_LABELS = ("namespace", "name")


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
        self._declare_certificate_series()
        self._declare_chain_series()
        # The finding series each endpoint has now, to remove those a later check drops.
        self._finding_series: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._findings_lock = threading.Lock()

    def _endpoint_gauge(self, name: str, documentation: str) -> Gauge:
        """A gauge with one series per WebhookEndpoint (labels: namespace, name)."""
        return Gauge(name, documentation, ENDPOINT_LABELS, registry=self.registry)

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

    def _declare_certificate_series(self) -> None:
        """The stored certificate and its renewal, per endpoint (certificates/lifecycle.py)."""
        self.ready = self._endpoint_gauge(
            "webhook_cert_ready",
            "1 when the endpoint's Ready condition is True (a valid certificate is stored).",
        )
        self.certificate_not_after = self._endpoint_gauge(
            "webhook_cert_certificate_not_after_timestamp_seconds",
            "Expiry (notAfter, Unix time) of the certificate stored for each endpoint.",
        )
        self.renewal_time = self._endpoint_gauge(
            "webhook_cert_renewal_timestamp_seconds",
            "When the operator plans to renew the endpoint's certificate (status.renewalTime).",
        )
        self.consecutive_failures = self._endpoint_gauge(
            "webhook_cert_issuance_consecutive_failures",
            "Failed issuance attempts since the last success (status.failedAttempts).",
        )

    def _declare_chain_series(self) -> None:
        """The served-chain check (checking/checker.py): what a strict webhook sender sees."""
        self.chain_valid = self._endpoint_gauge(
            "webhook_cert_chain_valid",
            "1 when the last check of the endpoint's served chain found no error, else 0.",
        )
        self.chain_findings = Counter(
            "webhook_cert_chain_findings_total",
            "Findings of served-chain checks, by finding code and severity.",
            ["code", "severity"],
            registry=self.registry,
        )
        self.chain_finding = Gauge(
            "webhook_cert_chain_finding",
            "Findings of the endpoint's last served-chain check with this code (absent: none).",
            [*ENDPOINT_LABELS, "code", "severity"],
            registry=self.registry,
        )
        self.served_not_after = self._endpoint_gauge(
            "webhook_cert_served_certificate_not_after_timestamp_seconds",
            "Expiry (notAfter, Unix time) of the leaf each endpoint served at its last check.",
        )
        self.served_chain_earliest_not_after = self._endpoint_gauge(
            "webhook_cert_served_chain_earliest_not_after_timestamp_seconds",
            "Earliest notAfter (Unix time) of all certificates the endpoint served at its "
            "last check: the leaf or an intermediate, whichever expires first.",
        )
        self.chain_last_check = self._endpoint_gauge(
            "webhook_cert_chain_last_check_timestamp_seconds",
            "When the endpoint's served chain was last checked (Unix time).",
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
        self.ready.labels(namespace, name).set(1 if ready else 0)

    def observe_certificate(
        self, namespace: str, name: str, not_after: datetime, renewal_time: datetime | None
    ) -> None:
        """The stored certificate's notAfter and, when planned, its renewal time."""
        self.certificate_not_after.labels(namespace, name).set(not_after.timestamp())
        if renewal_time is not None:
            self.renewal_time.labels(namespace, name).set(renewal_time.timestamp())

    def observe_failures(self, namespace: str, name: str, consecutive: int) -> None:
        """Failed issuance attempts since the last success."""
        self.consecutive_failures.labels(namespace, name).set(consecutive)

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
        self.chain_valid.labels(namespace, name).set(1 if valid else 0)
        self.chain_last_check.labels(namespace, name).set(checked_at.timestamp())
        counts: dict[tuple[str, str], int] = {}
        for code, severity in findings:
            self.chain_findings.labels(code, severity).inc()
            counts[code, severity] = counts.get((code, severity), 0) + 1
        with self._findings_lock:
            previous = self._finding_series.get((namespace, name), set())
            for code, severity in previous - counts.keys():
                with contextlib.suppress(KeyError):
                    self.chain_finding.remove(namespace, name, code, severity)
            for (code, severity), count in counts.items():
                self.chain_finding.labels(namespace, name, code, severity).set(count)
            self._finding_series[namespace, name] = set(counts)
        expiries = list(served_not_after)
        if expiries:
            self.served_not_after.labels(namespace, name).set(expiries[0].timestamp())
            self.served_chain_earliest_not_after.labels(namespace, name).set(
                min(expiries).timestamp()
            )
        else:
            # Nothing served: an old expiry would look current.
            for gauge in (self.served_not_after, self.served_chain_earliest_not_after):
                with contextlib.suppress(KeyError):
                    gauge.remove(namespace, name)

    def forget_chain_check(self, namespace: str, name: str) -> None:
        """Drop an endpoint's served-chain series (the endpoint was deleted)."""
        for gauge in (
            self.chain_valid,
            self.served_not_after,
            self.served_chain_earliest_not_after,
            self.chain_last_check,
        ):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name)
        with self._findings_lock:
            for code, severity in self._finding_series.pop((namespace, name), set()):
                with contextlib.suppress(KeyError):
                    self.chain_finding.remove(namespace, name, code, severity)

    def observe_acme_request(self, kind: str, status: int | None, seconds: float) -> None:
        """One HTTP request to an ACME server: its HTTP status (None: no answer), its latency."""
        self.acme_requests.labels(kind, str(status) if status is not None else "error").inc()
        self.acme_request_seconds.labels(kind).observe(seconds)

    def forget_endpoint(self, namespace: str, name: str) -> None:
        """Drop an endpoint's certificate series (the endpoint was deleted)."""
        for gauge in (
            self.ready,
            self.certificate_not_after,
            self.renewal_time,
            self.consecutive_failures,
        ):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name)

    def serve(self, port: int) -> None:
        """Serve the registry over HTTP on `port` (/metrics), from a daemon thread."""
        start_http_server(port, registry=self.registry)

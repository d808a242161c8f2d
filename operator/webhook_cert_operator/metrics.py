"""Prometheus metrics of the operator, on their own registry, served on the metrics port."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
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
        self.certificate_not_after = Gauge(
            "webhook_cert_certificate_not_after_timestamp_seconds",
            "Expiry (notAfter, Unix time) of the certificate stored for each endpoint.",
            ["namespace", "name"],
            registry=self.registry,
        )
        # The served-chain check (validation.py): what a strict webhook sender sees.
        self.chain_valid = Gauge(
            "webhook_cert_chain_valid",
            "1 when the last check of the endpoint's served chain found no error, else 0.",
            ["namespace", "name"],
            registry=self.registry,
        )
        self.chain_findings = Counter(
            "webhook_cert_chain_findings_total",
            "Findings of served-chain checks, by finding code and severity.",
            ["code", "severity"],
            registry=self.registry,
        )
        self.served_not_after = Gauge(
            "webhook_cert_served_certificate_not_after_timestamp_seconds",
            "Expiry (notAfter, Unix time) of the leaf each endpoint served at its last check.",
            ["namespace", "name"],
            registry=self.registry,
        )
        self.chain_check_seconds = Histogram(
            "webhook_cert_chain_check_duration_seconds",
            "Duration of served-chain checks (connection, handshake and analysis).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )

    def forget_chain_check(self, namespace: str, name: str) -> None:
        """Drop an endpoint's served-chain series (the endpoint was deleted)."""
        for gauge in (self.chain_valid, self.served_not_after):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name)

    def observe_acme_request(self, kind: str, status: int | None, seconds: float) -> None:
        self.acme_requests.labels(kind, str(status) if status is not None else "error").inc()
        self.acme_request_seconds.labels(kind).observe(seconds)

    def forget_endpoint(self, namespace: str, name: str) -> None:
        with contextlib.suppress(KeyError):
            self.certificate_not_after.remove(namespace, name)

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)

"""Adapter: the per-endpoint gauges (namespace, name), kept compactly and exported as
Prometheus families on each scrape.

A `prometheus_client` labelled gauge keeps one child object per series, about 700 bytes
each with its lock; nine series per WebhookEndpoint made that 6.6 MB at 1,000 endpoints.
Here an endpoint's values are one list of floats, and its findings one small dict:
`EndpointGauges` is a custom collector (`prometheus_client.registry.Collector`) that
turns them into families when the registry is scraped. Thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from prometheus_client.core import GaugeMetricFamily, Metric

ENDPOINT_LABELS: Final = ("namespace", "name")

#: The per-endpoint gauges, in the order of an endpoint's values: (name, help).
GAUGES: Final = (
    (
        "webhook_cert_ready",
        "1 when the endpoint's Ready condition is True (a valid certificate is stored).",
    ),
    (
        "webhook_cert_certificate_not_after_timestamp_seconds",
        "Expiry (notAfter, Unix time) of the certificate stored for each endpoint.",
    ),
    (
        "webhook_cert_renewal_timestamp_seconds",
        "When the operator plans to renew the endpoint's certificate (status.renewalTime).",
    ),
    (
        "webhook_cert_issuance_consecutive_failures",
        "Failed issuance attempts since the last success (status.failedAttempts).",
    ),
    (
        "webhook_cert_chain_valid",
        "1 when the last check of the endpoint's served chain found no error, else 0.",
    ),
    (
        "webhook_cert_served_certificate_not_after_timestamp_seconds",
        "Expiry (notAfter, Unix time) of the leaf each endpoint served at its last check.",
    ),
    (
        "webhook_cert_served_chain_earliest_not_after_timestamp_seconds",
        "Earliest notAfter (Unix time) of all certificates the endpoint served at its "
        "last check: the leaf or an intermediate, whichever expires first.",
    ),
    (
        "webhook_cert_chain_last_check_timestamp_seconds",
        "When the endpoint's served chain was last checked (Unix time).",
    ),
)
READY, NOT_AFTER, RENEWAL, FAILURES, CHAIN_VALID, SERVED_NOT_AFTER, EARLIEST, LAST_CHECK = range(
    len(GAUGES)
)
FINDING: Final = (
    "webhook_cert_chain_finding",
    "Findings of the endpoint's last served-chain check with this code (absent: none).",
)

Key = tuple[str, str]  # (namespace, name)


class EndpointGauges:
    """Each endpoint's gauge values (indices READY ... LAST_CHECK; None: no series) and
    its finding counts by (code, severity)."""

    def __init__(self) -> None:
        self._values: dict[Key, list[float | None]] = {}
        self._findings: dict[Key, dict[tuple[str, str], int]] = {}
        self._lock = threading.Lock()

    def set(self, namespace: str, name: str, values: Mapping[int, float]) -> None:
        """Set some of the endpoint's gauges, by index."""
        with self._lock:
            record = self._values.get((namespace, name))
            if record is None:
                record = self._values[namespace, name] = [None] * len(GAUGES)
            for index, value in values.items():
                record[index] = float(value)

    def remove(self, namespace: str, name: str, indices: Iterable[int]) -> None:
        """Drop some of the endpoint's series; absent ones are no error."""
        with self._lock:
            record = self._values.get((namespace, name))
            if record is None:
                return
            for index in indices:
                record[index] = None
            if all(value is None for value in record):
                del self._values[namespace, name]

    def set_findings(
        self, namespace: str, name: str, counts: Mapping[tuple[str, str], int]
    ) -> None:
        """The endpoint's finding series are exactly `counts` ((code, severity) -> count)."""
        with self._lock:
            if counts:
                self._findings[namespace, name] = dict(counts)
            else:
                self._findings.pop((namespace, name), None)

    def get(self, namespace: str, name: str, index: int) -> float | None:
        """One gauge's value (None: no series)."""
        with self._lock:
            record = self._values.get((namespace, name))
            return None if record is None else record[index]

    def describe(self) -> Iterator[Metric]:
        """The families without samples: the registry refuses a second collector of a name."""
        for name, documentation in (*GAUGES, FINDING):
            yield GaugeMetricFamily(name, documentation, labels=[])

    def collect(self) -> Iterator[Metric]:
        """One family per gauge, one sample per endpoint that has the series."""
        with self._lock:
            values = [(key, list(record)) for key, record in self._values.items()]
            findings = [(key, dict(counts)) for key, counts in self._findings.items()]
        for index, (name, documentation) in enumerate(GAUGES):
            family = GaugeMetricFamily(name, documentation, labels=ENDPOINT_LABELS)
            for key, record in values:
                value = record[index]
                if value is not None:
                    family.add_metric(key, value)
            yield family
        family = GaugeMetricFamily(*FINDING, labels=[*ENDPOINT_LABELS, "code", "severity"])
        for key, counts in findings:
            for (code, severity), count in counts.items():
                family.add_metric([*key, code, severity], count)
        yield family

"""kopf handlers: parse the spec, call the orchestration, write status. Thin by design.

Handlers are sync functions: kopf runs them in its thread pool, so the blocking Kubernetes
and ACME clients never run on the event loop. Dependencies come from `memo.deps`, built
once by `run_command`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from webhook_cert_operator import api, pki, renewal, tls_secret
from webhook_cert_operator.acme_client import AcmeError, AcmeUnavailable
from webhook_cert_operator.config import Settings
from webhook_cert_operator.issuance import AccountError, Issued, Issuer
from webhook_cert_operator.kube import GROUP, PLURAL, VERSION, Kube
from webhook_cert_operator.metrics import Metrics
from webhook_cert_operator.solver.http01 import Endpoint, SelfCheckFailed

RESOURCE = (GROUP, VERSION, PLURAL)
# How often each endpoint's Secret is compared with its renewal time (one GET each).
RENEWAL_CHECK_INTERVAL = 300.0
# Delays between failed issuances; a spec change retries at once (a new handler run).
FAILURE_DELAYS = (60, 600, 6000, 86400)
SECRET_CONFLICT_DELAY = 300


@dataclass
class Dependencies:
    settings: Settings
    kube: Kube
    issuer: Issuer
    metrics: Metrics
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def exclusive(self, uid: str) -> Iterator[bool]:
        """One issuance per endpoint at a time (change handlers and the timer overlap)."""
        with self._guard:
            lock = self._locks.setdefault(uid, threading.Lock())
        acquired = lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()


class StatusWriter:
    """Keeps the endpoint's status in memory and patches it as issuance goes on."""

    def __init__(self, deps: Dependencies, body: kopf.Body) -> None:
        self.deps = deps
        self.body = body
        meta = body["metadata"]
        self.endpoint = Endpoint(meta["namespace"], meta["name"], meta["uid"])
        self.generation = int(meta.get("generation") or 0)
        self.conditions: list[dict[str, Any]] = list(
            (body.get("status") or {}).get("conditions") or []
        )

    def condition(self, type: str, status: str, reason: str, message: str) -> None:
        self.conditions = api.set_condition(
            self.conditions,
            api.Condition(type, status, reason, message),
            now=self.deps.clock(),
            generation=self.generation,
        )

    def write(self, **fields: Any) -> None:
        status = {"conditions": self.conditions, "observedGeneration": self.generation}
        self.deps.kube.patch_endpoint_status(
            self.endpoint.namespace, self.endpoint.name, {**status, **fields}
        )

    # issuance.Progress
    def step(self, reason: str, message: str) -> None:
        self.condition(api.ISSUING, "True", reason, message)
        self.write()
        kopf.info(self.body, reason=reason, message=message)

    def order(self, order: api.OrderRef) -> None:
        self.write(order=order.to_status())


def certificate_status(info: pki.CertificateInfo, renewal_time: datetime | None) -> dict[str, Any]:
    fields = {
        "notBefore": api.format_time(info.not_before),
        "notAfter": api.format_time(info.not_after),
        "serialNumber": info.serial_number,
        "issuer": info.issuer,
        "dnsNames": list(info.dns_names),
    }
    if renewal_time is not None:
        fields["renewalTime"] = api.format_time(renewal_time)
    return fields


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    deps: Dependencies = memo.deps
    settings.posting.level = logging.INFO
    settings.execution.max_workers = max(4, deps.settings.check_concurrency)
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    deps.metrics.serve(deps.settings.metrics_port)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
def reconcile(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    ensure_certificate(memo.deps, body)


@kopf.timer(*RESOURCE, interval=RENEWAL_CHECK_INTERVAL, initial_delay=RENEWAL_CHECK_INTERVAL)
def renew_when_due(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    ensure_certificate(memo.deps, body)


@kopf.on.delete(*RESOURCE, optional=True)
def clean_up(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Owner references collect the solver objects anyway; this is just sooner."""
    deps: Dependencies = memo.deps
    meta = body["metadata"]
    deps.issuer.solver.clean_up(Endpoint(meta["namespace"], meta["name"], meta["uid"]))
    deps.metrics.forget_endpoint(meta["namespace"], meta["name"])


def ensure_certificate(deps: Dependencies, body: kopf.Body) -> None:
    writer = StatusWriter(deps, body)
    try:
        spec = api.parse_spec(
            body.get("spec") or {}, name=writer.endpoint.name, settings=deps.settings
        )
    except api.SpecError as error:
        writer.condition(api.READY, "False", "InvalidSpec", str(error))
        writer.condition(api.ISSUING, "False", "InvalidSpec", str(error))
        writer.write()
        raise kopf.PermanentError(str(error)) from None
    with deps.exclusive(writer.endpoint.uid) as mine:
        if not mine:
            return  # another worker is issuing for this endpoint right now
        _ensure(deps, writer, spec, body)


def _ensure(
    deps: Dependencies, writer: StatusWriter, spec: api.EndpointSpec, body: kopf.Body
) -> None:
    endpoint = writer.endpoint
    status = body.get("status") or {}
    secret = deps.kube.get_secret(endpoint.namespace, spec.secret_name)
    stored = tls_secret.parse_stored(secret.data) if secret is not None else None
    decision = renewal.decide(stored, spec, deps.clock())
    if decision.reason is None and isinstance(stored, tls_secret.StoredCertificate):
        try:
            tls_secret.check_owned(
                secret.annotations if secret else None,
                namespace=endpoint.namespace,
                secret_name=spec.secret_name,
                endpoint_name=endpoint.name,
            )
        except tls_secret.SecretNotOwned as error:
            _refuse_secret(deps, writer, error)
        info = pki.describe_certificate(stored.leaf)
        writer.condition(
            api.READY,
            "True",
            "CertificateValid",
            f"certificate valid until {api.format_time(info.not_after)}",
        )
        if api.get_condition(writer.conditions, api.ISSUING) is None:
            writer.condition(api.ISSUING, "False", "UpToDate", "no issuance needed")
        writer.write(**certificate_status(info, decision.renewal_time))
        deps.metrics.certificate_not_after.labels(endpoint.namespace, endpoint.name).set(
            info.not_after.timestamp()
        )
        return
    reason = decision.reason or "no certificate has been issued yet"
    has_valid = isinstance(stored, tls_secret.StoredCertificate) and (
        stored.leaf.not_valid_after_utc > deps.clock()
    )
    if not has_valid:
        writer.condition(api.READY, "False", "Issuing", f"issuing a certificate: {reason}")
    writer.step("Issuing", f"issuing a certificate: {reason}")
    failed_attempts = int(status.get("failedAttempts") or 0)
    try:
        issued = deps.issuer.issue(
            endpoint, spec, api.OrderRef.from_status(status.get("order")), writer
        )
    except tls_secret.SecretNotOwned as error:
        _refuse_secret(deps, writer, error)
    except (SelfCheckFailed, AcmeError, AccountError) as error:
        _fail(deps, writer, error, failed_attempts)
    else:
        _succeed(deps, writer, spec, issued)


def _refuse_secret(
    deps: Dependencies, writer: StatusWriter, error: tls_secret.SecretNotOwned
) -> None:
    message = str(error)
    writer.condition(api.READY, "False", "SecretNotOwned", message)
    writer.condition(api.ISSUING, "False", "SecretNotOwned", message)
    writer.write()
    kopf.warn(writer.body, reason="SecretNotOwned", message=message)
    deps.metrics.issuance_attempts.labels("refused", "SecretNotOwned").inc()
    raise kopf.TemporaryError(message, delay=SECRET_CONFLICT_DELAY)


def _fail(deps: Dependencies, writer: StatusWriter, error: Exception, failed_attempts: int) -> None:
    if isinstance(error, SelfCheckFailed):
        reason = "SelfCheckFailed"
    elif isinstance(error, AcmeUnavailable):
        reason = "AcmeUnavailable"
    elif isinstance(error, AcmeError):
        reason = "AcmeError"
    else:
        reason = "AccountError"
    message = str(error)
    delay = FAILURE_DELAYS[min(failed_attempts, len(FAILURE_DELAYS) - 1)]
    retry_after = getattr(error, "retry_after", None)
    now = deps.clock()
    if isinstance(retry_after, datetime):
        delay = max(delay, int((retry_after - now).total_seconds()) + 1)
    writer.condition(api.ISSUING, "False", reason, message)
    writer.write(
        failedAttempts=failed_attempts + 1,
        lastFailureTime=api.format_time(now),
    )
    kopf.warn(writer.body, reason=reason, message=message)
    deps.metrics.issuance_attempts.labels("failure", reason).inc()
    raise kopf.TemporaryError(message, delay=delay)


def _succeed(
    deps: Dependencies, writer: StatusWriter, spec: api.EndpointSpec, issued: Issued
) -> None:
    info = issued.certificate
    endpoint = writer.endpoint
    due = renewal.renewal_time(info.not_before, info.not_after, spec)
    message = f"certificate valid until {api.format_time(info.not_after)}"
    writer.condition(api.READY, "True", "CertificateValid", message)
    writer.condition(
        api.ISSUING,
        "False",
        "Issued",
        f"issued serial {info.serial_number} with {issued.chain_length - 1} intermediate(s)",
    )
    writer.write(
        order=api.OrderRef(issued.order_url, "valid", 0, spec.dns_names).to_status(),
        failedAttempts=0,
        **certificate_status(info, due),
    )
    kopf.info(
        writer.body,
        reason="Issued",
        message=f"stored in Secret {spec.secret_name}: serial {info.serial_number}, {message}",
    )
    deps.metrics.issuance_attempts.labels("success", "Issued").inc()
    deps.metrics.certificate_not_after.labels(endpoint.namespace, endpoint.name).set(
        info.not_after.timestamp()
    )

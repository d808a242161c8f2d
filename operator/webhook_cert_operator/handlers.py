"""kopf handlers: parse the spec, call the orchestration, write status. Thin by design.

Handlers are sync functions: kopf runs them in its thread pool, so the blocking Kubernetes
and ACME clients never run on the event loop. Dependencies come from `memo.deps`, built
once by `run_command`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf

from webhook_cert_operator import api, pki, renewal, tls_secret, validation
from webhook_cert_operator.acme_client import AcmeError, AcmeUnavailable
from webhook_cert_operator.config import Settings
from webhook_cert_operator.issuance import AccountError, Issued, Issuer
from webhook_cert_operator.kube import GROUP, PLURAL, VERSION, Conflict, Kube
from webhook_cert_operator.metrics import Metrics
from webhook_cert_operator.solver.http01 import Endpoint, SelfCheckFailed

RESOURCE = (GROUP, VERSION, PLURAL)
# How often each endpoint's Secret is compared with its renewal time (one GET each).
RENEWAL_CHECK_INTERVAL = 300.0
# Delays between failed issuances; a spec change retries at once (a new handler run).
FAILURE_DELAYS = (60, 600, 6000, 86400)
SECRET_CONFLICT_DELAY = 300
# How often each endpoint's served-chain daemon wakes to see whether a check is due.
DAEMON_POLL = 5.0
# After a new certificate, how many growing re-checks while the old leaf is still served.
STALE_RETRIES = 8
# A failed check is repeated at least this often, even with a longer spec interval.
RECHECK_FAILED = timedelta(minutes=5)


@dataclass
class Dependencies:
    settings: Settings
    kube: Kube
    issuer: Issuer
    metrics: Metrics
    checker: validation.ChainChecker
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def _lock(self, purpose: str, uid: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((purpose, uid), threading.Lock())

    @contextmanager
    def exclusive(self, uid: str) -> Iterator[bool]:
        """One issuance per endpoint at a time (change handlers and the timer overlap)."""
        lock = self._lock("issuance", uid)
        acquired = lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()

    def status_lock(self, uid: str) -> threading.Lock:
        """Held around each read-modify-write of an endpoint's conditions."""
        return self._lock("status", uid)

    def forget(self, uid: str) -> None:
        with self._guard:
            for purpose in ("issuance", "status"):
                self._locks.pop((purpose, uid), None)


class StatusWriter:
    """Writes an endpoint's status: conditions set since the last write, plus fields.

    The issuance handler and the served-chain daemon both set conditions, and a merge
    patch replaces the whole list; so each write re-reads the current list under a
    per-endpoint lock and changes only the conditions it was given.
    """

    def __init__(self, deps: Dependencies, body: kopf.Body) -> None:
        self.deps = deps
        self.body = body
        meta = body["metadata"]
        self.endpoint = Endpoint(meta["namespace"], meta["name"], meta["uid"])
        self.generation = int(meta.get("generation") or 0)
        self.conditions: list[dict[str, Any]] = list(
            (body.get("status") or {}).get("conditions") or []
        )
        self.pending: dict[str, api.Condition] = {}

    def condition(self, type: str, status: str, reason: str, message: str) -> None:
        self.pending[type] = api.Condition(type, status, reason, message)

    def write(self, **fields: Any) -> None:
        endpoint = self.endpoint
        with self.deps.status_lock(endpoint.uid):
            current = self.deps.kube.get_endpoint(endpoint.namespace, endpoint.name)
            if current is None:
                return  # deleted meanwhile
            conditions = list((current.get("status") or {}).get("conditions") or [])
            for condition in self.pending.values():
                conditions = api.set_condition(
                    conditions, condition, now=self.deps.clock(), generation=self.generation
                )
            status = {"conditions": conditions, "observedGeneration": self.generation}
            self.deps.kube.patch_endpoint_status(
                endpoint.namespace, endpoint.name, {**status, **fields}
            )
        self.conditions = conditions
        self.pending.clear()

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


@kopf.on.startup()
async def size_check_threads(memo: kopf.Memo, **_: Any) -> None:
    """Served-chain checks run on the loop's default executor: one thread per allowed check."""
    workers = memo.deps.settings.check_concurrency
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chain-check")
    )


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
    deps.metrics.forget_chain_check(meta["namespace"], meta["name"])
    deps.forget(meta["uid"])


@kopf.daemon(*RESOURCE, cancellation_timeout=10)
async def check_served_chain(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Check the served chain every spec.validation.interval, and soon after each issuance.

    One cheap coroutine per endpoint; the check itself runs in a thread, bounded by the
    checker's semaphore. After a new certificate, a server may take a while to pick it
    up, so `stale-certificate` is re-checked with growing delays before settling back
    to the interval.
    """
    deps: Dependencies = memo.deps
    uid = body["metadata"]["uid"]
    checked: tuple[str | None, int] | None = None  # (serial, generation) last settled
    stale_attempts = 0
    next_check = 0.0
    while True:
        serial = (body.get("status") or {}).get("serialNumber")
        generation = int(body["metadata"].get("generation") or 0)
        now = time.monotonic()
        if (serial, generation) != checked and stale_attempts == 0:
            next_check = now  # a new certificate or a new spec: look now
        if now >= next_check:
            result = await asyncio.to_thread(run_chain_check, deps, body)
            if result is None:  # invalid spec: nothing to check until it changes
                next_check = now + DAEMON_POLL
                checked = (serial, generation)
            elif result.stale and serial and stale_attempts < STALE_RETRIES:
                next_check = now + validation.stale_retry_delay(stale_attempts)
                stale_attempts += 1
            else:
                interval = _validation_interval(deps, body)
                if not result.ok:  # someone is likely fixing it: show the fix soon
                    interval = min(interval, RECHECK_FAILED)
                next_check = now + validation.check_spacing(interval, uid)
                checked, stale_attempts = (serial, generation), 0
        await asyncio.sleep(DAEMON_POLL)


def _validation_interval(deps: Dependencies, body: kopf.Body) -> timedelta:
    try:
        spec = api.parse_spec(
            body.get("spec") or {}, name=body["metadata"]["name"], settings=deps.settings
        )
    except api.SpecError:
        return api.DEFAULT_VALIDATION_INTERVAL
    return spec.validation.interval


def run_chain_check(deps: Dependencies, body: kopf.Body) -> validation.CheckResult | None:
    """One served-chain check: status.validation, ChainValid, and an Event on transitions."""
    meta = body["metadata"]
    try:
        spec = api.parse_spec(body.get("spec") or {}, name=meta["name"], settings=deps.settings)
    except api.SpecError:
        return None
    writer = StatusWriter(deps, body)
    previous = api.get_condition(writer.conditions, api.CHAIN_VALID)
    result = deps.checker.check(meta["namespace"], meta["name"], spec)
    condition = result.condition
    writer.condition(condition.type, condition.status, condition.reason, condition.message)
    writer.write(validation=result.validation)
    event = validation.transition_event(previous, condition)
    if event is not None:
        post = kopf.warn if event.warning else kopf.info
        post(body, reason=event.reason, message=event.message)
    return result


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
    except (SelfCheckFailed, AcmeError, AccountError, Conflict) as error:
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
    elif isinstance(error, Conflict):
        reason = "SecretChanged"
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
        # A merge patch: attempts (orders created) stays as the order was reported.
        order={"url": issued.order_url, "state": "valid"},
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

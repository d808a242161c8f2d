"""Keep one endpoint's certificate: decide whether to issue, issue, report, roll restarts.

Orchestration without kopf: `glue/handlers.py` builds the `StatusWriter` (with an event poster)
and maps `RetryLater` and `InvalidSpec` to kopf's errors. The decision itself is pure
(`renewal.decide`); this module gathers what it needs: the Secret, the CA's renewal
information (RFC 9773, fetched only when due), the `webhookcert.dev/renew` annotation.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from webhook_cert_operator.acme.ari import cert_id
from webhook_cert_operator.acme.errors import AcmeError, AcmeUnavailable
from webhook_cert_operator.api import types as api
from webhook_cert_operator.certificates import pki, renewal
from webhook_cert_operator.certificates import secret as tls_secret
from webhook_cert_operator.certificates.issuance import AccountError, Issued, Issuer
from webhook_cert_operator.kube import Conflict, Kube
from webhook_cert_operator.metrics import Metrics
from webhook_cert_operator.settings import Settings
from webhook_cert_operator.solver.http01 import Endpoint, SelfCheckFailed

# A Secret held by someone else is looked at again this often (it costs no ACME request).
SECRET_CONFLICT_DELAY = 300.0

PostEvent = Callable[[str, str, str], None]  # (type Normal|Warning, reason, message)


class RetryLater(Exception):
    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class InvalidSpec(Exception):
    """The spec cannot be acted on until the user changes it (message says why)."""


@dataclass
class Lifecycle:
    settings: Settings
    kube: Kube
    issuer: Issuer
    metrics: Metrics
    clock: Callable[[], datetime]
    unit_random: Callable[[], float] = random.random
    _locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def lock(self, purpose: str, uid: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((purpose, uid), threading.Lock())

    def forget(self, uid: str) -> None:
        with self._guard:
            for key in [k for k in self._locks if k[1] == uid]:
                del self._locks[key]


class StatusWriter:
    """Writes an endpoint's status: conditions set since the last write, plus fields.

    The issuance handler and the served-chain daemon both set conditions, and a merge
    patch replaces the whole list; so each write re-reads the current list under a
    per-endpoint lock and changes only the conditions it was given.
    """

    def __init__(self, life: Lifecycle, body: Mapping[str, Any], post_event: PostEvent) -> None:
        self.life = life
        self.post_event = post_event
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
        endpoint, life = self.endpoint, self.life
        with life.lock("status", endpoint.uid):
            current = life.kube.get_endpoint(endpoint.namespace, endpoint.name)
            if current is None:
                return  # deleted meanwhile
            conditions = list((current.get("status") or {}).get("conditions") or [])
            for condition in self.pending.values():
                conditions = api.set_condition(
                    conditions, condition, now=life.clock(), generation=self.generation
                )
            status = {"conditions": conditions, "observedGeneration": self.generation}
            life.kube.patch_endpoint_status(endpoint.namespace, endpoint.name, {**status, **fields})
        ready = self.pending.get(api.READY)
        if ready is not None:
            life.metrics.observe_ready(endpoint.namespace, endpoint.name, ready.status == "True")
        self.conditions = conditions
        self.pending.clear()

    # issuance.Progress
    def step(self, reason: str, message: str, **fields: Any) -> None:
        self.condition(api.ISSUING, "True", reason, message)
        self.write(**fields)
        self.post_event("Normal", reason, message)

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


def parse(life: Lifecycle, writer: StatusWriter, body: Mapping[str, Any]) -> api.EndpointSpec:
    try:
        return api.parse_spec(
            body.get("spec") or {}, name=writer.endpoint.name, settings=life.settings
        )
    except api.SpecError as error:
        writer.condition(api.READY, "False", "InvalidSpec", str(error))
        writer.condition(api.ISSUING, "False", "InvalidSpec", str(error))
        writer.write()
        raise InvalidSpec(str(error)) from None


def ensure_certificate(life: Lifecycle, writer: StatusWriter, body: Mapping[str, Any]) -> None:
    """Make the endpoint's Secret hold a fitting, current certificate; RetryLater if not yet."""
    spec = parse(life, writer, body)
    if spec.check_only is not None:
        observe_referenced_secret(life, writer, spec)
        return
    lock = life.lock("issuance", writer.endpoint.uid)
    if not lock.acquire(blocking=False):
        return  # another worker is issuing for this endpoint right now
    try:
        _ensure(life, writer, spec, body)
    finally:
        lock.release()


def observe_referenced_secret(
    life: Lifecycle, writer: StatusWriter, spec: api.EndpointSpec
) -> None:
    """A check-only endpoint: report the referenced Secret's certificate, never write it.

    `status.secretResourceVersion` is the version judged: the served-chain daemon checks
    again as soon as it changes (cert-manager renewed, someone fixed the chain).
    """
    assert spec.check_only is not None
    endpoint = writer.endpoint
    name = spec.check_only.secret_name
    secret = life.kube.get_secret(endpoint.namespace, name) if name is not None else None
    verdict = tls_secret.judge_referenced(
        name,
        secret.type if secret is not None else None,
        secret.data if secret is not None else None,
        now=life.clock(),
    )
    writer.condition(
        api.READY, "True" if verdict.ready else "False", verdict.reason, verdict.message
    )
    writer.condition(
        api.ISSUING, "False", "CheckOnly", "check-only endpoint: the operator issues nothing"
    )
    fields: dict[str, Any] = {
        "secretResourceVersion": secret.resource_version if secret is not None else None,
        "renewalTime": None,  # nothing is renewed here
    }
    if verdict.leaf is not None:
        info = pki.describe_certificate(verdict.leaf)
        fields.update(certificate_status(info, None))
        life.metrics.observe_certificate(endpoint.namespace, endpoint.name, info.not_after, None)
    else:
        fields.update(
            {"notBefore": None, "notAfter": None, "serialNumber": None, "issuer": None,
             "dnsNames": None}
        )  # fmt: skip
    writer.write(**fields)


def referenced_secret_changed(life: Lifecycle, body: Mapping[str, Any]) -> bool:
    """Whether a check-only endpoint's Secret is not the version last judged (one GET by
    name: no list or watch of Secrets is needed). False for any other endpoint."""
    check_only = (body.get("spec") or {}).get("checkOnly")
    ref = check_only.get("secretRef") if isinstance(check_only, Mapping) else None
    name = ref.get("name") if isinstance(ref, Mapping) else None
    if not isinstance(name, str) or not name:
        return False
    secret = life.kube.get_secret(body["metadata"]["namespace"], name)
    version = secret.resource_version if secret is not None else None
    return version != (body.get("status") or {}).get("secretResourceVersion")


def _ensure(
    life: Lifecycle, writer: StatusWriter, spec: api.EndpointSpec, body: Mapping[str, Any]
) -> None:
    endpoint = writer.endpoint
    status = body.get("status") or {}
    now = life.clock()
    # From status, so that a restarted operator reports the back-off it resumes.
    life.metrics.observe_failures(
        endpoint.namespace, endpoint.name, int(status.get("failedAttempts") or 0)
    )
    secret = life.kube.get_secret(endpoint.namespace, spec.secret_name)
    if secret is not None:
        try:
            tls_secret.check_owned(
                secret.annotations,
                namespace=endpoint.namespace,
                secret_name=spec.secret_name,
                endpoint_name=endpoint.name,
            )
        except tls_secret.SecretNotOwned as error:
            _refuse_secret(life, writer, error)
    stored = tls_secret.parse_stored(secret.data) if secret is not None else None
    # What the stored certificate was issued under, as recorded on the Secret: a restarted
    # operator reaches the same verdict as the one that saw the spec change.
    changed = (
        renewal.issuer_change(secret.annotations, tls_secret.issuance_annotations(spec.acme))
        if secret is not None
        else None
    )
    renewal_status = api.RenewalStatus.from_status(status.get("renewal"))
    leaf_id = None
    if isinstance(stored, tls_secret.StoredCertificate) and changed is None:
        # Not when it is to be replaced anyway: the CA now named may never have issued it.
        leaf_id, renewal_status = _renewal_information(
            life, endpoint, spec, stored, renewal_status, now
        )
    annotations = body["metadata"].get("annotations") or {}
    renew_request = annotations.get(renewal.RENEW_ANNOTATION)
    decision = renewal.decide(
        stored,
        spec,
        now,
        cert_id=leaf_id,
        renewal=renewal_status,
        renew_request_pending=renewal.renew_requested(
            renew_request, renewal_status.last_renew_request
        ),
        changed=changed,
    )
    renewal_fields = {"renewal": renewal_status.to_status()}
    if decision.reason is None and isinstance(stored, tls_secret.StoredCertificate):
        info = pki.describe_certificate(stored.leaf)
        writer.condition(
            api.READY,
            "True",
            "CertificateValid",
            f"certificate valid until {api.format_time(info.not_after)}",
        )
        if api.get_condition(writer.conditions, api.ISSUING) is None:
            writer.condition(api.ISSUING, "False", "UpToDate", "no issuance needed")
        writer.write(**certificate_status(info, decision.renewal_time), **renewal_fields)
        life.metrics.observe_certificate(
            endpoint.namespace, endpoint.name, info.not_after, decision.renewal_time
        )
        roll_restart_targets(life, writer, spec, info.serial_number)
        return
    reason = decision.reason or renewal.REASON_NO_CERTIFICATE
    if not (
        isinstance(stored, tls_secret.StoredCertificate) and stored.leaf.not_valid_after_utc > now
    ):
        writer.condition(api.READY, "False", "Issuing", f"issuing a certificate: {reason}")
    writer.step(decision.trigger or "Issuing", f"issuing a certificate: {reason}", **renewal_fields)
    failed_attempts = int(status.get("failedAttempts") or 0)
    try:
        issued = life.issuer.issue(
            endpoint,
            spec,
            api.OrderRef.from_status(status.get("order")),
            writer,
            replaces=decision.replaces,
        )
    except tls_secret.SecretNotOwned as error:
        _refuse_secret(life, writer, error)
    except (SelfCheckFailed, AcmeError, AccountError, Conflict) as error:
        _fail(life, writer, error, failed_attempts)
    else:
        _succeed(life, writer, spec, issued, renew_request)


def _renewal_information(
    life: Lifecycle,
    endpoint: Endpoint,
    spec: api.EndpointSpec,
    stored: tls_secret.StoredCertificate,
    previous: api.RenewalStatus,
    now: datetime,
) -> tuple[str | None, api.RenewalStatus]:
    """The leaf's ARI identifier and renewal status, asking the CA when a fetch is due."""
    leaf_pem = pki.chain_to_pem([stored.leaf])
    try:
        leaf_id = cert_id(leaf_pem)
    except ValueError:  # no authority key identifier: ARI cannot name this certificate
        return None, previous
    due = renewal.ari_fetch_due(
        previous, cert_id=leaf_id, not_after=stored.leaf.not_valid_after_utc, spec=spec, now=now
    )
    if not due:
        return leaf_id, previous
    try:
        info = life.issuer.renewal_info(endpoint, spec, leaf_pem)
    except (AcmeError, AccountError) as error:
        return leaf_id, renewal.record_ari_failure(
            previous,
            cert_id=leaf_id,
            error=f"renewal information unavailable: {error}",
            now=now,
            poll_random=life.unit_random(),
        )
    if info is None:
        return leaf_id, renewal.record_ari_failure(
            previous, cert_id=leaf_id, error=None, now=now, poll_random=life.unit_random()
        )
    return leaf_id, renewal.record_ari_window(
        previous,
        cert_id=leaf_id,
        window_start=info.start,
        window_end=info.end,
        explanation_url=info.explanation_url,
        retry_after_seconds=info.retry_after_seconds,
        now=now,
        choice_random=life.unit_random(),
        poll_random=life.unit_random(),
    )


def roll_restart_targets(
    life: Lifecycle, writer: StatusWriter, spec: api.EndpointSpec, serial_number: str
) -> None:
    """Roll each restart target once per certificate: its pod template records the serial."""
    namespace = writer.endpoint.namespace
    for target in spec.restart_targets:
        annotations = life.kube.pod_template_annotations(target.kind, namespace, target.name)
        if annotations is None:
            writer.post_event(
                "Warning",
                "RestartTargetMissing",
                f"{target.kind} {target.name} does not exist; nothing to restart",
            )
            continue
        if tls_secret.restart_needed(annotations, serial_number):
            life.kube.patch_workload(
                target.kind,
                namespace,
                target.name,
                tls_secret.restart_annotation_patch(serial_number),
            )
            writer.post_event(
                "Normal",
                "Restarted",
                f"rolled {target.kind} {target.name} onto certificate {serial_number}",
            )


def _refuse_secret(life: Lifecycle, writer: StatusWriter, error: tls_secret.SecretNotOwned) -> None:
    message = str(error)
    writer.condition(api.READY, "False", "SecretNotOwned", message)
    writer.condition(api.ISSUING, "False", "SecretNotOwned", message)
    writer.write()
    writer.post_event("Warning", "SecretNotOwned", message)
    life.metrics.issuance_attempts.labels("refused", "SecretNotOwned").inc()
    raise RetryLater(message, SECRET_CONFLICT_DELAY)


def failure_reason(error: Exception) -> str:
    if isinstance(error, SelfCheckFailed):
        return "SelfCheckFailed"
    if isinstance(error, AcmeUnavailable):
        return "AcmeUnavailable"
    if isinstance(error, AcmeError):
        return "AcmeError"
    if isinstance(error, Conflict):
        return "SecretChanged"
    return "AccountError"


def _fail(life: Lifecycle, writer: StatusWriter, error: Exception, failed_attempts: int) -> None:
    """Back off (by default 1 min, 10 min, 100 min, then daily, with jitter; never before
    the CA's Retry-After). The stored certificate stays in place, and Ready with it."""
    reason = failure_reason(error)
    message = str(error)
    now = life.clock()
    retry_after = getattr(error, "retry_after", None)
    retry_after = retry_after if isinstance(retry_after, datetime) else None
    delay = renewal.failure_delay(
        failed_attempts + 1,
        unit_random=life.unit_random(),
        retry_after=retry_after,
        now=now,
        delays=life.settings.failure_backoff,
    )
    next_attempt = now + delay
    writer.condition(api.ISSUING, "False", reason, message)
    writer.write(
        failedAttempts=failed_attempts + 1,
        lastFailureTime=api.format_time(now),
        lastFailureReason=message,
        nextAttemptTime=api.format_time(next_attempt),
        retryAfter=api.format_time(retry_after) if retry_after else None,
    )
    writer.post_event("Warning", reason, message)
    life.metrics.issuance_attempts.labels("failure", reason).inc()
    endpoint = writer.endpoint
    life.metrics.observe_failures(endpoint.namespace, endpoint.name, failed_attempts + 1)
    raise RetryLater(message, max(delay, timedelta(seconds=1)).total_seconds())


def _succeed(
    life: Lifecycle,
    writer: StatusWriter,
    spec: api.EndpointSpec,
    issued: Issued,
    renew_request: str | None,
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
        order={"url": issued.order_url, "state": "valid", "replaces": issued.replaced},
        failedAttempts=0,
        lastFailureReason=None,
        nextAttemptTime=None,
        retryAfter=None,
        # A new certificate: ask the CA about it at the next reconcile (RFC 9773 4.3).
        renewal=api.RenewalStatus(last_renew_request=renew_request).to_status(),
        **certificate_status(info, due),
    )
    writer.post_event(
        "Normal",
        "Issued",
        f"stored in Secret {spec.secret_name}: serial {info.serial_number}, {message}",
    )
    life.metrics.issuance_attempts.labels("success", "Issued").inc()
    life.metrics.observe_certificate(endpoint.namespace, endpoint.name, info.not_after, due)
    life.metrics.observe_failures(endpoint.namespace, endpoint.name, 0)
    roll_restart_targets(life, writer, spec, info.serial_number)

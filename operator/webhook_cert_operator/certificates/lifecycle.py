"""Orchestration: keep one endpoint's certificate, as gather -> decide -> act.

No kopf: `glue/handlers.py` builds the `ports.Report` (a status writer with an event
poster) and maps `RetryLater` and `InvalidSpec` to kopf's errors.

- gather (I/O through the ports): the Secret (refusing one that is not this endpoint's),
  status, the `webhookcert.dev/renew` annotation, and the CA's renewal information
  (RFC 9773), fetched only when due;
- decide (pure): `policies.decide` over the gathered `policies.Input`;
- act: report the certificate valid and roll restart targets (`restarts`), or issue,
  then report the new certificate or the failure and its back-off
  (`timing.failure_delay`).

Check-only endpoints are reported by `certificates.referenced` instead.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NoReturn

from webhook_cert_operator.acme.ari import RenewalInfo, cert_id
from webhook_cert_operator.acme.errors import AcmeError, AcmeUnavailable
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.api.status import OrderRef, RenewalStatus, get_condition
from webhook_cert_operator.api.types import Endpoint
from webhook_cert_operator.certificates import (
    pki,
    policies,
    ports,
    referenced,
    restarts,
    timing,
)
from webhook_cert_operator.certificates import secret as tls_secret
from webhook_cert_operator.certificates.issuance import AccountError, Issued, Issuer
from webhook_cert_operator.kube import Conflict
from webhook_cert_operator.metrics import Metrics
from webhook_cert_operator.settings import Settings
from webhook_cert_operator.solver.http01 import SelfCheckFailed

# A Secret held by someone else is looked at again this often (it costs no ACME request).
SECRET_CONFLICT_DELAY = 300.0


class RetryLater(Exception):
    """Nothing more to do now; try again in `delay` seconds."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class InvalidSpec(Exception):
    """The spec cannot be acted on until the user changes it (message says why)."""


@dataclass(frozen=True)
class Gathered:
    """What one reconcile knows before deciding: the policies' input, plus from status
    the failures in a row (status.failedAttempts) and the order to resume (status.order)."""

    input: policies.Input
    failed_attempts: int
    order: OrderRef | None


@dataclass(frozen=True)
class Lifecycle:
    """Keeps endpoints' certificates; built once at startup (`glue/deps.py`).

    `clock` gives timezone-aware UTC datetimes; `unit_random` numbers in [0, 1) for the
    jitter of ARI polls and back-off.
    """

    settings: Settings
    kube: ports.Kubernetes
    issuer: Issuer
    metrics: Metrics
    locks: ports.Locks
    clock: Callable[[], datetime]
    unit_random: Callable[[], float] = random.random

    # ---- what the glue calls -------------------------------------------------------------

    def ensure_certificate(self, report: ports.Report, body: Mapping[str, Any]) -> None:
        """Make the endpoint's Secret hold a fitting, current certificate.

        Raises `InvalidSpec` for a spec that cannot be acted on, `RetryLater` when the
        issuance failed (after the back-off) or the Secret belongs to someone else.
        """
        spec = self._parse(report, body)
        if spec.check_only is not None:
            referenced.observe(self.kube, self.metrics, report, spec, now=self.clock())
            return
        lock = self.locks.lock("issuance", report.endpoint.uid)
        if not lock.acquire(blocking=False):
            return  # another worker is issuing for this endpoint right now
        try:
            self._ensure(report, spec, body)
        finally:
            lock.release()

    def referenced_secret_changed(self, body: Mapping[str, Any]) -> bool:
        """Whether a check-only endpoint's Secret is not the version last judged."""
        return referenced.changed(self.kube, body)

    def clean_up(self, endpoint: Endpoint) -> None:
        """Delete the endpoint's HTTP-01 solver objects now (owner references would later)."""
        self.issuer.clean_up(endpoint)

    # ---- gather -> decide -> act ---------------------------------------------------------

    def _parse(self, report: ports.Report, body: Mapping[str, Any]) -> api.EndpointSpec:
        try:
            return parse_spec(
                body.get("spec") or {}, name=report.endpoint.name, settings=self.settings
            )
        except api.SpecError as error:
            report.condition(api.READY, "False", "InvalidSpec", str(error))
            report.condition(api.ISSUING, "False", "InvalidSpec", str(error))
            report.write()
            raise InvalidSpec(str(error)) from None

    def _ensure(
        self, report: ports.Report, spec: api.EndpointSpec, body: Mapping[str, Any]
    ) -> None:
        """Gather, decide (`policies.decide`), act: keep the certificate, or issue."""
        endpoint = report.endpoint
        failed_attempts = int((body.get("status") or {}).get("failedAttempts") or 0)
        # From status, so that a restarted operator reports the back-off it resumes.
        self.metrics.observe_failures(endpoint.namespace, endpoint.name, failed_attempts)
        try:
            gathered = self.gather(endpoint, spec, body)
        except tls_secret.SecretNotOwned as error:
            self._refuse_secret(report, error)
        decision = policies.decide(gathered.input)
        stored = gathered.input.stored
        if decision.reason is None and isinstance(stored, tls_secret.StoredCertificate):
            self._keep(report, gathered, stored, decision)
        else:
            self._issue(report, gathered, decision)

    def gather(
        self, endpoint: Endpoint, spec: api.EndpointSpec, body: Mapping[str, Any]
    ) -> Gathered:
        """Read what the decision needs. `tls_secret.SecretNotOwned` for a Secret that is
        not this endpoint's, before any request to the CA."""
        status = body.get("status") or {}
        now = self.clock()
        secret = self.kube.get_secret(endpoint.namespace, spec.secret_name)
        if secret is not None:
            tls_secret.check_owned(
                secret.annotations,
                namespace=endpoint.namespace,
                secret_name=spec.secret_name,
                endpoint_name=endpoint.name,
            )
        annotations = body["metadata"].get("annotations") or {}
        observed = policies.Input(
            spec=spec,
            now=now,
            stored=tls_secret.parse_stored(secret.data) if secret is not None else None,
            # What the stored certificate was issued under, as recorded on the Secret: a
            # restarted operator reaches the same verdict as the one that saw the change.
            secret_annotations=secret.annotations if secret is not None else None,
            renewal=RenewalStatus.from_status(status.get("renewal")),
            renew_annotation=annotations.get(policies.RENEW_ANNOTATION),
        )
        # Not when it is to be replaced anyway: the CA now named may never have issued it.
        if observed.acme_settings_change is None:
            observed = self._renewal_information(endpoint, observed)
        return Gathered(
            observed,
            failed_attempts=int(status.get("failedAttempts") or 0),
            order=OrderRef.from_status(status.get("order")),
        )

    def _renewal_information(self, endpoint: Endpoint, observed: policies.Input) -> policies.Input:
        """The input with the leaf's ARI identifier and renewal status, asking the CA
        (RFC 9773 section 4) when a fetch is due; a failed fetch is recorded, not raised."""
        stored, previous, now = observed.stored, observed.renewal, observed.now
        if not isinstance(stored, tls_secret.StoredCertificate):
            return observed
        leaf_pem = pki.chain_to_pem([stored.leaf])
        try:
            leaf_id = cert_id(leaf_pem)
        except ValueError:  # no authority key identifier: ARI cannot name this certificate
            return observed
        not_after = stored.leaf.not_valid_after_utc
        spec = observed.spec
        if not timing.ari_fetch_due(
            previous, cert_id=leaf_id, not_after=not_after, spec=spec, now=now
        ):
            return replace(observed, cert_id=leaf_id)
        try:
            info = self.issuer.renewal_info(endpoint, spec, leaf_pem)
        except (AcmeError, AccountError) as error:
            recorded = timing.record_ari_failure(
                previous,
                cert_id=leaf_id,
                error=f"renewal information unavailable: {error}",
                now=now,
                poll_random=self.unit_random(),
            )
        else:
            recorded = self._record(previous, leaf_id, info, now)
        return replace(observed, cert_id=leaf_id, renewal=recorded)

    def _record(
        self,
        previous: RenewalStatus | None,
        leaf_id: str,
        info: RenewalInfo | None,
        now: datetime,
    ) -> RenewalStatus:
        """status.renewal after the CA answered (None: it offers no renewal information)."""
        if info is None:
            return timing.record_ari_failure(
                previous, cert_id=leaf_id, error=None, now=now, poll_random=self.unit_random()
            )
        return timing.record_ari_window(
            previous,
            cert_id=leaf_id,
            window_start=info.start,
            window_end=info.end,
            explanation_url=info.explanation_url,
            retry_after_seconds=info.retry_after_seconds,
            now=now,
            choice_random=self.unit_random(),
            poll_random=self.unit_random(),
        )

    def _keep(
        self,
        report: ports.Report,
        gathered: Gathered,
        stored: tls_secret.StoredCertificate,
        decision: policies.Decision,
    ) -> None:
        """The stored certificate stands: report it valid and its renewal time."""
        endpoint = report.endpoint
        info = pki.describe_certificate(stored.leaf)
        report.condition(
            api.READY,
            "True",
            "CertificateValid",
            f"certificate valid until {format_time(info.not_after)}",
        )
        if get_condition(report.conditions, api.ISSUING) is None:
            report.condition(api.ISSUING, "False", "UpToDate", "no issuance needed")
        cut_short = gathered.order is not None and gathered.order.state != "valid"
        if cut_short:
            # Status still names an order in flight, yet a fitting certificate is stored:
            # the operator stopped between storing the Secret and deleting the order's
            # solver objects. No order is needed any more, and those objects go now.
            self.issuer.clean_up(endpoint)
        report.write(
            **({"order": None} if cut_short else {}),
            **referenced.certificate_status(info, decision.renewal_time),
            **_renewal(gathered),
        )
        self.metrics.observe_certificate(
            endpoint.namespace, endpoint.name, info.not_after, decision.renewal_time
        )
        restarts.roll(self.kube, report, gathered.input.spec, info.serial_number)

    def _issue(self, report: ports.Report, gathered: Gathered, decision: policies.Decision) -> None:
        """Issue now; Ready stays True while the stored certificate is still valid."""
        stored, spec = gathered.input.stored, gathered.input.spec
        reason = decision.reason or policies.REASON_NO_CERTIFICATE
        still_valid = (
            isinstance(stored, tls_secret.StoredCertificate)
            and stored.leaf.not_valid_after_utc > gathered.input.now
        )
        message = f"issuing a certificate: {reason}"
        if not still_valid:
            report.condition(api.READY, "False", "Issuing", message)
        # Written with the order; a first certificate's order Event says enough, a
        # replacement's says why the stored one is replaced.
        report.step(decision.trigger or "Issuing", message, **_renewal(gathered))
        if isinstance(stored, tls_secret.StoredCertificate):
            report.post_event("Normal", decision.trigger or "Issuing", message)
        try:
            issued = self.issuer.issue(
                report.endpoint, spec, gathered.order, report, replaces=decision.replaces
            )
        except tls_secret.SecretNotOwned as error:
            self._refuse_secret(report, error)
        except (SelfCheckFailed, AcmeError, AccountError, Conflict) as error:
            self._fail(report, error, gathered.failed_attempts)
        else:
            self._succeed(report, spec, issued, gathered.input.renew_annotation)

    # ---- act: outcomes -------------------------------------------------------------------

    def _refuse_secret(self, report: ports.Report, error: tls_secret.SecretNotOwned) -> NoReturn:
        """Never overwrite someone else's Secret: say so, and look again later."""
        message = str(error)
        report.condition(api.READY, "False", "SecretNotOwned", message)
        report.condition(api.ISSUING, "False", "SecretNotOwned", message)
        report.write()
        report.post_event("Warning", "SecretNotOwned", message)
        self.metrics.issuance_attempts.labels("refused", "SecretNotOwned").inc()
        raise RetryLater(message, SECRET_CONFLICT_DELAY)

    def _fail(self, report: ports.Report, error: Exception, failed_attempts: int) -> NoReturn:
        """Back off (by default 1 min, 10 min, 100 min, then daily, with jitter; never before
        the CA's Retry-After). The stored certificate stays in place, and Ready with it."""
        reason = failure_reason(error)
        message = str(error)
        now = self.clock()
        retry_after = getattr(error, "retry_after", None)
        retry_after = retry_after if isinstance(retry_after, datetime) else None
        delay = timing.failure_delay(
            failed_attempts + 1,
            unit_random=self.unit_random(),
            retry_after=retry_after,
            now=now,
            delays=self.settings.failure_backoff,
        )
        report.condition(api.ISSUING, "False", reason, message)
        report.write(
            failedAttempts=failed_attempts + 1,
            lastFailureTime=format_time(now),
            lastFailureReason=message,
            nextAttemptTime=format_time(now + delay),
            retryAfter=format_time(retry_after) if retry_after else None,
        )
        report.post_event("Warning", reason, message)
        self.metrics.issuance_attempts.labels("failure", reason).inc()
        endpoint = report.endpoint
        self.metrics.observe_failures(endpoint.namespace, endpoint.name, failed_attempts + 1)
        raise RetryLater(message, max(delay, timedelta(seconds=1)).total_seconds())

    def _succeed(
        self,
        report: ports.Report,
        spec: api.EndpointSpec,
        issued: Issued,
        renew_request: str | None,
    ) -> None:
        info = issued.certificate
        endpoint = report.endpoint
        due = timing.renewal_time(info.not_before, info.not_after, spec)
        message = f"certificate valid until {format_time(info.not_after)}"
        report.condition(api.READY, "True", "CertificateValid", message)
        report.condition(
            api.ISSUING,
            "False",
            "Issued",
            f"issued serial {info.serial_number} with {issued.chain_length - 1} intermediate(s)",
        )
        report.write(
            # A merge patch: attempts (orders created) stays as the order was reported.
            order={"url": issued.order_url, "state": "valid", "replaces": issued.replaced},
            failedAttempts=0,
            lastFailureReason=None,
            nextAttemptTime=None,
            retryAfter=None,
            # A new certificate: ask the CA about it at the next reconcile (RFC 9773 4.3).
            renewal=RenewalStatus(last_renew_request=renew_request).to_status(),
            **referenced.certificate_status(info, due),
        )
        report.post_event(
            "Normal",
            "Issued",
            f"stored in Secret {spec.secret_name}: serial {info.serial_number}, {message}",
        )
        self.metrics.issuance_attempts.labels("success", "Issued").inc()
        self.metrics.observe_certificate(endpoint.namespace, endpoint.name, info.not_after, due)
        self.metrics.observe_failures(endpoint.namespace, endpoint.name, 0)
        restarts.roll(self.kube, report, spec, info.serial_number)


def _renewal(gathered: Gathered) -> dict[str, Any]:
    renewal = gathered.input.renewal or RenewalStatus()
    return {"renewal": renewal.to_status()}


def failure_reason(error: Exception) -> str:
    """The Issuing condition's reason (and the metric's) for a failed issuance."""
    if isinstance(error, SelfCheckFailed):
        return "SelfCheckFailed"
    if isinstance(error, AcmeUnavailable):
        return "AcmeUnavailable"
    if isinstance(error, AcmeError):
        return "AcmeError"
    if isinstance(error, Conflict):
        return "SecretChanged"
    return "AccountError"

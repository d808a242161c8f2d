"""kopf handlers: parse the spec, call the orchestration, write status. Thin by design.

Change handlers and the renewal timer are sync functions: kopf runs them in its thread
pool, so the blocking Kubernetes and ACME clients never run on the event loop. The
served-chain daemon is a coroutine per endpoint that hands each check to a thread.
Dependencies come from `memo.deps`, built once by `run_command`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import kopf

from webhook_cert_operator.api import types as api
from webhook_cert_operator.certificates import lifecycle, policies
from webhook_cert_operator.certificates.lifecycle import Lifecycle, StatusWriter
from webhook_cert_operator.checking import checker as validation
from webhook_cert_operator.glue import peering
from webhook_cert_operator.ingress import sync as ingress_sync
from webhook_cert_operator.kube import (
    GROUP,
    PLURAL,
    VERSION,
    AlreadyExists,
    Forbidden,
    NotServed,
)
from webhook_cert_operator.solver.http01 import Endpoint

RESOURCE = (GROUP, VERSION, PLURAL)
KOPF_PREFIX = f"kopf.{GROUP}"
# At least this often each endpoint's Secret is looked at (one GET), even before renewalTime.
RENEWAL_CHECK_INTERVAL = 300.0
# A check-only endpoint's referenced Secret is looked at this often (one GET by name), so
# that a renewal by cert-manager or a fixed bundle is judged and checked within this time.
REFERENCED_SECRET_POLL = 30.0
# How often each endpoint's served-chain daemon wakes to see whether a check is due.
DAEMON_POLL = 5.0
# After a new certificate, how many growing re-checks while the old leaf is still served.
STALE_RETRIES = 8
# A failed check is repeated at least this often, even with a longer spec interval.
RECHECK_FAILED = timedelta(minutes=5)
# Creating the peering object is retried this often, this many times (two minutes), while
# kopf's CRD, applied in the same `kubectl apply` as the operator, is not yet served. Then
# the operator exits and the kubelet restarts it, which shows in the Pod's status.
PEERING_RETRY_DELAY = 2.0
PEERING_RETRIES = 60


@dataclass
class Dependencies:
    life: Lifecycle
    checker: validation.ChainChecker


def writer_for(deps: Dependencies, body: kopf.Body) -> StatusWriter:
    def post_event(type: str, reason: str, message: str) -> None:
        post = kopf.warn if type == "Warning" else kopf.info
        post(body, reason=reason, message=message)

    return StatusWriter(deps.life, body, post_event)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    deps: Dependencies = memo.deps
    settings.posting.level = logging.INFO
    settings.execution.max_workers = max(4, deps.life.settings.check_concurrency)
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.peering.lifetime = int(deps.life.settings.peering_lifetime.total_seconds())
    # kopf leaves annotations under its own prefix out of what it compares, so its
    # bookkeeping must not share webhookcert.dev/ with the user's webhookcert.dev/renew.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    deps.life.metrics.serve(deps.life.settings.metrics_port)


@kopf.on.startup(retries=PEERING_RETRIES, backoff=PEERING_RETRY_DELAY)
def create_peering(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """With `--peering NAME`, create the peering object(s) kopf waits for (peering.py)."""
    if settings.peering.standalone:
        return
    deps: Dependencies = memo.deps
    namespaces = () if settings.peering.clusterwide else deps.life.settings.watch_namespaces
    for item in peering.peering_objects(settings.peering.name, namespaces):
        try:
            deps.life.kube.create_custom_object(
                peering.GROUP, peering.VERSION, item.plural, item.namespace, item.body
            )
        except AlreadyExists:
            continue  # installed by hand, or created by another replica: both fine
        except Forbidden as error:
            # RBAC without `create` (objects made by hand, e.g. per namespace): kopf waits,
            # paused, until the object exists; say what is missing instead of failing.
            logger.warning(
                f"{error}: kopf stays paused until {item.description} exists; create it, "
                f"or grant create on {item.plural}.{peering.GROUP}"
            )
            continue
        except NotServed as error:
            raise kopf.TemporaryError(str(error), delay=PEERING_RETRY_DELAY) from None
        logger.info(f"Created the peering object {item.description}.")


@kopf.on.startup()
async def size_check_threads(memo: kopf.Memo, **_: Any) -> None:
    """Served-chain checks run on the loop's default executor: one thread per allowed check."""
    workers = memo.deps.life.settings.check_concurrency
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chain-check")
    )


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
@kopf.on.field(*RESOURCE, field=("metadata", "annotations", policies.RENEW_ANNOTATION))
def reconcile(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    ensure_certificate(memo.deps, body)


@kopf.daemon(*RESOURCE, cancellation_timeout=10)
async def renew_on_time(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Wake at status.renewalTime (or every RENEWAL_CHECK_INTERVAL, to notice a deleted or
    damaged Secret and to poll ARI), never before status.nextAttemptTime (the back-off),
    and keep the certificate as the change handlers do."""
    deps: Dependencies = memo.deps
    meta = body["metadata"]
    last_run = last_poll = deps.life.clock()
    try:
        while True:
            # The body is live: a new renewalTime after an issuance is seen at the next poll.
            await asyncio.sleep(DAEMON_POLL)
            status = body.get("status") or {}
            now = deps.life.clock()
            wake = last_run + timedelta(seconds=RENEWAL_CHECK_INTERVAL)
            for field, later in (("renewalTime", False), ("nextAttemptTime", True)):
                moment = _status_time(status.get(field))
                if moment is not None:
                    wake = max(wake, moment) if later else min(wake, moment)
            if now - last_poll >= timedelta(seconds=REFERENCED_SECRET_POLL):
                last_poll = now
                if await asyncio.to_thread(lifecycle.referenced_secret_changed, deps.life, body):
                    wake = now
            if now < wake:
                continue
            last_run = now
            # Failures are already in status; the next wake-up honours nextAttemptTime.
            with contextlib.suppress(lifecycle.RetryLater, lifecycle.InvalidSpec):
                await asyncio.to_thread(
                    lifecycle.ensure_certificate, deps.life, writer_for(deps, body), body
                )
    finally:
        forget_series_on_stop(deps.life.metrics.forget_endpoint, meta)


def forget_series_on_stop(forget: Callable[[str, str], None], meta: Mapping[str, Any]) -> None:
    """A daemon stops when its endpoint is deleted, when the operator exits, and when kopf
    peering pauses this replica for another one: its endpoint series must go with it, or a
    paused replica would go on exporting stale values that keep an alert firing (or quiet).
    The working replica's daemons set them again."""
    forget(meta["namespace"], meta["name"])


def _status_time(value: Any) -> datetime | None:
    try:
        return api.parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def ensure_certificate(deps: Dependencies, body: kopf.Body) -> None:
    try:
        lifecycle.ensure_certificate(deps.life, writer_for(deps, body), body)
    except lifecycle.InvalidSpec as error:
        raise kopf.PermanentError(str(error)) from None
    except lifecycle.RetryLater as retry:
        raise kopf.TemporaryError(str(retry), delay=retry.delay) from None


@kopf.on.delete(*RESOURCE, optional=True)
def clean_up(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Owner references collect the solver objects anyway; this is just sooner."""
    life: Lifecycle = memo.deps.life
    meta = body["metadata"]
    life.issuer.solver.clean_up(Endpoint(meta["namespace"], meta["name"], meta["uid"]))
    life.metrics.forget_endpoint(meta["namespace"], meta["name"])
    life.metrics.forget_chain_check(meta["namespace"], meta["name"])
    life.forget(meta["uid"])


@kopf.daemon(*RESOURCE, cancellation_timeout=10)
async def check_served_chain(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Check the served chain every spec.validation.interval, and soon after each issuance
    or (check-only) each change of the referenced Secret.

    One cheap coroutine per endpoint; the check itself runs in a thread, bounded by the
    checker's semaphore. After a new certificate, a server may take a while to pick it
    up, so `stale-certificate` is re-checked with growing delays before settling back
    to the interval.
    """
    deps: Dependencies = memo.deps
    uid = body["metadata"]["uid"]
    # (serial, generation, referenced Secret's version) last settled
    checked: tuple[str | None, int, str | None] | None = None
    stale_attempts = 0
    next_check = 0.0
    try:
        while True:
            status = body.get("status") or {}
            serial = status.get("serialNumber")
            generation = int(body["metadata"].get("generation") or 0)
            secret_version = status.get("secretResourceVersion")
            now = time.monotonic()
            if (serial, generation, secret_version) != checked and stale_attempts == 0:
                next_check = now  # a new certificate or a new spec: look now
            if now >= next_check:
                outcome = await asyncio.to_thread(run_chain_check, deps, body)
                if outcome is None:  # invalid spec: nothing to check until it changes
                    next_check = now + DAEMON_POLL
                    checked = (serial, generation, secret_version)
                elif outcome[0].stale and serial and stale_attempts < STALE_RETRIES:
                    next_check = now + validation.stale_retry_delay(stale_attempts)
                    stale_attempts += 1
                else:
                    result, interval = outcome
                    if not result.ok:  # someone is likely fixing it: show the fix soon
                        interval = min(interval, RECHECK_FAILED)
                    next_check = now + validation.check_spacing(interval, uid)
                    checked, stale_attempts = (serial, generation, secret_version), 0
            await asyncio.sleep(DAEMON_POLL)
    finally:
        forget_series_on_stop(deps.life.metrics.forget_chain_check, body["metadata"])


def register_ingress_automation(registry: kopf.OperatorRegistry | None = None) -> None:
    """Watch Ingresses and keep their WebhookEndpoints (WEBHOOK_CERT_INGRESS_AUTOMATION).

    Registered only when the setting is on, so that an operator without the component's
    RBAC never lists Ingresses. An event handler, not a change handler: kopf then keeps
    no state on the user's Ingresses (no finalizer, no annotations, no patch).
    """
    kopf.on.event("networking.k8s.io", "v1", "ingresses", registry=registry)(ingress_changed)


def ingress_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """Every Ingress event, and each Ingress at start-up (type None): sync its endpoints.
    A deleted Ingress needs nothing: its endpoints are owned by it and collected."""
    if type == "DELETED":
        return
    deps: Dependencies = memo.deps

    def post_event(type: str, reason: str, message: str) -> None:
        post = kopf.warn if type == "Warning" else kopf.info
        post(body, reason=reason, message=message)

    ingress_sync.sync(deps.life.kube, body, post_event)


def run_chain_check(
    deps: Dependencies, body: kopf.Body
) -> tuple[validation.CheckResult, timedelta] | None:
    """One served-chain check: status.validation, ChainValid, and an Event on transitions.

    Returns the result and the endpoint's check interval; None for an invalid spec."""
    meta = body["metadata"]
    try:
        spec = api.parse_spec(
            body.get("spec") or {}, name=meta["name"], settings=deps.life.settings
        )
    except api.SpecError:
        return None
    writer = writer_for(deps, body)
    previous = api.get_condition(writer.conditions, api.CHAIN_VALID)
    result = deps.checker.check(meta["namespace"], meta["name"], spec)
    condition = result.condition
    writer.condition(condition.type, condition.status, condition.reason, condition.message)
    writer.write(validation=result.validation)
    event = validation.transition_event(previous, condition)
    if event is not None:
        writer.post_event("Warning" if event.warning else "Normal", event.reason, event.message)
    return result, spec.validation.interval

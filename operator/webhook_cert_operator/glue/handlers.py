"""Glue: the kopf handlers, thin by design: parse the spec, call the orchestration, write status.

Change handlers are sync functions: kopf runs them in its thread pool, so the blocking
Kubernetes and ACME clients never run on the event loop. The renewal timer and the
served-chain check are two loops of one daemon per endpoint, each handing its work to a
thread. Dependencies are kopf's memo: a `deps.Deps`, built once by `webhook-cert run`. When the
daemons wake next is decided by pure rules (`timing.next_renewal_check`,
`check_schedule.CheckSchedule`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import kopf

from webhook_cert_operator import kube_client
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.formats import parse_time
from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.api.status import get_condition
from webhook_cert_operator.api.types import GROUP, PLURAL, VERSION, Endpoint
from webhook_cert_operator.certificates import lifecycle, policies, timing
from webhook_cert_operator.checking.condition import CheckResult, transition_event
from webhook_cert_operator.glue import peering
from webhook_cert_operator.glue.check_schedule import DAEMON_POLL, Checked, CheckSchedule
from webhook_cert_operator.glue.deps import Deps
from webhook_cert_operator.glue.status_writer import StatusWriter
from webhook_cert_operator.ingress import sync as ingress_sync
from webhook_cert_operator.kube import AlreadyExists, Forbidden, NotServed
from webhook_cert_operator.workers import IdleExitingExecutor

RESOURCE = (GROUP, VERSION, PLURAL)
KOPF_PREFIX = f"kopf.{GROUP}"
# A check-only endpoint's referenced Secret is looked at this often (one GET by name), so
# that a renewal by cert-manager or a fixed bundle is judged and checked within this time.
REFERENCED_SECRET_POLL = timedelta(seconds=30)
# Creating the peering object is retried this often, this many times (two minutes), while
# kopf's CRD, applied in the same `kubectl apply` as the operator, is not yet served. Then
# the operator exits and the kubelet restarts it, which shows in the Pod's status.
PEERING_RETRY_DELAY = 2.0
PEERING_RETRIES = 60


def post_event_on(body: kopf.Body) -> Callable[[str, str, str], None]:
    """Posts an Event (type Normal or Warning, reason, message) on the object `body`."""

    def post_event(type: str, reason: str, message: str) -> None:
        # kopf.event, not kopf.info: those are filtered by settings.posting.level, which
        # keeps kopf's own INFO lines out of the Events.
        kopf.event(body, type=type, reason=reason, message=message)

    return post_event


def writer_for(deps: Deps, body: kopf.Body) -> StatusWriter:
    return StatusWriter(
        body,
        post_event_on(body),
        kube=deps.kube,
        locks=deps.locks,
        metrics=deps.metrics,
        clock=deps.clock,
    )


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo | None:
    """kopf's own connection (its watches, patches and Events), as `kube.Kube`'s: in a Pod,
    its ServiceAccount at the address Kubernetes gives every Pod (KUBERNETES_SERVICE_HOST,
    as client-go does: kopf's fallback names kubernetes.default.svc, which needs a cluster
    DNS), else the kubeconfig as kopf reads it. The token is read at each login, and kopf
    logs in again when the API server refuses an expired one."""
    credentials = kube_client.in_cluster()
    if credentials is None:
        return kopf.login_with_kubeconfig(settings=settings)
    return kopf.ConnectionInfo(
        server=credentials.server,
        ca_path=credentials.ca_path,
        token=kube_client.read_token(str(credentials.token_path)),
        trust_env=settings.networking.trust_env,
    )


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: Deps, **_: Any) -> None:
    deps = memo
    # kopf posts its own log lines about an endpoint as Events from this level up: its
    # warnings (a handler failing) are worth one, "Handler 'reconcile' succeeded." is an
    # API write per change that says nothing the operator's own Events do not.
    settings.posting.level = logging.WARNING
    # kopf runs the synchronous change handlers in this many threads; an issuance holds
    # one while it waits on the solver, the ingress and the CA. Idle ones end (workers.py).
    # The pool this handler runs in ends its thread once the handler returns.
    kopf_pool = settings.execution.executor
    settings.execution.executor = IdleExitingExecutor(
        deps.settings.max_concurrent_issuances, thread_name_prefix="handler"
    )
    kopf_pool.shutdown(wait=False)
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.peering.lifetime = int(deps.settings.peering_lifetime.total_seconds())
    # kopf leaves annotations under its own prefix out of what it compares, so its
    # bookkeeping must not share webhookcert.dev/ with the user's webhookcert.dev/renew.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    deps.metrics.serve(deps.settings.metrics_port)


@kopf.on.startup(retries=PEERING_RETRIES, backoff=PEERING_RETRY_DELAY)
def create_peering(
    settings: kopf.OperatorSettings, memo: Deps, logger: kopf.Logger, **_: Any
) -> None:
    """With `--peering NAME`, create the peering object(s) kopf waits for (peering.py)."""
    if settings.peering.standalone:
        return
    deps = memo
    namespaces = () if settings.peering.clusterwide else deps.settings.watch_namespaces
    for item in peering.peering_objects(settings.peering.name, namespaces):
        try:
            deps.kube.create_custom_object(
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
async def size_check_threads(memo: Deps, **_: Any) -> None:
    """Served-chain checks run on the loop's default executor: one thread per allowed
    check, which ends when idle (workers.py)."""
    workers = memo.settings.check_concurrency
    asyncio.get_running_loop().set_default_executor(
        IdleExitingExecutor(workers, thread_name_prefix="chain-check")
    )


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
@kopf.on.field(*RESOURCE, field=("metadata", "annotations", policies.RENEW_ANNOTATION))
def reconcile(body: kopf.Body, memo: Deps, **_: Any) -> None:
    ensure_certificate(memo, body)


@kopf.daemon(*RESOURCE, cancellation_timeout=10)
async def keep_endpoint(body: kopf.Body, memo: Deps, **_: Any) -> None:
    """The endpoint's two loops, `renew_on_time` and `check_served_chain`, side by side.

    One kopf daemon rather than two: kopf keeps about 12 KiB per running daemon (its cause,
    logger, stopper, the handler's keyword arguments and their views), the loops
    themselves a fraction of that. A task group, so that both stop when kopf stops the
    daemon, and neither runs on alone when the other fails (kopf restarts the daemon).
    """
    async with asyncio.TaskGroup() as loops:
        loops.create_task(renew_on_time(body, memo))
        loops.create_task(check_served_chain(body, memo))


async def renew_on_time(body: kopf.Body, memo: Deps, **_: Any) -> None:
    """Keep the certificate as the change handlers do, when `timing.next_renewal_check`
    says (status.renewalTime, at least every few minutes, never before the back-off's
    status.nextAttemptTime), or at once when a check-only endpoint's Secret changed."""
    deps = memo
    last_run = last_poll = deps.clock()
    try:
        while True:
            # The body is live: a new renewalTime after an issuance is seen at the next poll.
            await asyncio.sleep(DAEMON_POLL)
            now = deps.clock()
            wake = _next_renewal_check(body, last_run)
            if now - last_poll >= REFERENCED_SECRET_POLL:
                last_poll = now
                changed = deps.lifecycle.referenced_secret_changed
                if await asyncio.to_thread(changed, body):
                    wake = now
            if now < wake:
                continue
            last_run = now
            # Failures are already in status; the next wake-up honours nextAttemptTime.
            with contextlib.suppress(lifecycle.RetryLater, lifecycle.InvalidSpec):
                ensure = deps.lifecycle.ensure_certificate
                await asyncio.to_thread(ensure, writer_for(deps, body), body)
    finally:
        forget_series_on_stop(deps.metrics.forget_endpoint, body["metadata"])


def forget_series_on_stop(forget: Callable[[str, str], None], meta: Mapping[str, Any]) -> None:
    """A daemon stops when its endpoint is deleted, when the operator exits, and when kopf
    peering pauses this replica for another one: its endpoint series must go with it, or a
    paused replica would go on exporting stale values that keep an alert firing (or quiet).
    The working replica's daemons set them again."""
    forget(meta["namespace"], meta["name"])


def _next_renewal_check(body: kopf.Body, last_run: datetime) -> datetime:
    """`timing.next_renewal_check` for the body's status now. A function of its own so
    that no loop keeps a reference to a status that kopf has since replaced: each
    endpoint would hold an old copy of it."""
    status = body.get("status") or {}
    return timing.next_renewal_check(
        last_run,
        _status_time(status.get("renewalTime")),
        _status_time(status.get("nextAttemptTime")),
    )


def _status_time(value: Any) -> datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def ensure_certificate(deps: Deps, body: kopf.Body) -> None:
    try:
        deps.lifecycle.ensure_certificate(writer_for(deps, body), body)
    except lifecycle.InvalidSpec as error:
        raise kopf.PermanentError(str(error)) from None
    except lifecycle.RetryLater as retry:
        raise kopf.TemporaryError(str(retry), delay=retry.delay) from None


@kopf.on.delete(*RESOURCE, optional=True)
def clean_up(body: kopf.Body, memo: Deps, **_: Any) -> None:
    """Owner references collect the solver objects anyway; this is just sooner."""
    meta = body["metadata"]
    memo.lifecycle.clean_up(Endpoint(meta["namespace"], meta["name"], meta["uid"]))
    memo.metrics.forget_endpoint(meta["namespace"], meta["name"])
    memo.metrics.forget_chain_check(meta["namespace"], meta["name"])
    memo.locks.forget(meta["uid"])


async def check_served_chain(body: kopf.Body, memo: Deps, **_: Any) -> None:
    """Check the served chain every spec.validation.interval, and soon after each issuance
    or (check-only) each change of the referenced Secret.

    One cheap coroutine per endpoint; the check itself runs in a thread, bounded by the
    checker's semaphore. After a new certificate, a server may take a while to pick it
    up, so `stale-certificate` is re-checked with growing delays before settling back
    to the interval.
    """
    deps = memo
    uid = body["metadata"]["uid"]
    schedule = CheckSchedule()
    try:
        while True:
            schedule = await check_when_due(deps, body, schedule, uid)
            await asyncio.sleep(DAEMON_POLL)
    finally:
        forget_series_on_stop(deps.metrics.forget_chain_check, body["metadata"])


async def check_when_due(
    deps: Deps, body: kopf.Body, schedule: CheckSchedule, uid: str
) -> CheckSchedule:
    """One wake-up of `check_served_chain`: check if `schedule` says so; the schedule
    after it. A function of its own so that nothing of the check (its report, the status
    it saw, which kopf replaces on the next event) stays referenced while the loop
    sleeps: 1,000 endpoints would each hold their last report and an old status."""
    status = body.get("status") or {}
    seen = Checked(
        serial=status.get("serialNumber"),
        generation=int(body["metadata"].get("generation") or 0),
        secret_version=status.get("secretResourceVersion"),
        check_only="checkOnly" in (body.get("spec") or {}),
    )
    now = time.monotonic()
    if not schedule.due(seen, now):
        return schedule
    outcome = await asyncio.to_thread(run_chain_check, deps, body)
    if outcome is None:  # invalid spec: nothing to check until it changes
        return schedule.after_invalid_spec(seen, now)
    result, interval = outcome
    return schedule.after_check(
        seen, now, ok=result.ok, stale=result.stale, interval=interval, uid=uid
    )


def register_ingress_automation(registry: kopf.OperatorRegistry | None = None) -> None:
    """Watch Ingresses and keep their WebhookEndpoints (WEBHOOK_CERT_INGRESS_AUTOMATION).

    Registered only when the setting is on, so that an operator without the component's
    RBAC never lists Ingresses. An event handler, not a change handler: kopf then keeps
    no state on the user's Ingresses (no finalizer, no annotations, no patch).
    """
    kopf.on.event("networking.k8s.io", "v1", "ingresses", registry=registry)(ingress_changed)


def ingress_changed(body: kopf.Body, type: str | None, memo: Deps, **_: Any) -> None:
    """Every Ingress event, and each Ingress at start-up (type None): sync its endpoints.
    A deleted Ingress needs nothing: its endpoints are owned by it and collected."""
    if type == "DELETED":
        return
    ingress_sync.sync(memo.kube, body, post_event_on(body))


def run_chain_check(deps: Deps, body: kopf.Body) -> tuple[CheckResult, timedelta] | None:
    """One served-chain check: status.validation, ChainValid, and an Event on transitions.

    Returns the result and the endpoint's check interval; None for an invalid spec."""
    meta = body["metadata"]
    try:
        spec = parse_spec(body.get("spec") or {}, name=meta["name"], settings=deps.settings)
    except api.SpecError:
        return None
    writer = writer_for(deps, body)
    previous = get_condition(writer.conditions, api.CHAIN_VALID)
    result = deps.checker.check(meta["namespace"], meta["name"], spec)
    condition = result.condition
    writer.condition(condition.type, condition.status, condition.reason, condition.message)
    writer.write(validation=result.validation)
    event = transition_event(previous, condition)
    if event is not None:
        writer.post_event("Warning" if event.warning else "Normal", event.reason, event.message)
    return result, spec.validation.interval

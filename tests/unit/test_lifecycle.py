"""Unit tests for certificates.lifecycle: one endpoint's certificate kept across reconciles.

Kubernetes, the CA, the HTTP-01 solver and the status report are fakes
(tests/unit/fakes.py); the Issuer is the real one. Each test reconciles an endpoint the
way the handlers do and looks at what it ends with: the Secret, status, Events, and the
calls made (or never made) to the CA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.fakes import (
    Call,
    FakeAcme,
    FakeAcmeFactory,
    FakeCa,
    FakeKube,
    FakeLocks,
    FakeReport,
    FakeSolver,
    settings,
)
from webhook_cert_operator import naming
from webhook_cert_operator.acme.ari import RenewalInfo, cert_id
from webhook_cert_operator.acme.errors import AcmeUnavailable
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.formats import format_time, parse_time
from webhook_cert_operator.api.status import get_condition
from webhook_cert_operator.api.types import Endpoint
from webhook_cert_operator.certificates import pki, policies, timing
from webhook_cert_operator.certificates.issuance import Issuer
from webhook_cert_operator.certificates.lifecycle import InvalidSpec, Lifecycle, RetryLater
from webhook_cert_operator.kube import Secret
from webhook_cert_operator.metrics import Metrics

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOST = "hooks.example.test"
ENDPOINT = Endpoint("payments", "ringcentral", "uid-ringcentral")
SECRET = "hooks-example-tls"
STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
CA = FakeCa(T0)
# FakeCa's leaves: notBefore T0 - 1 hour, 90 days; renewed with a third of that left.
NOT_AFTER = T0 - timedelta(hours=1) + timedelta(days=90)
DUE = NOT_AFTER - timedelta(days=30)
SECOND = timedelta(seconds=1)


def spec(**fields: Any) -> dict[str, Any]:
    return {"dnsNames": [HOST], "secretName": SECRET, "acme": {"server": STAGING}, **fields}


@dataclass
class World:
    """A Lifecycle wired to fakes, the endpoint's status kept between reconciles."""

    now: datetime = T0
    log: list[Call] = field(default_factory=list)
    kube: FakeKube = field(default_factory=FakeKube)
    locks: FakeLocks = field(default_factory=FakeLocks)
    status: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.acme = FakeAcme(CA, self.log)
        self.solver = FakeSolver(self.log)
        issuer = Issuer(
            self.kube, settings(), self.solver, FakeAcmeFactory(self.acme), monotonic=lambda: 0.0
        )
        self.lifecycle = Lifecycle(
            settings=settings(),
            kube=self.kube,
            issuer=issuer,
            metrics=Metrics(),
            locks=self.locks,
            clock=lambda: self.now,
            unit_random=lambda: 0.5,
        )

    def reconcile(
        self,
        endpoint_spec: dict[str, Any] | None = None,
        *,
        annotations: dict[str, str] | None = None,
    ) -> FakeReport:
        """One ensure_certificate, as a handler or the renewal daemon calls it."""
        body = {
            "metadata": {
                "namespace": ENDPOINT.namespace,
                "name": ENDPOINT.name,
                "uid": ENDPOINT.uid,
                "generation": 1,
                "annotations": annotations or {},
            },
            "spec": endpoint_spec if endpoint_spec is not None else spec(),
            "status": self.status,
        }
        report = FakeReport(ENDPOINT, self.status, now=self.now)
        try:
            self.lifecycle.ensure_certificate(report, body)
        finally:
            self.status = report.status
        return report

    def issued(self) -> FakeReport:
        """The endpoint's first certificate, then a clean call log."""
        report = self.reconcile()
        self.log.clear()
        self.kube.calls.clear()
        return report

    def secret(self) -> Secret:
        found = self.kube.secrets.get((ENDPOINT.namespace, SECRET))
        assert found is not None
        return found

    def did(self, what: str) -> bool:
        return any(call[:2] == ("acme", what) for call in self.log)


# ---- no Secret: issue ---------------------------------------------------------------------


def test_without_a_secret_the_endpoint_gets_its_first_certificate() -> None:
    world = World()

    report = world.reconcile()

    assert pki.split_pem_chain(world.secret().data["tls.crt"])[0].not_valid_after_utc == NOT_AFTER
    assert report.get(api.READY) == ("True", "CertificateValid")
    assert report.get(api.ISSUING) == ("False", "Issued")
    assert world.status["renewalTime"] == format_time(DUE)
    assert world.status["failedAttempts"] == 0
    # Status is written once per step a user notices: the order (with why it was made),
    # the self-check through the ingress, the outcome; an Event for the order and one for
    # the certificate.
    assert [event[1] for event in report.events] == ["OrderCreated", "Issued"]
    assert report.writes == 3
    assert world.acme.replaces_sent == [None]  # no predecessor to name


def test_while_the_first_certificate_is_issued_the_endpoint_is_not_ready() -> None:
    world = World()
    world.solver.fail["self_check"] = RuntimeError("stop here")

    with pytest.raises(RuntimeError):
        world.reconcile()

    ready = get_condition(world.status["conditions"], api.READY)
    assert ready is not None and (ready.status, ready.reason) == ("False", "Issuing")


# ---- a valid certificate: nothing to do until the renewal time -----------------------------


def test_a_valid_certificate_needs_no_order_and_says_when_it_is_due() -> None:
    world = World()
    world.issued()
    world.now = T0 + timedelta(days=1)

    report = world.reconcile()

    assert not world.did("new_order")
    assert not any(call[0] in ("create_secret", "replace_secret") for call in world.kube.calls)
    assert report.get(api.READY) == ("True", "CertificateValid")
    assert world.status["renewalTime"] == format_time(DUE)
    # The renewal daemon wakes at that time, or sooner to look again.
    renewal_time = parse_time(world.status["renewalTime"])
    assert timing.next_renewal_check(world.now, renewal_time, None) == (
        world.now + timing.RENEWAL_CHECK_INTERVAL
    )
    last_look = DUE - timedelta(minutes=1)
    assert timing.next_renewal_check(last_look, renewal_time, None) == DUE


def test_an_issuance_stopped_after_storing_its_certificate_has_its_solver_objects_removed() -> None:
    # The operator stopped between the Secret and the solver clean-up (and the final
    # status): status still names the order in flight.
    world = World()
    world.issued()
    world.status["order"] = {**world.status["order"], "state": "processing"}

    report = world.reconcile()

    assert ("solver", "clean_up", ENDPOINT.name, None) in world.log
    assert not world.did("new_order")
    assert report.get(api.READY) == ("True", "CertificateValid")
    assert world.status.get("order") is None
    world.log.clear()
    world.reconcile()
    assert not [call for call in world.log if call[:2] == ("solver", "clean_up")]


def test_a_certificate_found_up_to_date_says_so_once() -> None:
    world = World()
    world.kube.put_secret(
        ENDPOINT.namespace,
        SECRET,
        issued_chain_and_key(),
        annotations={naming.ANNOTATION_ENDPOINT: f"{ENDPOINT.namespace}/{ENDPOINT.name}"},
    )

    report = world.reconcile()

    assert report.get(api.ISSUING) == ("False", "UpToDate")
    assert not world.did("new_order")


def test_the_cas_renewal_window_sets_the_renewal_time() -> None:
    """RFC 9773: a time in the CA's window (the middle of it, with the draw 0.5)."""
    world = World()
    world.issued()
    start, end = T0 + timedelta(days=50), T0 + timedelta(days=52)
    world.acme.renewal = RenewalInfo(start, end, None, retry_after_seconds=21600.0)

    world.reconcile()

    assert world.did("renewal_info")
    assert world.status["renewalTime"] == format_time(T0 + timedelta(days=51))
    assert world.status["renewal"]["ariNextFetch"] == format_time(T0 + timedelta(hours=6))
    world.log.clear()
    world.reconcile()
    assert not world.did("renewal_info")  # not again before Retry-After


def test_at_the_renewal_time_the_certificate_is_renewed_naming_its_predecessor() -> None:
    world = World()
    world.issued()
    old_version = world.secret().resource_version
    old_leaf = pki.split_pem_chain(world.secret().data["tls.crt"])[0]
    world.now = DUE

    report = world.reconcile()

    assert world.did("new_order")
    assert world.secret().resource_version != old_version
    assert ("Normal", "Issuing", f"issuing a certificate: {policies.REASON_DUE}") in report.events
    assert world.acme.replaces_sent[-1] == cert_id(pki.chain_to_pem([old_leaf]))


# ---- ACME settings changed: reissue ------------------------------------------------------


def test_a_certificate_from_another_ca_is_replaced_without_naming_it() -> None:
    world = World()
    world.issued()

    report = world.reconcile(spec(acme={"server": PRODUCTION}))

    assert not world.did("renewal_info")  # the CA now named never issued the old one
    assert world.did("new_order")
    assert world.acme.replaces_sent == [None, None]  # the first issuance, then this one
    assert report.events[0] == (
        "Normal",
        "IssuerChanged",
        "issuing a certificate: the certificate was issued by another CA "
        "(spec.acme.server changed)",
    )
    assert world.secret().annotations[naming.ANNOTATION_ACME_SERVER] == PRODUCTION


# ---- the CA unavailable: keep the old certificate, back off ------------------------------


def test_when_the_ca_is_down_the_old_certificate_stays_ready_and_the_endpoint_backs_off() -> None:
    world = World()
    world.issued()
    old = world.secret()
    world.now = DUE
    world.acme.fail["new_order"] = AcmeUnavailable(None, "the CA is down")

    with pytest.raises(RetryLater) as retry:
        world.reconcile()

    assert retry.value.delay == 60.0  # the first back-off: 1 minute (draw 0.5: no jitter)
    assert world.secret() == old
    ready = get_condition(world.status["conditions"], api.READY)
    assert ready is not None and (ready.status, ready.reason) == ("True", "CertificateValid")
    issuing = get_condition(world.status["conditions"], api.ISSUING)
    assert issuing is not None and issuing.reason == "AcmeUnavailable"
    assert world.status["failedAttempts"] == 1
    assert world.status["nextAttemptTime"] == format_time(DUE + timedelta(minutes=1))


def test_a_second_failure_waits_longer_and_never_before_the_cas_retry_after() -> None:
    world = World()
    world.issued()
    world.now = DUE
    world.acme.fail["new_order"] = AcmeUnavailable(None, "the CA is down")
    with pytest.raises(RetryLater):
        world.reconcile()
    world.now = DUE + timedelta(minutes=1)
    retry_after = world.now + timedelta(hours=2)
    world.acme.fail["new_order"] = AcmeUnavailable(None, "slow down", retry_after=retry_after)

    with pytest.raises(RetryLater) as retry:
        world.reconcile()

    assert retry.value.delay == 2 * 3600.0  # 10 minutes, raised to the Retry-After
    assert world.status["failedAttempts"] == 2
    assert world.status["retryAfter"] == format_time(retry_after)
    next_attempt = parse_time(world.status["nextAttemptTime"])
    assert next_attempt == retry_after
    # The renewal daemon, due since the renewal time, waits for the back-off.
    assert timing.next_renewal_check(world.now, DUE, next_attempt) == retry_after


# ---- someone else's Secret: refuse, never overwrite --------------------------------------


def test_a_secret_that_is_not_the_endpoints_own_is_never_overwritten() -> None:
    world = World()
    foreign = world.kube.put_secret(ENDPOINT.namespace, SECRET, issued_chain_and_key())

    with pytest.raises(RetryLater) as retry:
        world.reconcile()

    assert retry.value.delay == 300.0
    assert world.log == []  # not one request to the CA
    assert world.secret() == foreign
    ready = get_condition(world.status["conditions"], api.READY)
    assert ready is not None and (ready.status, ready.reason) == ("False", "SecretNotOwned")
    assert world.status.get("failedAttempts") is None


def test_a_secret_taken_over_during_issuance_is_not_overwritten() -> None:
    world = World()

    def someone_else_writes_it() -> None:
        world.kube.put_secret(ENDPOINT.namespace, SECRET, issued_chain_and_key())

    world.acme.hooks["finalize"] = someone_else_writes_it

    with pytest.raises(RetryLater):
        world.reconcile()

    assert not any(call[0] == "replace_secret" for call in world.kube.calls)
    ready = get_condition(world.status["conditions"], api.READY)
    assert ready is not None and ready.reason == "SecretNotOwned"


# ---- the renew annotation ----------------------------------------------------------------


def test_a_new_renew_annotation_value_renews_once() -> None:
    world = World()
    world.issued()
    world.now = T0 + timedelta(days=1)

    report = world.reconcile(annotations={policies.RENEW_ANNOTATION: "first"})

    assert world.did("new_order")
    message = f"issuing a certificate: {policies.REASON_RENEW_REQUESTED}"
    assert ("Normal", "Issuing", message) in report.events
    assert world.status["renewal"]["lastRenewRequest"] == "first"
    world.log.clear()
    world.reconcile(annotations={policies.RENEW_ANNOTATION: "first"})
    assert not world.did("new_order")


# ---- and the rest ------------------------------------------------------------------------


def test_an_invalid_spec_is_reported_and_not_retried() -> None:
    world = World()

    with pytest.raises(InvalidSpec):
        world.reconcile({"dnsNames": []})

    ready = get_condition(world.status["conditions"], api.READY)
    assert ready is not None and (ready.status, ready.reason) == ("False", "InvalidSpec")
    assert world.kube.calls == []


def test_while_another_worker_issues_for_the_endpoint_nothing_is_done() -> None:
    world = World()
    lock = world.locks.lock("issuance", ENDPOINT.uid)

    with lock:
        world.reconcile()

    assert world.kube.calls == []
    assert world.log == []


def test_restart_targets_are_rolled_once_per_certificate() -> None:
    world = World()
    world.kube.workloads["Deployment", ENDPOINT.namespace, "apache"] = {}
    targets = spec(restartTargets=[{"kind": "Deployment", "name": "apache"}])

    report = world.reconcile(targets)
    world.reconcile(targets)

    patches = [call for call in world.kube.calls if call[0] == "patch_workload"]
    assert patches == [("patch_workload", "Deployment", "apache")]
    assert report.events[-1][1] == "Restarted"


def test_a_missing_restart_target_is_reported() -> None:
    world = World()

    report = world.reconcile(spec(restartTargets=[{"kind": "Deployment", "name": "gone"}]))

    assert report.events[-1][:2] == ("Warning", "RestartTargetMissing")


def test_a_check_only_endpoint_reports_the_referenced_secret_and_issues_nothing() -> None:
    world = World()
    world.kube.put_secret(ENDPOINT.namespace, "managed-elsewhere", issued_chain_and_key())
    check_only = {"dnsNames": [HOST], "checkOnly": {"secretRef": {"name": "managed-elsewhere"}}}

    report = world.reconcile(check_only)

    assert world.log == []
    assert report.get(api.READY) == ("True", "CertificateValid")
    assert report.get(api.ISSUING) == ("False", "CheckOnly")
    assert world.status["notAfter"] == format_time(NOT_AFTER)
    assert world.status["secretResourceVersion"] == "1"


def issued_chain_and_key() -> dict[str, bytes]:
    """tls.crt and tls.key as the CA would have issued them for HOST at T0."""
    key = pki.generate_private_key("ECDSA", 256)
    chain = CA.sign(pki.build_csr(key, [HOST]))
    return {"tls.crt": pki.chain_to_pem(chain), "tls.key": pki.private_key_to_pem(key)}

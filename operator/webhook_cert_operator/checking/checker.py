"""Orchestration: the served-chain check. Probe an endpoint, judge it, say it in status.

Shared by the CLI and the operator. `check_endpoint` is the whole check for the CLI
(`webhook-cert check`); `ChainChecker` runs it for a WebhookEndpoint: it finds the trust
store (trust_stores.py: Mozilla's roots, or `spec.validation.trustBundle`) and the
certificate the endpoint should serve (the leaf of its TLS Secret), probes (probe.py,
sender_request.py), judges (`report.build_report`), updates the metrics and returns what
the glue writes: `status.validation` and the `ChainValid` condition (condition.py). No
kopf here; the glue decides when to check (schedule.py) and posts Events
(`condition.transition_event`).

Concurrency. kopf runs each endpoint's timer in its own worker thread, so thousands of
endpoints may want a check at once. Every probe holds one of `settings.check_concurrency`
slots of a semaphore shared by all checks of a `ChainChecker`, and has its own timeout
(`timeout`, the bound of the whole connection and handshake, see `probe.py`). A slow or
silent server therefore holds one slot for at most its own timeout: it never blocks the
other slots, and an endpoint waiting for a slot waits at most for the probes ahead of it
to finish or time out. All the probes' handshakes run on one thread, and so does the
analysis of what they got, between handshake steps (driver.py says why). Only the probe
holds a slot; reading the Secret and the trust bundle and the analysis do not, so a full
set of slots never stalls those. The I/O is in the adapters it is given (Kubernetes,
the probe, the sender's request, the trust store).
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, Protocol

from cryptography import x509

from webhook_cert_operator.api.types import DEFAULT_SENDER, EndpointSpec
from webhook_cert_operator.certificates import secret as tls_secret
from webhook_cert_operator.checking import resolve, senders, trust
from webhook_cert_operator.checking.condition import (
    CheckResult,
    chain_condition,
    unavailable_condition,
    unavailable_status,
    validation_status,
)
from webhook_cert_operator.checking.driver import SharedRunner
from webhook_cert_operator.checking.findings import Finding
from webhook_cert_operator.checking.probe import fetch_served_chain
from webhook_cert_operator.checking.report import ChainReport, build_report
from webhook_cert_operator.checking.sender_request import send_validation_request
from webhook_cert_operator.checking.served import ProbeError, ServedChain
from webhook_cert_operator.checking.target import Dial, Target, parse_dial, parse_url
from webhook_cert_operator.checking.trust_stores import TrustBundleUnavailable, TrustStores

if TYPE_CHECKING:
    from webhook_cert_operator.kube import Kube
    from webhook_cert_operator.metrics import Metrics
    from webhook_cert_operator.settings import Settings

#: Bound of one probe: name resolution, connection and TLS handshake.
DEFAULT_PROBE_TIMEOUT: Final = 10.0
#: `expiring-soon` is a warning this long before the served leaf's notAfter.
DEFAULT_WARN_BEFORE: Final = timedelta(days=14)
#: Served chains at most this long (a leaf, three intermediates and a root) are judged
#: on the handshakes' thread; see `ChainChecker._judge`.
SHORT_CHAIN: Final = 5


class Probe(Protocol):
    """`fetch_served_chain`'s signature (tests pass fakes)."""

    def __call__(
        self,
        host: str,
        port: int,
        *,
        server_name: str,
        timeout: float,
        connect_address: str | None = None,
        nameservers: Sequence[resolve.Nameserver] = (),
    ) -> ServedChain: ...


def fetch_chain(
    target: Target,
    *,
    dial: Dial | None,
    timeout: float,
    nameservers: Sequence[resolve.Nameserver],
    fetch: Probe = fetch_served_chain,
) -> ServedChain:
    """Connect as `target`'s client (SNI = its host), dialling `dial` when given.

    A dial host that is a name is resolved like the URL's host would be. ProbeError
    when there is no TLS connection.
    """
    host = dial.host if dial else target.host
    port = dial.port if dial and dial.port is not None else target.port
    return fetch(host, port, server_name=target.host, timeout=timeout, nameservers=nameservers)


def check_endpoint(
    target: Target,
    *,
    dial: Dial | None,
    trust_roots: Sequence[x509.Certificate],
    expected_leaf: x509.Certificate | None,
    min_tls_version: str,
    warn_before: timedelta,
    timeout: float,
    nameservers: Sequence[resolve.Nameserver],
    now: datetime,
    fetch: Probe = fetch_served_chain,
    sender: str = DEFAULT_SENDER,
    send: SendRequest = send_validation_request,
) -> ChainReport:
    """Probe the target and analyse what it serves; with a `sender` profile that has a
    handshake request, send it too and judge the answer."""
    served, extra = probe_endpoint(
        target,
        dial=dial,
        timeout=timeout,
        nameservers=nameservers,
        sender=sender,
        fetch=fetch,
        send=send,
    )
    return build_report(
        target,
        served,
        extra=extra,
        trust_roots=trust_roots,
        expected_leaf=expected_leaf,
        min_tls_version=min_tls_version,
        warn_before=warn_before,
        now=now,
    )


def probe_endpoint(
    target: Target,
    *,
    dial: Dial | None,
    timeout: float,
    nameservers: Sequence[resolve.Nameserver],
    sender: str,
    fetch: Probe,
    send: SendRequest,
) -> tuple[ServedChain | ProbeError, list[Finding]]:
    """All the I/O of one check: what each address serves (or why there was no TLS
    connection, never raised), and the findings on the `sender` profile's request."""
    served: ServedChain | ProbeError
    try:
        served = fetch_chain(
            target, dial=dial, timeout=timeout, nameservers=nameservers, fetch=fetch
        )
    except ProbeError as error:
        served = error
    return served, sender_findings(target, served, sender, send=send)


class SendRequest(Protocol):
    """`send_validation_request`'s signature (tests pass fakes)."""

    def __call__(
        self, address: str, server_name: str, request: senders.Request, *, timeout: float
    ) -> senders.Answer | str: ...


#: Extra time past a profile's deadline before giving up on its answer, so that a slow
#: answer is told apart from none.
SENDER_GRACE: Final = 3.0


def sender_findings(
    target: Target,
    served: ServedChain | ProbeError,
    sender: str,
    *,
    send: SendRequest = send_validation_request,
    token: str | None = None,
) -> list[Finding]:
    """Send the `sender` profile's validation request (if it has one) to the address
    that answered, and judge the answer. Nothing without a TLS connection."""
    profile = senders.profile(sender)
    if isinstance(served, ProbeError) or profile.deadline is None:
        return []
    token = token or secrets.token_urlsafe(24)
    request = profile.request(_path_and_query(target.url), token)
    if request is None:
        return []
    answer = send(served.address, target.host, request, timeout=profile.deadline + SENDER_GRACE)
    return profile.judge(answer, token)


def _path_and_query(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _differs(
    spec: EndpointSpec,
    expected_chain: tuple[x509.Certificate, ...],
    served: Sequence[x509.Certificate],
) -> bool:
    """Whether a check-only endpoint's server serves another chain than its Secret's."""
    # A Secret someone else keeps changes the chain as well as the leaf (a fixed bundle
    # keeps the leaf): follow the server until it serves the whole of it.
    return spec.check_only is not None and bool(expected_chain) and tuple(served) != expected_chain


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ChainChecker:
    """Checks WebhookEndpoints' served chains, at most `settings.check_concurrency` at once.

    Build one at startup and share it: the bound is per instance. Thread-safe.
    """

    def __init__(
        self,
        kube: Kube,
        settings: Settings,
        metrics: Metrics,
        *,
        probe: Probe | None = None,
        send: SendRequest = send_validation_request,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        default_trust: Callable[[], Sequence[x509.Certificate]] = trust.mozilla_roots,
        timeout: float = DEFAULT_PROBE_TIMEOUT,
        warn_before: timedelta = DEFAULT_WARN_BEFORE,
    ) -> None:
        """`probe` (default: `fetch_served_chain` on a `SharedRunner` of the checker's
        own), `clock` (now, for validity and lastChecked), `monotonic` (durations) and
        `default_trust` (Mozilla's roots, read once) are injectable for tests. ValueError
        if a `settings.nameservers` entry is not an IP address."""
        self.kube = kube
        self.metrics = metrics
        self.timeout = timeout
        self.warn_before = warn_before
        self.nameservers = tuple(resolve.parse_nameserver(n) for n in settings.nameservers)
        self._runner = SharedRunner()
        self._probe = probe or functools.partial(fetch_served_chain, run=self._runner)
        self._send = send
        self._clock = clock
        self._monotonic = monotonic
        self._slots = threading.BoundedSemaphore(settings.check_concurrency)
        self.trust = TrustStores(kube, default_trust)

    def check(self, namespace: str, name: str, spec: EndpointSpec) -> CheckResult:
        """Check the endpoint `namespace`/`name` as its spec says; updates the metrics.

        Never raises for what the endpoint or its trust bundle does wrong: that is the
        result. Kubernetes API errors (other than not found) propagate, and ValueError for
        a URL or connectTo that `api.parse_spec` would have refused.
        """
        validation = spec.validation
        target = parse_url(validation.url)
        dial = parse_dial(validation.connect_to) if validation.connect_to else None
        try:
            roots = self.trust.roots(namespace, validation.trust_bundle)
        except TrustBundleUnavailable as error:
            return self._unavailable(namespace, name, str(error))
        expected_chain = self.expected_chain(namespace, name, spec)
        served, extra, started = self._probe_endpoint(target, dial, validation.sender)
        now = self._clock()
        report = self._judge(
            lambda: build_report(
                target,
                served,
                extra=extra,
                trust_roots=roots,
                expected_leaf=expected_chain[0] if expected_chain else None,
                min_tls_version=validation.min_tls_version,
                warn_before=self.warn_before,
                now=now,
            ),
            served,
        )
        certificates = served.certificates if isinstance(served, ServedChain) else ()
        self._observe(namespace, name, report, certificates, now, self._monotonic() - started)
        differs = _differs(spec, expected_chain, certificates)
        return CheckResult(
            validation_status(report, now), chain_condition(report), now, report, differs
        )

    def _judge(
        self, build: Callable[[], ChainReport], served: ServedChain | ProbeError
    ) -> ChainReport:
        """`build()` on the handshakes' thread (`SharedRunner.call` says why), unless a
        chain has more than `SHORT_CHAIN` certificates: the path search tries their
        orderings, so a long chain is judged on the caller's thread, where it cannot hold
        up the handshakes of every other check."""
        chains = [served, *served.others] if isinstance(served, ServedChain) else []
        if any(len(c.certificates) > SHORT_CHAIN for c in chains if isinstance(c, ServedChain)):
            return build()
        return self._runner.call(build)

    def _probe_endpoint(
        self, target: Target, dial: Dial | None, sender: str
    ) -> tuple[ServedChain | ProbeError, list[Finding], float]:
        """`probe_endpoint` in one of the slots, and when it started (`monotonic`): the
        duration metric is the check's own, not its wait for a slot."""
        with self._slot():
            started = self._monotonic()
            served, extra = probe_endpoint(
                target,
                dial=dial,
                timeout=self.timeout,
                nameservers=self.nameservers,
                sender=sender,
                fetch=self._probe,
                send=self._send,
            )
        return served, extra, started

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()

    # ---- inputs ------------------------------------------------------------------------

    def expected_chain(
        self, namespace: str, name: str, spec: EndpointSpec
    ) -> tuple[x509.Certificate, ...]:
        """The chain (leaf first) the endpoint should serve: its TLS Secret's, when the
        operator wrote that Secret, or for a check-only endpoint the referenced Secret's.

        A Secret someone else owns (unless referenced by a check-only endpoint), none
        referenced, or one without a usable certificate sets no expectation:
        `stale-certificate` then never fires.
        """
        if spec.check_only is not None and spec.check_only.secret_name is None:
            return ()
        secret = self.kube.get_secret(namespace, spec.secret_name)
        if secret is None:
            return ()
        if spec.check_only is None:
            try:
                tls_secret.check_owned(
                    secret.annotations,
                    namespace=namespace,
                    secret_name=spec.secret_name,
                    endpoint_name=name,
                )
            except tls_secret.SecretNotOwned:
                return ()
        stored = tls_secret.parse_stored(secret.data)
        return stored.chain if isinstance(stored, tls_secret.StoredCertificate) else ()

    # ---- outputs -----------------------------------------------------------------------

    def _unavailable(self, namespace: str, name: str, message: str) -> CheckResult:
        now = self._clock()
        # Nothing was probed: no findings, no served expiry; the condition says why.
        self.metrics.observe_chain_check(
            namespace, name, valid=False, findings=(), served_not_after=(), checked_at=now
        )
        return CheckResult(
            validation=unavailable_status(now),
            condition=unavailable_condition(message),
            checked_at=now,
            report=None,
        )

    def _observe(
        self,
        namespace: str,
        name: str,
        report: ChainReport,
        certificates: Sequence[x509.Certificate],
        checked_at: datetime,
        seconds: float,
    ) -> None:
        self.metrics.chain_check_seconds.observe(seconds)
        self.metrics.observe_chain_check(
            namespace,
            name,
            valid=report.ok,
            findings=[(str(f.code), str(f.severity)) for f in report.findings],
            served_not_after=[cert.not_valid_after_utc for cert in certificates],
            checked_at=checked_at,
        )

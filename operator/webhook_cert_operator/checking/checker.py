"""The served-chain check: probe an endpoint, analyse what it serves, say it in status.

Shared by the CLI and the operator. `check_endpoint` is the whole check for the CLI
(`webhook-cert check`); `ChainChecker` runs it for a WebhookEndpoint: it finds the trust
store (Mozilla's roots, or `spec.validation.trustBundle`) and the certificate the endpoint
should serve (the leaf of its TLS Secret), probes, analyses (`chain.analyse`), updates the
metrics and returns what the glue writes: `status.validation` and the `ChainValid`
condition. No kopf here; the glue decides when to check and posts Events, using
`transition_event` and `stale_retry_delay`.

Concurrency. kopf runs each endpoint's timer in its own worker thread, so thousands of
endpoints may want a check at once. Every probe holds one of `settings.check_concurrency`
slots of a semaphore shared by all checks of a `ChainChecker`, and has its own timeout
(`timeout`, the bound of the whole connection and handshake, see `probe.py`). A slow or
silent server therefore holds one slot for at most its own timeout: it never blocks the
other slots, and an endpoint waiting for a slot waits at most for the probes ahead of it
to finish or time out. Only the probe holds a slot; reading the Secret and the trust
bundle and the analysis do not, so a full set of slots never stalls those.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from cryptography import x509

from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.certificates import secret as tls_secret
from webhook_cert_operator.checking import chain, probe, resolve, senders, trust
from webhook_cert_operator.checking.target import Dial, Target, parse_dial, parse_url

if TYPE_CHECKING:
    from webhook_cert_operator.kube import Kube
    from webhook_cert_operator.metrics import Metrics
    from webhook_cert_operator.settings import Settings

#: Bound of one probe: name resolution, connection and TLS handshake.
DEFAULT_PROBE_TIMEOUT: Final = 10.0
#: `expiring-soon` is a warning this long before the served leaf's notAfter.
DEFAULT_WARN_BEFORE: Final = timedelta(days=14)

#: Retries of the check after an issuance while the server still serves the old leaf:
#: servers and ingress controllers pick up a changed Secret within seconds to a minute
#: (kubelet's Secret volume sync period is about a minute), so start fast and back off.
STALE_RETRY_FIRST: Final = 5.0
STALE_RETRY_MAX: Final = 300.0

#: Condition reasons besides the finding codes.
REASON_VALID: Final = "ChainValid"
REASON_TRUST_BUNDLE_UNAVAILABLE: Final = "TrustBundleUnavailable"

# Kubernetes condition messages may hold 32768 characters; findings never come close,
# but a condition that does not fit would fail the whole status patch.
_MAX_MESSAGE: Final = 4096
# Acronyms written in capitals in reasons, as Kubernetes spells them (e.g. "TLSVersion").
_ACRONYMS: Final = {"tls": "TLS"}


class Probe(Protocol):
    """`probe.fetch_served_chain`'s signature (tests pass fakes)."""

    def __call__(
        self,
        host: str,
        port: int,
        *,
        server_name: str,
        timeout: float,
        connect_address: str | None = None,
        nameservers: Sequence[resolve.Nameserver] = (),
    ) -> probe.ServedChain: ...


class TrustBundleUnavailable(Exception):
    """`spec.validation.trustBundle` cannot be read or holds no certificate (stable text)."""


# --- one check, without Kubernetes (the CLI's check) -------------------------------------


def fetch_chain(
    target: Target,
    *,
    dial: Dial | None,
    timeout: float,
    nameservers: Sequence[resolve.Nameserver],
    fetch: Probe = probe.fetch_served_chain,
) -> probe.ServedChain:
    """Connect as `target`'s client (SNI = its host), dialling `dial` when given.

    A dial host that is a name is resolved like the URL's host would be. ProbeError
    when there is no TLS connection.
    """
    host = dial.host if dial else target.host
    port = dial.port if dial and dial.port is not None else target.port
    return fetch(host, port, server_name=target.host, timeout=timeout, nameservers=nameservers)


def build_report(
    target: Target,
    served: probe.ServedChain | probe.ProbeError,
    *,
    trust_roots: Sequence[x509.Certificate],
    expected_leaf: x509.Certificate | None,
    min_tls_version: str,
    warn_before: timedelta,
    now: datetime,
) -> chain.ChainReport:
    """The report on what the probe got (or why it got nothing), judged at `now`. Pure.

    A host with several addresses gets one report over all of them
    (`chain.combine_reports`): it is valid only when every address is."""
    judge = functools.partial(
        _report_one,
        target,
        trust_roots=trust_roots,
        expected_leaf=expected_leaf,
        min_tls_version=min_tls_version,
        warn_before=warn_before,
        now=now,
    )
    if isinstance(served, probe.ProbeError) or not served.others:
        return judge(served)
    judged = [o for o in served.others if not _unroutable_ipv6(o)]
    skipped = [
        (o.address or "", SKIPPED_NO_ROUTE)
        for o in served.others
        if isinstance(o, probe.ProbeError) and _unroutable_ipv6(o)
    ]
    return chain.combine_reports([judge(served), *map(judge, judged)], skipped)


#: Why an address was not judged; the report lists it.
SKIPPED_NO_ROUTE: Final = (
    "no IPv6 route from the checker; senders with IPv6 reach it, and fall back to IPv4 "
    "when they cannot connect"
)


def _unroutable_ipv6(result: probe.ServedChain | probe.ProbeError) -> bool:
    """An IPv6 address this machine has no route to, while another address answered:
    not judged, since it says nothing of the endpoint (the checker may run in an
    IPv4-only network) and senders fall back to IPv4 (Happy Eyeballs, RFC 8305)."""
    return (
        isinstance(result, probe.ProbeError)
        and result.failure is probe.Failure.NO_ROUTE
        and result.address is not None
        and result.address.startswith("[")
    )


def _report_one(
    target: Target,
    served: probe.ServedChain | probe.ProbeError,
    *,
    trust_roots: Sequence[x509.Certificate],
    expected_leaf: x509.Certificate | None,
    min_tls_version: str,
    warn_before: timedelta,
    now: datetime,
) -> chain.ChainReport:
    if isinstance(served, probe.ProbeError):
        return chain.ChainReport(
            url=target.url,
            tls_version=None,
            served_chain=(),
            findings=(chain.connection_failed(served.reason),),
            address=served.address,
        )
    findings = chain.analyse(
        served.certificates,
        host=target.host,
        trust_roots=trust_roots,
        now=now,
        tls_version=served.tls_version,
        min_tls_version=min_tls_version,
        expected_leaf=expected_leaf,
        warn_before=warn_before,
    )
    findings += _refusal_findings(served.refusal, findings)
    return chain.ChainReport(
        url=target.url,
        tls_version=served.tls_version,
        served_chain=chain.summarise(served.certificates),
        findings=tuple(chain.sort_findings(findings)),
        address=served.address,
        cipher_suite=served.cipher_suite,
    )


def _refusal_findings(
    refusal: probe.Refusal | None, findings: Sequence[chain.Finding]
) -> list[chain.Finding]:
    if refusal is None:
        return []
    if refusal.kind is probe.RefusalKind.CLIENT_CERTIFICATE:
        return [chain.client_certificate_required(refusal.reason)]
    if any(f.code is chain.Code.TLS_VERSION for f in findings):
        return []  # a TLS 1.0/1.1-only server: `tls-version` already says why
    return [chain.handshake_failed(refusal.reason)]


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
    fetch: Probe = probe.fetch_served_chain,
    sender: str = api.DEFAULT_SENDER,
    send: SendRequest = probe.send_validation_request,
) -> chain.ChainReport:
    """Probe the target and analyse what it serves; with a `sender` profile that has a
    handshake request, send it too and judge the answer."""
    served: probe.ServedChain | probe.ProbeError
    try:
        served = fetch_chain(
            target, dial=dial, timeout=timeout, nameservers=nameservers, fetch=fetch
        )
    except probe.ProbeError as error:
        served = error
    extra = sender_findings(target, served, sender, send=send)
    return with_findings(
        extra,
        build_report(
            target,
            served,
            trust_roots=trust_roots,
            expected_leaf=expected_leaf,
            min_tls_version=min_tls_version,
            warn_before=warn_before,
            now=now,
        ),
    )


class SendRequest(Protocol):
    """`probe.send_validation_request`'s signature (tests pass fakes)."""

    def __call__(
        self, address: str, server_name: str, request: senders.Request, *, timeout: float
    ) -> senders.Answer | str: ...


#: Extra time past a profile's deadline before giving up on its answer, so that a slow
#: answer is told apart from none.
SENDER_GRACE: Final = 3.0


def sender_findings(
    target: Target,
    served: probe.ServedChain | probe.ProbeError,
    sender: str,
    *,
    send: SendRequest = probe.send_validation_request,
    token: str | None = None,
) -> list[chain.Finding]:
    """Send the `sender` profile's validation request (if it has one) to the address
    that answered, and judge the answer. Nothing without a TLS connection."""
    profile = senders.profile(sender)
    if isinstance(served, probe.ProbeError) or profile.deadline is None:
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


def with_findings(extra: Sequence[chain.Finding], report: chain.ChainReport) -> chain.ChainReport:
    """`report` with `extra` findings, in the fixed order."""
    if not extra:
        return report
    findings = chain.sort_findings([*report.findings, *extra])
    return dataclasses.replace(report, findings=tuple(findings))


# --- status and condition (pure) ---------------------------------------------------------


def reason_for(code: chain.Code) -> str:
    """A finding code as a Kubernetes condition reason: "incomplete-chain" -> "IncompleteChain"
    ("tls-version" -> "TLSVersion")."""
    return "".join(_ACRONYMS.get(part, part.capitalize()) for part in str(code).split("-"))


def _clip(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


def chain_condition(report: chain.ChainReport) -> api.Condition:
    """`ChainValid`: True when no finding is an error; else False, with the first (most
    fundamental) error's code as reason and its text as message. Stable for a given state."""
    errors = [f for f in report.findings if f.severity is chain.Severity.ERROR]
    if not errors:
        message = "a strict webhook sender accepts the served chain"
        warnings = list(dict.fromkeys(str(f.code) for f in report.findings))
        if warnings:
            message += f" (warnings: {', '.join(warnings)})"
        return api.Condition(api.CHAIN_VALID, api.TRUE, REASON_VALID, message)
    first, others = errors[0], list(dict.fromkeys(str(f.code) for f in errors[1:]))
    message = first.message
    if others:
        message += f" (also: {', '.join(others)})"
    return api.Condition(api.CHAIN_VALID, api.FALSE, reason_for(first.code), _clip(message))


def validation_status(report: chain.ChainReport, checked_at: datetime) -> dict[str, Any]:
    """`status.validation` for a report: the CLI's JSON shape in the CRD's camelCase.

    `tlsVersion` is None without a connection: in a merge patch that removes the previous
    value rather than leaving it next to a `connection-failed` finding.
    """
    return {
        "lastChecked": format_time(checked_at),
        "tlsVersion": report.tls_version,
        "cipherSuite": report.cipher_suite,
        "servedChain": [
            {
                "subject": c.subject,
                "issuer": c.issuer,
                "notAfter": format_time(c.not_after),
                "sha256": c.sha256,
            }
            for c in report.served_chain
        ],
        "findings": [
            {"code": str(f.code), "severity": str(f.severity), "message": f.message}
            for f in report.findings
        ],
        "addresses": [chain.address_to_json(a) for a in report.addresses],
    }


@dataclass(frozen=True)
class CheckResult:
    """One check of one endpoint: what to write to status, and the report behind it.

    `report` is None when no check could be made (the trust bundle is unavailable).
    """

    validation: dict[str, Any]
    condition: api.Condition
    checked_at: datetime
    report: chain.ChainReport | None
    differs_from_secret: bool = False

    @property
    def ok(self) -> bool:
        return self.condition.status == api.TRUE

    @property
    def stale(self) -> bool:
        """The server still serves another leaf than the Secret's, or (check-only) another
        chain than the referenced Secret's: check again soon (`stale_retry_delay`) after
        an issuance, a renewal or a change of the referenced Secret."""
        return self.differs_from_secret or (
            self.report is not None
            and any(f.code is chain.Code.STALE_CERTIFICATE for f in self.report.findings)
        )


@dataclass(frozen=True)
class Transition:
    """An Event to post: a Warning when the chain became invalid, else Normal."""

    warning: bool
    reason: str
    message: str


def is_transition(previous: api.Condition | None, new: api.Condition) -> bool:
    """Whether `new` ChainValid differs from `previous` in status or reason.

    A first check is a transition (from unknown). A new message under the same reason (a
    different missing issuer, a later date) is not: Events mark changes of state, and
    status carries the details.
    """
    return previous is None or (previous.status, previous.reason) != (new.status, new.reason)


def transition_event(previous: api.Condition | None, new: api.Condition) -> Transition | None:
    """The Event for a change of ChainValid, or None when the state did not change."""
    if not is_transition(previous, new):
        return None
    return Transition(warning=new.status != api.TRUE, reason=new.reason, message=new.message)


def stale_retry_delay(attempt: int) -> float:
    """Seconds before checking again when the server still serves the old leaf.

    `attempt` counts the retries already made (0 for the first, as kopf's `retry`):
    5s, 10s, 20s, 40s... doubling up to 5 minutes.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be 0 or more, not {attempt}")
    # 2**7 * 5s is past the cap already: no need for huge powers.
    return min(STALE_RETRY_FIRST * float(1 << min(attempt, 7)), STALE_RETRY_MAX)


def check_spacing(interval: timedelta, uid: str) -> float:
    """Seconds between periodic checks of one endpoint: its interval plus up to 10 %.

    The extra part is fixed per endpoint (derived from its uid), so endpoints created
    together spread out instead of probing in bursts, and each keeps a steady rhythm.
    """
    fraction = int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return interval.total_seconds() * (1 + 0.1 * fraction)


# --- the operator's check ----------------------------------------------------------------


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
        probe: Probe = probe.fetch_served_chain,
        send: SendRequest = probe.send_validation_request,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        default_trust: Callable[[], Sequence[x509.Certificate]] = trust.mozilla_roots,
        timeout: float = DEFAULT_PROBE_TIMEOUT,
        warn_before: timedelta = DEFAULT_WARN_BEFORE,
    ) -> None:
        """`probe`, `clock` (now, for validity and lastChecked), `monotonic` (durations)
        and `default_trust` (Mozilla's roots, read once) are injectable for tests.
        ValueError if a `settings.nameservers` entry is not an IP address."""
        self.kube = kube
        self.metrics = metrics
        self.timeout = timeout
        self.warn_before = warn_before
        self.nameservers = tuple(resolve.parse_nameserver(n) for n in settings.nameservers)
        self._probe = probe
        self._send = send
        self._clock = clock
        self._monotonic = monotonic
        self._slots = threading.BoundedSemaphore(settings.check_concurrency)
        self._default_trust = default_trust
        self._default_roots: tuple[x509.Certificate, ...] | None = None
        self._default_lock = threading.Lock()

    def check(self, namespace: str, name: str, spec: api.EndpointSpec) -> CheckResult:
        """Check the endpoint `namespace`/`name` as its spec says; updates the metrics.

        Never raises for what the endpoint or its trust bundle does wrong: that is the
        result. Kubernetes API errors (other than not found) propagate, and ValueError for
        a URL or connectTo that `parse.parse_spec` would have refused.
        """
        validation = spec.validation
        target = parse_url(validation.url)
        dial = parse_dial(validation.connect_to) if validation.connect_to else None
        try:
            roots = self.trust_roots(namespace, validation.trust_bundle)
        except TrustBundleUnavailable as error:
            return self._unavailable(namespace, name, str(error))
        expected_chain = self.expected_chain(namespace, name, spec)
        expected = expected_chain[0] if expected_chain else None
        served: probe.ServedChain | probe.ProbeError
        with self._slot():
            # Timed from here: the duration metric is the check's own, not its wait.
            started = self._monotonic()
            try:
                served = fetch_chain(
                    target,
                    dial=dial,
                    timeout=self.timeout,
                    nameservers=self.nameservers,
                    fetch=self._probe,
                )
            except probe.ProbeError as error:
                served = error
            extra = sender_findings(target, served, validation.sender, send=self._send)
        now = self._clock()
        report = with_findings(
            extra,
            build_report(
                target,
                served,
                trust_roots=roots,
                expected_leaf=expected,
                min_tls_version=validation.min_tls_version,
                warn_before=self.warn_before,
                now=now,
            ),
        )
        certificates = served.certificates if isinstance(served, probe.ServedChain) else ()
        self._observe(namespace, name, report, certificates, now, self._monotonic() - started)
        return CheckResult(
            validation=validation_status(report, now),
            condition=chain_condition(report),
            checked_at=now,
            report=report,
            # A Secret someone else keeps changes the chain as well as the leaf (a fixed
            # bundle keeps the leaf): follow the server until it serves the whole of it.
            differs_from_secret=spec.check_only is not None
            and bool(expected_chain)
            and tuple(certificates) != expected_chain,
        )

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()

    # ---- inputs ------------------------------------------------------------------------

    def default_roots(self) -> tuple[x509.Certificate, ...]:
        """Mozilla's roots, parsed once (about 150 certificates) and shared."""
        with self._default_lock:
            if self._default_roots is None:
                self._default_roots = tuple(self._default_trust())
            return self._default_roots

    def trust_roots(
        self, namespace: str, ref: api.TrustBundleRef | None
    ) -> Sequence[x509.Certificate]:
        """The endpoint's trust store; TrustBundleUnavailable if its bundle is unusable."""
        if ref is None:
            return self.default_roots()
        where = f"spec.validation.trustBundle: {ref.kind} {ref.name}"
        if ref.kind == "Secret":
            secret = self.kube.get_secret(namespace, ref.name)
            data = secret.data if secret is not None else None
        else:
            data = self.kube.get_config_map_data(namespace, ref.name)
        if data is None:
            raise TrustBundleUnavailable(f"{where} does not exist in namespace {namespace}")
        if ref.key not in data:
            raise TrustBundleUnavailable(f"{where} has no key {ref.key}")
        try:
            # Kept strict: a corrupt root in a user's bundle is a mistake to report, unlike
            # one odd root in Mozilla's store.
            return trust.parse_pem_certificates(data[ref.key], source=f"{where} key {ref.key}")
        except trust.TrustBundleError as error:
            raise TrustBundleUnavailable(str(error)) from None

    def expected_chain(
        self, namespace: str, name: str, spec: api.EndpointSpec
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
            # Nothing was probed: clear the previous check's details rather than leave
            # them next to a condition about something else.
            validation={
                "lastChecked": format_time(now),
                "tlsVersion": None,
                "cipherSuite": None,
                "servedChain": [],
                "findings": [],
                "addresses": [],
            },
            condition=api.Condition(
                api.CHAIN_VALID, api.FALSE, REASON_TRUST_BUNDLE_UNAVAILABLE, _clip(message)
            ),
            checked_at=now,
            report=None,
        )

    def _observe(
        self,
        namespace: str,
        name: str,
        report: chain.ChainReport,
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

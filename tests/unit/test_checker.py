"""Unit tests for webhook_cert_operator.checking.checker: the operator's served-chain check.

A fake probe returns chains built with `tests/pki_factory.py` (or raises ProbeError), a
fake Kubernetes holds the endpoint's TLS Secret and trust bundles; the clock is fixed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client import generate_latest

from tests import pki_factory
from tests.unit.fakes import FakeKube, as_kube
from webhook_cert_operator import naming
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.checking import checker as checker_module
from webhook_cert_operator.checking import report, senders, trust
from webhook_cert_operator.checking.certs import fingerprint
from webhook_cert_operator.checking.checker import SENDER_GRACE, ChainChecker
from webhook_cert_operator.checking.condition import CheckResult
from webhook_cert_operator.checking.report import SKIPPED_NO_ROUTE, ChainReport
from webhook_cert_operator.checking.resolve import Nameserver
from webhook_cert_operator.checking.served import Failure, ProbeError, ServedChain
from webhook_cert_operator.metrics import Metrics
from webhook_cert_operator.settings import Settings

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAMESPACE = "payments"
ENDPOINT = "ringcentral"
HOST = "hooks.example.test"
SECRET = "ringcentral-tls"

# The "public" hierarchy stands for Mozilla's roots; the private one for an in-house CA.
PUBLIC = pki_factory.build_chain([HOST], now=NOW, prefix="Public")
PRIVATE = pki_factory.build_chain([HOST], now=NOW, prefix="Private")
# What the server still serves after a renewal: another leaf from the same intermediate.
OLD_LEAF = pki_factory.make_leaf(PUBLIC.intermediates[0], [HOST], now=NOW - timedelta(days=60))


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def served(*certs: x509.Certificate, tls_version: str = "TLSv1.3") -> ServedChain:
    return ServedChain(tls_version=tls_version, certificates=certs, address="192.0.2.7:443")


class FakeProbe:
    """Answers every probe with one served chain, or raises one ProbeError; logs the calls."""

    def __init__(self, answer: ServedChain | ProbeError) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        host: str,
        port: int,
        *,
        server_name: str,
        timeout: float,
        connect_address: str | None = None,
        nameservers: Sequence[Nameserver] = (),
    ) -> ServedChain:
        self.calls.append(
            {
                "host": host,
                "port": port,
                "server_name": server_name,
                "timeout": timeout,
                "connect_address": connect_address,
                "nameservers": tuple(nameservers),
            }
        )
        if isinstance(self.answer, ProbeError):
            raise self.answer
        return self.answer


class Kube(FakeKube):
    """FakeKube with ConfigMaps."""

    def __init__(self) -> None:
        super().__init__()
        self.config_maps: dict[tuple[str, str], dict[str, bytes]] = {}

    def get_config_map_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        self.calls.append(("get_config_map", namespace, name))
        data = self.config_maps.get((namespace, name))
        return dict(data) if data is not None else None


class DefaultTrust:
    """Stands for Mozilla's roots (the public test root) and counts how often it is read."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self) -> tuple[x509.Certificate, ...]:
        self.reads += 1
        return (PUBLIC.root.cert,)


class Ticks:
    """A monotonic clock that advances `step` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 100.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def spec(**validation_fields: Any) -> api.EndpointSpec:
    return parse_spec(
        {"dnsNames": [HOST], "secretName": SECRET, "validation": validation_fields},
        name=ENDPOINT,
        settings=Settings(),
    )


def store_secret(
    kube: FakeKube, leaf: x509.Certificate, *, owner: str | None = f"{NAMESPACE}/{ENDPOINT}"
) -> None:
    annotations = {naming.ANNOTATION_ENDPOINT: owner} if owner else {}
    kube.put_secret(
        NAMESPACE,
        SECRET,
        {
            "tls.crt": pem(leaf, PUBLIC.intermediates[0].cert),
            "tls.key": PUBLIC.leaf.key_pem(),
        },
        annotations=annotations,
    )


def make_checker(
    answer: ServedChain | ProbeError,
    *,
    kube: FakeKube | None = None,
    settings: Settings | None = None,
    metrics: Metrics | None = None,
    default_trust: DefaultTrust | None = None,
    clock: datetime = NOW,
) -> tuple[ChainChecker, FakeProbe]:
    fake = FakeProbe(answer)
    checker = ChainChecker(
        as_kube(kube or Kube()),
        settings or Settings(),
        metrics or Metrics(),
        probe=fake,
        clock=lambda: clock,
        monotonic=Ticks(0.25),
        default_trust=default_trust or DefaultTrust(),
        timeout=3.0,
    )
    return checker, fake


def check(answer: ServedChain | ProbeError, **kwargs: Any) -> CheckResult:
    validation_fields = kwargs.pop("validation", {})
    checker, _ = make_checker(answer, **kwargs)
    return checker.check(NAMESPACE, ENDPOINT, spec(**validation_fields))


# ---- the ChainValid condition and status.validation -----------------------------------


def test_a_complete_trusted_chain_makes_chain_valid_true() -> None:
    result = check(served(*PUBLIC.served()))

    assert result.condition == api.Condition(
        "ChainValid", "True", "ChainValid", "a strict webhook sender accepts the served chain"
    )
    assert result.ok and not result.stale


def test_status_validation_records_the_check_time_protocol_chain_and_findings() -> None:
    result = check(served(*PUBLIC.served()))

    assert result.validation == {
        "lastChecked": "2026-03-01T12:00:00Z",
        "tlsVersion": "TLSv1.3",
        "cipherSuite": None,
        "servedChain": [
            {
                "subject": cert.subject.rfc4514_string(),
                "issuer": cert.issuer.rfc4514_string(),
                "notAfter": format_time(cert.not_valid_after_utc),
                "sha256": fingerprint(cert),
            }
            for cert in PUBLIC.served()
        ],
        "findings": [],
        "addresses": [],
    }
    assert result.checked_at == NOW


def test_a_leaf_served_alone_is_an_incomplete_chain_naming_the_missing_issuer() -> None:
    result = check(served(PUBLIC.leaf.cert))

    assert (result.condition.status, result.condition.reason) == ("False", "IncompleteChain")
    assert '"Public Intermediate CA 1"' in result.condition.message
    assert "http://ca.example.test/intermediate.der" in result.condition.message
    assert result.validation["findings"] == [
        {"code": "incomplete-chain", "severity": "error", "message": result.condition.message}
    ]


def test_a_server_still_serving_the_old_leaf_is_a_stale_certificate() -> None:
    kube = Kube()
    store_secret(kube, PUBLIC.leaf.cert)

    result = check(served(OLD_LEAF.cert, PUBLIC.intermediates[0].cert), kube=kube)

    assert (result.condition.status, result.condition.reason) == ("False", "StaleCertificate")
    assert f"{OLD_LEAF.cert.serial_number:x}" in result.condition.message
    assert f"{PUBLIC.leaf.cert.serial_number:x}" in result.condition.message
    assert result.stale


def test_the_secrets_own_leaf_being_served_is_not_stale() -> None:
    kube = Kube()
    store_secret(kube, PUBLIC.leaf.cert)

    result = check(served(*PUBLIC.served()), kube=kube)

    assert result.condition.status == "True"
    assert ("get_secret", NAMESPACE, SECRET) in kube.calls


@pytest.mark.parametrize(
    "owner",
    [None, f"{NAMESPACE}/someone-else"],
    ids=["an unmarked Secret", "another endpoint's Secret"],
)
def test_a_secret_the_endpoint_does_not_own_sets_no_expectation(owner: str | None) -> None:
    kube = Kube()
    store_secret(kube, PUBLIC.leaf.cert, owner=owner)

    result = check(served(OLD_LEAF.cert, PUBLIC.intermediates[0].cert), kube=kube)

    assert result.condition.status == "True"


def check_only_spec(secret_name: str | None = SECRET) -> api.EndpointSpec:
    check_only = {"secretRef": {"name": secret_name}} if secret_name else {}
    return parse_spec(
        {"dnsNames": [HOST], "checkOnly": check_only}, name=ENDPOINT, settings=Settings()
    )


def test_a_check_only_endpoint_expects_the_leaf_of_a_secret_it_does_not_own() -> None:
    kube = Kube()
    store_secret(kube, PUBLIC.leaf.cert, owner=None)  # cert-manager's, say
    checker, _ = make_checker(served(OLD_LEAF.cert, PUBLIC.intermediates[0].cert), kube=kube)

    result = checker.check(NAMESPACE, ENDPOINT, check_only_spec())

    assert (result.condition.status, result.condition.reason) == ("False", "StaleCertificate")
    assert result.stale


@pytest.mark.parametrize(
    ("served_certs", "stale"),
    [
        pytest.param((PUBLIC.leaf.cert,), True, id="leaf-only-while-the-secret-has-the-chain"),
        pytest.param((PUBLIC.leaf.cert, PUBLIC.intermediates[0].cert), False, id="the-same"),
    ],
)
def test_a_check_only_endpoint_follows_the_server_until_it_serves_the_secrets_whole_chain(
    served_certs: tuple[x509.Certificate, ...], stale: bool
) -> None:
    kube = Kube()
    store_secret(kube, PUBLIC.leaf.cert, owner=None)
    checker, _ = make_checker(served(*served_certs), kube=kube)

    assert checker.check(NAMESPACE, ENDPOINT, check_only_spec()).stale is stale


def test_an_issued_endpoints_server_with_the_right_leaf_is_not_followed_further() -> None:
    kube = Kube()
    store_secret(kube, PUBLIC.leaf.cert)

    result = check(served(PUBLIC.leaf.cert), kube=kube)

    assert result.condition.reason == "IncompleteChain" and not result.stale


def test_a_check_only_endpoint_without_a_secret_reads_none_and_expects_nothing() -> None:
    kube = Kube()
    store_secret(kube, PUBLIC.leaf.cert, owner=None)
    checker, _ = make_checker(served(OLD_LEAF.cert, PUBLIC.intermediates[0].cert), kube=kube)

    result = checker.check(NAMESPACE, ENDPOINT, check_only_spec(None))

    assert result.condition.status == "True" and not result.stale
    assert not [call for call in kube.calls if call[0] == "get_secret"]


def test_an_unreadable_secret_sets_no_expectation() -> None:
    kube = Kube()
    kube.put_secret(
        NAMESPACE,
        SECRET,
        {"tls.crt": b"garbage", "tls.key": b"garbage"},
        annotations={naming.ANNOTATION_ENDPOINT: f"{NAMESPACE}/{ENDPOINT}"},
    )

    result = check(served(OLD_LEAF.cert, PUBLIC.intermediates[0].cert), kube=kube)

    assert result.condition.status == "True"


def test_no_tls_connection_is_connection_failed_with_the_probes_reason() -> None:
    error = ProbeError(Failure.REFUSED, "connection refused by 192.0.2.7:443")

    result = check(error)

    assert result.condition == api.Condition(
        "ChainValid",
        "False",
        "ConnectionFailed",
        "no TLS connection: connection refused by 192.0.2.7:443",
    )
    assert result.validation["tlsVersion"] is None
    assert result.validation["servedChain"] == []
    assert [f["code"] for f in result.validation["findings"]] == ["connection-failed"]


def test_the_first_error_is_the_reason_and_the_others_are_named_in_the_message() -> None:
    expired = pki_factory.build_chain(
        ["other.example.test"], now=NOW, prefix="Public", leaf_validity=pki_factory.EXPIRED
    )

    result = check(served(expired.leaf.cert), default_trust=None)

    assert result.condition.reason == "IncompleteChain"
    assert result.condition.message.endswith("(also: expired, hostname-mismatch)")


def test_warnings_keep_the_chain_valid_and_are_named_in_the_message() -> None:
    result = check(served(*PUBLIC.full()))

    assert result.condition.status == "True"
    assert result.condition.message == (
        "a strict webhook sender accepts the served chain (warnings: root-included)"
    )
    assert [f["code"] for f in result.validation["findings"]] == ["root-included"]


def test_an_old_tls_version_is_reported_under_a_kubernetes_style_reason() -> None:
    result = check(served(*PUBLIC.served(), tls_version="TLSv1.1"))

    assert (result.condition.status, result.condition.reason) == ("False", "TLSVersion")


def test_the_minimum_tls_version_comes_from_the_spec() -> None:
    result = check(
        served(*PUBLIC.served(), tls_version="TLSv1.2"), validation={"minTLSVersion": "1.3"}
    )

    assert result.condition.reason == "TLSVersion"


def test_the_condition_message_does_not_change_from_one_check_to_the_next() -> None:
    first = check(served(PUBLIC.leaf.cert), clock=NOW)
    later = check(served(PUBLIC.leaf.cert), clock=NOW + timedelta(hours=5))

    assert first.condition == later.condition
    assert first.validation["lastChecked"] != later.validation["lastChecked"]


# ---- how the probe is called --------------------------------------------------------------


PROBES = {
    "the URL's host and default port": (
        {},
        {"host": HOST, "port": 443},
    ),
    "the URL's port": (
        {"url": f"https://{HOST}:8443/rc"},
        {"host": HOST, "port": 8443},
    ),
    "connectTo an address": (
        {"connectTo": "192.0.2.9:30443"},
        {"host": "192.0.2.9", "port": 30443},
    ),
    "connectTo a host name": (
        {"connectTo": "ingress.internal:443"},
        {"host": "ingress.internal", "port": 443},
    ),
    "connectTo a bracketed IPv6 address": (
        {"connectTo": "[2001:db8::9]:443"},
        {"host": "2001:db8::9", "port": 443},
    ),
}


@pytest.mark.parametrize(("fields", "expected"), PROBES.values(), ids=PROBES.keys())
def test_the_probe_dials_connect_to_but_always_sends_the_urls_host_as_sni(
    fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    checker, fake = make_checker(served(*PUBLIC.served()))

    checker.check(NAMESPACE, ENDPOINT, spec(**fields))

    assert len(fake.calls) == 1
    call = fake.calls[0]
    assert {"host": call["host"], "port": call["port"]} == expected
    assert call["server_name"] == HOST


def test_the_probe_uses_the_configured_nameservers_and_its_own_timeout() -> None:
    settings = Settings(nameservers=("10.0.0.53", "[2001:db8::53]:5353"))
    checker, fake = make_checker(served(*PUBLIC.served()), settings=settings)

    checker.check(NAMESPACE, ENDPOINT, spec())

    assert fake.calls[0]["nameservers"] == (
        Nameserver("10.0.0.53", 53),
        Nameserver("2001:db8::53", 5353),
    )
    assert fake.calls[0]["timeout"] == 3.0


def test_a_short_chain_is_judged_on_the_handshakes_thread_a_long_one_on_the_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    judged_on: list[str] = []

    def recording(*args: Any, **kwargs: Any) -> ChainReport:
        judged_on.append(threading.current_thread().name)
        return report.build_report(*args, **kwargs)

    monkeypatch.setattr(checker_module, "build_report", recording)
    long = PUBLIC.full() * 2
    assert len(PUBLIC.full()) <= checker_module.SHORT_CHAIN < len(long)

    check(served(*PUBLIC.full()))
    check(served(*long))

    assert judged_on == ["tls-handshakes", threading.current_thread().name]


# ---- trust stores ---------------------------------------------------------------------------


def test_the_default_trust_store_is_read_once_for_all_checks() -> None:
    default_trust = DefaultTrust()
    checker, _ = make_checker(served(*PUBLIC.served()), default_trust=default_trust)

    for _ in range(3):
        assert checker.check(NAMESPACE, ENDPOINT, spec()).ok

    assert default_trust.reads == 1


def test_a_private_chain_is_untrusted_under_the_default_trust_store() -> None:
    result = check(served(*PRIVATE.full()))

    assert result.condition.reason == "UntrustedRoot"


BUNDLE_KINDS = ["ConfigMap", "Secret"]


def put_bundle(kube: Kube, kind: str, name: str, data: Mapping[str, bytes]) -> None:
    if kind == "ConfigMap":
        kube.config_maps[NAMESPACE, name] = dict(data)
    else:
        kube.put_secret(NAMESPACE, name, data, type="Opaque")


@pytest.mark.parametrize("kind", BUNDLE_KINDS)
def test_a_trust_bundle_in_the_endpoints_namespace_replaces_the_default_roots(kind: str) -> None:
    kube = Kube()
    put_bundle(kube, kind, "private-ca", {"roots.pem": pem(PRIVATE.root.cert)})
    bundle = {"kind": kind, "name": "private-ca", "key": "roots.pem"}

    private = check(served(*PRIVATE.served()), kube=kube, validation={"trustBundle": bundle})
    public = check(served(*PUBLIC.full()), kube=kube, validation={"trustBundle": bundle})

    assert private.condition.status == "True"
    assert public.condition.reason == "UntrustedRoot"


def test_a_trust_bundle_key_defaults_to_ca_crt() -> None:
    kube = Kube()
    put_bundle(kube, "ConfigMap", "private-ca", {"ca.crt": pem(PRIVATE.root.cert)})

    result = check(
        served(*PRIVATE.served()),
        kube=kube,
        validation={"trustBundle": {"kind": "ConfigMap", "name": "private-ca"}},
    )

    assert result.condition.status == "True"


def test_a_trust_bundle_is_parsed_once_for_as_long_as_it_stays_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[bytes] = []
    parse = trust.parse_pem_certificates

    def counting(data: bytes, **kwargs: Any) -> tuple[x509.Certificate, ...]:
        parsed.append(data)
        return parse(data, **kwargs)

    monkeypatch.setattr(trust, "parse_pem_certificates", counting)
    kube = Kube()
    put_bundle(kube, "ConfigMap", "private-ca", {"ca.crt": pem(PRIVATE.root.cert)})
    checker, _ = make_checker(served(*PRIVATE.served()), kube=kube)
    endpoint = spec(trustBundle={"kind": "ConfigMap", "name": "private-ca"})

    results = [checker.check(NAMESPACE, ENDPOINT, endpoint) for _ in range(3)]
    put_bundle(kube, "ConfigMap", "private-ca", {"ca.crt": pem(PUBLIC.root.cert)})
    changed = checker.check(NAMESPACE, ENDPOINT, endpoint)

    assert [r.ok for r in results] == [True, True, True]
    assert changed.condition.reason == "IncompleteChain"  # the new content counts at once
    assert parsed == [pem(PRIVATE.root.cert), pem(PUBLIC.root.cert)]


UNUSABLE_BUNDLES = {
    "a missing ConfigMap": (
        "ConfigMap",
        None,
        "spec.validation.trustBundle: ConfigMap private-ca does not exist in namespace payments",
    ),
    "a missing Secret": (
        "Secret",
        None,
        "spec.validation.trustBundle: Secret private-ca does not exist in namespace payments",
    ),
    "a missing key": (
        "ConfigMap",
        {"other.pem": pem(PRIVATE.root.cert)},
        "spec.validation.trustBundle: ConfigMap private-ca has no key ca.crt",
    ),
    "no PEM in the key": (
        "Secret",
        {"ca.crt": b"not a certificate"},
        "spec.validation.trustBundle: Secret private-ca key ca.crt: no PEM certificate found",
    ),
}


@pytest.mark.parametrize(
    ("kind", "data", "message"), UNUSABLE_BUNDLES.values(), ids=UNUSABLE_BUNDLES.keys()
)
def test_an_unusable_trust_bundle_is_a_false_condition_and_nothing_is_probed(
    kind: str, data: Mapping[str, bytes] | None, message: str
) -> None:
    kube = Kube()
    if data is not None:
        put_bundle(kube, kind, "private-ca", data)
    checker, fake = make_checker(served(*PRIVATE.served()), kube=kube)

    result = checker.check(
        NAMESPACE,
        ENDPOINT,
        spec(trustBundle={"kind": kind, "name": "private-ca"}),
    )

    assert result.condition == api.Condition(
        "ChainValid", "False", "TrustBundleUnavailable", message
    )
    assert fake.calls == []
    assert result.report is None and not result.stale
    assert result.validation == {
        "lastChecked": "2026-03-01T12:00:00Z",
        "tlsVersion": None,
        "cipherSuite": None,
        "servedChain": [],
        "findings": [],
        "addresses": [],
    }


# ---- metrics --------------------------------------------------------------------------------


def sample(metrics: Metrics, metric: str, **labels: str) -> float | None:
    value: float | None = metrics.registry.get_sample_value(metric, labels)
    return value


def test_a_check_records_its_result_findings_served_expiry_and_duration() -> None:
    metrics = Metrics()
    checker, _ = make_checker(served(PUBLIC.leaf.cert, PUBLIC.root.cert), metrics=metrics)

    checker.check(NAMESPACE, ENDPOINT, spec())

    endpoint = {"namespace": NAMESPACE, "name": ENDPOINT}
    assert sample(metrics, "webhook_cert_chain_valid", **endpoint) == 0
    assert (
        sample(
            metrics,
            "webhook_cert_chain_findings_total",
            code="incomplete-chain",
            severity="error",
        )
        == 1
    )
    assert (
        sample(
            metrics,
            "webhook_cert_chain_findings_total",
            code="root-included",
            severity="warning",
        )
        == 1
    )
    assert sample(
        metrics, "webhook_cert_served_certificate_not_after_timestamp_seconds", **endpoint
    ) == (PUBLIC.leaf.cert.not_valid_after_utc.timestamp())
    assert sample(metrics, "webhook_cert_chain_check_duration_seconds_count") == 1
    assert sample(metrics, "webhook_cert_chain_check_duration_seconds_sum") == 0.25


def test_a_valid_check_sets_the_result_to_one() -> None:
    metrics = Metrics()
    checker, _ = make_checker(served(*PUBLIC.served()), metrics=metrics)

    checker.check(NAMESPACE, ENDPOINT, spec())

    assert sample(metrics, "webhook_cert_chain_valid", namespace=NAMESPACE, name=ENDPOINT) == 1


def test_a_failed_connection_forgets_the_served_expiry() -> None:
    metrics = Metrics()
    kube = Kube()
    good, _ = make_checker(served(*PUBLIC.served()), metrics=metrics, kube=kube)
    down, _ = make_checker(ProbeError(Failure.TIMEOUT, "timed out"), metrics=metrics, kube=kube)
    name = "webhook_cert_served_certificate_not_after_timestamp_seconds"

    good.check(NAMESPACE, ENDPOINT, spec())
    assert sample(metrics, name, namespace=NAMESPACE, name=ENDPOINT) is not None
    down.check(NAMESPACE, ENDPOINT, spec())

    assert sample(metrics, name, namespace=NAMESPACE, name=ENDPOINT) is None
    assert sample(metrics, "webhook_cert_chain_valid", namespace=NAMESPACE, name=ENDPOINT) == 0


def test_forgetting_an_endpoint_drops_its_chain_series() -> None:
    metrics = Metrics()
    checker, _ = make_checker(served(*PUBLIC.served()), metrics=metrics)
    checker.check(NAMESPACE, ENDPOINT, spec())

    metrics.forget_chain_check(NAMESPACE, ENDPOINT)
    metrics.forget_chain_check(NAMESPACE, ENDPOINT)  # twice is fine

    assert sample(metrics, "webhook_cert_chain_valid", namespace=NAMESPACE, name=ENDPOINT) is None


# ---- bounded concurrency ----------------------------------------------------------------------


class BlockingProbe:
    """Blocks each probe of a host in `blocked` until `release` is set; counts probes in flight."""

    def __init__(self, answer: ServedChain, blocked: frozenset[str] | None = None) -> None:
        self.answer = answer
        self.blocked = blocked
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0

    def __call__(
        self,
        host: str,
        port: int,
        *,
        server_name: str,
        timeout: float,
        connect_address: str | None = None,
        nameservers: Sequence[Nameserver] = (),
    ) -> ServedChain:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.entered.release()
        try:
            if self.blocked is None or server_name in self.blocked:
                assert self.release.wait(timeout=10), "the test never released the probe"
            return self.answer
        finally:
            with self._lock:
                self.in_flight -= 1


def blocking_checker(fake: BlockingProbe, concurrency: int) -> ChainChecker:
    return ChainChecker(
        as_kube(Kube()),
        Settings(check_concurrency=concurrency),
        Metrics(),
        probe=fake,
        clock=lambda: NOW,
        default_trust=DefaultTrust(),
    )


def test_at_most_check_concurrency_probes_run_at_once() -> None:
    limit = 3
    fake = BlockingProbe(served(*PUBLIC.served()))
    checker = blocking_checker(fake, limit)
    results: list[CheckResult] = []
    threads = [
        threading.Thread(target=lambda: results.append(checker.check(NAMESPACE, ENDPOINT, spec())))
        for _ in range(limit + 5)
    ]
    for thread in threads:
        thread.start()

    for _ in range(limit):
        assert fake.entered.acquire(timeout=5)
    assert not fake.entered.acquire(timeout=0.3), "a probe started beyond the bound"
    assert fake.in_flight == limit

    fake.release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert fake.most_in_flight == limit
    assert len(results) == limit + 5
    assert all(result.ok for result in results)


def test_a_hanging_endpoint_holds_one_slot_and_never_delays_the_others() -> None:
    slow = "slow.example.test"
    fake = BlockingProbe(served(*PUBLIC.served()), blocked=frozenset({slow}))
    checker = blocking_checker(fake, 2)
    hanging = threading.Thread(
        target=checker.check, args=(NAMESPACE, "slow", spec(url=f"https://{slow}/"))
    )
    hanging.start()
    assert fake.entered.acquire(timeout=5)

    # One slot is held by the hanging probe; the other serves everyone else in turn.
    for _ in range(5):
        assert checker.check(NAMESPACE, ENDPOINT, spec()).ok
    assert hanging.is_alive()

    fake.release.set()
    hanging.join(timeout=10)
    assert fake.most_in_flight == 2


def test_a_check_sets_the_per_endpoint_gauges_the_alerts_read() -> None:
    metrics = Metrics()
    checker, _ = make_checker(served(PUBLIC.leaf.cert, PUBLIC.root.cert), metrics=metrics)

    checker.check(NAMESPACE, ENDPOINT, spec())

    endpoint = {"namespace": NAMESPACE, "name": ENDPOINT}
    finding = "webhook_cert_chain_finding"
    assert sample(metrics, finding, **endpoint, code="incomplete-chain", severity="error") == 1
    assert sample(metrics, finding, **endpoint, code="root-included", severity="warning") == 1
    earliest = min(PUBLIC.leaf.cert.not_valid_after_utc, PUBLIC.root.cert.not_valid_after_utc)
    assert sample(
        metrics, "webhook_cert_served_chain_earliest_not_after_timestamp_seconds", **endpoint
    ) == (earliest.timestamp())
    assert sample(metrics, "webhook_cert_chain_last_check_timestamp_seconds", **endpoint) == (
        NOW.timestamp()
    )


def test_an_unusable_trust_bundle_clears_the_findings_and_marks_the_chain_invalid() -> None:
    metrics = Metrics()
    kube = Kube()
    make_checker(served(PUBLIC.leaf.cert), metrics=metrics, kube=kube)[0].check(
        NAMESPACE, ENDPOINT, spec()
    )
    checker, _ = make_checker(served(*PUBLIC.served()), metrics=metrics, kube=kube)
    checker.check(NAMESPACE, ENDPOINT, spec(trustBundle={"kind": "ConfigMap", "name": "gone"}))

    endpoint = {"namespace": NAMESPACE, "name": ENDPOINT}
    assert sample(metrics, "webhook_cert_chain_valid", **endpoint) == 0
    text = generate_latest(metrics.registry).decode()
    assert "webhook_cert_chain_finding{" not in text
    assert sample(metrics, "webhook_cert_chain_last_check_timestamp_seconds", **endpoint) == (
        NOW.timestamp()
    )


# ---- sender profiles -----------------------------------------------------------------


class FakeSend:
    """A receiver that answers every validation request with `status` after `seconds`,
    echoing RingCentral's token or not; logs the requests."""

    def __init__(self, *, echo: bool, status: int = 200, seconds: float = 0.1) -> None:
        self.echo, self.status, self.seconds = echo, status, seconds
        self.requests: list[tuple[str, str, senders.Request, float]] = []

    def __call__(
        self, address: str, server_name: str, request: senders.Request, *, timeout: float
    ) -> senders.Answer:
        self.requests.append((address, server_name, request, timeout))
        token = request.headers.get("Validation-Token", "")
        headers = {"validation-token": token} if self.echo else {}
        return senders.Answer(self.status, headers, b"", self.seconds)


def sender_checker(send: FakeSend) -> ChainChecker:
    """A checker whose probe sees the full public chain and whose receiver is `send`."""
    return ChainChecker(
        as_kube(Kube()),
        Settings(),
        Metrics(),
        probe=FakeProbe(served(*PUBLIC.served())),
        send=send,
        clock=lambda: NOW,
        default_trust=DefaultTrust(),
    )


SENDER_CASES = {
    "echoes in time": (FakeSend(echo=True), "True", "ChainValid"),
    "does not echo": (FakeSend(echo=False), "False", "SenderTokenNotEchoed"),
    "answers 500": (FakeSend(echo=True, status=500), "False", "SenderStatus"),
    "answers after 4 s": (FakeSend(echo=True, seconds=4.0), "False", "SenderTooSlow"),
}


@pytest.mark.parametrize(("send", "status", "reason"), SENDER_CASES.values(), ids=SENDER_CASES)
def test_the_ringcentral_profile_decides_chain_valid_with_its_own_reasons(
    send: FakeSend, status: str, reason: str
) -> None:
    checker = sender_checker(send)
    result = checker.check(NAMESPACE, ENDPOINT, spec(sender="ringcentral"))
    assert (result.condition.status, result.condition.reason) == (status, reason)
    [(_, server_name, request, timeout)] = send.requests[-1:]
    assert server_name == HOST
    assert request.headers["X-Webhook-Cert-Check"] == "validation"
    assert timeout == 3.0 + SENDER_GRACE


def test_the_generic_profile_sends_nothing() -> None:
    send = FakeSend(echo=False)
    checker = sender_checker(send)
    assert checker.check(NAMESPACE, ENDPOINT, spec()).ok
    assert send.requests == []


def test_an_ipv6_address_without_a_route_from_here_is_listed_but_not_judged() -> None:
    unroutable = ProbeError(
        Failure.NO_ROUTE, "cannot connect to [2001:db8::1]:443: Network is unreachable"
    )
    unroutable.address = "[2001:db8::1]:443"
    answer = replace(served(*PUBLIC.served()), address="192.0.2.1:443", others=(unroutable,))
    result = check(answer)
    assert result.ok, result.condition.message
    assert result.validation["addresses"] == [
        {"address": "192.0.2.1:443", "ok": True, "codes": []},
        {
            "address": "[2001:db8::1]:443",
            "ok": True,
            "codes": [],
            "skipped": SKIPPED_NO_ROUTE,
        },
    ]


def test_an_unreachable_ipv4_address_fails_the_host() -> None:
    refused = ProbeError(Failure.REFUSED, "connection refused by 192.0.2.2:443")
    refused.address = "192.0.2.2:443"
    answer = replace(served(*PUBLIC.served()), address="192.0.2.1:443", others=(refused,))
    result = check(answer)
    assert (result.condition.status, result.condition.reason) == ("False", "ConnectionFailed")
    assert "192.0.2.2:443" in result.condition.message

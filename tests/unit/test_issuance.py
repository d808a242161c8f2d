"""Unit tests for certificates.issuance: one certificate from account to Secret.

Kubernetes, the CA and the HTTP-01 solver are fakes (tests/unit/fakes.py) that share one
call log, so the tests can say what happened in which order, and what never happened.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.unit.fakes import (
    Call,
    FakeAcme,
    FakeAcmeFactory,
    FakeCa,
    FakeKube,
    FakeSolver,
    RecordingProgress,
    settings,
    token_for,
)
from webhook_cert_operator import naming
from webhook_cert_operator.acme.errors import AcmeError, AcmeTimeout, AcmeUnavailable
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.api.status import OrderRef
from webhook_cert_operator.api.types import Endpoint
from webhook_cert_operator.certificates import pki
from webhook_cert_operator.certificates import secret as tls_secret
from webhook_cert_operator.certificates.issuance import API_PATIENCE, AccountError, Issued, Issuer
from webhook_cert_operator.kube import Conflict
from webhook_cert_operator.kube_client import ApiError
from webhook_cert_operator.settings import Settings
from webhook_cert_operator.solver.http01 import SelfCheckFailed

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOST = "hooks.example.test"
OTHER_HOST = "api.example.test"
ENDPOINT = Endpoint("payments", "ringcentral", "uid-ringcentral")
SECRET = "hooks-example-tls"
PREVIOUS_URL = "https://ca.test/order/previous"
FIRST_NEW_URL = "https://ca.test/order/new-1"
CA = FakeCa(T0)


def test_with_secret_deletion_policy_delete_the_secret_is_owned_by_the_endpoint() -> None:
    world = World()

    world.issue(spec_of(secretDeletionPolicy="Delete"))

    assert world.tls_secret()["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "webhookcert.dev/v1alpha1",
            "kind": "WebhookEndpoint",
            "name": ENDPOINT.name,
            "uid": ENDPOINT.uid,
        }
    ]


def test_additional_output_formats_reach_the_secret() -> None:
    world = World()

    world.issue(spec_of(additionalOutputFormats=[{"type": "CertbotFiles"}]))

    data = world.tls_secret()["data"]
    assert {"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"} <= set(data)
    assert data["fullchain.pem"] == data["tls.crt"]


def spec_of(**fields: Any) -> api.EndpointSpec:
    body: dict[str, Any] = {"dnsNames": [HOST], "secretName": SECRET, **fields}
    return parse_spec(body, name=ENDPOINT.name, settings=Settings())


@dataclass
class World:
    """An Issuer wired to fakes, and everything a test looks at afterwards."""

    log: list[Call] = field(default_factory=list)
    kube: FakeKube = field(default_factory=FakeKube)
    progress: RecordingProgress = field(default_factory=RecordingProgress)

    def __post_init__(self) -> None:
        self.acme = FakeAcme(CA, self.log)
        self.factory = FakeAcmeFactory(self.acme)
        self.solver = FakeSolver(self.log)
        self.settings = settings()
        self.sleeps: list[float] = []
        self.issuer = Issuer(
            self.kube,
            self.settings,
            self.solver,
            self.factory,
            monotonic=lambda: sum(self.sleeps),
            sleep=self.sleeps.append,
        )

    def issue(
        self, spec: api.EndpointSpec | None = None, previous: OrderRef | None = None
    ) -> Issued:
        return self.issuer.issue(ENDPOINT, spec or spec_of(), previous, self.progress)

    def did(self, who: str, what: str) -> bool:
        return any(call[:2] == (who, what) for call in self.log)

    def sequence(self) -> list[str]:
        return [f"{call[0]}.{call[1]}" for call in self.log]

    def tls_secret(self) -> dict[str, Any]:
        return self.kube.secret_bodies[ENDPOINT.namespace, SECRET]

    def stored_key_pem(self) -> bytes:
        return base64.b64decode(self.tls_secret()["data"]["tls.key"])

    def put_own_secret(self, key: pki.PrivateKey, dns_names: tuple[str, ...] = (HOST,)) -> None:
        """The endpoint's Secret from an earlier issuance (same CA, the given key)."""
        csr = pki.build_csr(key, dns_names)
        chain = CA.sign(csr)
        self.kube.put_secret(
            ENDPOINT.namespace,
            SECRET,
            {"tls.crt": pki.chain_to_pem(chain), "tls.key": pki.private_key_to_pem(key)},
            annotations={naming.ANNOTATION_ENDPOINT: f"{ENDPOINT.namespace}/{ENDPOINT.name}"},
        )


def tls_writes(world: World) -> list[Call]:
    return [
        call
        for call in world.kube.calls
        if call[0] in ("create_secret", "replace_secret") and call[2] == SECRET
    ]


# ---- a first certificate ------------------------------------------------------------


def test_a_first_issuance_goes_from_order_to_a_secret_with_the_full_chain() -> None:
    world = World()
    issued = world.issue(spec_of(dnsNames=[HOST, OTHER_HOST]))

    assert world.sequence() == [
        "acme.connect",
        "acme.ensure_account",
        "acme.new_order",
        "acme.pending_http01_challenges",
        "solver.present",
        "solver.self_check",
        "acme.answer",
        "acme.answer",
        "acme.wait_for_authorizations",
        "acme.finalize",
        "acme.download_chain",
        "acme.close",
        "solver.finish",
    ]
    body = world.tls_secret()
    assert body["type"] == "kubernetes.io/tls"
    assert body["metadata"]["annotations"][naming.ANNOTATION_ENDPOINT] == "payments/ringcentral"
    assert "ownerReferences" not in body["metadata"]  # Retain: the Secret outlives it
    chain = pki.split_pem_chain(base64.b64decode(body["data"]["tls.crt"]))
    assert chain[1:] == [CA.intermediate.cert]
    key = pki.load_private_key(world.stored_key_pem())
    assert pki.key_matches_certificate(key, chain[0])
    assert pki.key_algorithm_and_size(key) == ("ECDSA", 256)
    assert issued.order_url == FIRST_NEW_URL
    assert issued.chain_length == 2
    assert issued.certificate == pki.describe_certificate(chain[0])


def test_the_csr_asks_for_exactly_the_spec_names() -> None:
    world = World()
    world.issue(spec_of(dnsNames=[HOST, OTHER_HOST]))
    san = world.acme.csr().extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == [HOST, OTHER_HOST]


def test_the_solver_serves_each_names_challenge_with_the_spec_http01_settings() -> None:
    world = World()
    spec = spec_of(dnsNames=[HOST, OTHER_HOST], http01={"ingressClassName": "traefik"})
    world.issue(spec)
    ((endpoint, order_url, answers, http01),) = world.solver.presented
    assert (endpoint, order_url, http01) == (ENDPOINT, FIRST_NEW_URL, spec.http01)
    assert sorted((a.host, a.token) for a in answers) == sorted(
        (name, token_for(name)) for name in (HOST, OTHER_HOST)
    )


def test_profile_and_preferred_chain_go_to_the_ca() -> None:
    world = World()
    world.issue(spec_of(acme={"profile": "shortlived", "preferredChain": "ISRG Root X1"}))
    assert ("acme", "new_order", (HOST,), "shortlived") in world.log
    assert ("acme", "download_chain", FIRST_NEW_URL, "ISRG Root X1") in world.log


def test_the_secret_records_the_acme_settings_it_was_issued_under() -> None:
    world = World()
    acme = {
        "server": "https://ca.example.test/directory",
        "email": "ops@example.test",
        "externalAccountBinding": {"keyID": "kid-7", "keySecretRef": {"name": "eab", "key": "k"}},
        "profile": "shortlived",
        "preferredChain": "ISRG Root X1",
    }
    world.kube.put_secret(ENDPOINT.namespace, "eab", {"k": b"aG1hYw"})
    world.issue(spec_of(acme=acme))
    annotations = world.tls_secret()["metadata"]["annotations"]
    assert {k: v for k, v in annotations.items() if "/acme-" in k} == {
        naming.ANNOTATION_ACME_SERVER: "https://ca.example.test/directory",
        naming.ANNOTATION_ACME_EMAIL: "ops@example.test",
        naming.ANNOTATION_ACME_EAB_KEY_ID: "kid-7",
        naming.ANNOTATION_ACME_PROFILE: "shortlived",
        naming.ANNOTATION_ACME_PREFERRED_CHAIN: "ISRG Root X1",
    }


def test_progress_reports_the_new_order_and_each_step() -> None:
    world = World()
    world.issue()
    assert world.progress.orders == [OrderRef(FIRST_NEW_URL, "pending", 1, (HOST,))]
    assert world.progress.reasons() == ["OrderCreated", "SelfCheck", "Validating", "Finalizing"]


def test_authorizations_already_valid_need_no_solver() -> None:
    world = World()
    world.acme.authorizations_valid = True
    world.issue()
    assert not world.did("solver", "present")
    assert not world.did("acme", "answer")
    assert world.did("acme", "wait_for_authorizations")
    assert len(tls_writes(world)) == 1


def test_a_ready_new_order_goes_straight_to_finalization() -> None:
    world = World()
    world.acme.new_order_status = "ready"
    world.issue()
    assert not world.did("acme", "pending_http01_challenges")
    assert world.did("acme", "finalize")


# ---- the account --------------------------------------------------------------------


def account_secret(world: World) -> tuple[str, str]:
    server = world.issuer.settings.acme_server
    return world.settings.namespace, naming.account_secret_name(server, None)


def test_the_account_key_is_created_once_and_reused() -> None:
    world = World()
    world.issue()
    namespace, name = account_secret(world)
    stored = world.kube.secrets[namespace, name].data["key.pem"]
    world.issue()
    assert [key for _, key in world.factory.calls] == [stored, stored]
    assert [c for c in world.kube.calls if c[0] == "create_secret" and c[2] == name] == [
        ("create_secret", namespace, name)
    ]


def test_an_account_key_created_concurrently_is_used_instead_of_ours() -> None:
    world = World()
    namespace, name = account_secret(world)
    winner = pki.generate_account_key()
    world.kube.before["create_secret"] = [
        lambda: world.kube.put_secret(namespace, name, {"key.pem": winner}, type="Opaque")
    ]
    world.issue()
    assert world.factory.calls[0][1] == winner


def test_an_account_secret_without_a_key_is_an_account_error_not_a_loop() -> None:
    world = World()
    namespace, name = account_secret(world)
    world.kube.put_secret(namespace, name, {"other": b"x"}, type="Opaque")
    with pytest.raises(AccountError) as failed:
        world.issue()
    assert name in str(failed.value)
    assert world.factory.calls == []


def test_external_account_binding_reads_its_key_from_the_endpoints_namespace() -> None:
    world = World()
    world.kube.put_secret(ENDPOINT.namespace, "eab", {"hmac": b"c2VjcmV0\n"}, type="Opaque")
    binding = {"keyID": "kid-1", "keySecretRef": {"name": "eab", "key": "hmac"}}
    world.issue(spec_of(acme={"externalAccountBinding": binding}))
    ((_, _, _email, agree_tos, eab),) = [
        c for c in world.log if c[:2] == ("acme", "ensure_account")
    ]
    assert eab == ("kid-1", b"c2VjcmV0")
    assert agree_tos is True


def test_another_eab_key_id_registers_with_another_account_key() -> None:
    world = World()
    world.kube.put_secret(ENDPOINT.namespace, "eab", {"hmac": b"c2VjcmV0"}, type="Opaque")
    for key_id in ("kid-1", "kid-2", "kid-1"):
        binding = {"keyID": key_id, "keySecretRef": {"name": "eab", "key": "hmac"}}
        world.issue(spec_of(acme={"externalAccountBinding": binding}))
    first, second, again = (call[1] for call in world.factory.calls)
    assert first != second  # a CA binds an ACME account once, at registration
    assert again == first


def test_a_missing_external_account_binding_key_fails_before_any_order() -> None:
    world = World()
    binding = {"keyID": "kid-1", "keySecretRef": {"name": "eab", "key": "hmac"}}
    with pytest.raises(AccountError) as failed:
        world.issue(spec_of(acme={"externalAccountBinding": binding}))
    assert "spec.acme.externalAccountBinding" in str(failed.value)
    assert not world.did("acme", "new_order")
    assert world.acme.closed


# ---- ownership of the Secret --------------------------------------------------------


@pytest.mark.parametrize(
    "annotations",
    [
        pytest.param({}, id="unmarked"),
        pytest.param({naming.ANNOTATION_ENDPOINT: "payments/zoom"}, id="another-endpoint"),
        pytest.param({naming.ANNOTATION_ENDPOINT: "billing/ringcentral"}, id="other-namespace"),
    ],
)
def test_a_secret_that_belongs_to_someone_else_costs_no_acme_request(
    annotations: dict[str, str],
) -> None:
    world = World()
    theirs = world.kube.put_secret(
        ENDPOINT.namespace,
        SECRET,
        {"tls.crt": b"theirs", "tls.key": b"theirs"},
        annotations=annotations,
    )
    with pytest.raises(tls_secret.SecretNotOwned) as refused:
        world.issue()
    assert "spec.secretName" in str(refused.value)
    assert world.factory.calls == []
    assert world.log == []
    assert [c for c in world.kube.calls if c[0] != "get_secret"] == []
    assert world.kube.secrets[ENDPOINT.namespace, SECRET] == theirs


def test_a_secret_someone_else_creates_during_issuance_is_not_overwritten() -> None:
    world = World()

    def someone_else_creates_the_secret() -> None:
        world.kube.put_secret(ENDPOINT.namespace, SECRET, {"tls.crt": b"theirs"})

    world.acme.hooks["download_chain"] = someone_else_creates_the_secret
    with pytest.raises(tls_secret.SecretNotOwned):
        world.issue()
    assert tls_writes(world) == []
    assert world.kube.secrets[ENDPOINT.namespace, SECRET].data == {"tls.crt": b"theirs"}


def test_a_secret_someone_else_creates_at_the_same_moment_is_not_overwritten() -> None:
    world = World()

    def create_races() -> None:
        world.kube.before["create_secret"] = [
            lambda: world.kube.put_secret(ENDPOINT.namespace, SECRET, {"tls.crt": b"theirs"})
        ]

    world.acme.hooks["download_chain"] = create_races
    with pytest.raises(tls_secret.SecretNotOwned):
        world.issue()
    assert [c[0] for c in tls_writes(world)] == ["create_secret"]  # refused: AlreadyExists
    assert world.kube.secrets[ENDPOINT.namespace, SECRET].data == {"tls.crt": b"theirs"}


def test_the_endpoints_own_secret_is_replaced_in_place() -> None:
    world = World()
    world.put_own_secret(pki.generate_private_key("ECDSA", 256))
    version = world.kube.secrets[ENDPOINT.namespace, SECRET].resource_version
    issued = world.issue()
    assert tls_writes(world) == [("replace_secret", ENDPOINT.namespace, SECRET, version)]
    stored = world.kube.secrets[ENDPOINT.namespace, SECRET]
    assert stored.annotations[naming.ANNOTATION_SERIAL] == issued.certificate.serial_number


def test_a_secret_changed_while_issuing_is_a_conflict_not_a_blind_overwrite() -> None:
    world = World()
    world.put_own_secret(pki.generate_private_key("ECDSA", 256))

    def someone_edits_it() -> None:
        current = world.kube.secrets[ENDPOINT.namespace, SECRET]
        world.kube.put_secret(
            ENDPOINT.namespace, SECRET, current.data, annotations=current.annotations
        )

    world.kube.before["replace_secret"] = [someone_edits_it]
    with pytest.raises(Conflict):
        world.issue()


# ---- resuming an order --------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous_state", "state_at_ca", "resumed"),
    [
        pytest.param("pending", "pending", True, id="pending-still-pending"),
        pytest.param("pending", "ready", True, id="pending-now-ready"),
        pytest.param("ready", "ready", True, id="ready-still-ready"),
        pytest.param("pending", "invalid", False, id="pending-now-invalid"),
        pytest.param("pending", "valid", False, id="pending-now-valid-but-key-lost"),
        pytest.param("ready", "processing", False, id="ready-now-processing"),
    ],
)
def test_a_pending_or_ready_order_is_resumed_while_the_ca_still_lets_it_go_on(
    previous_state: str, state_at_ca: str, resumed: bool
) -> None:
    world = World()
    world.acme.add_order(PREVIOUS_URL, state_at_ca, [HOST])
    previous = OrderRef(PREVIOUS_URL, previous_state, 2, (HOST,))
    issued = world.issue(previous=previous)

    assert ("acme", "get_order", PREVIOUS_URL) in world.log
    assert world.did("acme", "new_order") is not resumed
    assert issued.order_url == (PREVIOUS_URL if resumed else FIRST_NEW_URL)
    if resumed:
        assert "OrderResumed" in world.progress.reasons()
        # Resuming creates no order: the count of orders for this spec stays.
        assert world.progress.orders == [OrderRef(PREVIOUS_URL, state_at_ca, 2, (HOST,))]
    else:
        assert world.progress.orders == [OrderRef(FIRST_NEW_URL, "pending", 3, (HOST,))]
    assert world.did("solver", "present") is (state_at_ca == "pending" or not resumed)


@pytest.mark.parametrize("previous_state", ["processing", "valid", "invalid"])
def test_an_order_past_authorization_is_not_resumed(previous_state: str) -> None:
    world = World()
    world.issue(previous=OrderRef(PREVIOUS_URL, previous_state, 4, (HOST,)))
    assert not world.did("acme", "get_order")
    assert world.progress.orders == [OrderRef(FIRST_NEW_URL, "pending", 5, (HOST,))]


def test_an_order_for_other_names_is_not_resumed_and_the_count_starts_again() -> None:
    world = World()
    world.acme.add_order(PREVIOUS_URL, "pending", [HOST])
    world.issue(
        spec_of(dnsNames=[HOST, OTHER_HOST]), previous=OrderRef(PREVIOUS_URL, "pending", 4, (HOST,))
    )
    assert not world.did("acme", "get_order")
    assert world.progress.orders == [OrderRef(FIRST_NEW_URL, "pending", 1, (HOST, OTHER_HOST))]


def test_an_order_for_the_same_names_in_another_order_is_resumed() -> None:
    world = World()
    world.acme.add_order(PREVIOUS_URL, "pending", [HOST, OTHER_HOST])
    world.issue(
        spec_of(dnsNames=[HOST, OTHER_HOST]),
        previous=OrderRef(PREVIOUS_URL, "pending", 1, (OTHER_HOST, HOST)),
    )
    assert not world.did("acme", "new_order")


def test_an_order_the_ca_no_longer_knows_is_replaced_by_a_new_one() -> None:
    # For example after switching spec.acme.server, or when the CA dropped an old order:
    # resuming must not fail the same way forever.
    world = World()
    world.acme.fail["get_order"] = AcmeError(
        "urn:ietf:params:acme:error:malformed", "No order for ID 7"
    )
    issued = world.issue(previous=OrderRef(PREVIOUS_URL, "pending", 1, (HOST,)))
    assert issued.order_url == FIRST_NEW_URL
    assert world.progress.orders == [OrderRef(FIRST_NEW_URL, "pending", 2, (HOST,))]


def test_a_ca_that_cannot_be_reached_while_resuming_is_not_a_reason_for_a_new_order() -> None:
    world = World()
    world.acme.fail["get_order"] = AcmeUnavailable(None, "the CA answered HTTP 503 (get-order)")
    with pytest.raises(AcmeUnavailable):
        world.issue(previous=OrderRef(PREVIOUS_URL, "pending", 1, (HOST,)))
    assert not world.did("acme", "new_order")
    assert world.acme.closed


# ---- failures clean up --------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "what", "error"),
    [
        pytest.param("solver", "present", RuntimeError("API down"), id="present"),
        pytest.param("solver", "self_check", SelfCheckFailed("404"), id="self-check"),
        pytest.param("acme", "answer", AcmeError(None, "bad"), id="answer"),
        pytest.param(
            "acme",
            "wait_for_authorizations",
            AcmeError("urn:x:unauthorized", "no"),
            id="validation",
        ),
        pytest.param("acme", "finalize", AcmeTimeout(None, "slow"), id="finalize"),
        pytest.param("acme", "download_chain", AcmeUnavailable(None, "503"), id="download"),
    ],
)
def test_a_failure_after_the_order_removes_the_solver_and_closes_the_client(
    who: str, what: str, error: Exception
) -> None:
    world = World()
    (world.solver if who == "solver" else world.acme).fail[what] = error
    with pytest.raises(type(error)):
        world.issue()
    assert world.sequence()[-2:] == ["solver.clean_up", "acme.close"]
    assert tls_writes(world) == []


def test_a_failed_self_check_never_asks_the_ca_to_validate() -> None:
    world = World()
    world.solver.fail["self_check"] = SelfCheckFailed("answered HTTP 404")
    with pytest.raises(SelfCheckFailed):
        world.issue()
    assert not world.did("acme", "answer")


def unavailable() -> None:
    raise ApiError(503, "Service Unavailable")


def test_an_issued_certificate_waits_for_the_api_to_come_back_instead_of_a_new_order() -> None:
    world = World()
    # The first write is the ACME account key's, before any order.
    world.kube.before["create_secret"] = [lambda: None, unavailable, unavailable]
    world.issue()
    assert world.tls_secret()["type"] == "kubernetes.io/tls"
    assert world.sequence().count("acme.new_order") == 1
    assert world.sleeps == [1.0, 2.0]


def test_an_api_that_stays_away_fails_the_attempt_after_its_patience() -> None:
    world = World()
    world.kube.before["create_secret"] = [lambda: None, *[unavailable] * 100]
    with pytest.raises(ApiError):
        world.issue()
    assert 100.0 <= sum(world.sleeps) <= API_PATIENCE
    assert tls_writes(world) == []


def test_an_api_verdict_is_not_waited_out() -> None:
    world = World()
    world.kube.before["create_secret"] = [lambda: None, forbidden]
    with pytest.raises(ApiError):
        world.issue()
    assert world.sleeps == []


def forbidden() -> None:
    raise ApiError(403, "Forbidden")


@pytest.mark.parametrize("step", ["finish", "clean_up"])
def test_the_client_is_closed_even_when_the_solver_clean_up_fails(step: str) -> None:
    world = World()
    world.solver.fail[step] = RuntimeError("API down")
    if step == "clean_up":  # the clean-up after a failure
        world.solver.fail["self_check"] = SelfCheckFailed("answered HTTP 404")
    with pytest.raises((RuntimeError, SelfCheckFailed)):
        world.issue()
    assert world.acme.closed


# ---- which key ----------------------------------------------------------------------


def csr_key_pem(world: World) -> bytes:
    return (
        world.acme.csr()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def public_pem(key: pki.PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_rotation_never_keeps_a_stored_key_that_fits() -> None:
    world = World()
    kept = pki.generate_private_key("ECDSA", 256)
    world.put_own_secret(kept)
    world.issue(spec_of(privateKey={"rotationPolicy": "Never"}))
    assert csr_key_pem(world) == public_pem(kept)
    assert world.stored_key_pem() == pki.private_key_to_pem(kept)


@pytest.mark.parametrize(
    ("stored", "wanted"),
    [
        pytest.param(("ECDSA", 256), {"algorithm": "ECDSA", "size": 384}, id="other-size"),
        pytest.param(("ECDSA", 256), {"algorithm": "RSA", "size": 2048}, id="other-algorithm"),
    ],
)
def test_rotation_never_replaces_a_stored_key_of_another_type(
    stored: tuple[str, int], wanted: dict[str, Any]
) -> None:
    world = World()
    old = pki.generate_private_key(*stored)
    world.put_own_secret(old)
    world.issue(spec_of(privateKey={**wanted, "rotationPolicy": "Never"}))
    new = pki.load_private_key(world.stored_key_pem())
    assert pki.key_algorithm_and_size(new) == (wanted["algorithm"], wanted["size"])
    assert csr_key_pem(world) == public_pem(new)


def test_rotation_never_with_an_unusable_stored_key_makes_a_new_one() -> None:
    world = World()
    world.kube.put_secret(
        ENDPOINT.namespace,
        SECRET,
        {"tls.crt": b"garbage", "tls.key": b"garbage"},
        annotations={naming.ANNOTATION_ENDPOINT: "payments/ringcentral"},
    )
    world.issue(spec_of(privateKey={"rotationPolicy": "Never"}))
    new = pki.load_private_key(world.stored_key_pem())
    assert csr_key_pem(world) == public_pem(new)


def test_rotation_always_makes_a_new_key_even_when_the_stored_one_fits() -> None:
    world = World()
    old = pki.generate_private_key("ECDSA", 256)
    world.put_own_secret(old)
    world.issue(spec_of(privateKey={"rotationPolicy": "Always"}))
    assert csr_key_pem(world) != public_pem(old)
    assert world.stored_key_pem() != pki.private_key_to_pem(old)

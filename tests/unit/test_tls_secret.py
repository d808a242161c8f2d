"""Unit tests for webhook_cert_operator.certificates.secret: the Secret body, its extra output
formats, the ownership mark and deletion policy, reading back what a Secret holds, and the
annotation that rolls restart targets."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests import pki_factory
from webhook_cert_operator import naming
from webhook_cert_operator.api.formats import is_label_value
from webhook_cert_operator.certificates import pki
from webhook_cert_operator.certificates.secret import (
    RESTART_ANNOTATION,
    SecretNotOwned,
    StoredCertificate,
    build_tls_secret,
    check_owned,
    issuing_root,
    judge_referenced,
    parse_stored,
    restart_annotation_patch,
    restart_needed,
    secret_owner,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAMESPACE = "payments"
ENDPOINT = "ringcentral"
SECRET = "hooks-example-tls"
OWNER = {
    "apiVersion": "webhookcert.dev/v1alpha1",
    "kind": "WebhookEndpoint",
    "name": ENDPOINT,
    "uid": "0b1c2d3e-uid",
}

CHAIN = pki_factory.build_chain(["hooks.example.test", "api.example.test"], now=T0, depth=2)
CHAIN_PEM = pki.chain_to_pem(CHAIN.served())
KEY_PEM = CHAIN.leaf.key_pem()


def body(
    owner: Mapping[str, Any] | None = OWNER,
    *,
    output_formats: tuple[str, ...] = (),
    ca_pem: bytes | None = None,
    chain_pem: bytes = CHAIN_PEM,
) -> dict[str, Any]:
    return build_tls_secret(
        namespace=NAMESPACE,
        name=SECRET,
        endpoint_name=ENDPOINT,
        key_pem=KEY_PEM,
        chain_pem=chain_pem,
        owner=owner,
        output_formats=output_formats,
        ca_pem=ca_pem,
    )


def decoded(secret: Mapping[str, Any]) -> dict[str, bytes]:
    return {key: base64.b64decode(value) for key, value in secret["data"].items()}


# ---- the Secret body ----------------------------------------------------------------


def test_the_secret_is_a_kubernetes_tls_secret_named_by_the_spec() -> None:
    secret = body()
    assert (secret["apiVersion"], secret["kind"], secret["type"]) == (
        "v1",
        "Secret",
        "kubernetes.io/tls",
    )
    assert secret["metadata"]["name"] == SECRET
    assert secret["metadata"]["namespace"] == NAMESPACE


def test_the_secret_holds_exactly_the_key_and_the_full_chain() -> None:
    data = body()["data"]
    assert set(data) == {"tls.crt", "tls.key"}
    assert base64.b64decode(data["tls.key"]) == KEY_PEM
    crt = base64.b64decode(data["tls.crt"])
    # Leaf first, then both intermediates in issuing order: what strict senders need.
    assert pki.split_pem_chain(crt) == list(CHAIN.served())
    assert len(CHAIN.served()) == 3


def test_the_secret_carries_the_endpoint_mark_and_certificate_facts() -> None:
    annotations = body()["metadata"]["annotations"]
    info = pki.describe_certificate(CHAIN.leaf.cert)
    assert annotations == {
        naming.ANNOTATION_ENDPOINT: f"{NAMESPACE}/{ENDPOINT}",
        naming.ANNOTATION_SERIAL: info.serial_number,
        naming.ANNOTATION_NOT_AFTER: info.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        naming.ANNOTATION_ISSUER: "CN=Test Intermediate CA 2,O=Test PKI",
    }


def test_the_secret_is_labelled_as_managed_by_the_operator_for_its_endpoint() -> None:
    assert body()["metadata"]["labels"] == {
        naming.LABEL_MANAGED_BY: naming.MANAGED_BY,
        naming.LABEL_ENDPOINT: ENDPOINT,
    }


def test_a_long_endpoint_name_still_gives_a_valid_label() -> None:
    long_name = "a" * 70
    secret = build_tls_secret(
        namespace=NAMESPACE,
        name=SECRET,
        endpoint_name=long_name,
        key_pem=KEY_PEM,
        chain_pem=CHAIN_PEM,
        owner=None,
    )
    assert is_label_value(secret["metadata"]["labels"][naming.LABEL_ENDPOINT])
    assert secret["metadata"]["annotations"][naming.ANNOTATION_ENDPOINT] == (
        f"{NAMESPACE}/{long_name}"
    )


def test_the_owner_reference_is_the_one_given() -> None:
    assert body()["metadata"]["ownerReferences"] == [OWNER]


def test_without_an_owner_the_secret_has_no_owner_references() -> None:
    assert "ownerReferences" not in body(owner=None)["metadata"]


def test_the_body_does_not_share_the_owner_mapping() -> None:
    owner = dict(OWNER)
    secret = body(owner=owner)
    owner["name"] = "changed-later"
    assert secret["metadata"]["ownerReferences"][0]["name"] == ENDPOINT


# ---- extra output formats -----------------------------------------------------------

LEAF, INTERMEDIATE_2, INTERMEDIATE_1 = CHAIN.served()


def test_certbot_files_split_the_chain_as_certbot_does() -> None:
    data = decoded(body(output_formats=("CertbotFiles",)))
    assert set(data) == {
        "tls.crt",
        "tls.key",
        "cert.pem",
        "chain.pem",
        "fullchain.pem",
        "privkey.pem",
    }
    assert pki.split_pem_chain(data["cert.pem"]) == [LEAF]
    # Intermediates only, nearest the leaf first: Apache's SSLCertificateChainFile.
    assert pki.split_pem_chain(data["chain.pem"]) == [INTERMEDIATE_2, INTERMEDIATE_1]
    assert data["fullchain.pem"] == data["tls.crt"]
    assert data["privkey.pem"] == data["tls.key"] == KEY_PEM


def test_the_combined_pem_is_the_key_then_the_full_chain() -> None:
    data = decoded(body(output_formats=("CombinedPEM",)))
    assert set(data) == {"tls.crt", "tls.key", "tls-combined.pem"}
    combined = data["tls-combined.pem"]
    assert combined.startswith(KEY_PEM)
    assert combined[len(KEY_PEM) :] == data["tls.crt"]
    assert pki.split_pem_chain(combined) == list(CHAIN.served())


def test_both_formats_can_be_asked_for_together() -> None:
    data = decoded(body(output_formats=("CombinedPEM", "CertbotFiles")))
    assert {"tls-combined.pem", "cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"} < set(data)


def test_a_chain_without_intermediates_gives_an_empty_chain_pem_not_a_crash() -> None:
    leaf_only = pki.chain_to_pem([LEAF])
    data = decoded(body(output_formats=("CertbotFiles",), chain_pem=leaf_only))
    assert data["chain.pem"] == b""
    assert data["fullchain.pem"] == data["cert.pem"] == leaf_only


def test_an_unknown_output_format_is_a_programming_error() -> None:
    # parse.parse_spec refuses it first; reaching here means a caller bypassed the spec.
    with pytest.raises(ValueError, match="unknown output format 'DER'"):
        body(output_formats=("DER",))


def test_the_issuing_root_goes_to_ca_crt_when_given() -> None:
    data = decoded(body(ca_pem=CHAIN.root.cert_pem()))
    assert set(data) == {"tls.crt", "tls.key", "ca.crt"}
    assert pki.split_pem_chain(data["ca.crt"]) == [CHAIN.root.cert]
    # tls.crt is unchanged: the root is never served.
    assert pki.split_pem_chain(data["tls.crt"]) == list(CHAIN.served())


def test_a_ca_crt_that_holds_no_certificate_is_refused() -> None:
    with pytest.raises(pki.PemError):
        body(ca_pem=b"not a certificate")


@pytest.mark.parametrize(
    ("chain", "root"),
    [
        pytest.param(CHAIN.served(), None, id="served-chain-stops-at-the-intermediate"),
        pytest.param(CHAIN.full(), CHAIN.root.cert, id="full-chain-ends-in-the-root"),
        pytest.param((CHAIN.root.cert,), CHAIN.root.cert, id="the-root-alone"),
        pytest.param((), None, id="empty"),
    ],
)
def test_the_issuing_root_is_the_self_signed_top_of_the_chain(
    chain: tuple[x509.Certificate, ...], root: x509.Certificate | None
) -> None:
    assert issuing_root(chain) == root


def test_a_certificate_named_like_its_issuer_but_signed_by_another_key_is_no_root() -> None:
    # Same subject and issuer name, another key's signature: a cross-sign by a namesake.
    namesake = pki_factory.make_root("Test Root CA", now=T0)
    impostor = pki_factory.cross_sign(CHAIN.root, namesake, now=T0).cert
    assert impostor.subject == impostor.issuer
    assert issuing_root((*CHAIN.served(), impostor)) is None


# ---- deletion policy ----------------------------------------------------------------


def test_retain_leaves_the_secret_without_an_owner() -> None:
    assert secret_owner("Retain", OWNER) is None
    assert "ownerReferences" not in body(owner=secret_owner("Retain", OWNER))["metadata"]


def test_delete_makes_the_endpoint_the_secrets_owner() -> None:
    secret = body(owner=secret_owner("Delete", OWNER))
    assert secret["metadata"]["ownerReferences"] == [OWNER]


def test_an_unknown_deletion_policy_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="secretDeletionPolicy 'Orphan'"):
        secret_owner("Orphan", OWNER)


# ---- restart targets ----------------------------------------------------------------

SERIAL = "03A1B2C3D4E5F60718293A4B5C6D7E8F9A0B"


@pytest.mark.parametrize(
    ("annotations", "needed"),
    [
        pytest.param(None, True, id="no-annotations"),
        pytest.param({"kubectl.kubernetes.io/restartedAt": "x"}, True, id="never-rolled"),
        pytest.param({RESTART_ANNOTATION: "0102"}, True, id="rolled-for-an-older-certificate"),
        pytest.param({RESTART_ANNOTATION: SERIAL}, False, id="already-on-this-certificate"),
    ],
)
def test_a_target_is_rolled_only_when_it_runs_with_another_certificate(
    annotations: Mapping[str, str] | None, needed: bool
) -> None:
    assert restart_needed(annotations, SERIAL) is needed


def test_the_restart_patch_sets_the_serial_on_the_pod_template() -> None:
    assert restart_annotation_patch(SERIAL) == {
        "spec": {"template": {"metadata": {"annotations": {RESTART_ANNOTATION: SERIAL}}}}
    }
    assert RESTART_ANNOTATION == "webhookcert.dev/certificate-serial"


def test_after_the_patch_the_same_certificate_needs_no_second_roll() -> None:
    patch = restart_annotation_patch(SERIAL)
    template_annotations = patch["spec"]["template"]["metadata"]["annotations"]
    assert not restart_needed(template_annotations, SERIAL)


# ---- ownership ----------------------------------------------------------------------


def test_a_secret_marked_for_this_endpoint_is_owned() -> None:
    check_owned(
        {naming.ANNOTATION_ENDPOINT: f"{NAMESPACE}/{ENDPOINT}", "other": "x"},
        namespace=NAMESPACE,
        secret_name=SECRET,
        endpoint_name=ENDPOINT,
    )


@pytest.mark.parametrize(
    ("annotations", "whose"),
    [
        pytest.param(None, "someone else", id="no-annotations"),
        pytest.param({}, "someone else", id="empty-annotations"),
        pytest.param({"cert-manager.io/certificate-name": "x"}, "someone else", id="unmarked"),
        pytest.param(
            {naming.ANNOTATION_ENDPOINT: f"{NAMESPACE}/zoom"},
            f"WebhookEndpoint {NAMESPACE}/zoom",
            id="another-endpoint",
        ),
        pytest.param(
            {naming.ANNOTATION_ENDPOINT: f"billing/{ENDPOINT}"},
            f"WebhookEndpoint billing/{ENDPOINT}",
            id="same-name-other-namespace",
        ),
        pytest.param(
            {naming.ANNOTATION_ENDPOINT: ENDPOINT}, f"WebhookEndpoint {ENDPOINT}", id="bare-name"
        ),
    ],
)
def test_a_secret_not_marked_for_this_endpoint_is_refused_with_a_way_out(
    annotations: Mapping[str, str] | None, whose: str
) -> None:
    with pytest.raises(SecretNotOwned) as refused:
        check_owned(annotations, namespace=NAMESPACE, secret_name=SECRET, endpoint_name=ENDPOINT)
    message = str(refused.value)
    assert f"Secret {SECRET} " in message
    assert f"belongs to {whose};" in message
    assert "spec.secretName" in message


# ---- reading a Secret back ----------------------------------------------------------


def test_what_the_operator_stores_reads_back_as_chain_and_key() -> None:
    data = {k: base64.b64decode(v) for k, v in body()["data"].items()}
    stored = parse_stored(data)
    assert isinstance(stored, StoredCertificate)
    assert stored.chain == CHAIN.served()
    assert stored.leaf == CHAIN.leaf.cert
    assert pki.private_key_to_pem(stored.key) == KEY_PEM


def test_a_traditional_format_key_reads_too() -> None:
    sec1 = CHAIN.leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    stored = parse_stored({"tls.crt": CHAIN_PEM, "tls.key": sec1})
    assert isinstance(stored, StoredCertificate)
    assert pki.key_matches_certificate(stored.key, stored.leaf)


ED25519_PEM = ed25519.Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param({}, "the Secret has no tls.crt or tls.key", id="empty"),
        pytest.param({"tls.crt": CHAIN_PEM}, "the Secret has no tls.crt or tls.key", id="no-key"),
        pytest.param({"tls.key": KEY_PEM}, "the Secret has no tls.crt or tls.key", id="no-crt"),
        pytest.param(
            {"tls.crt": CHAIN_PEM, "tls.key": b""},
            "the Secret has no tls.crt or tls.key",
            id="empty-key",
        ),
        pytest.param(
            {"tls.crt": b"garbage", "tls.key": KEY_PEM},
            "tls.crt does not hold a PEM certificate",
            id="garbage-crt",
        ),
        pytest.param(
            {"tls.crt": KEY_PEM, "tls.key": KEY_PEM},
            "tls.crt does not hold a PEM certificate",
            id="key-in-crt",
        ),
        pytest.param(
            {"tls.crt": CHAIN_PEM, "tls.key": b"garbage"},
            "tls.key does not hold a usable private key",
            id="garbage-key",
        ),
        pytest.param(
            {"tls.crt": CHAIN_PEM, "tls.key": CHAIN_PEM},
            "tls.key does not hold a usable private key",
            id="certificate-in-key",
        ),
        pytest.param(
            {"tls.crt": CHAIN_PEM, "tls.key": ED25519_PEM},
            "tls.key does not hold a usable private key",
            id="unsupported-key-type",
        ),
    ],
)
def test_an_unusable_secret_gives_a_stable_reason_without_its_content(
    data: Mapping[str, bytes], reason: str
) -> None:
    assert parse_stored(data) == reason


# ---- a Secret someone else keeps (check-only endpoints) --------------------------------

OTHER_KEY_PEM = pki.private_key_to_pem(pki.generate_private_key("ECDSA", 256))
GOOD_DATA = {"tls.crt": CHAIN_PEM, "tls.key": KEY_PEM}


@pytest.mark.parametrize(
    ("secret_type", "data", "now", "ready", "reason", "message"),
    [
        pytest.param(
            "kubernetes.io/tls", GOOD_DATA, T0, True, "CertificateValid",
            "Secret hooks-example-tls: certificate valid until ", id="valid",
        ),
        pytest.param(
            None, None, T0, False, "SecretNotFound",
            "Secret hooks-example-tls does not exist", id="missing",
        ),
        pytest.param(
            "Opaque", GOOD_DATA, T0, False, "SecretUnusable",
            "is of type Opaque, not kubernetes.io/tls", id="not-a-tls-secret",
        ),
        pytest.param(
            "kubernetes.io/tls", {"tls.crt": CHAIN_PEM}, T0, False, "SecretUnusable",
            "Secret hooks-example-tls: has no tls.crt or tls.key", id="no-key",
        ),
        pytest.param(
            "kubernetes.io/tls", {"tls.crt": CHAIN_PEM, "tls.key": OTHER_KEY_PEM}, T0, False,
            "KeyMismatch", "tls.key is not the key of the first certificate", id="other-key",
        ),
        pytest.param(
            "kubernetes.io/tls", GOOD_DATA, T0 + 100 * pki_factory.DAY, False,
            "CertificateExpired", "the certificate expired at ", id="expired",
        ),
        pytest.param(
            "kubernetes.io/tls", GOOD_DATA, T0 - 2 * pki_factory.DAY, False,
            "CertificateNotYetValid", "the certificate is valid from ", id="not-yet-valid",
        ),
    ],
)  # fmt: skip
def test_ready_for_a_referenced_secret_says_what_is_wrong_with_it(
    secret_type: str | None,
    data: dict[str, bytes] | None,
    now: datetime,
    ready: bool,
    reason: str,
    message: str,
) -> None:
    verdict = judge_referenced(SECRET, secret_type, data, now=now)
    assert (verdict.ready, verdict.reason) == (ready, reason)
    assert message in verdict.message
    assert "PRIVATE KEY" not in verdict.message


def test_without_a_referenced_secret_ready_leaves_the_verdict_to_chain_valid() -> None:
    verdict = judge_referenced(None, None, None, now=T0)
    assert (verdict.ready, verdict.reason, verdict.leaf) == (True, "CheckOnly", None)

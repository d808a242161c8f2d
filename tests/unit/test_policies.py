"""Unit tests for certificates.policies: whether and why an endpoint needs a new
certificate, decided from what its Secret holds, the spec, status.renewal and the time
passed in; renewal on demand and `replaces`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests import pki_factory
from tests.pki_factory import DAY, Validity
from tests.unit.test_timing import (
    CERT_ID,
    CHOSEN,
    HOST,
    HOUR,
    NOT_AFTER,
    OTHER_CERT_ID,
    SECOND,
    T0,
    WINDOW,
    previous_ari,
    record,
    spec_of,
)
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.status import RenewalStatus
from webhook_cert_operator.certificates import pki, policies
from webhook_cert_operator.certificates.policies import (
    RENEW_ANNOTATION,
    Decision,
    Input,
    IssuerChange,
    issuer_change,
    renew_requested,
)
from webhook_cert_operator.certificates.secret import (
    StoredCertificate,
    issuance_annotations,
    parse_stored,
)

OTHER_HOST = "api.example.test"


def decide(
    stored: StoredCertificate | str | None, spec: api.EndpointSpec, now: datetime, **input: Any
) -> Decision:
    """policies.decide over the input lifecycle would gather: these, and `input`'s fields."""
    return policies.decide(Input(spec=spec, now=now, stored=stored, **input))


def stored_for(
    dns_names: tuple[str, ...] = (HOST,),
    *,
    validity: Validity = pki_factory.CURRENT,
    key: pki.PrivateKey | None = None,
) -> StoredCertificate:
    """A Secret's content as parsed: a leaf issued at T0 for `dns_names`, its intermediate."""
    chain = pki_factory.build_chain(dns_names, now=T0, leaf_validity=validity)
    return StoredCertificate(
        chain=(chain.leaf.cert, chain.intermediates[0].cert),
        key=key if key is not None else cast(pki.PrivateKey, chain.leaf.key),
    )


# ---- no certificate, or none that can be used ----------------------------------------


def test_a_missing_secret_means_issue_now() -> None:
    assert decide(None, spec_of(), T0) == Decision("no certificate has been issued yet")


GOOD = stored_for()
GOOD_CRT = pki.chain_to_pem(GOOD.chain)
GOOD_KEY = pki.private_key_to_pem(GOOD.key)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        pytest.param({}, "the Secret has no tls.crt or tls.key", id="empty-secret"),
        pytest.param({"tls.crt": GOOD_CRT}, "no tls.crt or tls.key", id="missing-key"),
        pytest.param({"tls.key": GOOD_KEY}, "no tls.crt or tls.key", id="missing-certificate"),
        pytest.param(
            {"tls.crt": b"", "tls.key": GOOD_KEY}, "no tls.crt or tls.key", id="empty-certificate"
        ),
        pytest.param(
            {"tls.crt": b"hello, not a certificate", "tls.key": GOOD_KEY},
            "tls.crt does not hold a PEM certificate",
            id="garbage-certificate",
        ),
        pytest.param(
            {"tls.crt": GOOD_CRT, "tls.key": b"-----BEGIN PRIVATE KEY-----\nAAAA\n"},
            "tls.key does not hold a usable private key",
            id="garbage-key",
        ),
    ],
)
def test_an_unusable_secret_means_issue_now_and_says_why(
    data: Mapping[str, bytes], why: str
) -> None:
    decision = decide(parse_stored(data), spec_of(), T0)
    assert decision.reason is not None
    assert decision.reason.startswith("the stored certificate is unusable: ")
    assert why in decision.reason
    assert decision.renewal_time is None


def test_a_certificate_with_an_empty_validity_period_is_unusable_not_a_crash() -> None:
    # Someone else's Secret can hold anything; deciding must still give a reason, so the
    # operator goes on to the ownership check and reports that instead of crashing.
    chain = pki_factory.build_chain([HOST], now=T0)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(chain.leaf.cert.subject)
        .issuer_name(chain.intermediates[0].cert.subject)
        .public_key(chain.leaf.key.public_key())
        .serial_number(1)
        .not_valid_before(T0)
        .not_valid_after(T0)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(chain.intermediates[0].key, hashes.SHA256())
    )
    stored = StoredCertificate(chain=(leaf,), key=cast(pki.PrivateKey, chain.leaf.key))
    decision = decide(stored, spec_of(), T0 - DAY)
    assert decision.reason is not None
    assert decision.reason.startswith("the stored certificate is unusable: ")


# ---- a certificate that no longer fits the spec -------------------------------------


@pytest.mark.parametrize(
    ("certificate_names", "spec_names", "reason"),
    [
        pytest.param(
            (HOST,),
            [HOST, OTHER_HOST],
            f"the certificate does not cover {OTHER_HOST}",
            id="name-added",
        ),
        pytest.param(
            (HOST, OTHER_HOST),
            [HOST],
            f"the certificate also covers {OTHER_HOST}, which the spec no longer lists",
            id="name-removed",
        ),
        pytest.param(
            (OTHER_HOST,),
            [HOST],
            f"the certificate does not cover {HOST}",
            id="name-replaced",
        ),
    ],
)
def test_changed_names_mean_issue_now(
    certificate_names: tuple[str, ...], spec_names: list[str], reason: str
) -> None:
    decision = decide(stored_for(certificate_names), spec_of(dnsNames=spec_names), T0)
    assert decision.reason == reason


def test_the_same_names_in_another_order_need_nothing() -> None:
    stored = stored_for((HOST, OTHER_HOST))
    assert decide(stored, spec_of(dnsNames=[OTHER_HOST, HOST]), T0).reason is None


@pytest.mark.parametrize(
    ("private_key", "reason"),
    [
        pytest.param(
            {"algorithm": "ECDSA", "size": 384},
            "the key is ECDSA 256, the spec asks for ECDSA 384",
            id="ecdsa-256-to-384",
        ),
        pytest.param(
            {"algorithm": "RSA", "size": 2048},
            "the key is ECDSA 256, the spec asks for RSA 2048",
            id="ecdsa-to-rsa",
        ),
    ],
)
def test_a_changed_key_type_means_issue_now(private_key: dict[str, Any], reason: str) -> None:
    decision = decide(stored_for(), spec_of(privateKey=private_key), T0)
    assert decision.reason == reason


def test_a_key_that_does_not_match_the_certificate_means_issue_now() -> None:
    stored = stored_for(key=pki.generate_private_key("ECDSA", 256))
    assert decide(stored, spec_of(), T0).reason == "the private key does not match the certificate"


# ---- the ACME settings the certificate was issued under -----------------------------

STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
ISSUED_ACME = {"server": STAGING, "email": "ops@example.test"}


def recorded(**acme: Any) -> dict[str, str]:
    """The Secret's annotations as the operator writes them at issuance under `acme`."""
    return issuance_annotations(spec_of(acme=acme).acme)


def change_for(recorded_acme: dict[str, Any], spec_acme: dict[str, Any]) -> IssuerChange | None:
    return issuer_change(recorded(**recorded_acme), recorded(**spec_acme))


@pytest.mark.parametrize(
    ("spec_acme", "trigger", "reason"),
    [
        pytest.param(
            {**ISSUED_ACME, "server": PRODUCTION},
            "IssuerChanged",
            "the certificate was issued by another CA (spec.acme.server changed)",
            id="staging-to-production",
        ),
        pytest.param(
            {**ISSUED_ACME, "server": STAGING + "/"},
            "IssuerChanged",
            "the certificate was issued by another CA (spec.acme.server changed)",
            id="another-url-spelling-is-another-directory",
        ),
        pytest.param(
            {**ISSUED_ACME, "email": "security@example.test"},
            "AccountChanged",
            "the certificate was issued to another ACME account (spec.acme.email changed)",
            id="email",
        ),
        pytest.param(
            {
                **ISSUED_ACME,
                "externalAccountBinding": {
                    "keyID": "kid-2",
                    "keySecretRef": {"name": "eab", "key": "hmac"},
                },
            },
            "AccountChanged",
            "the certificate was issued to another ACME account "
            "(spec.acme.externalAccountBinding.keyID changed)",
            id="eab-added",
        ),
        pytest.param(
            {**ISSUED_ACME, "preferredChain": "ISRG Root X2"},
            "PreferredChainChanged",
            "the certificate was issued with another preferred chain "
            "(spec.acme.preferredChain changed)",
            id="preferred-chain",
        ),
        pytest.param(
            {**ISSUED_ACME, "profile": "shortlived"},
            "ProfileChanged",
            "the certificate was issued under another ACME profile (spec.acme.profile changed)",
            id="profile",
        ),
        pytest.param(
            {"server": PRODUCTION, "profile": "shortlived"},
            "IssuerChanged",
            "the certificate was issued by another CA (spec.acme.server changed)",
            id="a-new-ca-is-named-before-anything-else",
        ),
    ],
)
def test_other_acme_settings_than_the_certificate_was_issued_under_mean_issue_now(
    spec_acme: dict[str, Any], trigger: str, reason: str
) -> None:
    changed = change_for(ISSUED_ACME, spec_acme)
    assert changed is not None
    decision = decide(GOOD, spec_of(acme=spec_acme), T0, secret_annotations=recorded(**ISSUED_ACME))
    assert (decision.trigger, decision.reason) == (trigger, reason)


def test_the_same_acme_settings_need_nothing() -> None:
    changed = change_for(ISSUED_ACME, dict(ISSUED_ACME))
    assert changed is None
    secret_annotations = recorded(**ISSUED_ACME)
    decision = decide(GOOD, spec_of(acme=ISSUED_ACME), T0, secret_annotations=secret_annotations)
    assert decision.reason is None


def test_a_secret_that_records_no_acme_settings_is_not_reissued() -> None:
    """Secrets written before the settings were recorded: an upgrade must not reissue all."""
    old_secret = {"webhookcert.dev/endpoint": "payments/ringcentral"}
    assert issuer_change(old_secret, recorded(server=PRODUCTION)) is None


def test_a_setting_recorded_as_unset_differs_from_one_set_now() -> None:
    changed = issuer_change(recorded(server=STAGING), recorded(server=STAGING, profile="classic"))
    assert changed is not None and changed.trigger == "ProfileChanged"


@pytest.mark.parametrize(
    ("spec_acme", "replaces"),
    [
        pytest.param({"server": PRODUCTION}, None, id="another-ca-never-issued-the-old-one"),
        pytest.param({"server": STAGING, "profile": "shortlived"}, "id-1", id="same-ca"),
    ],
)
def test_only_a_certificate_of_the_same_ca_is_named_as_replaced(
    spec_acme: dict[str, Any], replaces: str | None
) -> None:
    secret_annotations = recorded(server=STAGING)
    spec = spec_of(acme=spec_acme)
    decision = decide(GOOD, spec, T0, cert_id="id-1", secret_annotations=secret_annotations)
    assert decision.replaces == replaces


def test_the_eab_hmac_key_is_never_recorded_only_its_key_id() -> None:
    annotations = recorded(
        server=STAGING,
        externalAccountBinding={"keyID": "kid-1", "keySecretRef": {"name": "eab", "key": "k"}},
    )
    assert annotations["webhookcert.dev/acme-eab-key-id"] == "kid-1"
    assert not any("eab" in value or value == "k" for value in annotations.values())


# ---- time: expiry and renewal -------------------------------------------------------

DEFAULT_DUE = NOT_AFTER - 30 * DAY  # a third of 90 days left


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        pytest.param(T0, None, id="fresh"),
        pytest.param(DEFAULT_DUE - SECOND, None, id="a-second-before-the-renewal-time"),
        pytest.param(DEFAULT_DUE, "the certificate is due for renewal", id="at-the-renewal-time"),
        pytest.param(
            NOT_AFTER - SECOND, "the certificate is due for renewal", id="a-second-before-expiry"
        ),
        pytest.param(NOT_AFTER, "the certificate has expired", id="at-expiry"),
        pytest.param(NOT_AFTER + 30 * DAY, "the certificate has expired", id="long-expired"),
    ],
)
def test_a_fitting_certificate_is_renewed_when_a_third_of_its_lifetime_is_left(
    now: datetime, reason: str | None
) -> None:
    decision = decide(stored_for(), spec_of(), now)
    assert decision == Decision(reason, DEFAULT_DUE)


def test_renew_before_moves_the_renewal_time() -> None:
    spec = spec_of(renewBefore="240h")  # ten days
    assert decide(stored_for(), spec, NOT_AFTER - 11 * DAY) == Decision(None, NOT_AFTER - 10 * DAY)
    assert decide(stored_for(), spec, NOT_AFTER - 10 * DAY).reason == (
        "the certificate is due for renewal"
    )


def test_renew_before_longer_than_the_lifetime_falls_back_to_the_default() -> None:
    # Otherwise every new certificate would be due at once and issued again in a loop.
    decision = decide(stored_for(), spec_of(renewBefore="2400h"), T0)
    assert decision == Decision(None, DEFAULT_DUE)


@pytest.mark.parametrize(
    ("lifetime", "left_at_renewal"),
    [
        pytest.param(6 * DAY, 3 * DAY, id="6-days-renews-at-half"),
        pytest.param(9 * DAY, 4.5 * DAY, id="9-days-renews-at-half"),
        pytest.param(10 * DAY, 10 * DAY / 3, id="10-days-renews-at-a-third"),
    ],
)
def test_short_lived_certificates_are_renewed_at_half_their_lifetime(
    lifetime: timedelta, left_at_renewal: timedelta
) -> None:
    stored = stored_for(validity=Validity(starts=-DAY, lasts=lifetime))
    not_after = T0 - DAY + lifetime
    due = (not_after - left_at_renewal).replace(microsecond=0)
    assert decide(stored, spec_of(), due - SECOND) == Decision(None, due)
    assert decide(stored, spec_of(), due) == Decision("the certificate is due for renewal", due)


# ---- deciding with renewal information --------------------------------------------------


def ari_for(selected: datetime, *, cert_id: str = CERT_ID) -> RenewalStatus:
    return previous_ari(cert_id=cert_id, ari_selected_time=selected)


def test_the_time_chosen_in_the_window_is_the_renewal_time() -> None:
    decision = decide(stored_for(), spec_of(), T0, cert_id=CERT_ID, renewal=ari_for(CHOSEN))
    assert decision == Decision(
        None,
        CHOSEN,
        ari_used=True,
        ari_window=WINDOW,
        ari_fetched=T0,
        replaces=CERT_ID,
    )


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        pytest.param(CHOSEN - SECOND, None, id="a-second-before"),
        pytest.param(
            CHOSEN,
            "the certificate is due for renewal in the CA's suggested window",
            id="at-the-chosen-time",
        ),
    ],
)
def test_the_certificate_is_renewed_at_the_time_chosen_in_the_window(
    now: datetime, reason: str | None
) -> None:
    decision = decide(stored_for(), spec_of(), now, cert_id=CERT_ID, renewal=ari_for(CHOSEN))
    assert decision.reason == reason
    assert decision.replaces == CERT_ID


def test_a_window_moved_into_the_past_renews_at_once() -> None:
    # The CA asks for early renewal (say, before a mass revocation): the next fetch moves
    # the window, the chosen time becomes now, and the decision says to issue.
    now = T0 + 6 * HOUR
    recorded = record(previous_ari(), (T0 - DAY, T0), now=now)
    decision = decide(stored_for(), spec_of(), now, cert_id=CERT_ID, renewal=recorded)
    assert decision.reason == "the certificate is due for renewal in the CA's suggested window"
    assert decision.renewal_time == now


@pytest.mark.parametrize(
    ("cert_id", "renewal", "spec"),
    [
        pytest.param(CERT_ID, ari_for(CHOSEN, cert_id=OTHER_CERT_ID), spec_of(), id="other-cert"),
        pytest.param(None, ari_for(CHOSEN), spec_of(), id="no-cert-id"),
        pytest.param(CERT_ID, previous_ari(ari_window=None), spec_of(), id="no-window"),
        pytest.param(CERT_ID, ari_for(NOT_AFTER), spec_of(), id="chosen-at-expiry"),
        pytest.param(CERT_ID, RenewalStatus(), spec_of(), id="nothing-known"),
    ],
)
def test_without_usable_renewal_information_the_default_rule_applies(
    cert_id: str | None, renewal: RenewalStatus, spec: api.EndpointSpec
) -> None:
    decision = decide(stored_for(), spec, T0, cert_id=cert_id, renewal=renewal)
    assert decision.renewal_time == DEFAULT_DUE
    assert decision.ari_used is False
    assert decision.ari_window is None


def test_renew_before_overrides_the_cas_window() -> None:
    spec = spec_of(renewBefore="240h")
    decision = decide(stored_for(), spec, T0, cert_id=CERT_ID, renewal=ari_for(CHOSEN))
    assert decision.renewal_time == NOT_AFTER - 10 * DAY
    assert decision.ari_used is False
    # The CA may still learn which certificate is replaced.
    assert decision.replaces == CERT_ID


# ---- renewal on demand ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "honoured", "requested"),
    [
        pytest.param(None, None, False, id="no-annotation"),
        pytest.param("", None, False, id="empty-annotation"),
        pytest.param("  ", None, False, id="blank-annotation"),
        pytest.param(None, "2026-03-01", False, id="annotation-removed"),
        pytest.param("2026-03-01", None, True, id="first-value"),
        pytest.param("2026-03-01", "2026-03-01", False, id="value-already-honoured"),
        pytest.param("2026-03-02", "2026-03-01", True, id="new-value"),
        pytest.param("again", "2026-03-01", True, id="any-new-value"),
    ],
)
def test_any_new_value_of_the_renew_annotation_asks_for_one_renewal(
    annotation: str | None, honoured: str | None, requested: bool
) -> None:
    assert renew_requested(annotation, honoured) is requested


def test_the_renew_annotation_has_the_documented_name() -> None:
    assert RENEW_ANNOTATION == "webhookcert.dev/renew"


def test_a_renewal_request_renews_a_fresh_certificate() -> None:
    decision = decide(stored_for(), spec_of(), T0, cert_id=CERT_ID, renew_annotation="2026-03-01")
    assert decision.reason == "a renewal was requested with the webhookcert.dev/renew annotation"
    assert decision.renewal_time == DEFAULT_DUE
    assert decision.replaces == CERT_ID


@pytest.mark.parametrize(
    ("stored", "spec", "now", "reason"),
    [
        pytest.param(None, spec_of(), T0, "no certificate has been issued yet", id="none-yet"),
        pytest.param(
            stored_for(),
            spec_of(dnsNames=[HOST, OTHER_HOST]),
            T0,
            f"the certificate does not cover {OTHER_HOST}",
            id="spec-changed",
        ),
        pytest.param(stored_for(), spec_of(), NOT_AFTER, "the certificate has expired", id="exp"),
    ],
)
def test_a_stronger_reason_is_reported_before_the_renewal_request(
    stored: StoredCertificate | None, spec: api.EndpointSpec, now: datetime, reason: str
) -> None:
    assert decide(stored, spec, now, renew_annotation="2026-03-01").reason == reason


# ---- replaces (RFC 9773 section 5) ------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "spec", "cert_id", "now", "replaces"),
    [
        pytest.param(stored_for(), spec_of(), CERT_ID, DEFAULT_DUE, CERT_ID, id="due"),
        pytest.param(stored_for(), spec_of(), None, DEFAULT_DUE, None, id="not-our-secret"),
        pytest.param(stored_for(), spec_of(), CERT_ID, NOT_AFTER, None, id="expired"),
        pytest.param(
            stored_for(),
            spec_of(dnsNames=[HOST, OTHER_HOST]),
            CERT_ID,
            T0,
            CERT_ID,
            id="name-added-still-a-predecessor",
        ),
        pytest.param(
            stored_for((OTHER_HOST,)),
            spec_of(),
            CERT_ID,
            T0,
            None,
            id="no-name-in-common",
        ),
        pytest.param(
            stored_for(),
            spec_of(privateKey={"algorithm": "RSA"}),
            CERT_ID,
            T0,
            CERT_ID,
            id="key-type-changed",
        ),
        pytest.param(None, spec_of(), CERT_ID, T0, None, id="no-certificate"),
    ],
)
def test_replaces_names_the_predecessor_only_when_there_is_a_clear_one(
    stored: StoredCertificate | None,
    spec: api.EndpointSpec,
    cert_id: str | None,
    now: datetime,
    replaces: str | None,
) -> None:
    decision = decide(stored, spec, now, cert_id=cert_id)
    assert decision.reason is not None
    assert decision.replaces == replaces

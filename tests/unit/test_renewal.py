"""Unit tests for webhook_cert_operator.renewal: whether and why an endpoint needs a new
certificate, decided from what its Secret holds and the time passed in."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests import pki_factory
from tests.pki_factory import DAY, Validity
from webhook_cert_operator import api, pki
from webhook_cert_operator.config import Settings
from webhook_cert_operator.renewal import Decision, decide
from webhook_cert_operator.tls_secret import StoredCertificate, parse_stored

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOST = "hooks.example.test"
OTHER_HOST = "api.example.test"


def spec_of(**fields: Any) -> api.EndpointSpec:
    body: dict[str, Any] = {"dnsNames": [HOST], **fields}
    return api.parse_spec(body, name="ringcentral", settings=Settings())


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
        key=key if key is not None else chain.leaf.key,
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
    stored = StoredCertificate(chain=(leaf,), key=chain.leaf.key)
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


# ---- time: expiry and renewal -------------------------------------------------------

# The usual 90-day certificate: notBefore T0 - 1 day, notAfter T0 + 89 days.
NOT_AFTER = T0 + 89 * DAY
DEFAULT_DUE = NOT_AFTER - 30 * DAY  # a third of 90 days left
SECOND = timedelta(seconds=1)


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

"""Unit tests for certificates.renewal: whether and why an endpoint needs a new
certificate, decided from what its Secret holds and the time passed in; the ACME Renewal
Information rules (choosing and keeping a time in the CA's window, when to ask again),
renewal on demand, `replaces`, and the back-off after failures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests import pki_factory
from tests.pki_factory import DAY, Validity
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.api.types import RenewalStatus
from webhook_cert_operator.certificates import pki
from webhook_cert_operator.certificates.renewal import (
    FAILURE_DELAYS,
    RENEW_ANNOTATION,
    Decision,
    IssuerChange,
    ari_fetch_due,
    choose_ari_time,
    decide,
    failure_delay,
    issuer_change,
    keep_or_choose,
    next_ari_poll,
    record_ari_failure,
    record_ari_window,
    renew_requested,
)
from webhook_cert_operator.certificates.secret import (
    StoredCertificate,
    issuance_annotations,
    parse_stored,
)
from webhook_cert_operator.settings import Settings

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOST = "hooks.example.test"
OTHER_HOST = "api.example.test"


def spec_of(**fields: Any) -> api.EndpointSpec:
    body: dict[str, Any] = {"dnsNames": [HOST], **fields}
    return parse_spec(body, name="ringcentral", settings=Settings())


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
    decision = decide(GOOD, spec_of(acme=spec_acme), T0, changed=changed)
    assert (decision.trigger, decision.reason) == (trigger, reason)


def test_the_same_acme_settings_need_nothing() -> None:
    changed = change_for(ISSUED_ACME, dict(ISSUED_ACME))
    assert changed is None
    assert decide(GOOD, spec_of(acme=ISSUED_ACME), T0, changed=changed).reason is None


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
    changed = change_for({"server": STAGING}, spec_acme)
    decision = decide(GOOD, spec_of(acme=spec_acme), T0, cert_id="id-1", changed=changed)
    assert decision.replaces == replaces


def test_the_eab_hmac_key_is_never_recorded_only_its_key_id() -> None:
    annotations = recorded(
        server=STAGING,
        externalAccountBinding={"keyID": "kid-1", "keySecretRef": {"name": "eab", "key": "k"}},
    )
    assert annotations["webhookcert.dev/acme-eab-key-id"] == "kid-1"
    assert not any("eab" in value or value == "k" for value in annotations.values())


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


# ---- ACME Renewal Information: choosing a time in the window (RFC 9773 section 4.2) ---

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
WINDOW_START = T0 + 59 * DAY
WINDOW_END = T0 + 61 * DAY
WINDOW = (WINDOW_START, WINDOW_END)


@pytest.mark.parametrize(
    ("unit_random", "expected"),
    [
        pytest.param(0.0, WINDOW_START, id="lowest-draw-is-the-start"),
        pytest.param(0.25, WINDOW_START + 12 * HOUR, id="a-quarter-in"),
        pytest.param(0.5, WINDOW_START + DAY, id="middle"),
        pytest.param(0.999999999, WINDOW_END - SECOND, id="highest-draw-is-just-before-the-end"),
    ],
)
def test_a_future_window_gives_a_uniformly_placed_time_in_it(
    unit_random: float, expected: datetime
) -> None:
    assert choose_ari_time(*WINDOW, now=T0, unit_random=unit_random) == expected


@pytest.mark.parametrize("unit_random", [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999])
def test_the_chosen_time_is_a_whole_second_inside_the_window(unit_random: float) -> None:
    start = WINDOW_START + timedelta(microseconds=250)
    chosen = choose_ari_time(start, WINDOW_END, now=T0, unit_random=unit_random)
    assert start <= chosen < WINDOW_END
    assert chosen.microsecond == 0 or chosen == start


@pytest.mark.parametrize(
    ("unit_random", "expected"),
    [
        pytest.param(0.0, WINDOW_START + DAY, id="lowest-draw-is-now"),
        pytest.param(0.5, WINDOW_START + DAY + 12 * HOUR, id="middle-of-what-is-left"),
    ],
)
def test_a_window_in_progress_gives_a_time_in_what_is_left_of_it(
    unit_random: float, expected: datetime
) -> None:
    now = WINDOW_START + DAY
    assert choose_ari_time(*WINDOW, now=now, unit_random=unit_random) == expected


@pytest.mark.parametrize("unit_random", [0.0, 0.5, 0.99])
@pytest.mark.parametrize(
    "now",
    [pytest.param(WINDOW_END, id="at-the-end"), pytest.param(WINDOW_END + DAY, id="after-it")],
)
def test_a_window_already_over_means_renew_now(now: datetime, unit_random: float) -> None:
    # RFC 9773 section 4.2: a time in the past means renewing immediately; a CA moves the
    # window into the past to ask for renewal before a revocation.
    assert choose_ari_time(*WINDOW, now=now, unit_random=unit_random) == now


@pytest.mark.parametrize(
    ("start", "end", "unit_random", "message"),
    [
        pytest.param(WINDOW_END, WINDOW_START, 0.5, "must end after it starts", id="reversed"),
        pytest.param(WINDOW_START, WINDOW_START, 0.5, "must end after it starts", id="empty"),
        pytest.param(
            WINDOW_START.replace(tzinfo=None), WINDOW_END, 0.5, "timezone-aware", id="naive"
        ),
        pytest.param(WINDOW_START, WINDOW_END, 1.0, "unit_random", id="draw-of-one"),
        pytest.param(WINDOW_START, WINDOW_END, -0.1, "unit_random", id="negative-draw"),
    ],
)
def test_an_invalid_window_or_draw_is_refused(
    start: datetime, end: datetime, unit_random: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        choose_ari_time(start, end, now=T0, unit_random=unit_random)


# ---- keeping the chosen time while the window stands ------------------------------------

CHOSEN = WINDOW_START + 7 * HOUR


@pytest.mark.parametrize(
    ("previous_choice", "previous_window", "new_window", "now", "expected"),
    [
        pytest.param(CHOSEN, WINDOW, WINDOW, T0, CHOSEN, id="unchanged-window-keeps-it"),
        pytest.param(
            CHOSEN,
            WINDOW,
            (WINDOW_START + timedelta(microseconds=400), WINDOW_END),
            T0,
            CHOSEN,
            id="same-window-to-the-second-keeps-it",
        ),
        pytest.param(
            CHOSEN,
            WINDOW,
            WINDOW,
            CHOSEN + HOUR,
            CHOSEN,
            id="kept-even-once-passed-so-it-falls-due",
        ),
        pytest.param(
            CHOSEN,
            WINDOW,
            (WINDOW_START + DAY, WINDOW_END + DAY),
            T0,
            WINDOW_START + 2 * DAY,
            id="moved-window-chooses-anew",
        ),
        pytest.param(
            CHOSEN,
            WINDOW,
            (T0 - DAY, T0 - HOUR),
            T0,
            T0,
            id="window-moved-into-the-past-renews-now",
        ),
        pytest.param(None, None, WINDOW, T0, WINDOW_START + DAY, id="first-window-chooses"),
        pytest.param(
            WINDOW_END + HOUR, WINDOW, WINDOW, T0, WINDOW_START + DAY, id="choice-outside-redone"
        ),
        pytest.param(CHOSEN, None, WINDOW, T0, WINDOW_START + DAY, id="choice-without-window"),
    ],
)
def test_the_chosen_time_is_kept_while_the_window_is_unchanged(
    previous_choice: datetime | None,
    previous_window: tuple[datetime, datetime] | None,
    new_window: tuple[datetime, datetime],
    now: datetime,
    expected: datetime,
) -> None:
    chosen = keep_or_choose(previous_choice, previous_window, new_window, now=now, unit_random=0.5)
    assert chosen == expected


# ---- when to ask the CA again (RFC 9773 section 4.3) -----------------------------------


@pytest.mark.parametrize(
    ("retry_after", "unit_random", "wait"),
    [
        pytest.param(21600.0, 0.9, 6 * HOUR, id="retry-after-is-followed-as-sent"),
        pytest.param(3600.0, 0.0, HOUR, id="an-hour"),
        pytest.param(0.0, 0.5, MINUTE, id="zero-is-one-minute"),
        pytest.param(10.0, 0.5, MINUTE, id="under-a-minute-is-one-minute"),
        pytest.param(-5.0, 0.5, MINUTE, id="negative-is-one-minute"),
        pytest.param(3 * 86400.0, 0.5, DAY, id="over-a-day-is-one-day"),
        pytest.param(float("inf"), 0.5, DAY, id="infinite-is-one-day"),
        pytest.param(90.4, 0.5, 91 * SECOND, id="rounded-up-to-a-second"),
        pytest.param(None, 0.0, 6 * HOUR, id="none-lowest-draw-is-six-hours"),
        pytest.param(None, 0.5, 9 * HOUR, id="none-middle-draw-is-nine-hours"),
        pytest.param(None, 0.75, 10 * HOUR + 30 * MINUTE, id="none-later-draw-is-later"),
        pytest.param(float("nan"), 0.0, 6 * HOUR, id="nonsense-counts-as-none"),
    ],
)
def test_the_next_poll_follows_retry_after_within_a_minute_and_a_day(
    retry_after: float | None, unit_random: float, wait: timedelta
) -> None:
    polled = next_ari_poll(T0, retry_after, unit_random=unit_random)
    assert polled - T0 >= wait
    assert polled - T0 < wait + SECOND
    assert polled.microsecond == 0


def test_without_retry_after_the_next_poll_is_at_most_twelve_hours_away() -> None:
    assert next_ari_poll(T0, None, unit_random=1 - 1e-12) == T0 + 12 * HOUR


def previous_ari(**changes: Any) -> RenewalStatus:
    base = RenewalStatus(
        cert_id=CERT_ID,
        ari_window=WINDOW,
        ari_selected_time=CHOSEN,
        ari_fetched=T0,
        ari_next_fetch=T0 + 6 * HOUR,
        last_renew_request="first",
    )
    return replace(base, **changes)


CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
OTHER_CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyI"


@pytest.mark.parametrize(
    ("previous", "spec", "now", "due"),
    [
        pytest.param(None, spec_of(), T0, True, id="nothing-known-yet"),
        pytest.param(
            previous_ari(cert_id=OTHER_CERT_ID), spec_of(), T0, True, id="known-for-another-cert"
        ),
        pytest.param(previous_ari(ari_next_fetch=None), spec_of(), T0, True, id="no-next-time"),
        pytest.param(previous_ari(), spec_of(), T0 + 6 * HOUR - SECOND, False, id="before-next"),
        pytest.param(previous_ari(), spec_of(), T0 + 6 * HOUR, True, id="at-next-time"),
        pytest.param(None, spec_of(renewBefore="240h"), T0, False, id="renew-before-overrides"),
        pytest.param(None, spec_of(), NOT_AFTER, False, id="never-after-expiry"),
    ],
)
def test_renewal_information_is_fetched_when_unknown_or_due_and_never_after_expiry(
    previous: RenewalStatus | None, spec: api.EndpointSpec, now: datetime, due: bool
) -> None:
    assert ari_fetch_due(previous, cert_id=CERT_ID, not_after=NOT_AFTER, spec=spec, now=now) is due


# ---- recording what the CA said ---------------------------------------------------------


def record(
    previous: RenewalStatus | None,
    window: tuple[datetime, datetime] = WINDOW,
    *,
    cert_id: str = CERT_ID,
    now: datetime = T0 + 6 * HOUR,
    retry_after: float | None = 21600.0,
    choice_random: float = 0.5,
) -> RenewalStatus:
    return record_ari_window(
        previous,
        cert_id=cert_id,
        window_start=window[0],
        window_end=window[1],
        explanation_url="https://ca.test/ari",
        retry_after_seconds=retry_after,
        now=now,
        choice_random=choice_random,
        poll_random=0.5,
    )


def test_a_first_window_is_recorded_with_a_chosen_time_and_the_next_poll() -> None:
    recorded = record(None, now=T0)
    assert recorded == RenewalStatus(
        cert_id=CERT_ID,
        ari_window=WINDOW,
        ari_selected_time=WINDOW_START + DAY,
        ari_fetched=T0,
        ari_next_fetch=T0 + 6 * HOUR,
        ari_explanation_url="https://ca.test/ari",
    )


def test_the_same_window_again_keeps_the_time_whatever_the_new_draw() -> None:
    recorded = record(previous_ari(), choice_random=0.99)
    assert recorded.ari_selected_time == CHOSEN
    assert recorded.ari_fetched == T0 + 6 * HOUR
    assert recorded.ari_next_fetch == T0 + 12 * HOUR
    assert recorded.last_renew_request == "first"


def test_a_moved_window_gets_a_new_time() -> None:
    moved = (WINDOW_START - 10 * DAY, WINDOW_END - 10 * DAY)
    recorded = record(previous_ari(), moved)
    assert recorded.ari_window == moved
    assert recorded.ari_selected_time == moved[0] + DAY


def test_a_window_for_another_certificate_starts_afresh_but_keeps_the_renew_request() -> None:
    recorded = record(previous_ari(), cert_id=OTHER_CERT_ID, choice_random=0.0)
    assert recorded.cert_id == OTHER_CERT_ID
    assert recorded.ari_selected_time == WINDOW_START
    assert recorded.last_renew_request == "first"


def test_a_successful_fetch_clears_an_earlier_error() -> None:
    recorded = record(previous_ari(ari_error="the CA could not be reached"))
    assert recorded.ari_error is None


def test_an_invalid_window_counts_as_a_failed_fetch_and_keeps_the_last_window() -> None:
    # RFC 9773 section 4.2: treat it as though no response was received.
    recorded = record(previous_ari(), (WINDOW_END, WINDOW_START))
    assert recorded.ari_window == WINDOW
    assert recorded.ari_selected_time == CHOSEN
    assert recorded.ari_error == "the CA sent renewal information without a valid window"


def test_a_failed_fetch_keeps_the_last_window_of_the_same_certificate() -> None:
    now = T0 + 6 * HOUR
    recorded = record_ari_failure(
        previous_ari(), cert_id=CERT_ID, error="the CA is down", now=now, poll_random=0.0
    )
    assert recorded == previous_ari(ari_next_fetch=now + 6 * HOUR, ari_error="the CA is down")


def test_a_failed_fetch_for_a_new_certificate_knows_no_window() -> None:
    recorded = record_ari_failure(
        previous_ari(), cert_id=OTHER_CERT_ID, error="the CA is down", now=T0, poll_random=0.0
    )
    assert recorded == RenewalStatus(
        cert_id=OTHER_CERT_ID,
        ari_next_fetch=T0 + 6 * HOUR,
        ari_error="the CA is down",
        last_renew_request="first",
    )


def test_a_ca_without_renewal_information_drops_the_window() -> None:
    recorded = record_ari_failure(
        previous_ari(), cert_id=CERT_ID, error=None, now=T0, poll_random=1 - 1e-9
    )
    assert recorded.ari_window is None
    assert recorded.ari_selected_time is None
    assert recorded.ari_error is None
    assert recorded.ari_next_fetch == T0 + 12 * HOUR
    assert recorded.last_renew_request == "first"


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
    decision = decide(stored_for(), spec_of(), T0, cert_id=CERT_ID, renew_request_pending=True)
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
    assert decide(stored, spec, now, renew_request_pending=True).reason == reason


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


# ---- back-off after a failure -----------------------------------------------------------


@pytest.mark.parametrize(
    ("failed_attempts", "nominal"),
    [
        pytest.param(1, MINUTE, id="first-failure-1-minute"),
        pytest.param(2, 10 * MINUTE, id="second-10-minutes"),
        pytest.param(3, 100 * MINUTE, id="third-100-minutes"),
        pytest.param(4, DAY, id="fourth-a-day"),
        pytest.param(5, DAY, id="fifth-still-a-day"),
        pytest.param(40, DAY, id="fortieth-still-a-day"),
    ],
)
def test_failures_back_off_1_minute_10_minutes_100_minutes_then_daily(
    failed_attempts: int, nominal: timedelta
) -> None:
    assert failure_delay(failed_attempts, unit_random=0.5, retry_after=None, now=T0) == nominal


@pytest.mark.parametrize(
    ("unit_random", "factor"),
    [
        pytest.param(0.0, 0.9, id="lowest-draw-minus-10-percent"),
        pytest.param(0.25, 0.95, id="quarter-draw-minus-5-percent"),
        pytest.param(0.75, 1.05, id="three-quarter-draw-plus-5-percent"),
    ],
)
def test_each_delay_is_spread_by_ten_percent(unit_random: float, factor: float) -> None:
    for attempt, nominal in enumerate(FAILURE_DELAYS, start=1):
        delay = failure_delay(attempt, unit_random=unit_random, retry_after=None, now=T0)
        assert delay == nominal * factor


def test_configured_delays_are_taken_in_turn_and_the_last_repeats() -> None:
    delays = (2 * SECOND, 4 * SECOND)
    taken = [
        failure_delay(n, unit_random=0.5, retry_after=None, now=T0, delays=delays)
        for n in (1, 2, 3, 9)
    ]
    assert taken == [2 * SECOND, 4 * SECOND, 4 * SECOND, 4 * SECOND]


def test_the_highest_draw_stays_under_ten_percent_more() -> None:
    delay = failure_delay(4, unit_random=1 - 1e-9, retry_after=None, now=T0)
    assert DAY * 1.1 - SECOND <= delay <= DAY * 1.1


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        pytest.param(T0 + 3 * HOUR, 3 * HOUR, id="later-retry-after-wins"),
        pytest.param(T0 + 3 * HOUR + timedelta(milliseconds=1), 3 * HOUR + SECOND, id="rounded-up"),
        pytest.param(T0 + 30 * SECOND, MINUTE, id="earlier-retry-after-changes-nothing"),
        pytest.param(T0 - HOUR, MINUTE, id="past-retry-after-changes-nothing"),
    ],
)
def test_a_retry_is_never_earlier_than_the_cas_retry_after(
    retry_after: datetime, expected: timedelta
) -> None:
    assert failure_delay(1, unit_random=0.5, retry_after=retry_after, now=T0) == expected


def test_delays_are_whole_seconds() -> None:
    delay = failure_delay(2, unit_random=0.123456, retry_after=None, now=T0)
    assert delay.microseconds == 0


@pytest.mark.parametrize(
    ("failed_attempts", "unit_random"),
    [pytest.param(0, 0.5, id="no-failure-yet"), pytest.param(1, 1.0, id="draw-of-one")],
)
def test_a_delay_needs_a_failure_and_a_draw_below_one(
    failed_attempts: int, unit_random: float
) -> None:
    with pytest.raises(ValueError):
        failure_delay(failed_attempts, unit_random=unit_random, retry_after=None, now=T0)

"""Pure: whether an endpoint needs a new certificate now, and why, as a chain of policies.

No I/O and no clock: the time is part of the input. Modelled on cert-manager's
certificate trigger policies (pkg/controller/certificates/trigger/policies): lifecycle
gathers one `Input` (the Secret's certificate and annotations, the spec, status.renewal,
the renew annotation, the time), each policy is a small function from it to a `Reissue`
or None, and `decide` takes the first policy in `TRIGGER_POLICY_CHAIN` that asks, in
this order:

1. no Secret, or one whose certificate or key cannot be used;
2. a certificate that no longer fits the spec (other names, another key);
3. a certificate issued under other ACME settings than the spec now names (another CA,
   account, preferred chain or profile, as recorded on the Secret: `issuer_change`);
4. a validity period that cannot be renewed from (notAfter not after notBefore);
5. expiry;
6. a `webhookcert.dev/renew` annotation value not yet honoured (`renew_requested`);
7. the renewal time (`timing.planned_renewal`: the CA's window, else the default rule).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from webhook_cert_operator import naming
from webhook_cert_operator.api.status import RenewalStatus
from webhook_cert_operator.api.types import EndpointSpec
from webhook_cert_operator.certificates import pki, timing
from webhook_cert_operator.certificates.secret import StoredCertificate, issuance_annotations

RENEW_ANNOTATION: Final = "webhookcert.dev/renew"
"""Annotation on a WebhookEndpoint: any new value asks for one renewal (like `cmctl renew`)."""

REASON_NO_CERTIFICATE: Final = "no certificate has been issued yet"
REASON_EXPIRED: Final = "the certificate has expired"
REASON_RENEW_REQUESTED: Final = f"a renewal was requested with the {RENEW_ANNOTATION} annotation"
REASON_DUE: Final = "the certificate is due for renewal"
REASON_ARI_DUE: Final = "the certificate is due for renewal in the CA's suggested window"

# Issuing-condition reasons when the certificate was issued under other ACME settings.
TRIGGER_ISSUER_CHANGED: Final = "IssuerChanged"
TRIGGER_ACCOUNT_CHANGED: Final = "AccountChanged"
TRIGGER_PREFERRED_CHAIN_CHANGED: Final = "PreferredChainChanged"
TRIGGER_PROFILE_CHANGED: Final = "ProfileChanged"


@dataclass(frozen=True)
class Input:
    """What the policies look at, gathered by lifecycle for one endpoint.

    `stored` is what the Secret holds (`secret.parse_stored`: a certificate, a sentence
    saying why it is unusable, or None for no Secret); `secret_annotations` the Secret's
    annotations (the ACME settings it was issued under); `cert_id` the ARI identifier of
    its leaf (RFC 9773 section 4.1), given only when the Secret is this endpoint's own;
    `renewal` status.renewal as read back or just updated; `renew_annotation` the value
    of the endpoint's `webhookcert.dev/renew` annotation.
    """

    spec: EndpointSpec
    now: datetime
    stored: StoredCertificate | str | None
    secret_annotations: Mapping[str, str] | None = None
    cert_id: str | None = None
    renewal: RenewalStatus | None = None
    renew_annotation: str | None = None

    @property
    def acme_settings_change(self) -> IssuerChange | None:
        """`issuer_change` of the Secret's recorded settings against the spec's."""
        if self.secret_annotations is None:
            return None
        return issuer_change(self.secret_annotations, issuance_annotations(self.spec.acme))


@dataclass(frozen=True)
class Reissue:
    """A policy's verdict: issue now.

    `reason` is a stable sentence for status and events; `trigger` a CamelCase Issuing
    condition reason when the spec's ACME settings ask for the issuance; `names_predecessor`
    whether the new order may name the stored certificate as the one it replaces.
    """

    reason: str
    trigger: str | None = None
    names_predecessor: bool = True


Policy = Callable[[Input], Reissue | None]


@dataclass(frozen=True)
class Decision:
    """What to do about an endpoint's certificate now.

    `reason` is None when the stored certificate is fine until `renewal_time`; otherwise
    it is a stable sentence for status and events. `ari_used` says whether `renewal_time`
    comes from the CA's suggested window (then `ari_window` and `ari_fetched` say which
    window, fetched when). `replaces` is the ARI identifier to send as `replaces` in the
    new order (RFC 9773 section 5), or None when there is no clear predecessor.
    """

    reason: str | None
    renewal_time: datetime | None = None
    ari_used: bool = False
    ari_window: timing.Window | None = None
    ari_fetched: datetime | None = None
    replaces: str | None = None
    trigger: str | None = None
    """A CamelCase condition reason for an issuance the spec's ACME settings ask for."""


# --- the ACME settings a certificate was issued under ------------------------------------


@dataclass(frozen=True)
class IssuerChange:
    """The stored certificate was issued under other ACME settings than the spec names."""

    trigger: str
    reason: str
    same_ca: bool


# The recorded settings in the order they are compared: the CA first, since a new CA
# makes every other difference moot. (annotation, spec field, trigger, what differs)
_ISSUED_UNDER: Final = (
    (
        naming.ANNOTATION_ACME_SERVER,
        "spec.acme.server",
        TRIGGER_ISSUER_CHANGED,
        "the certificate was issued by another CA",
    ),
    (
        naming.ANNOTATION_ACME_EMAIL,
        "spec.acme.email",
        TRIGGER_ACCOUNT_CHANGED,
        "the certificate was issued to another ACME account",
    ),
    (
        naming.ANNOTATION_ACME_EAB_KEY_ID,
        "spec.acme.externalAccountBinding.keyID",
        TRIGGER_ACCOUNT_CHANGED,
        "the certificate was issued to another ACME account",
    ),
    (
        naming.ANNOTATION_ACME_PREFERRED_CHAIN,
        "spec.acme.preferredChain",
        TRIGGER_PREFERRED_CHAIN_CHANGED,
        "the certificate was issued with another preferred chain",
    ),
    (
        naming.ANNOTATION_ACME_PROFILE,
        "spec.acme.profile",
        TRIGGER_PROFILE_CHANGED,
        "the certificate was issued under another ACME profile",
    ),
)


def issuer_change(
    recorded: Mapping[str, str] | None, wanted: Mapping[str, str]
) -> IssuerChange | None:
    """Whether the Secret's recorded ACME settings differ from what the spec asks for.

    `recorded` is the Secret's annotations, `wanted` is `secret.issuance_annotations` of
    the spec. A setting the Secret does not record (a Secret written before the operator
    recorded it) counts as unchanged: reissuing every such certificate at once on upgrade
    would spend the CA's rate limits for nothing. Values are compared exactly (a directory
    URL with a trailing "/" is another URL, as it is to an ACME client).
    """
    annotations = recorded or {}
    for annotation, field_path, trigger, what in _ISSUED_UNDER:
        if annotation not in annotations or annotation not in wanted:
            continue
        if annotations[annotation] != wanted[annotation]:
            return IssuerChange(
                trigger=trigger,
                reason=f"{what} ({field_path} changed)",
                same_ca=trigger != TRIGGER_ISSUER_CHANGED,
            )
    return None


def renew_requested(annotation_value: str | None, last_honoured: str | None) -> bool:
    """Whether the `webhookcert.dev/renew` annotation asks for a renewal not yet made.

    Any new value asks for exactly one renewal; the operator records the value it honoured
    (status.renewal.lastRenewRequest) when the new certificate is stored. An absent or
    empty annotation asks for nothing, and removing it does not count as a request.
    """
    if annotation_value is None or not annotation_value.strip():
        return False
    return annotation_value != last_honoured


# --- the policies, in the order they are asked ---------------------------------------------


def secret_does_not_exist(input: Input) -> Reissue | None:
    return Reissue(REASON_NO_CERTIFICATE) if input.stored is None else None


def secret_is_unusable(input: Input) -> Reissue | None:
    if isinstance(input.stored, str):
        return Reissue(f"the stored certificate is unusable: {input.stored}")
    return None


def certificate_does_not_fit_spec(input: Input) -> Reissue | None:
    """Other DNS names or another key than the spec asks for (`pki.certificate_needs_reissue`)."""
    if not isinstance(input.stored, StoredCertificate):
        return None
    key = input.spec.private_key
    mismatch = pki.certificate_needs_reissue(
        input.stored.leaf, input.stored.key, input.spec.dns_names, key.algorithm, key.size
    )
    return Reissue(mismatch) if mismatch is not None else None


def issued_under_other_acme_settings(input: Input) -> Reissue | None:
    changed = input.acme_settings_change
    if changed is None:
        return None
    # `replaces` names a certificate of this CA (RFC 9773 section 5): another CA never
    # issued the one being replaced, so there is nothing to name.
    return Reissue(changed.reason, trigger=changed.trigger, names_predecessor=changed.same_ca)


def validity_period_is_empty(input: Input) -> Reissue | None:
    """notAfter not after notBefore: no CA issues that, but someone else's Secret can."""
    if not isinstance(input.stored, StoredCertificate):
        return None
    leaf = input.stored.leaf
    try:
        timing.renewal_time(leaf.not_valid_before_utc, leaf.not_valid_after_utc, input.spec)
    except pki.PkiError as error:
        return Reissue(f"the stored certificate is unusable: {error}", names_predecessor=False)
    return None


def certificate_has_expired(input: Input) -> Reissue | None:
    if not isinstance(input.stored, StoredCertificate):
        return None
    return Reissue(REASON_EXPIRED) if input.now >= input.stored.leaf.not_valid_after_utc else None


def renewal_was_requested(input: Input) -> Reissue | None:
    last_honoured = input.renewal.last_renew_request if input.renewal is not None else None
    if renew_requested(input.renew_annotation, last_honoured):
        return Reissue(REASON_RENEW_REQUESTED)
    return None


def renewal_time_has_come(input: Input) -> Reissue | None:
    planned = _planned(input)
    if planned is None or input.now < planned.time:
        return None
    return Reissue(REASON_ARI_DUE if planned.ari is not None else REASON_DUE)


TRIGGER_POLICY_CHAIN: Final[tuple[Policy, ...]] = (
    secret_does_not_exist,
    secret_is_unusable,
    certificate_does_not_fit_spec,
    issued_under_other_acme_settings,
    validity_period_is_empty,
    certificate_has_expired,
    renewal_was_requested,
    renewal_time_has_come,
)


def evaluate(chain: tuple[Policy, ...], input: Input) -> Reissue | None:
    """The first policy's verdict that asks for a new certificate, or None."""
    for policy in chain:
        verdict = policy(input)
        if verdict is not None:
            return verdict
    return None


# --- the decision --------------------------------------------------------------------------


def _planned(input: Input) -> timing.PlannedRenewal | None:
    """The stored certificate's renewal time, None when there is no usable one."""
    if not isinstance(input.stored, StoredCertificate):
        return None
    leaf = input.stored.leaf
    try:
        return timing.planned_renewal(
            leaf.not_valid_before_utc,
            leaf.not_valid_after_utc,
            input.spec,
            cert_id=input.cert_id,
            renewal=input.renewal,
        )
    except pki.PkiError:
        return None


def predecessor(input: Input) -> str | None:
    """The ARI identifier to send as `replaces` (RFC 9773 section 5), when there is a clear
    predecessor: not for an expired certificate (ARI ends with its validity) and not when
    no name carries over (the CA would refuse the order: section 5 asks servers to check
    for a shared name)."""
    stored = input.stored
    if not input.cert_id or not isinstance(stored, StoredCertificate):
        return None
    if input.now >= stored.leaf.not_valid_after_utc:
        return None
    covered = {name.lower() for name in pki.certificate_dns_names(stored.leaf)}
    shares_a_name = any(name.lower() in covered for name in input.spec.dns_names)
    return input.cert_id if shares_a_name else None


def decide(input: Input, chain: tuple[Policy, ...] = TRIGGER_POLICY_CHAIN) -> Decision:
    """Whether to issue now, and why: the first verdict of `chain`, with the renewal time.

    `renewal_time` (and the window it comes from) is given whenever the stored
    certificate is usable, also when another policy asks to issue at once.
    """
    verdict = evaluate(chain, input)
    planned = _planned(input)
    ari = planned.ari if planned is not None else None
    names_predecessor = verdict is None or verdict.names_predecessor
    return Decision(
        reason=verdict.reason if verdict is not None else None,
        renewal_time=planned.time if planned is not None else None,
        ari_used=ari is not None,
        ari_window=ari.ari_window if ari is not None else None,
        ari_fetched=ari.ari_fetched if ari is not None else None,
        replaces=predecessor(input) if names_predecessor else None,
        trigger=verdict.trigger if verdict is not None else None,
    )

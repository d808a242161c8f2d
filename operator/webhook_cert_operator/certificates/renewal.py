"""When an endpoint needs a (new) certificate, and when to ask the CA or try again.

The timing rules, all pure (no I/O, no clock, no random source: the caller passes the
time and numbers drawn uniformly from [0, 1), so every rule is testable at any date):

- ACME Renewal Information first (RFC 9773): a random time inside the CA's suggested
  window, kept while the window does not change (`keep_or_choose`); the window is asked
  for again when the CA's Retry-After says, clamped to [1 minute, 1 day], or after 6 to
  12 hours when it sends none (`next_ari_poll`).
- Without ARI (the CA has none, or asking failed): when a third of the lifetime is left,
  half for lifetimes under 10 days (`pki.default_renewal_time`).
- `spec.renewBefore` overrides both.
- Issue at once, whatever the time, when the Secret is missing or unusable, when the spec
  asks for other names or another key, when the certificate was issued under other ACME
  settings than the spec now names (another CA, account, preferred chain or profile, as
  recorded on the Secret: `issuer_change`), or when the `webhookcert.dev/renew` annotation has
  a value not yet honoured (`renew_requested`).
- After a failure, wait 1 minute, 10 minutes, 100 minutes, then about a day, each with
  +-10% jitter, and never less than the CA's Retry-After (`failure_delay`).

`decide` puts these together into a `Decision` the operator acts on and writes to status.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from webhook_cert_operator import naming
from webhook_cert_operator.api.types import EndpointSpec, RenewalStatus
from webhook_cert_operator.certificates import pki
from webhook_cert_operator.certificates.secret import StoredCertificate

RENEW_ANNOTATION: Final = "webhookcert.dev/renew"
"""Annotation on a WebhookEndpoint: any new value asks for one renewal (like `cmctl renew`)."""

# RFC 9773 section 4.3.2: clients must keep the Retry-After of renewalInfo within
# reasonable limits; the RFC's own example is one minute to one day.
ARI_MIN_POLL: Final = timedelta(minutes=1)
ARI_MAX_POLL: Final = timedelta(days=1)
# Without a Retry-After (RFC 9773 section 4.3.3 counts that, and any failed fetch, as a
# long-term error: ask again after six hours), ask about twice a day: 6 to 12 hours,
# spread so that endpoints created together do not poll together.
ARI_DEFAULT_POLL: Final = timedelta(hours=6)
ARI_DEFAULT_POLL_SPREAD: Final = timedelta(hours=6)

# Back-off after a failed issuance: quick retries catch a transient fault (an Ingress not
# routed yet, a CA hiccup), then about daily, so a lasting fault costs the CA one order a
# day (Let's Encrypt's integration guide asks clients to back off after failures, and
# its failed-validation limits punish retry loops).
FAILURE_DELAYS: Final = (
    timedelta(minutes=1),
    timedelta(minutes=10),
    timedelta(minutes=100),
    timedelta(days=1),
)
FAILURE_JITTER: Final = 0.1

REASON_NO_CERTIFICATE: Final = "no certificate has been issued yet"
REASON_EXPIRED: Final = "the certificate has expired"
REASON_RENEW_REQUESTED: Final = f"a renewal was requested with the {RENEW_ANNOTATION} annotation"
REASON_DUE: Final = "the certificate is due for renewal"
REASON_ARI_DUE: Final = "the certificate is due for renewal in the CA's suggested window"

Window = tuple[datetime, datetime]

# Issuing-condition reasons when the certificate was issued under other ACME settings.
TRIGGER_ISSUER_CHANGED: Final = "IssuerChanged"
TRIGGER_ACCOUNT_CHANGED: Final = "AccountChanged"
TRIGGER_PREFERRED_CHAIN_CHANGED: Final = "PreferredChainChanged"
TRIGGER_PROFILE_CHANGED: Final = "ProfileChanged"


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
    ari_window: Window | None = None
    ari_fetched: datetime | None = None
    replaces: str | None = None
    trigger: str | None = None
    """A CamelCase condition reason for an issuance the spec's ACME settings ask for."""


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

    `recorded` is the Secret's annotations, `wanted` is `tls_secret.issuance_annotations`
    of the spec. A setting the Secret does not record (a Secret written before the
    operator recorded it) counts as unchanged: reissuing every such certificate at once
    on upgrade would spend the CA's rate limits for nothing. Values are compared exactly
    (a directory URL with a trailing "/" is another URL, as it is to an ACME client).
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


# --- on demand ---------------------------------------------------------------------------


def renew_requested(annotation_value: str | None, last_honoured: str | None) -> bool:
    """Whether the `webhookcert.dev/renew` annotation asks for a renewal not yet made.

    Any new value asks for exactly one renewal; the operator records the value it honoured
    (status.renewal.lastRenewRequest) when the new certificate is stored. An absent or
    empty annotation asks for nothing, and removing it does not count as a request.
    """
    if annotation_value is None or not annotation_value.strip():
        return False
    return annotation_value != last_honoured


# --- ACME Renewal Information (RFC 9773) ---------------------------------------------------


def _check_unit(value: float, name: str) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def _floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _ceil_second(moment: datetime) -> datetime:
    floor = _floor_second(moment)
    return floor if floor == moment else floor + timedelta(seconds=1)


def _check_window(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("renewal windows need timezone-aware datetimes")
    if end <= start:
        # RFC 9773 section 4.2: such a window is invalid; treat it as no answer.
        raise ValueError("a renewal window must end after it starts")


def choose_ari_time(
    window_start: datetime, window_end: datetime, *, now: datetime, unit_random: float
) -> datetime:
    """A uniformly random time in the CA's suggested window, never before `now`.

    RFC 9773 section 4.2: pick a uniform random time in the window, and renew at once if
    it is in the past. Here the pick is uniform over what is left of the window
    ([max(start, now), end]): for a window already in progress that is the same
    distribution a client polling all along would still be waiting on, without sending
    every late client to the CA at the same instant. A window already over means now.
    The result is a whole second, so it reads back from status unchanged.
    """
    _check_window(window_start, window_end)
    _check_unit(unit_random, "unit_random")
    if window_end <= now:
        return now
    start = max(window_start, now)
    chosen = _floor_second(start + (window_end - start) * unit_random)
    return chosen if chosen >= start else start


def _same_window(a: Window, b: Window) -> bool:
    # Status keeps whole seconds; compare at that precision so a window read back from
    # status equals the same window fresh from the CA.
    return _floor_second(a[0]) == _floor_second(b[0]) and _floor_second(a[1]) == _floor_second(b[1])


def keep_or_choose(
    previous_choice: datetime | None,
    previous_window: Window | None,
    new_window: Window,
    *,
    now: datetime,
    unit_random: float,
) -> datetime:
    """Keep the time chosen before while the CA's window is unchanged, else choose anew.

    Re-rolling on every poll would drift the choice towards the window's start (the
    earliest of many draws wins) and undo the spreading the CA asked for. A previous
    choice outside the window (hand-edited status) is not kept.
    """
    start, end = new_window
    _check_window(start, end)
    if (
        previous_choice is not None
        and previous_window is not None
        and _same_window(previous_window, new_window)
        and _floor_second(start) <= previous_choice <= end
    ):
        return previous_choice
    return choose_ari_time(start, end, now=now, unit_random=unit_random)


def next_ari_poll(
    now: datetime, retry_after_seconds: float | None, *, unit_random: float
) -> datetime:
    """When to fetch a certificate's renewal information again.

    With a Retry-After, at that time (RFC 9773 section 4.3: it is the desired interval,
    both minimum and maximum), clamped to [1 minute, 1 day] (section 4.3.2). Without one,
    or after a failed fetch (section 4.3.3: wait six hours), 6 to 12 hours from now, which
    is about twice a day. Rounded up to a whole second.
    """
    _check_unit(unit_random, "unit_random")
    if retry_after_seconds is not None and not math.isnan(retry_after_seconds):
        seconds = min(max(retry_after_seconds, 0.0), ARI_MAX_POLL.total_seconds())
        wait = max(timedelta(seconds=seconds), ARI_MIN_POLL)
    else:
        wait = ARI_DEFAULT_POLL + ARI_DEFAULT_POLL_SPREAD * unit_random
    return _ceil_second(now + wait)


def ari_fetch_due(
    previous: RenewalStatus | None,
    *,
    cert_id: str,
    not_after: datetime,
    spec: EndpointSpec,
    now: datetime,
) -> bool:
    """Whether to ask the CA for this certificate's renewal information now.

    Never when `spec.renewBefore` decides the renewal time anyway, and never for an
    expired certificate (RFC 9773 section 4.3: clients must not). Otherwise when nothing
    is known yet about this certificate (so also right after issuance, as section 4.3
    asks) or the time to ask again has come.
    """
    if spec.renew_before is not None or now >= not_after:
        return False
    if previous is None or previous.cert_id != cert_id or previous.ari_next_fetch is None:
        return True
    return now >= previous.ari_next_fetch


def record_ari_window(
    previous: RenewalStatus | None,
    *,
    cert_id: str,
    window_start: datetime,
    window_end: datetime,
    explanation_url: str | None,
    retry_after_seconds: float | None,
    now: datetime,
    choice_random: float,
    poll_random: float,
) -> RenewalStatus:
    """status.renewal after the CA answered with a window for certificate `cert_id`.

    The chosen time is kept if the same certificate had the same window before. An
    invalid window (end not after start) is recorded as a failed fetch, as RFC 9773
    section 4.2 asks, so the last valid window, if any, stays in use.
    """
    try:
        _check_window(window_start, window_end)
    except ValueError:
        return record_ari_failure(
            previous,
            cert_id=cert_id,
            error="the CA sent renewal information without a valid window",
            now=now,
            poll_random=poll_random,
        )
    same_certificate = previous is not None and previous.cert_id == cert_id
    base = previous if previous is not None and same_certificate else RenewalStatus()
    chosen = keep_or_choose(
        base.ari_selected_time,
        base.ari_window,
        (window_start, window_end),
        now=now,
        unit_random=choice_random,
    )
    return replace(
        base,
        cert_id=cert_id,
        ari_window=(_floor_second(window_start), _floor_second(window_end)),
        ari_selected_time=chosen,
        ari_fetched=_floor_second(now),
        ari_next_fetch=next_ari_poll(now, retry_after_seconds, unit_random=poll_random),
        ari_explanation_url=explanation_url,
        ari_error=None,
        last_renew_request=previous.last_renew_request if previous is not None else None,
    )


def record_ari_failure(
    previous: RenewalStatus | None,
    *,
    cert_id: str,
    error: str | None,
    now: datetime,
    poll_random: float,
) -> RenewalStatus:
    """status.renewal after asking the CA about `cert_id` gave no window.

    `error` is a stable sentence when the fetch failed (the last window known for the same
    certificate stays in use: it is the CA's latest word), or None when the CA offers no
    renewal information at all (any window is dropped and the default rule applies).
    Either way the CA is asked again in 6 to 12 hours (RFC 9773 section 4.3.3).
    """
    same_certificate = previous is not None and previous.cert_id == cert_id
    base = previous if previous is not None and same_certificate and error else RenewalStatus()
    return replace(
        base,
        cert_id=cert_id,
        ari_next_fetch=next_ari_poll(now, None, unit_random=poll_random),
        ari_error=error,
        last_renew_request=previous.last_renew_request if previous is not None else None,
    )


# --- after a failure -----------------------------------------------------------------------


def failure_delay(
    failed_attempts: int,
    *,
    unit_random: float,
    retry_after: datetime | None,
    now: datetime,
    delays: Sequence[timedelta] = FAILURE_DELAYS,
) -> timedelta:
    """How long to wait after the `failed_attempts`-th failure in a row (1 for the first).

    `delays` in turn, the last one for every later failure (by default 1 minute, 10
    minutes, 100 minutes, then about a day), each spread by +-10% (`unit_random` 0 gives
    -10%, 0.5 the nominal delay) so that endpoints failing together do not retry
    together; never less than the time until the CA's Retry-After (RFC 8555 section 6.6,
    Let's Encrypt's rate limits). Whole seconds.
    """
    if failed_attempts < 1:
        raise ValueError("failed_attempts counts the failure just seen, so it is at least 1")
    _check_unit(unit_random, "unit_random")
    nominal = delays[min(failed_attempts, len(delays)) - 1]
    delay = nominal * (1 - FAILURE_JITTER + 2 * FAILURE_JITTER * unit_random)
    if retry_after is not None:
        delay = max(delay, retry_after - now)
    return timedelta(seconds=math.ceil(delay.total_seconds()))


# --- the decision --------------------------------------------------------------------------


def renewal_time(not_before: datetime, not_after: datetime, spec: EndpointSpec) -> datetime:
    """The renewal time without ARI: spec.renewBefore, else pki's default rule."""
    if spec.renew_before is not None:
        return pki.renewal_time_with_renew_before(
            not_after, spec.renew_before, not_before=not_before
        )
    return pki.default_renewal_time(not_before, not_after)


def _shares_a_name(stored: StoredCertificate, spec: EndpointSpec) -> bool:
    covered = {name.lower() for name in pki.certificate_dns_names(stored.leaf)}
    return any(name.lower() in covered for name in spec.dns_names)


def decide(
    stored: StoredCertificate | str | None,
    spec: EndpointSpec,
    now: datetime,
    *,
    cert_id: str | None = None,
    renewal: RenewalStatus | None = None,
    renew_request_pending: bool = False,
    changed: IssuerChange | None = None,
) -> Decision:
    """Whether to issue now, and why (a stable sentence for status and events).

    `stored` is what the Secret holds (`tls_secret.parse_stored`), `cert_id` the ARI
    identifier of its leaf (`acme_client.cert_id`), given only when the Secret is this
    endpoint's own; `renewal` is status.renewal as read back or just updated; and
    `renew_request_pending` is what `renew_requested()` says about the annotation;
    `changed` is what `issuer_change` says about the Secret's recorded ACME settings.

    Order of reasons: no or unusable certificate, a spec that asks for other names or
    another key, other ACME settings (`changed`), expiry, a renewal request, then the
    renewal time (ARI's chosen time for this certificate when known and before expiry,
    else the default rule; `spec.renewBefore` overrides both).
    """
    if stored is None:
        return Decision(REASON_NO_CERTIFICATE)
    if isinstance(stored, str):
        return Decision(f"the stored certificate is unusable: {stored}")
    not_before, not_after = stored.leaf.not_valid_before_utc, stored.leaf.not_valid_after_utc
    # RFC 9773 section 5: send `replaces` when there is a clear predecessor. Not for an
    # expired certificate (ARI ends with its validity) and not when no name carries over
    # (the CA would refuse the order: section 5 asks servers to check for a shared name).
    replaces = cert_id if cert_id and now < not_after and _shares_a_name(stored, spec) else None
    mismatch = pki.certificate_needs_reissue(
        stored.leaf,
        stored.key,
        spec.dns_names,
        spec.private_key.algorithm,
        spec.private_key.size,
    )
    if mismatch is not None:
        return Decision(mismatch, replaces=replaces)
    if changed is not None:
        # `replaces` names a certificate of this CA (RFC 9773 section 5): another CA
        # never issued the one being replaced, so there is nothing to name.
        return Decision(
            changed.reason,
            replaces=replaces if changed.same_ca else None,
            trigger=changed.trigger,
        )
    try:
        fallback = renewal_time(not_before, not_after, spec)
    except pki.PkiError as error:  # notAfter not after notBefore: no CA issues that
        return Decision(f"the stored certificate is unusable: {error}")
    due, ari = fallback, None
    if (
        spec.renew_before is None
        and renewal is not None
        and cert_id is not None
        and renewal.cert_id == cert_id
        and renewal.ari_window is not None
        and renewal.ari_selected_time is not None
        and renewal.ari_selected_time < not_after
    ):
        due, ari = renewal.ari_selected_time, renewal
    decision = Decision(
        None,
        due,
        ari_used=ari is not None,
        ari_window=ari.ari_window if ari is not None else None,
        ari_fetched=ari.ari_fetched if ari is not None else None,
        replaces=replaces,
    )
    if now >= not_after:
        return replace(decision, reason=REASON_EXPIRED)
    if renew_request_pending:
        return replace(decision, reason=REASON_RENEW_REQUESTED)
    if now >= due:
        return replace(decision, reason=REASON_ARI_DUE if ari is not None else REASON_DUE)
    return decision

"""When an endpoint needs a (new) certificate, decided from what its Secret holds.

No I/O: the caller reads the Secret and passes the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from webhook_cert_operator import pki
from webhook_cert_operator.api import EndpointSpec
from webhook_cert_operator.tls_secret import StoredCertificate


@dataclass(frozen=True)
class Decision:
    """`reason` is None when the stored certificate is fine until `renewal_time`."""

    reason: str | None
    renewal_time: datetime | None = None


def renewal_time(not_before: datetime, not_after: datetime, spec: EndpointSpec) -> datetime:
    if spec.renew_before is not None:
        return pki.renewal_time_with_renew_before(
            not_after, spec.renew_before, not_before=not_before
        )
    return pki.default_renewal_time(not_before, not_after)


def decide(stored: StoredCertificate | str | None, spec: EndpointSpec, now: datetime) -> Decision:
    """Whether to issue now, and why (a stable sentence for status and events)."""
    if stored is None:
        return Decision("no certificate has been issued yet")
    if isinstance(stored, str):
        return Decision(f"the stored certificate is unusable: {stored}")
    mismatch = pki.certificate_needs_reissue(
        stored.leaf,
        stored.key,
        spec.dns_names,
        spec.private_key.algorithm,
        spec.private_key.size,
    )
    if mismatch is not None:
        return Decision(mismatch)
    try:
        due = renewal_time(stored.leaf.not_valid_before_utc, stored.leaf.not_valid_after_utc, spec)
    except pki.PkiError as error:  # notAfter not after notBefore: no CA issues that
        return Decision(f"the stored certificate is unusable: {error}")
    if now >= stored.leaf.not_valid_after_utc:
        return Decision("the certificate has expired", due)
    if now >= due:
        return Decision("the certificate is due for renewal", due)
    return Decision(None, due)

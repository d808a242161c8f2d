"""Orchestration: a check-only endpoint's referenced Secret, reported and never written.

A check-only endpoint (spec.checkOnly) names a Secret someone else keeps (cert-manager,
a person): the operator judges its certificate (`secret.judge_referenced`), reports it
in status, and the served-chain daemon checks again whenever its version changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.formats import format_time
from webhook_cert_operator.certificates import pki, ports
from webhook_cert_operator.certificates import secret as tls_secret
from webhook_cert_operator.metrics import Metrics

# The certificate fields of status when the referenced Secret holds no certificate.
_NO_CERTIFICATE: Final = MappingProxyType(
    {"notBefore": None, "notAfter": None, "serialNumber": None, "issuer": None, "dnsNames": None}
)


def certificate_status(info: pki.CertificateInfo, renewal_time: datetime | None) -> dict[str, Any]:
    """The status fields that describe a certificate (times in RFC 3339, UTC)."""
    fields = {
        "notBefore": format_time(info.not_before),
        "notAfter": format_time(info.not_after),
        "serialNumber": info.serial_number,
        "issuer": info.issuer,
        "dnsNames": list(info.dns_names),
    }
    if renewal_time is not None:
        fields["renewalTime"] = format_time(renewal_time)
    return fields


def observe(
    kube: ports.Secrets,
    metrics: Metrics,
    report: ports.Report,
    spec: api.EndpointSpec,
    *,
    now: datetime,
) -> None:
    """Report the referenced Secret's certificate: Ready, and the certificate's fields.

    `status.secretResourceVersion` is the version judged: the served-chain daemon checks
    again as soon as it changes (cert-manager renewed, someone fixed the chain).
    """
    assert spec.check_only is not None
    endpoint = report.endpoint
    name = spec.check_only.secret_name
    secret = kube.get_secret(endpoint.namespace, name) if name is not None else None
    verdict = tls_secret.judge_referenced(
        name,
        secret.type if secret is not None else None,
        secret.data if secret is not None else None,
        now=now,
    )
    report.condition(
        api.READY, "True" if verdict.ready else "False", verdict.reason, verdict.message
    )
    report.condition(
        api.ISSUING, "False", "CheckOnly", "check-only endpoint: the operator issues nothing"
    )
    fields: dict[str, Any] = {
        "secretResourceVersion": secret.resource_version if secret is not None else None,
        "renewalTime": None,  # nothing is renewed here
    }
    if verdict.leaf is not None:
        info = pki.describe_certificate(verdict.leaf)
        fields.update(certificate_status(info, None))
        metrics.observe_certificate(endpoint.namespace, endpoint.name, info.not_after, None)
    else:
        fields.update(_NO_CERTIFICATE)
    report.write(**fields)


def changed(kube: ports.Secrets, body: Mapping[str, Any]) -> bool:
    """Whether a check-only endpoint's Secret is not the version last judged (one GET by
    name: no list or watch of Secrets is needed). False for any other endpoint."""
    check_only = (body.get("spec") or {}).get("checkOnly")
    ref = check_only.get("secretRef") if isinstance(check_only, Mapping) else None
    name = ref.get("name") if isinstance(ref, Mapping) else None
    if not isinstance(name, str) or not name:
        return False
    secret = kube.get_secret(body["metadata"]["namespace"], name)
    version = secret.resource_version if secret is not None else None
    return version != (body.get("status") or {}).get("secretResourceVersion")

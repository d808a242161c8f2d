"""The WebhookEndpoint API as typed values: spec parsing with defaults, conditions, status.order
and status.renewal.

`manifests/crd/webhookendpoints.yaml` is the schema users see (`kubectl explain whe.spec`);
this module is the operator's reading of the same object. `parse_spec` fills in every
default and checks again every rule the CRD enforces, because an object may have been
stored under an older CRD, or by an API server too old to run the CRD's CEL rules, and the
operator must refuse it with a message the user can act on rather than fail half-way
through an ACME order.

Pure: no Kubernetes client, no I/O, no clock. Time always comes in as a parameter.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from webhook_cert_operator.settings import Settings

GROUP: Final = "webhookcert.dev"
VERSION: Final = "v1alpha1"
KIND: Final = "WebhookEndpoint"
PLURAL: Final = "webhookendpoints"

# Let's Encrypt accepts at most 100 names per certificate (Let's Encrypt rate limits doc).
MAX_DNS_NAMES: Final = 100

SERVICE_TYPES: Final = ("ClusterIP", "NodePort")
ROTATION_POLICIES: Final = ("Always", "Never")
TLS_VERSIONS: Final = ("1.2", "1.3")
TRUST_BUNDLE_KINDS: Final = ("ConfigMap", "Secret")
TOLERATION_OPERATORS: Final = ("Exists", "Equal")
TOLERATION_EFFECTS: Final = ("NoSchedule", "PreferNoSchedule", "NoExecute")
SECRET_DELETION_POLICIES: Final = ("Retain", "Delete")
# Extra keys in the certificate Secret, for servers configured with file names rather than
# tls.crt/tls.key (the certbot layout of the seed document's Apache, or one combined file).
CERTBOT_FILES: Final = "CertbotFiles"
COMBINED_PEM: Final = "CombinedPEM"
OUTPUT_FORMATS: Final = (CERTBOT_FILES, COMBINED_PEM)
RESTART_TARGET_KINDS: Final = ("Deployment", "StatefulSet")
MAX_RESTART_TARGETS: Final = 10

# Key types Let's Encrypt signs: ECDSA on P-256 / P-384 and RSA of 2048, 3072 or 4096 bits.
KEY_SIZES: Final[Mapping[str, tuple[int, ...]]] = MappingProxyType(
    {"ECDSA": (256, 384), "RSA": (2048, 3072, 4096)}
)
DEFAULT_KEY_SIZES: Final[Mapping[str, int]] = MappingProxyType({"ECDSA": 256, "RSA": 2048})
DEFAULT_KEY_ALGORITHM: Final = "ECDSA"
DEFAULT_ROTATION_POLICY: Final = "Always"
# Retain: deleting a WebhookEndpoint must never take a serving certificate away with it.
DEFAULT_SECRET_DELETION_POLICY: Final = "Retain"
DEFAULT_SERVICE_TYPE: Final = "ClusterIP"
DEFAULT_VALIDATION_INTERVAL: Final = timedelta(hours=1)
MIN_VALIDATION_INTERVAL: Final = timedelta(minutes=1)
DEFAULT_MIN_TLS_VERSION: Final = "1.2"
DEFAULT_TRUST_BUNDLE_KEY: Final = "ca.crt"
SECRET_NAME_SUFFIX: Final = "-tls"

# Condition types written to status.conditions.
READY: Final = "Ready"
ISSUING: Final = "Issuing"
CHAIN_VALID: Final = "ChainValid"

TRUE: Final = "True"
FALSE: Final = "False"
UNKNOWN: Final = "Unknown"
CONDITION_STATUSES: Final = (TRUE, FALSE, UNKNOWN)


class SpecError(ValueError):
    """A WebhookEndpoint spec the operator cannot act on; the message names the field."""


# --- patterns, kept identical to the CRD's CEL rules -------------------------------------

_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_FQDN_RE: Final = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})+")
_ALL_DIGITS_LAST_LABEL_RE: Final = re.compile(r".*\.[0-9]+")
_SUBDOMAIN_RE: Final = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
)
_DATA_KEY_RE: Final = re.compile(r"[-._a-zA-Z0-9]+")
_EMAIL_RE: Final = re.compile(r"[^@\s:,]+@[^@\s:,]+\.[^@\s:,]+")
_PROFILE_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_CONNECT_TO_RE: Final = re.compile(
    rf"(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[-A-Za-z0-9.]*[A-Za-z0-9])?):{_PORT}"
)
_LABEL_VALUE_RE: Final = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_QUALIFIED_NAME_RE: Final = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
# resource.Quantity's syntax: a decimal number, then a binary (Ki..Ei) or decimal (n..E)
# suffix or an exponent.
_DECIMAL = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_QUANTITY_RE: Final = re.compile(rf"[+-]?{_DECIMAL}(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?{_DECIMAL})?")

_MAX_FQDN: Final = 253
_MAX_SUBDOMAIN: Final = 253
_MAX_URL: Final = 2048
_MAX_PREFERRED_CHAIN: Final = 64
_MAX_KEY_ID: Final = 512


# --- durations ---------------------------------------------------------------------------

# Go's time.ParseDuration syntax (what the CRD's CEL `duration()` accepts), limited to the
# units that make sense here: h, m, s, ms. "0" alone is allowed, as in Go.
_DURATION_RE: Final = re.compile(r"[-+]?(?:0|(?:[0-9]+(?:\.[0-9]+)?(?:ms|h|m|s))+)")
_DURATION_PART_RE: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)")
_NANOS_PER_UNIT: Final[Mapping[str, int]] = MappingProxyType(
    {"h": 3_600_000_000_000, "m": 60_000_000_000, "s": 1_000_000_000, "ms": 1_000_000}
)
# Go's time.Duration is an int64 of nanoseconds; anything longer does not parse there either.
_MAX_DURATION_NANOS: Final = 2**63 - 1


def parse_duration(text: str) -> timedelta:
    """Parse a Go-style duration ("1h", "90m", "1h30m", "1.5h", "500ms") into a timedelta.

    Raises ValueError for anything else, including units Go has but this API does not
    use (us, ns) and durations beyond Go's limit of about 292 years.
    """
    if not isinstance(text, str) or not _DURATION_RE.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a duration like '90m', '1h30m' or '720h' (units: h, m, s, ms)"
        )
    negative = text.startswith("-")
    body = text.lstrip("+-")
    nanos = sum(
        (
            Decimal(number) * _NANOS_PER_UNIT[unit]
            for number, unit in _DURATION_PART_RE.findall(body)
        ),
        Decimal(0),
    )
    if nanos > _MAX_DURATION_NANOS:
        raise ValueError(f"{text!r} is too long a duration (at most 2562047h)")
    micros = int((nanos / 1000).to_integral_value())
    result = timedelta(microseconds=micros)
    return -result if negative else result


def format_duration(value: timedelta) -> str:
    """Format a timedelta the way `parse_duration` reads it: "1h30m", "45s", "250ms", "0s"."""
    if value < timedelta(0):
        return "-" + format_duration(-value)
    micros = value // timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    hours, micros = divmod(micros, 3_600_000_000)
    minutes, micros = divmod(micros, 60_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if micros == 0:
        if seconds:
            parts.append(f"{seconds}s")
    elif seconds == 0 and micros % 1000 == 0:
        parts.append(f"{micros // 1000}ms")
    else:
        parts.append(f"{seconds}.{micros:06d}".rstrip("0") + "s")
    return "".join(parts)


# --- timestamps --------------------------------------------------------------------------


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a 'Z' and whole seconds, as Kubernetes writes metav1.Time."""
    if moment.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Read an RFC 3339 timestamp (as in status) into an aware UTC datetime."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment.astimezone(UTC)


# --- conditions --------------------------------------------------------------------------

# metav1.Condition's rules for reason: CamelCase, machine-readable, at most 1024 characters.
_REASON_RE: Final = re.compile(r"[A-Za-z](?:[A-Za-z0-9_,:]*[A-Za-z0-9_])?")
_MAX_REASON: Final = 1024
_MAX_MESSAGE: Final = 32768


@dataclass(frozen=True)
class Condition:
    """One entry of status.conditions, without its bookkeeping (time, generation).

    Keep `message` stable for a given state (no timestamps, no response bodies, never a
    secret): a status patch that changes nothing does not wake the operator again.
    """

    type: str
    status: str
    reason: str
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in CONDITION_STATUSES:
            raise ValueError(f"condition status must be one of {CONDITION_STATUSES}")
        if len(self.reason) > _MAX_REASON or not _REASON_RE.fullmatch(self.reason):
            raise ValueError(f"condition reason {self.reason!r} is not a CamelCase word")
        if len(self.message) > _MAX_MESSAGE:
            raise ValueError("condition message is longer than 32768 characters")


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    new: Condition,
    *,
    now: datetime,
    generation: int,
) -> list[dict[str, Any]]:
    """Return `conditions` with `new` in place of any condition of the same type.

    `lastTransitionTime` moves to `now` only when the status changes, so writing the same
    state twice yields an identical list (and an empty status patch). Other conditions keep
    their order; a new type is appended; duplicates of the type are dropped.
    """
    result: list[dict[str, Any]] = []
    placed = False
    for existing in conditions:
        if existing.get("type") != new.type:
            result.append(dict(existing))
            continue
        if placed:
            continue
        placed = True
        previous_time = existing.get("lastTransitionTime")
        if existing.get("status") == new.status and isinstance(previous_time, str):
            transition = previous_time
        else:
            transition = format_time(now)
        result.append(_condition_dict(new, transition, generation))
    if not placed:
        result.append(_condition_dict(new, format_time(now), generation))
    return result


def _condition_dict(condition: Condition, transition: str, generation: int) -> dict[str, Any]:
    return {
        "type": condition.type,
        "status": condition.status,
        "reason": condition.reason,
        "message": condition.message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }


def get_condition(conditions: Sequence[Mapping[str, Any]], type: str) -> Condition | None:
    """The condition of `type`, or None when absent or not a well-formed condition."""
    for entry in conditions:
        if entry.get("type") != type:
            continue
        try:
            return Condition(
                type=type,
                status=str(entry.get("status", "")),
                reason=str(entry.get("reason", "")),
                message=str(entry.get("message") or ""),
            )
        except ValueError:
            # Written by hand through the status subresource; treat as not reported.
            return None
    return None


# --- status.order ------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRef:
    """The ACME order in progress, kept in status.order so a restarted operator resumes it.

    `state` is the order's status as the CA reports it (RFC 8555 section 7.1.6: pending,
    ready, processing, valid, invalid); `attempts` counts orders created for this spec.
    """

    url: str
    state: str
    attempts: int
    dns_names: tuple[str, ...]

    def to_status(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "state": self.state,
            "attempts": self.attempts,
            "dnsNames": list(self.dns_names),
        }

    @classmethod
    def from_status(cls, order: Mapping[str, Any] | None) -> OrderRef | None:
        """Read status.order; None when absent or unusable (then a new order is started)."""
        if not isinstance(order, Mapping):
            return None
        url, state, attempts = order.get("url"), order.get("state"), order.get("attempts", 0)
        names = order.get("dnsNames", [])
        if not isinstance(url, str) or not url or not isinstance(state, str):
            return None
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
            return None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return None
        return cls(url=url, state=state, attempts=attempts, dns_names=tuple(names))


# --- status.renewal ----------------------------------------------------------------------


@dataclass(frozen=True)
class RenewalStatus:
    """status.renewal: what the CA's renewal information said about the current certificate.

    ACME Renewal Information (RFC 9773) is per certificate, so everything about it is tied
    to `cert_id` (the certificate's ARI identifier) and ignored once another certificate is
    in the Secret. `ari_window` is the CA's suggested window, `ari_selected_time` the random
    point in it the operator picked (kept while the window does not change, so restarts do
    not re-roll it), `ari_next_fetch` when to ask again (the CA's Retry-After, clamped).
    `ari_error` is a stable sentence when the last fetch failed. `last_renew_request` is the
    value of the `webhookcert.dev/renew` annotation that the last issuance honoured.
    """

    cert_id: str | None = None
    ari_window: tuple[datetime, datetime] | None = None
    ari_selected_time: datetime | None = None
    ari_fetched: datetime | None = None
    ari_next_fetch: datetime | None = None
    ari_explanation_url: str | None = None
    ari_error: str | None = None
    last_renew_request: str | None = None

    def to_status(self) -> dict[str, Any]:
        """Every key, None where unknown: as a merge patch, None removes a stale value."""
        start, end = self.ari_window if self.ari_window is not None else (None, None)
        return {
            "certID": self.cert_id,
            "ariWindowStart": _optional_time(start),
            "ariWindowEnd": _optional_time(end),
            "ariSelectedTime": _optional_time(self.ari_selected_time),
            "ariFetched": _optional_time(self.ari_fetched),
            "ariNextFetch": _optional_time(self.ari_next_fetch),
            "ariExplanationURL": self.ari_explanation_url,
            "ariError": self.ari_error,
            "lastRenewRequest": self.last_renew_request,
        }

    @classmethod
    def from_status(cls, renewal: Mapping[str, Any] | None) -> RenewalStatus:
        """Read status.renewal leniently: a field that does not parse reads as unknown.

        The window is kept only when both ends parse and the end is after the start (RFC
        9773 section 4.2 calls any other window invalid), the selected time only with a
        window.
        """
        if not isinstance(renewal, Mapping):
            return cls()
        start = _status_time(renewal.get("ariWindowStart"))
        end = _status_time(renewal.get("ariWindowEnd"))
        window = (start, end) if start is not None and end is not None and end > start else None
        return cls(
            cert_id=_status_string(renewal.get("certID")),
            ari_window=window,
            ari_selected_time=(
                _status_time(renewal.get("ariSelectedTime")) if window is not None else None
            ),
            ari_fetched=_status_time(renewal.get("ariFetched")),
            ari_next_fetch=_status_time(renewal.get("ariNextFetch")),
            ari_explanation_url=_status_string(renewal.get("ariExplanationURL")),
            ari_error=_status_string(renewal.get("ariError")),
            last_renew_request=_status_string(renewal.get("lastRenewRequest")),
        )


def _optional_time(moment: datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None


def _status_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def _status_string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- the spec ----------------------------------------------------------------------------


def _frozen_map(values: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class SecretKeyRef:
    """One key of a Secret in the WebhookEndpoint's namespace."""

    name: str
    key: str


@dataclass(frozen=True)
class ExternalAccountBinding:
    """RFC 8555 section 7.3.4: binds the ACME account to an account at the CA.

    The HMAC key stays in its Secret; only the reference travels.
    """

    key_id: str
    key_secret_ref: SecretKeyRef


@dataclass(frozen=True)
class AcmeSpec:
    server: str
    email: str | None = None
    external_account_binding: ExternalAccountBinding | None = None
    preferred_chain: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class PodTemplate:
    """Extra metadata and scheduling for the HTTP-01 solver Pod.

    Mappings are read-only views; `to_plain` turns them into dicts for a Kubernetes body.
    """

    labels: Mapping[str, str] = field(default_factory=_frozen_map)
    annotations: Mapping[str, str] = field(default_factory=_frozen_map)
    node_selector: Mapping[str, str] = field(default_factory=_frozen_map)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class IngressTemplate:
    """Extra metadata for the HTTP-01 solver Ingress (for example an ingress's own knobs)."""

    labels: Mapping[str, str] = field(default_factory=_frozen_map)
    annotations: Mapping[str, str] = field(default_factory=_frozen_map)


@dataclass(frozen=True)
class ParentReference:
    """A Gateway (Gateway API `ParentReference`) the solver's HTTPRoute attaches to.

    `namespace` None means the endpoint's namespace; `section_name` None means every
    listener of the Gateway that accepts the route.
    """

    name: str
    namespace: str | None = None
    section_name: str | None = None

    def to_plain(self) -> dict[str, str]:
        ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": self.name}
        if self.namespace is not None:
            ref["namespace"] = self.namespace
        if self.section_name is not None:
            ref["sectionName"] = self.section_name
        return ref


@dataclass(frozen=True)
class Http01Spec:
    ingress_class_name: str | None = None
    service_type: str = DEFAULT_SERVICE_TYPE
    pod_template: PodTemplate = field(default_factory=PodTemplate)
    ingress_template: IngressTemplate = field(default_factory=IngressTemplate)
    gateway_parent_refs: tuple[ParentReference, ...] = ()
    """Set: the solver routes the challenges with an HTTPRoute attached to these Gateways
    (spec.http01.gatewayHTTPRoute.parentRefs) instead of an Ingress."""


@dataclass(frozen=True)
class PrivateKeySpec:
    algorithm: str = DEFAULT_KEY_ALGORITHM
    size: int = DEFAULT_KEY_SIZES[DEFAULT_KEY_ALGORITHM]
    rotation_policy: str = DEFAULT_ROTATION_POLICY


@dataclass(frozen=True)
class TrustBundleRef:
    """A ConfigMap or Secret key, in the endpoint's namespace, holding PEM roots."""

    kind: str
    name: str
    key: str = DEFAULT_TRUST_BUNDLE_KEY


#: Sender profiles (checking/senders.py): "generic" checks TLS only; the others also send that
#: sender's subscription validation request.
SENDERS: Final = ("generic", "ringcentral", "msgraph", "slack")
DEFAULT_SENDER: Final = "generic"


@dataclass(frozen=True)
class ValidationSpec:
    url: str
    interval: timedelta = DEFAULT_VALIDATION_INTERVAL
    connect_to: str | None = None
    trust_bundle: TrustBundleRef | None = None
    min_tls_version: str = DEFAULT_MIN_TLS_VERSION
    #: The sender profile (SENDERS): the TLS rules plus that sender's handshake request.
    sender: str = DEFAULT_SENDER


@dataclass(frozen=True)
class RestartTarget:
    """A workload in the endpoint's namespace rolled when the certificate changes."""

    kind: str
    name: str


@dataclass(frozen=True)
class CheckOnlySpec:
    """spec.checkOnly: the certificate comes from elsewhere (cert-manager, by hand); the
    operator only checks what is served. `secret_name` names the kubernetes.io/tls Secret
    whose certificate the endpoint should serve, or is None when nothing is expected."""

    secret_name: str | None = None


# The fields that only mean something when the operator obtains the certificate; refused
# beside spec.checkOnly, in the order the CRD's rules name them.
ISSUANCE_ONLY_FIELDS: Final = (
    "secretName",
    "acme",
    "renewBefore",
    "additionalOutputFormats",
    "restartTargets",
)
# These two the CRD defaults to {} and fills with defaults of their own, so they are
# present on every stored object: only values other than those defaults are refused.
_CHECK_ONLY_DEFAULTED: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "http01": {"serviceType": DEFAULT_SERVICE_TYPE},
        "privateKey": {"algorithm": DEFAULT_KEY_ALGORITHM, "rotationPolicy": "Always"},
    }
)


@dataclass(frozen=True)
class EndpointSpec:
    """A WebhookEndpoint's spec with every default applied. dns_names[0] is the primary name.

    `additional_output_formats` holds OUTPUT_FORMATS names in the order written, without
    duplicates; `restart_targets` likewise.
    """

    dns_names: tuple[str, ...]
    secret_name: str
    acme: AcmeSpec
    http01: Http01Spec
    private_key: PrivateKeySpec
    renew_before: timedelta | None
    validation: ValidationSpec
    secret_deletion_policy: str = DEFAULT_SECRET_DELETION_POLICY
    additional_output_formats: tuple[str, ...] = ()
    restart_targets: tuple[RestartTarget, ...] = ()
    check_only: CheckOnlySpec | None = None
    """Set for a check-only endpoint: no ACME, no solver, no Secret written. Then
    `secret_name` is the referenced Secret's name, "" when none is referenced."""


def to_plain(value: Any) -> Any:
    """Deep-copy read-only mappings and tuples into dicts and lists (for API bodies, JSON)."""
    if isinstance(value, Mapping):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [to_plain(item) for item in value]
    return value


def parse_spec(spec: Mapping[str, Any], *, name: str, settings: Settings) -> EndpointSpec:
    """Read a WebhookEndpoint's spec, apply defaults, and refuse what the CRD would refuse.

    `name` is metadata.name (for the default Secret name); `settings` gives the operator's
    defaults for the ACME server and contact email. Raises SpecError naming the first
    offending field.
    """
    if not isinstance(spec, Mapping):
        raise SpecError("spec: must be an object")
    dns_names = _parse_dns_names(spec.get("dnsNames"))
    if spec.get("checkOnly") is not None:
        return _parse_check_only(spec, dns_names)
    return EndpointSpec(
        dns_names=dns_names,
        secret_name=_parse_secret_name(spec.get("secretName"), name),
        acme=_parse_acme(_object(spec, "acme", "spec"), settings),
        http01=_parse_http01(_object(spec, "http01", "spec")),
        private_key=_parse_private_key(_object(spec, "privateKey", "spec")),
        renew_before=_parse_renew_before(spec.get("renewBefore")),
        validation=_parse_validation(_object(spec, "validation", "spec"), dns_names[0]),
        secret_deletion_policy=_enum(
            spec,
            "secretDeletionPolicy",
            "spec",
            SECRET_DELETION_POLICIES,
            DEFAULT_SECRET_DELETION_POLICY,
        ),
        additional_output_formats=_parse_output_formats(spec.get("additionalOutputFormats")),
        restart_targets=_parse_restart_targets(spec.get("restartTargets")),
    )


def _parse_check_only(spec: Mapping[str, Any], dns_names: tuple[str, ...]) -> EndpointSpec:
    path = "spec.checkOnly"
    check_only = _object(spec, "checkOnly", "spec")
    for key in ISSUANCE_ONLY_FIELDS:
        if spec.get(key) is not None:
            raise SpecError(
                f"spec.{key}: a check-only endpoint obtains no certificate; remove spec.{key} "
                f"or {path}"
            )
    for key, defaults in _CHECK_ONLY_DEFAULTED.items():
        given = _object(spec, key, "spec")
        if any(defaults.get(name) != value for name, value in given.items()):
            what = "solves no challenge" if key == "http01" else "makes no key"
            raise SpecError(
                f"spec.{key}: a check-only endpoint {what}; remove spec.{key} or {path}"
            )
    # The CRD defaults it to Retain; anything else would promise to delete a Secret the
    # operator never owns.
    if spec.get("secretDeletionPolicy") not in (None, DEFAULT_SECRET_DELETION_POLICY):
        raise SpecError(
            "spec.secretDeletionPolicy: a check-only endpoint never owns or deletes its Secret; "
            "remove the field or set it to Retain"
        )
    secret_name = None
    if check_only.get("secretRef") is not None:
        ref_path = f"{path}.secretRef"
        ref = _object(check_only, "secretRef", path)
        secret_name = _subdomain(
            _required_string(ref, "name", ref_path), f"{ref_path}.name", "Secret name"
        )
    return EndpointSpec(
        dns_names=dns_names,
        secret_name=secret_name or "",
        acme=AcmeSpec(server=""),
        http01=Http01Spec(),
        private_key=PrivateKeySpec(),
        renew_before=None,
        validation=_parse_validation(_object(spec, "validation", "spec"), dns_names[0]),
        check_only=CheckOnlySpec(secret_name=secret_name),
    )


# --- field readers: each takes the parent object and a path for messages -----------------


def _object(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"{path}.{key}: must be an object")
    return value


def _string(parent: Mapping[str, Any], key: str, path: str) -> str | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(f"{path}.{key}: must be a string")
    if not value:
        raise SpecError(f"{path}.{key}: must not be empty")
    return value


def _required_string(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = _string(parent, key, path)
    if value is None:
        raise SpecError(f"{path}.{key}: is required")
    return value


def _enum(
    parent: Mapping[str, Any], key: str, path: str, allowed: Sequence[str], default: str
) -> str:
    value = _string(parent, key, path)
    if value is None:
        return default
    if value not in allowed:
        choices = " or ".join(repr(a) for a in allowed)
        raise SpecError(f"{path}.{key}: {value!r} is not one of {choices}")
    return value


def _subdomain(value: str, where: str, what: str) -> str:
    if len(value) > _MAX_SUBDOMAIN or not _SUBDOMAIN_RE.fullmatch(value):
        raise SpecError(
            f"{where}: {value!r} is not a valid {what} (lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 253 characters)"
        )
    return value


def _data_key(value: str, where: str) -> str:
    if len(value) > _MAX_SUBDOMAIN or not _DATA_KEY_RE.fullmatch(value):
        raise SpecError(
            f"{where}: {value!r} is not a valid key (letters, digits, '-', '_' and '.', "
            "at most 253 characters)"
        )
    return value


def _https_url(value: str, where: str) -> str:
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        hostname = None
        parts = None
    if (
        parts is None
        or parts.scheme != "https"
        or not hostname
        or len(value) > _MAX_URL
        or any(c.isspace() for c in value)
    ):
        raise SpecError(f"{where}: {value!r} is not an https:// URL with a host")
    return value


def _duration(value: Any, where: str) -> timedelta:
    if not isinstance(value, str):
        raise SpecError(f"{where}: must be a duration string such as '1h' or '90m'")
    try:
        return parse_duration(value)
    except ValueError as error:
        raise SpecError(f"{where}: {error}") from None


def _parse_dns_names(value: Any) -> tuple[str, ...]:
    where = "spec.dnsNames"
    if value is None:
        raise SpecError(f"{where}: is required; list the host names the certificate is for")
    if not isinstance(value, list | tuple):
        raise SpecError(f"{where}: must be a list of host names")
    if not value:
        raise SpecError(f"{where}: must list at least one host name")
    if len(value) > MAX_DNS_NAMES:
        raise SpecError(
            f"{where}: {len(value)} names is more than the {MAX_DNS_NAMES} a certificate may hold"
        )
    seen: set[str] = set()
    for index, item in enumerate(value):
        item_where = f"{where}[{index}]"
        if not isinstance(item, str):
            raise SpecError(f"{item_where}: must be a string")
        _check_dns_name(item, item_where)
        if item in seen:
            raise SpecError(f"{item_where}: {item!r} is listed twice")
        seen.add(item)
    return tuple(value)


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def dns_name_error(name: Any, where: str) -> str | None:
    """Why `name` cannot be a spec.dnsNames entry (the message starts with `where`), or None."""
    if not isinstance(name, str):
        return f"{where}: must be a string"
    try:
        _check_dns_name(name, where)
    except SpecError as error:
        return str(error)
    return None


def _check_dns_name(name: str, where: str) -> None:
    # RFC 8555 section 8.3 / Let's Encrypt: HTTP-01 proves control of one host, never of a
    # whole zone, so the CA refuses wildcard identifiers on HTTP-01 (DNS-01 only).
    if "*" in name:
        raise SpecError(
            f"{where}: {name!r} is a wildcard; HTTP-01 cannot validate wildcard names, "
            "list each host name instead"
        )
    if is_ip_address(name):
        raise SpecError(
            f"{where}: {name!r} is an IP address; this operator issues certificates for DNS "
            "names only"
        )
    if (
        len(name) > _MAX_FQDN
        or not _FQDN_RE.fullmatch(name)
        or _ALL_DIGITS_LAST_LABEL_RE.fullmatch(name)
    ):
        raise SpecError(
            f"{where}: {name!r} is not a lowercase fully qualified DNS name (at least two "
            "labels of a-z, 0-9 and '-', each 1-63 characters not starting or ending with "
            "'-', a last label not all digits, at most 253 characters, no trailing dot)"
        )


def _parse_secret_name(value: Any, name: str) -> str:
    if value is None:
        default = f"{name}{SECRET_NAME_SUFFIX}"
        if len(default) > _MAX_SUBDOMAIN or not _SUBDOMAIN_RE.fullmatch(default):
            raise SpecError(
                f"spec.secretName: the default {default!r} is not a valid Secret name; "
                "set spec.secretName"
            )
        return default
    if not isinstance(value, str):
        raise SpecError("spec.secretName: must be a string")
    return _subdomain(value, "spec.secretName", "Secret name")


def _parse_acme(acme: Mapping[str, Any], settings: Settings) -> AcmeSpec:
    path = "spec.acme"
    server = _string(acme, "server", path)
    server = _https_url(server, f"{path}.server") if server is not None else settings.acme_server
    email = _string(acme, "email", path)
    if email is not None and (len(email) > 254 or not _EMAIL_RE.fullmatch(email)):
        raise SpecError(
            f"{path}.email: {email!r} is not an email address such as ops@example.com "
            "(one address, without 'mailto:')"
        )
    eab = None
    if acme.get("externalAccountBinding") is not None:
        eab_path = f"{path}.externalAccountBinding"
        eab_obj = _object(acme, "externalAccountBinding", path)
        key_id = _required_string(eab_obj, "keyID", eab_path)
        if len(key_id) > _MAX_KEY_ID:
            raise SpecError(f"{eab_path}.keyID: longer than {_MAX_KEY_ID} characters")
        ref_path = f"{eab_path}.keySecretRef"
        if eab_obj.get("keySecretRef") is None:
            raise SpecError(f"{ref_path}: is required (the Secret holding the HMAC key)")
        ref = _object(eab_obj, "keySecretRef", eab_path)
        eab = ExternalAccountBinding(
            key_id=key_id,
            key_secret_ref=SecretKeyRef(
                name=_subdomain(
                    _required_string(ref, "name", ref_path), f"{ref_path}.name", "Secret name"
                ),
                key=_data_key(_required_string(ref, "key", ref_path), f"{ref_path}.key"),
            ),
        )
    preferred_chain = _string(acme, "preferredChain", path)
    if preferred_chain is not None and len(preferred_chain) > _MAX_PREFERRED_CHAIN:
        raise SpecError(f"{path}.preferredChain: an issuer common name has at most 64 characters")
    profile = _string(acme, "profile", path)
    if profile is not None and not _PROFILE_RE.fullmatch(profile):
        raise SpecError(
            f"{path}.profile: {profile!r} is not a profile name (letters, digits, '.', '_' "
            "and '-', at most 64 characters), e.g. 'classic' or 'shortlived'"
        )
    return AcmeSpec(
        server=server,
        email=email if email is not None else settings.acme_email,
        external_account_binding=eab,
        preferred_chain=preferred_chain,
        profile=profile,
    )


def _label_map(
    parent: Mapping[str, Any], key: str, path: str, *, values: bool
) -> Mapping[str, str]:
    """A string map whose keys are qualified names; `values` also checks label values."""
    where = f"{path}.{key}"
    raw = _object(parent, key, path)
    result: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not _is_qualified_name(name):
            raise SpecError(
                f"{where}: {name!r} is not a valid key (an optional DNS prefix and '/', then "
                "at most 63 letters, digits, '-', '_' or '.')"
            )
        if not isinstance(value, str):
            raise SpecError(f"{where}[{name!r}]: must be a string")
        if values and (len(value) > 63 or not _LABEL_VALUE_RE.fullmatch(value)):
            raise SpecError(
                f"{where}[{name!r}]: {value!r} is not a valid label value (at most 63 "
                "letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
            )
        result[name] = value
    return MappingProxyType(result)


def _is_qualified_name(key: str) -> bool:
    prefix, slash, name = key.rpartition("/")
    if slash and (
        not prefix or len(prefix) > _MAX_SUBDOMAIN or not _SUBDOMAIN_RE.fullmatch(prefix)
    ):
        return False
    return bool(_QUALIFIED_NAME_RE.fullmatch(name))


def _parse_tolerations(value: Any, path: str) -> tuple[Mapping[str, Any], ...]:
    where = f"{path}.tolerations"
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise SpecError(f"{where}: must be a list")
    result = []
    for index, item in enumerate(value):
        item_where = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            raise SpecError(f"{item_where}: must be an object")
        toleration: dict[str, Any] = {}
        for key in ("key", "value"):
            text = item.get(key)
            if text is not None:
                if not isinstance(text, str):
                    raise SpecError(f"{item_where}.{key}: must be a string")
                toleration[key] = text
        if item.get("operator") is not None:
            toleration["operator"] = _enum(item, "operator", item_where, TOLERATION_OPERATORS, "")
        if item.get("effect") is not None:
            toleration["effect"] = _enum(item, "effect", item_where, TOLERATION_EFFECTS, "")
        seconds = item.get("tolerationSeconds")
        if seconds is not None:
            if not isinstance(seconds, int) or isinstance(seconds, bool):
                raise SpecError(f"{item_where}.tolerationSeconds: must be an integer")
            toleration["tolerationSeconds"] = seconds
        result.append(MappingProxyType(toleration))
    return tuple(result)


def _parse_resources(parent: Mapping[str, Any], path: str) -> Mapping[str, Mapping[str, str]]:
    resources = _object(parent, "resources", path)
    where = f"{path}.resources"
    result: dict[str, Mapping[str, str]] = {}
    for kind in ("limits", "requests"):
        amounts: dict[str, str] = {}
        for resource, amount in _object(resources, kind, where).items():
            if isinstance(amount, int) and not isinstance(amount, bool):
                amount = str(amount)
            if not isinstance(amount, str) or not _QUANTITY_RE.fullmatch(amount):
                raise SpecError(
                    f"{where}.{kind}[{resource!r}]: {amount!r} is not a quantity such as "
                    "'100m', '64Mi' or '1'"
                )
            amounts[str(resource)] = amount
        if amounts:
            result[kind] = MappingProxyType(amounts)
    return MappingProxyType(result)


def _parse_http01(http01: Mapping[str, Any]) -> Http01Spec:
    path = "spec.http01"
    class_name = _string(http01, "ingressClassName", path)
    if class_name is not None:
        _subdomain(class_name, f"{path}.ingressClassName", "IngressClass name")
    pod = _object(http01, "podTemplate", path)
    pod_path = f"{path}.podTemplate"
    ingress = _object(http01, "ingressTemplate", path)
    ingress_path = f"{path}.ingressTemplate"
    parent_refs = _parse_gateway_http_route(http01, path)
    if parent_refs and (class_name is not None or http01.get("ingressTemplate") is not None):
        field_name = "ingressClassName" if class_name is not None else "ingressTemplate"
        raise SpecError(
            f"{path}.{field_name}: the solver routes through the Gateway API "
            f"({path}.gatewayHTTPRoute), not an Ingress; remove one of the two"
        )
    return Http01Spec(
        gateway_parent_refs=parent_refs,
        ingress_class_name=class_name,
        service_type=_enum(http01, "serviceType", path, SERVICE_TYPES, DEFAULT_SERVICE_TYPE),
        pod_template=PodTemplate(
            labels=_label_map(pod, "labels", pod_path, values=True),
            annotations=_label_map(pod, "annotations", pod_path, values=False),
            node_selector=_label_map(pod, "nodeSelector", pod_path, values=True),
            tolerations=_parse_tolerations(pod.get("tolerations"), pod_path),
            resources=_parse_resources(pod, pod_path),
        ),
        ingress_template=IngressTemplate(
            labels=_label_map(ingress, "labels", ingress_path, values=True),
            annotations=_label_map(ingress, "annotations", ingress_path, values=False),
        ),
    )


MAX_PARENT_REFS: Final = 32  # the Gateway API's own limit on HTTPRoute parentRefs


def _parse_gateway_http_route(http01: Mapping[str, Any], path: str) -> tuple[ParentReference, ...]:
    if http01.get("gatewayHTTPRoute") is None:
        return ()
    route_path = f"{path}.gatewayHTTPRoute"
    route = _object(http01, "gatewayHTTPRoute", path)
    refs = _list(route.get("parentRefs"), f"{route_path}.parentRefs")
    if not refs:
        raise SpecError(f"{route_path}.parentRefs: name at least one Gateway")
    if len(refs) > MAX_PARENT_REFS:
        raise SpecError(f"{route_path}.parentRefs: at most {MAX_PARENT_REFS} Gateways")
    result: list[ParentReference] = []
    for index, item in enumerate(refs):
        where = f"{route_path}.parentRefs[{index}]"
        if not isinstance(item, Mapping):
            raise SpecError(f"{where}: must be an object with the Gateway's name")
        name = _subdomain(_required_string(item, "name", where), f"{where}.name", "Gateway name")
        namespace = _string(item, "namespace", where)
        if namespace is not None:
            _subdomain(namespace, f"{where}.namespace", "namespace name")
        section = _string(item, "sectionName", where)
        if section is not None:
            _subdomain(section, f"{where}.sectionName", "listener name")
        result.append(ParentReference(name, namespace, section))
    return tuple(result)


def _parse_private_key(key: Mapping[str, Any]) -> PrivateKeySpec:
    path = "spec.privateKey"
    algorithm = _enum(key, "algorithm", path, tuple(KEY_SIZES), DEFAULT_KEY_ALGORITHM)
    size = key.get("size")
    if size is None:
        size = DEFAULT_KEY_SIZES[algorithm]
    elif not isinstance(size, int) or isinstance(size, bool):
        raise SpecError(f"{path}.size: must be an integer number of bits")
    elif size not in KEY_SIZES[algorithm]:
        allowed = " or ".join(str(s) for s in KEY_SIZES[algorithm])
        raise SpecError(f"{path}.size: {algorithm} keys are {allowed} bits, not {size}")
    return PrivateKeySpec(
        algorithm=algorithm,
        size=size,
        rotation_policy=_enum(
            key, "rotationPolicy", path, ROTATION_POLICIES, DEFAULT_ROTATION_POLICY
        ),
    )


def _parse_renew_before(value: Any) -> timedelta | None:
    if value is None:
        return None
    where = "spec.renewBefore"
    renew_before = _duration(value, where)
    if renew_before <= timedelta(0):
        raise SpecError(f"{where}: {value!r} must be longer than zero")
    return renew_before


def _parse_validation(validation: Mapping[str, Any], primary_name: str) -> ValidationSpec:
    path = "spec.validation"
    url = _string(validation, "url", path)
    url = _https_url(url, f"{path}.url") if url is not None else f"https://{primary_name}/"
    interval = DEFAULT_VALIDATION_INTERVAL
    if validation.get("interval") is not None:
        raw = validation["interval"]
        interval = _duration(raw, f"{path}.interval")
        if interval < MIN_VALIDATION_INTERVAL:
            raise SpecError(f"{path}.interval: {raw!r} is shorter than the minimum of 1m")
    connect_to = _string(validation, "connectTo", path)
    if connect_to is not None and not _CONNECT_TO_RE.fullmatch(connect_to):
        raise SpecError(
            f"{path}.connectTo: {connect_to!r} is not 'host:port' (a host name, an IPv4 "
            "address or a bracketed IPv6 address, and a port from 1 to 65535)"
        )
    trust_bundle = None
    if validation.get("trustBundle") is not None:
        bundle_path = f"{path}.trustBundle"
        bundle = _object(validation, "trustBundle", path)
        _required_string(bundle, "kind", bundle_path)
        kind = _enum(bundle, "kind", bundle_path, TRUST_BUNDLE_KINDS, "")
        bundle_name = _required_string(bundle, "name", bundle_path)
        key = _string(bundle, "key", bundle_path) or DEFAULT_TRUST_BUNDLE_KEY
        trust_bundle = TrustBundleRef(
            kind=kind,
            name=_subdomain(bundle_name, f"{bundle_path}.name", f"{kind} name"),
            key=_data_key(key, f"{bundle_path}.key"),
        )
    if isinstance(validation.get("minTLSVersion"), float):
        # YAML reads an unquoted 1.2 as a number.
        raise SpecError(f'{path}.minTLSVersion: must be the string "1.2" or "1.3" (quote it)')
    return ValidationSpec(
        url=url,
        interval=interval,
        connect_to=connect_to,
        trust_bundle=trust_bundle,
        min_tls_version=_enum(
            validation, "minTLSVersion", path, TLS_VERSIONS, DEFAULT_MIN_TLS_VERSION
        ),
        sender=_enum(validation, "sender", path, SENDERS, DEFAULT_SENDER),
    )


def _list(value: Any, where: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise SpecError(f"{where}: must be a list")
    return value


def _parse_output_formats(value: Any) -> tuple[str, ...]:
    where = "spec.additionalOutputFormats"
    result: list[str] = []
    for index, item in enumerate(_list(value, where)):
        item_where = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            raise SpecError(f"{item_where}: must be an object such as {{type: CertbotFiles}}")
        if item.get("type") is None:
            raise SpecError(f"{item_where}.type: is required (CertbotFiles or CombinedPEM)")
        kind = _enum(item, "type", item_where, OUTPUT_FORMATS, "")
        if kind in result:
            raise SpecError(f"{item_where}: {kind} is listed twice")
        result.append(kind)
    return tuple(result)


def _parse_restart_targets(value: Any) -> tuple[RestartTarget, ...]:
    where = "spec.restartTargets"
    items = _list(value, where)
    if len(items) > MAX_RESTART_TARGETS:
        raise SpecError(
            f"{where}: {len(items)} targets is more than the {MAX_RESTART_TARGETS} allowed"
        )
    result: list[RestartTarget] = []
    for index, item in enumerate(items):
        item_where = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            raise SpecError(f"{item_where}: must be an object with kind and name")
        if item.get("kind") is None:
            raise SpecError(f"{item_where}.kind: is required (Deployment or StatefulSet)")
        kind = _enum(item, "kind", item_where, RESTART_TARGET_KINDS, "")
        name = _subdomain(
            _required_string(item, "name", item_where), f"{item_where}.name", f"{kind} name"
        )
        target = RestartTarget(kind=kind, name=name)
        if target in result:
            raise SpecError(f"{item_where}: {kind} {name!r} is listed twice")
        result.append(target)
    return tuple(result)

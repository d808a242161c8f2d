"""Pure (no I/O, no clock): the WebhookEndpoint API as frozen values. The API's names
(group, version, kind, plural) and allowed values, the parsed spec, conditions and
the endpoint's identity (status.order and status.renewal are in `api/status.py`).

`manifests/crd/webhookendpoints.yaml` is the schema users see (`kubectl explain whe.spec`);
`api/parse.py` reads a stored object into these values, `api/status.py` writes conditions
back, and `api/formats.py` holds the text formats they share. Time always comes in as a
parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Final

GROUP: Final = "webhookcert.dev"
VERSION: Final = "v1alpha1"
KIND: Final = "WebhookEndpoint"
PLURAL: Final = "webhookendpoints"
API_VERSION: Final = f"{GROUP}/{VERSION}"
"""A WebhookEndpoint's apiVersion, as in its body and in owner references."""

# Let's Encrypt accepts at most 100 names per certificate (Let's Encrypt rate limits doc).
MAX_DNS_NAMES: Final = 100

# The solver Service's types, read from the spec and accepted by the solver's builder:
# ClusterIP, or NodePort for ingress controllers that route to node ports. Not
# ExternalName (no selector, it cannot reach the Pod) and not LoadBalancer (it would put an
# external load balancer in front of a Service that only the Ingress needs to reach).
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

MAX_PARENT_REFS: Final = 32  # the Gateway API's own limit on HTTPRoute parentRefs

#: Sender profiles (checking/senders.py): "generic" checks TLS only; the others also send that
#: sender's subscription validation request.
SENDERS: Final = ("generic", "ringcentral", "msgraph", "slack")
DEFAULT_SENDER: Final = "generic"

# The fields that only mean something when the operator obtains the certificate; refused
# beside spec.checkOnly, in the order the CRD's rules name them.
ISSUANCE_ONLY_FIELDS: Final = (
    "secretName",
    "acme",
    "renewBefore",
    "additionalOutputFormats",
    "restartTargets",
)


class SpecError(ValueError):
    """A WebhookEndpoint spec the operator cannot act on; the message names the field."""


@dataclass(frozen=True)
class Endpoint:
    """The WebhookEndpoint a piece of work is for: its namespace, name and uid (the uid
    makes it the owner of the solver objects)."""

    namespace: str
    name: str
    uid: str


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
    """spec.acme: the ACME directory URL (RFC 8555 section 7.1.1) and the account's details."""

    server: str
    email: str | None = None
    external_account_binding: ExternalAccountBinding | None = None
    preferred_chain: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class PodTemplate:
    """Extra metadata and scheduling for the HTTP-01 solver Pod (where solver Pods answer).

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
        """The Gateway API ParentReference as in an HTTPRoute's spec.parentRefs."""
        ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": self.name}
        if self.namespace is not None:
            ref["namespace"] = self.namespace
        if self.section_name is not None:
            ref["sectionName"] = self.section_name
        return ref


@dataclass(frozen=True)
class Http01Spec:
    """spec.http01: how the HTTP-01 solver's objects are made and routed."""

    ingress_class_name: str | None = None
    service_type: str = DEFAULT_SERVICE_TYPE
    pod_template: PodTemplate = field(default_factory=PodTemplate)
    ingress_template: IngressTemplate = field(default_factory=IngressTemplate)
    gateway_parent_refs: tuple[ParentReference, ...] = ()
    """Set: the solver routes the challenges with an HTTPRoute attached to these Gateways
    (spec.http01.gatewayHTTPRoute.parentRefs) instead of an Ingress."""


@dataclass(frozen=True)
class PrivateKeySpec:
    """spec.privateKey: algorithm (KEY_SIZES), size in bits, rotation policy."""

    algorithm: str = DEFAULT_KEY_ALGORITHM
    size: int = DEFAULT_KEY_SIZES[DEFAULT_KEY_ALGORITHM]
    rotation_policy: str = DEFAULT_ROTATION_POLICY


@dataclass(frozen=True)
class TrustBundleRef:
    """A ConfigMap or Secret key, in the endpoint's namespace, holding PEM roots."""

    kind: str
    name: str
    key: str = DEFAULT_TRUST_BUNDLE_KEY


@dataclass(frozen=True)
class ValidationSpec:
    """spec.validation: what the served-chain check connects to, how often, and how strictly."""

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
    """Deep-copy read-only mappings and tuples into dicts and lists, so a Kubernetes body
    or JSON built from a value never shares state with it (or with another body)."""
    if isinstance(value, Mapping):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [to_plain(item) for item in value]
    return value

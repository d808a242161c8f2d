"""Pure: the HTTP-01 solver's Kubernetes objects as plain dicts.

The functions here only build request bodies; `solver/http01.py` sends them. One
set of objects serves a whole order, in one of two ways:

- the operator answers itself (`SolverSpec.address` set, the default): a Service without
  a selector, an EndpointSlice that points it at the operator Pod's address, and the
  Ingress (or HTTPRoute). Nothing has to start, so the route is there as soon as the
  ingress controller has read the objects;
- a solver Pod per order (`address` unset): the Pod runs the solver image with
  `webhook-cert solve`, and the Service selects it.

Either way the Ingress routes each token's path on each of the order's hosts to the
Service. RFC 8555 section 8.3: the CA fetches
`http://<host>/.well-known/acme-challenge/<token>` and expects the key authorization as
the body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from webhook_cert_operator.api.formats import challenge_path, is_ip_address
from webhook_cert_operator.api.types import DEFAULT_SERVICE_TYPE, SERVICE_TYPES, to_plain

CHALLENGES_ENV = "WEBHOOK_CERT_CHALLENGES"
"""Environment variable that hands the solver its challenges, as JSON {token: keyAuthorization}."""
HEALTH_PATH = "/healthz"

DEFAULT_PORT = 8089
"""Port the solver container listens on unless WEBHOOK_CERT_SOLVER_PORT says otherwise
(the default of settings.solver_port and of `webhook-cert solve --port`)."""
SERVICE_PORT = DEFAULT_PORT
"""Port the solver Service exposes (the Ingress and HTTPRoute backend's port)."""
CONTAINER_NAME = "solver"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "webhook-cert-operator"
PORT_NAME = "http"

# A numeric user is needed for runAsNonRoot to be checkable without reading the image;
# 65532 is the conventional "nonroot" user of distroless images.
SOLVER_UID = 65532

DEFAULT_RESOURCES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "requests": MappingProxyType({"cpu": "10m", "memory": "32Mi"}),
        "limits": MappingProxyType({"cpu": "100m", "memory": "64Mi"}),
    }
)

# RFC 8555 section 8.3: a token holds only base64url characters (no padding). Checking it
# keeps anything else out of the Ingress paths the tokens become.
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
# Section 8.1: keyAuthorization = token || '.' || base64url(JWK thumbprint).
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]+")

_DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


class SolverSpecError(ValueError):
    """A SolverSpec that cannot become valid Kubernetes objects."""


class ChallengeError(ValueError):
    """Challenges that are not tokens mapped to their key authorizations.

    Messages say which rule is broken, never the token or the key authorization.
    """


def validate_challenges(challenges: Mapping[str, str]) -> None:
    """Check that challenges map RFC 8555 tokens to key authorizations of those tokens."""
    if not challenges:
        raise ChallengeError("there are no challenges to serve")
    for index, (token, key_authorization) in enumerate(sorted(challenges.items()), 1):
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise ChallengeError(f"challenge {index}: the token is not base64url text")
        if not isinstance(key_authorization, str):
            raise ChallengeError(f"challenge {index}: the key authorization is not text")
        head, dot, thumbprint = key_authorization.partition(".")
        if head != token or not dot or not _THUMBPRINT.fullmatch(thumbprint):
            raise ChallengeError(
                f"challenge {index}: the key authorization is not <token>.<thumbprint>"
            )


def challenges_to_json(challenges: Mapping[str, str]) -> str:
    """The CHALLENGES_ENV value: compact JSON with sorted keys, so the Pod spec is stable."""
    return json.dumps(dict(sorted(challenges.items())), separators=(",", ":"))


@dataclass(frozen=True)
class SolverSpec:
    """Everything needed to build one order's solver objects.

    `name` names all the objects (a DNS-1035 label, from naming.solver_name). `labels`
    are the selector labels (naming.solver_labels): the Service selects the Pod by them and
    the operator finds the objects again by them, so templates can add labels but never
    change these. `address` set, the operator answers at that IP address (its Pod's) and
    no Pod is built; unset, a solver Pod runs `image`. The first object (the Pod, or the
    Service when the operator answers) is owned by the WebhookEndpoint, which must live in
    `namespace` (owner references do not cross namespaces); the others are owned by that
    first one once `anchor_uid` is known, so deleting it deletes them all (Kubernetes'
    garbage collector). `challenges` is never printed.
    """

    name: str
    namespace: str
    owner_api_version: str
    owner_kind: str
    owner_name: str
    owner_uid: str
    labels: Mapping[str, str]
    image: str
    challenges: Mapping[str, str] = field(repr=False)
    hosts: tuple[str, ...]
    port: int = DEFAULT_PORT
    image_pull_policy: str | None = None
    ingress_class_name: str | None = None
    service_type: str = DEFAULT_SERVICE_TYPE
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    resources: Mapping[str, Any] | None = None
    ingress_labels: Mapping[str, str] = field(default_factory=dict)
    ingress_annotations: Mapping[str, str] = field(default_factory=dict)
    # Gateway API ParentReferences: set, an HTTPRoute routes the challenges (no Ingress).
    gateway_parent_refs: Sequence[Mapping[str, str]] = ()
    # The operator Pod's IP address when the operator answers itself; None: a solver Pod.
    address: str | None = None
    # The first object's uid (the Pod's, or the Service's), once it exists: the owner of
    # the others.
    anchor_uid: str | None = None

    def __post_init__(self) -> None:
        if len(self.name) > 63 or not _DNS_1035.fullmatch(self.name):
            raise SolverSpecError(f"solver name {self.name!r} is not a DNS-1035 label")
        if self.address is None and not self.image:
            raise SolverSpecError("the solver Pod needs an image")
        if self.address is not None and not is_ip_address(self.address):
            raise SolverSpecError(f"solver address {self.address!r} is not an IP address")
        if not self.labels:
            raise SolverSpecError("the solver needs selector labels")
        if not self.hosts:
            raise SolverSpecError("the solver needs at least one host")
        # A non-root process cannot bind ports below 1024 without NET_BIND_SERVICE, which
        # the restricted profile's "drop ALL" takes away.
        if not 1024 <= self.port <= 65535:
            raise SolverSpecError(f"solver port {self.port} is not in 1024..65535")
        if self.service_type not in SERVICE_TYPES:
            raise SolverSpecError(
                f"service type {self.service_type!r} is not one of {sorted(SERVICE_TYPES)}"
            )
        validate_challenges(self.challenges)

    @property
    def anchor_kind(self) -> str:
        """The kind of the object that owns the others: deleting it removes them all."""
        return "Pod" if self.address is None else "Service"

    @property
    def tokens(self) -> tuple[str, ...]:
        """The order's tokens, sorted so that built objects do not depend on dict order."""
        return tuple(sorted(self.challenges))


def owner_references(spec: SolverSpec) -> list[dict[str, Any]]:
    """The WebhookEndpoint as controlling owner: deleting it deletes the solver objects.

    blockOwnerDeletion makes a foreground deletion of the endpoint wait for them.
    """
    return [
        {
            "apiVersion": spec.owner_api_version,
            "kind": spec.owner_kind,
            "name": spec.owner_name,
            "uid": spec.owner_uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def anchor_owner_references(spec: SolverSpec) -> list[dict[str, Any]]:
    """The first object (the Pod, or the Service when the operator answers) as controlling
    owner of the others: clean-up deletes it, and the garbage collector the rest (one API
    write, not three). The endpoint while the first object's uid is not known."""
    if spec.anchor_uid is None:
        return owner_references(spec)
    return [
        {
            "apiVersion": "v1",
            "kind": spec.anchor_kind,
            "name": spec.name,
            "uid": spec.anchor_uid,
            "controller": True,
        }
    ]


def _metadata(
    spec: SolverSpec,
    extra_labels: Mapping[str, str],
    annotations: Mapping[str, str],
    owners: list[dict[str, Any]],
) -> dict[str, Any]:
    # Selector labels are applied last: a template may add labels, never replace them.
    metadata: dict[str, Any] = {
        "name": spec.name,
        "namespace": spec.namespace,
        "labels": {**extra_labels, **spec.labels},
        "ownerReferences": owners,
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    return metadata


def _resources(spec: SolverSpec) -> dict[str, Any]:
    # A template's resources replace the defaults as a whole rather than key by key: mixing
    # them could pair a template's request with a smaller default limit, which the API
    # server refuses. An empty mapping means "not set" (that is how the spec parser gives
    # an absent `resources`).
    source = spec.resources or DEFAULT_RESOURCES
    return to_plain(source)  # type: ignore[no-any-return]


def build_pod(spec: SolverSpec) -> dict[str, Any]:
    """The solver Pod: `webhook-cert solve` from the operator's image, as locked down as
    the Pod Security "restricted" profile asks, with no API access (it needs none)."""
    pod_spec: dict[str, Any] = {
        "restartPolicy": "OnFailure",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SOLVER_UID,
            "runAsGroup": SOLVER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(spec)],
    }
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = to_plain(spec.tolerations)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(spec, spec.pod_labels, spec.pod_annotations, owner_references(spec)),
        "spec": pod_spec,
    }


def _container(spec: SolverSpec) -> dict[str, Any]:
    """The solver container: no privileges, a read-only root, ready when /healthz answers."""
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": spec.image,
        "command": ["webhook-cert"],
        "args": ["solve", "--port", str(spec.port)],
        "env": [{"name": CHALLENGES_ENV, "value": challenges_to_json(spec.challenges)}],
        "ports": [{"name": PORT_NAME, "containerPort": spec.port, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": HEALTH_PATH, "port": spec.port},
            # Traefik routes to a ready Pod only: probe every second so the route (and
            # the self-check) does not wait on the probe.
            "periodSeconds": 1,
            "failureThreshold": 3,
        },
        "resources": _resources(spec),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": SOLVER_UID,
            "runAsGroup": SOLVER_UID,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if spec.image_pull_policy:
        container["imagePullPolicy"] = spec.image_pull_policy
    return container


def build_service(spec: SolverSpec) -> dict[str, Any]:
    """The Service the Ingress routes to: it selects the solver Pod by the selector labels,
    or, when the operator answers, has no selector and is owned by the WebhookEndpoint (its
    EndpointSlice gives the address)."""
    service_spec: dict[str, Any] = {
        "type": spec.service_type,
        "ports": [
            {"name": PORT_NAME, "port": SERVICE_PORT, "targetPort": spec.port, "protocol": "TCP"}
        ],
    }
    if spec.address is None:
        service_spec["selector"] = dict(spec.labels)
        owners = anchor_owner_references(spec)
    else:
        owners = owner_references(spec)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec, {}, {}, owners),
        "spec": service_spec,
    }


def build_endpoint_slice(spec: SolverSpec) -> dict[str, Any]:
    """The EndpointSlice of a selector-less solver Service: the operator Pod's address and
    port, ready (Kubernetes API, discovery.k8s.io/v1; the `kubernetes.io/service-name` label
    ties it to the Service, and `managed-by` keeps the EndpointSlice controller off it)."""
    if spec.address is None:
        raise SolverSpecError("an EndpointSlice is built only when the operator answers")
    labels = {SERVICE_NAME_LABEL: spec.name, MANAGED_BY_LABEL: MANAGED_BY}
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": _metadata(spec, labels, {}, anchor_owner_references(spec)),
        "addressType": "IPv6" if ":" in spec.address else "IPv4",
        "endpoints": [{"addresses": [spec.address], "conditions": {"ready": True}}],
        "ports": [{"name": PORT_NAME, "port": spec.port, "protocol": "TCP"}],
    }


def endpoint_slice_address(endpoint_slice: Mapping[str, Any]) -> str | None:
    """The one address an EndpointSlice built by `build_endpoint_slice` points at (None
    when it holds none): a replica that takes over finds the old Pod's there."""
    for endpoint in endpoint_slice.get("endpoints") or []:
        for address in endpoint.get("addresses") or []:
            return str(address)
    return None


def build_ingress(spec: SolverSpec) -> dict[str, Any]:
    """The Ingress that sends each challenge path of each host to the solver Service.

    Every token goes on every host rather than each token on its own host: the CA only
    asks a host for that host's token, the Pod answers any of the order's tokens, and a
    token reveals nothing useful on another host, so the simpler mapping is just as
    correct and does not need the authorization-to-host bookkeeping. Paths are `Exact`
    so the Ingress claims nothing but the challenge URLs; the rest of the host's traffic
    keeps going to its usual backend.
    """
    backend = {"service": {"name": spec.name, "port": {"number": SERVICE_PORT}}}
    paths = [
        {"path": challenge_path(token), "pathType": "Exact", "backend": backend}
        for token in spec.tokens
    ]
    hosts = list(dict.fromkeys(spec.hosts))
    ingress_spec: dict[str, Any] = {
        "rules": [{"host": host, "http": {"paths": to_plain(paths)}} for host in hosts]
    }
    if spec.ingress_class_name:
        ingress_spec["ingressClassName"] = spec.ingress_class_name
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(
            spec, spec.ingress_labels, spec.ingress_annotations, anchor_owner_references(spec)
        ),
        "spec": ingress_spec,
    }


def build_http_route(spec: SolverSpec) -> dict[str, Any]:
    """The HTTPRoute that sends each challenge path of each host to the solver Service,
    attached to the Gateways of spec.http01.gatewayHTTPRoute.parentRefs.

    The Gateway API's counterpart of `build_ingress`: the same hosts and `Exact` paths,
    so the route claims nothing but the challenge URLs. One rule per token (a rule holds
    at most 64 matches, an order may hold 100 names but one token per name).
    """
    backend = [{"name": spec.name, "port": SERVICE_PORT}]
    rules = [
        {
            "matches": [{"path": {"type": "Exact", "value": challenge_path(token)}}],
            "backendRefs": to_plain(backend),
        }
        for token in spec.tokens
    ]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _metadata(spec, {}, {}, anchor_owner_references(spec)),
        "spec": {
            "parentRefs": to_plain(list(spec.gateway_parent_refs)),
            "hostnames": list(dict.fromkeys(spec.hosts)),
            "rules": rules,
        },
    }

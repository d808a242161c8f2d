"""Adapter: the Kubernetes API, every call the operator makes, blocking, over `kube_client`.

Callers run it in worker threads (kopf runs sync handlers in its executor), never on the
event loop. Objects go in and come out as plain dicts, as the API server's JSON.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from webhook_cert_operator.api.types import GROUP, PLURAL, VERSION
from webhook_cert_operator.kube_client import MERGE_PATCH, ApiClient, ApiError

# The path prefix and plural of each namespaced kind the solver and the restarts touch;
# HTTPRoute is the Gateway API's, for the HTTP-01 solver.
_KINDS: Final = {
    "Pod": ("/api/v1", "pods"),
    "Service": ("/api/v1", "services"),
    "EndpointSlice": ("/apis/discovery.k8s.io/v1", "endpointslices"),
    "Ingress": ("/apis/networking.k8s.io/v1", "ingresses"),
    "HTTPRoute": ("/apis/gateway.networking.k8s.io/v1", "httproutes"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "StatefulSet": ("/apis/apps/v1", "statefulsets"),
}
_ENDPOINTS: Final = f"/apis/{GROUP}/{VERSION}"


class AlreadyExists(Exception):
    """The object was created by someone else in the meantime."""


class Conflict(Exception):
    """The object changed since it was read (resourceVersion mismatch)."""


class NotServed(Exception):
    """The API server does not serve the resource (yet): its CRD is missing or new."""


class Forbidden(Exception):
    """RBAC does not allow the call (the authorizer answers before any existence check)."""


@dataclass(frozen=True)
class Secret:
    """A Secret as the operator reads it: `data` decoded from base64, kept out of repr."""

    name: str
    namespace: str
    type: str
    data: Mapping[str, bytes] = field(repr=False)
    annotations: Mapping[str, str]
    labels: Mapping[str, str]
    resource_version: str


def event_time(event: Mapping[str, Any]) -> str:
    """When an Event last happened, as the API server's RFC 3339 text (sorts by time)."""
    metadata = event.get("metadata") or {}
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or metadata.get("creationTimestamp")
        or ""
    )


def event_order(event: Mapping[str, Any]) -> tuple[str, int]:
    """Oldest first: by time, then (Event times have whole seconds, and one step often posts
    several in the same second) by resourceVersion, which grows as Events are written."""
    version = str((event.get("metadata") or {}).get("resourceVersion") or "0")
    return event_time(event), int(version) if version.isdigit() else 0


def selector(labels: Mapping[str, str]) -> str:
    """A label selector matching all `labels`: "k1=v1,k2=v2", keys sorted."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def _path(kind: str, namespace: str, name: str | None = None) -> str:
    """The API path of the namespaced `kind` collection, or of its object `name`."""
    if kind not in _KINDS:
        raise ValueError(f"unsupported kind {kind}")
    prefix, plural = _KINDS[kind]
    return f"{prefix}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


def _endpoints(namespace: str, name: str | None = None) -> str:
    return f"{_ENDPOINTS}/namespaces/{namespace}/{PLURAL}" + (f"/{name}" if name else "")


class Kube:
    """Every Kubernetes API call the operator makes, blocking. Objects go in and come out as
    plain dicts (Secrets as `Secret`). A read of a missing object gives None, a create of an
    existing one raises AlreadyExists (409); other `ApiError`s, and `requests`' connection
    errors, reach the caller."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def _get(self, path: str) -> Any:
        """The object at `path`; None when it does not exist (404)."""
        try:
            return self.api.request("GET", path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def _create(self, path: str, body: Mapping[str, Any], what: str) -> Any:
        """POST `body` to the collection `path`; AlreadyExists (naming `what`) on 409."""
        try:
            return self.api.request("POST", path, body=dict(body))
        except ApiError as error:
            if error.status == 409:
                raise AlreadyExists(what) from None
            raise

    def _patch(self, path: str, patch: Mapping[str, Any]) -> Any:
        return self.api.request("PATCH", path, body=dict(patch), content_type=MERGE_PATCH)

    # ---- Secrets ------------------------------------------------------------------------

    def get_secret(self, namespace: str, name: str) -> Secret | None:
        """The Secret, its data decoded; None when it does not exist."""
        secret = self._get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        if secret is None:
            return None
        meta = secret.get("metadata") or {}
        return Secret(
            name=name,
            namespace=namespace,
            type=secret.get("type") or "",
            data={k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()},
            annotations=dict(meta.get("annotations") or {}),
            labels=dict(meta.get("labels") or {}),
            resource_version=str(meta.get("resourceVersion") or ""),
        )

    def create_secret(self, namespace: str, body: Mapping[str, Any]) -> None:
        """Create the Secret `body` describes; AlreadyExists when its name is taken."""
        what = f"Secret {namespace}/{body['metadata']['name']}"
        self._create(f"/api/v1/namespaces/{namespace}/secrets", body, what)

    def replace_secret(
        self, namespace: str, body: Mapping[str, Any], resource_version: str
    ) -> None:
        """Replace only the version that was read: a concurrent change is a Conflict."""
        metadata = {**body["metadata"], "resourceVersion": resource_version}
        path = f"/api/v1/namespaces/{namespace}/secrets/{metadata['name']}"
        try:
            self.api.request("PUT", path, body={**body, "metadata": metadata})
        except ApiError as error:
            if error.status == 409:
                raise Conflict(f"Secret {namespace}/{metadata['name']}") from None
            raise

    # ---- objects found by labels (the solver's Pod or EndpointSlice, Service, Ingress) ---

    def list_labelled(
        self, kind: str, namespace: str, labels: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """The `kind` objects (Pod, Service, EndpointSlice, Ingress, HTTPRoute) with all these
        labels; no HTTPRoutes where the Gateway API is not installed."""
        params = {"labelSelector": selector(labels)}
        try:
            found = self.api.request("GET", _path(kind, namespace), params=params)
        except ApiError as error:
            if kind == "HTTPRoute" and error.status == 404:
                return []  # the Gateway API is not installed: there are none
            raise
        return list(found.get("items") or [])

    def create(self, kind: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a `kind` object; returns it as stored. AlreadyExists when its name is taken;
        NotServed for an HTTPRoute where the Gateway API is not installed."""
        what = f"{kind} {namespace}/{body['metadata']['name']}"
        try:
            created: dict[str, Any] = self._create(_path(kind, namespace), body, what)
        except ApiError as error:
            if kind == "HTTPRoute" and error.status == 404:
                raise NotServed(
                    "HTTPRoute (gateway.networking.k8s.io/v1) is not served: install the "
                    "Gateway API CRDs, or solve through an Ingress instead"
                ) from None
            raise
        return created

    def delete(self, kind: str, namespace: str, name: str) -> int:
        """Delete one `kind` object by name: 1 when a deletion was sent, 0 when it was gone.

        In the foreground: the objects it owns are deleted before it is gone, not after (a
        solver Pod's Service and Ingress go at once, not after its shutdown)."""
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}
        try:
            self.api.request("DELETE", _path(kind, namespace, name), body=options)
        except ApiError as error:
            if error.status != 404:
                raise
            return 0
        return 1

    def patch_endpoint_slice(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """Merge-patch an EndpointSlice (a solver's, moved to the replica that answers now)."""
        self._patch(_path("EndpointSlice", namespace, name), patch)

    # ---- workloads restarted on a new certificate ---------------------------------------

    def pod_template_annotations(
        self, kind: str, namespace: str, name: str
    ) -> dict[str, str] | None:
        """The workload's (Deployment, StatefulSet) pod template annotations; None when the
        workload does not exist. ValueError for another kind."""
        _workload_kind(kind)
        workload = self._get(_path(kind, namespace, name))
        if workload is None:
            return None
        template = (workload.get("spec") or {}).get("template") or {}
        return dict((template.get("metadata") or {}).get("annotations") or {})

    def patch_workload(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None:
        """A change of the pod template makes the workload's controller roll its Pods."""
        _workload_kind(kind)
        self._patch(_path(kind, namespace, name), patch)

    # ---- WebhookEndpoints ---------------------------------------------------------------

    def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The WebhookEndpoint; None when it does not exist."""
        found: dict[str, Any] | None = self._get(_endpoints(namespace, name))
        return found

    def list_endpoints(self, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """The namespace's WebhookEndpoints with all these labels."""
        params = {"labelSelector": selector(labels)}
        found = self.api.request("GET", _endpoints(namespace), params=params)
        return list(found.get("items") or [])

    def create_endpoint(self, namespace: str, body: Mapping[str, Any]) -> None:
        """AlreadyExists when an endpoint of that name exists (created meanwhile)."""
        self._create(_endpoints(namespace), body, f"WebhookEndpoint {body['metadata']['name']}")

    def replace_endpoint(self, namespace: str, body: Mapping[str, Any]) -> None:
        """PUT at body's resourceVersion: Conflict if the endpoint changed since it was read."""
        name = body["metadata"]["name"]
        try:
            self.api.request("PUT", _endpoints(namespace, name), body=dict(body))
        except ApiError as error:
            if error.status == 409:
                raise Conflict(f"WebhookEndpoint {name} changed meanwhile") from None
            raise

    def delete_endpoint(self, namespace: str, name: str, uid: str) -> None:
        """Delete that endpoint only if it still has this uid; a missing one is not an error."""
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}}
        try:
            self.api.request("DELETE", _endpoints(namespace, name), body=options)
        except ApiError as error:
            if error.status not in (404, 409):
                raise

    def patch_endpoint(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """Merge-patch the endpoint itself (metadata or spec), for the CLI."""
        self._patch(_endpoints(namespace, name), patch)

    def patch_endpoint_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch `status`; a deleted endpoint is not an error."""
        try:
            self._patch(_endpoints(namespace, name) + "/status", {"status": dict(status)})
        except ApiError as error:
            if error.status != 404:
                raise

    def list_events(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        """The core v1 Events about one object (kopf posts there), for the CLI; oldest first."""
        params = {"fieldSelector": f"involvedObject.kind={kind},involvedObject.name={name}"}
        found = self.api.request("GET", f"/api/v1/namespaces/{namespace}/events", params=params)
        return sorted(found.get("items") or [], key=event_order)

    # ---- ConfigMaps (trust bundles for the served-chain check) ------------------------

    def get_config_map_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """The ConfigMap's `data` (UTF-8 encoded) and `binaryData` (decoded) merged, or
        None when it does not exist. Kubernetes keeps the two maps' keys disjoint."""
        config_map = self._get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        if config_map is None:
            return None
        values = {key: value.encode() for key, value in (config_map.get("data") or {}).items()}
        binary = config_map.get("binaryData") or {}
        values.update({key: base64.b64decode(value) for key, value in binary.items()})
        return values

    # ---- kopf's peering object (glue/peering.py) ---------------------------------------------

    def create_custom_object(
        self, group: str, version: str, plural: str, namespace: str | None, body: Mapping[str, Any]
    ) -> None:
        """Create a custom object; AlreadyExists if it exists, NotServed if its resource is
        not served (a CRD applied in the same run may take a few seconds to be), Forbidden
        if RBAC does not grant `create` (even when the object exists)."""
        where = f"/namespaces/{namespace}" if namespace is not None else ""
        what = f"{plural}.{group} {body['metadata']['name']}"
        try:
            self._create(f"/apis/{group}/{version}{where}/{plural}", body, what)
        except ApiError as error:
            if error.status == 403:
                raise Forbidden(f"creating {what} is forbidden") from None
            if error.status == 404:
                place = f" in namespace {namespace}" if namespace else ""
                raise NotServed(
                    f"cannot create {what}{place}: {plural}.{group}/{version} is not served "
                    "(its CRD is missing or not yet established)"
                    + (", or the namespace does not exist" if namespace else "")
                ) from None
            raise


def _workload_kind(kind: str) -> None:
    if kind not in ("Deployment", "StatefulSet"):
        raise ValueError(f"unsupported kind {kind}")

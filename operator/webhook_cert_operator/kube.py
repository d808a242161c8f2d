"""Adapter: the Kubernetes API, every call the operator makes, blocking, over `kubernetes`.

Callers run it in worker threads (kopf runs sync handlers in its executor), never on the
event loop. Objects go in and come out as plain dicts, so the layers above never see the
client's model classes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from webhook_cert_operator.api.types import GROUP, PLURAL, VERSION

# The Gateway API's HTTPRoute (group, version, plural), for the HTTP-01 solver.
_HTTP_ROUTE = ("gateway.networking.k8s.io", "v1", "httproutes")


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


def _as_body(value: object) -> Any:
    """The client takes and returns plain dicts where its stubs name model classes."""
    return value


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


class Kube:
    """Every Kubernetes API call the operator makes, blocking. Objects go in and come out as
    plain dicts (Secrets as `Secret`). A read of a missing object gives None, a create of an
    existing one raises AlreadyExists (409); other `ApiException`s reach the caller."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.networking = client.NetworkingV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.discovery = client.DiscoveryV1Api(api_client)
        self._plain: Callable[[Any], Any] = api_client.sanitize_for_serialization

    # ---- Secrets ------------------------------------------------------------------------

    def get_secret(self, namespace: str, name: str) -> Secret | None:
        """The Secret, its data decoded; None when it does not exist."""
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        meta = secret.metadata or client.V1ObjectMeta()
        return Secret(
            name=name,
            namespace=namespace,
            type=secret.type or "",
            data={k: base64.b64decode(v) for k, v in (secret.data or {}).items()},
            annotations=dict(meta.annotations or {}),
            labels=dict(meta.labels or {}),
            resource_version=str(meta.resource_version or ""),
        )

    def create_secret(self, namespace: str, body: Mapping[str, Any]) -> None:
        """Create the Secret `body` describes; AlreadyExists when its name is taken."""
        try:
            self.core.create_namespaced_secret(namespace, _as_body(body))
        except ApiException as error:
            if error.status == 409:
                raise AlreadyExists(f"Secret {namespace}/{body['metadata']['name']}") from None
            raise

    def replace_secret(
        self, namespace: str, body: Mapping[str, Any], resource_version: str
    ) -> None:
        """Replace only the version that was read: a concurrent change is a Conflict."""
        metadata = {**body["metadata"], "resourceVersion": resource_version}
        try:
            self.core.replace_namespaced_secret(
                metadata["name"], namespace, _as_body({**body, "metadata": metadata})
            )
        except ApiException as error:
            if error.status == 409:
                raise Conflict(f"Secret {namespace}/{metadata['name']}") from None
            raise

    # ---- objects found by labels (the solver's Pod or EndpointSlice, Service, Ingress) ---

    def _kind_api(
        self, kind: str
    ) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
        """The client's list, create and delete calls of a namespaced `kind`."""
        apis = {
            "Pod": (self.core, "pod"),
            "Service": (self.core, "service"),
            "EndpointSlice": (self.discovery, "endpoint_slice"),
            "Ingress": (self.networking, "ingress"),
        }
        if kind not in apis:
            raise ValueError(f"unsupported kind {kind}")
        api, name = apis[kind]
        list_, create, delete = (
            getattr(api, f"{verb}_namespaced_{name}") for verb in ("list", "create", "delete")
        )
        return list_, create, delete

    def list_labelled(
        self, kind: str, namespace: str, labels: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """The `kind` objects (Pod, Service, EndpointSlice, Ingress, HTTPRoute) with all these
        labels; no HTTPRoutes where the Gateway API is not installed."""
        if kind == "HTTPRoute":
            try:
                found = self.custom.list_namespaced_custom_object(
                    *_HTTP_ROUTE[:2], namespace, _HTTP_ROUTE[2], label_selector=selector(labels)
                )
            except ApiException as error:
                if error.status == 404:  # the Gateway API is not installed: there are none
                    return []
                raise
            routes: list[dict[str, Any]] = list(_as_body(found).get("items") or [])
            return routes
        list_, _, _ = self._kind_api(kind)
        items = list_(namespace, label_selector=selector(labels)).items
        return [self._plain(item) for item in items]

    def create(self, kind: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a `kind` object; returns it as stored. AlreadyExists when its name is taken;
        NotServed for an HTTPRoute where the Gateway API is not installed."""
        if kind == "HTTPRoute":
            try:
                route: dict[str, Any] = _as_body(
                    self.custom.create_namespaced_custom_object(
                        *_HTTP_ROUTE[:2], namespace, _HTTP_ROUTE[2], dict(body)
                    )
                )
            except ApiException as error:
                if error.status == 409:
                    raise AlreadyExists(f"{kind} {namespace}/{body['metadata']['name']}") from None
                if error.status == 404:
                    raise NotServed(
                        "HTTPRoute (gateway.networking.k8s.io/v1) is not served: install the "
                        "Gateway API CRDs, or solve through an Ingress instead"
                    ) from None
                raise
            return route
        _, create, _ = self._kind_api(kind)
        try:
            created: dict[str, Any] = self._plain(create(namespace, dict(body)))
        except ApiException as error:
            if error.status == 409:
                raise AlreadyExists(f"{kind} {namespace}/{body['metadata']['name']}") from None
            raise
        return created

    def delete(self, kind: str, namespace: str, name: str) -> int:
        """Delete one `kind` object by name: 1 when a deletion was sent, 0 when it was gone.

        In the foreground: the objects it owns are deleted before it is gone, not after (a
        solver Pod's Service and Ingress go at once, not after its shutdown)."""
        try:
            if kind == "HTTPRoute":
                self.custom.delete_namespaced_custom_object(
                    *_HTTP_ROUTE[:2], namespace, _HTTP_ROUTE[2], name,
                    propagation_policy="Foreground",
                )  # fmt: skip
            else:
                _, _, delete = self._kind_api(kind)
                delete(name, namespace, propagation_policy="Foreground")
        except ApiException as error:
            if error.status != 404:
                raise
            return 0
        return 1

    def patch_endpoint_slice(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """Merge-patch an EndpointSlice (a solver's, moved to the replica that answers now)."""
        self.discovery.patch_namespaced_endpoint_slice(name, namespace, dict(patch))

    # ---- workloads restarted on a new certificate ---------------------------------------

    def _workload_api(self, kind: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
        if kind == "Deployment":
            return self.apps.read_namespaced_deployment, self.apps.patch_namespaced_deployment
        if kind == "StatefulSet":
            return self.apps.read_namespaced_stateful_set, self.apps.patch_namespaced_stateful_set
        raise ValueError(f"unsupported kind {kind}")

    def pod_template_annotations(
        self, kind: str, namespace: str, name: str
    ) -> dict[str, str] | None:
        """The workload's pod template annotations; None when the workload does not exist."""
        read, _ = self._workload_api(kind)
        try:
            workload = read(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return dict(workload.spec.template.metadata.annotations or {})

    def patch_workload(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None:
        """A change of the pod template makes the workload's controller roll its Pods."""
        _, patch_call = self._workload_api(kind)
        patch_call(name, namespace, dict(patch))

    # ---- WebhookEndpoints ---------------------------------------------------------------

    def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The WebhookEndpoint; None when it does not exist."""
        try:
            endpoint = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        found: dict[str, Any] = _as_body(endpoint)
        return found

    def list_endpoints(self, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """The namespace's WebhookEndpoints with all these labels."""
        found = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, label_selector=selector(labels)
        )
        items: list[dict[str, Any]] = list(_as_body(found).get("items") or [])
        return items

    def create_endpoint(self, namespace: str, body: Mapping[str, Any]) -> None:
        """AlreadyExists when an endpoint of that name exists (created meanwhile)."""
        try:
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, dict(body)
            )
        except ApiException as error:
            if error.status == 409:
                raise AlreadyExists(f"WebhookEndpoint {body['metadata']['name']}") from None
            raise

    def replace_endpoint(self, namespace: str, body: Mapping[str, Any]) -> None:
        """PUT at body's resourceVersion: Conflict if the endpoint changed since it was read."""
        name = body["metadata"]["name"]
        try:
            self.custom.replace_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, dict(body)
            )
        except ApiException as error:
            if error.status == 409:
                raise Conflict(f"WebhookEndpoint {name} changed meanwhile") from None
            raise

    def delete_endpoint(self, namespace: str, name: str, uid: str) -> None:
        """Delete that endpoint only if it still has this uid; a missing one is not an error."""
        try:
            self.custom.delete_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                body=_as_body({"preconditions": {"uid": uid}}),
            )
        except ApiException as error:
            if error.status not in (404, 409):
                raise

    def patch_endpoint(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """Merge-patch the endpoint itself (metadata or spec), for the CLI."""
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, dict(patch)
        )

    def patch_endpoint_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch `status`; a deleted endpoint is not an error."""
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, {"status": dict(status)}
            )
        except ApiException as error:
            if error.status != 404:
                raise

    def list_events(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        """The core v1 Events about one object (kopf posts there), for the CLI; oldest first."""
        events = self.core.list_namespaced_event(
            namespace,
            field_selector=f"involvedObject.kind={kind},involvedObject.name={name}",
        )
        plain: list[dict[str, Any]] = [self._plain(item) for item in events.items]
        return sorted(plain, key=event_order)

    # ---- ConfigMaps (trust bundles for the served-chain check) ------------------------

    def get_config_map_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """The ConfigMap's `data` (UTF-8 encoded) and `binaryData` (decoded) merged, or
        None when it does not exist. Kubernetes keeps the two maps' keys disjoint."""
        try:
            config_map = self.core.read_namespaced_config_map(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        values = {key: value.encode() for key, value in (config_map.data or {}).items()}
        values.update(
            {key: base64.b64decode(value) for key, value in (config_map.binary_data or {}).items()}
        )
        return values

    # ---- kopf's peering object (glue/peering.py) ---------------------------------------------

    def create_custom_object(
        self, group: str, version: str, plural: str, namespace: str | None, body: Mapping[str, Any]
    ) -> None:
        """Create a custom object; AlreadyExists if it exists, NotServed if its resource is
        not served (a CRD applied in the same run may take a few seconds to be), Forbidden
        if RBAC does not grant `create` (even when the object exists)."""
        try:
            if namespace is None:
                self.custom.create_cluster_custom_object(group, version, plural, dict(body))
            else:
                self.custom.create_namespaced_custom_object(
                    group, version, namespace, plural, dict(body)
                )
        except ApiException as error:
            what = f"{plural}.{group} {body['metadata']['name']}"
            if error.status == 409:
                raise AlreadyExists(what) from None
            if error.status == 403:
                raise Forbidden(f"creating {what} is forbidden") from None
            if error.status == 404:
                where = f" in namespace {namespace}" if namespace else ""
                raise NotServed(
                    f"cannot create {what}{where}: {plural}.{group}/{version} is not served "
                    "(its CRD is missing or not yet established)"
                    + (", or the namespace does not exist" if namespace else "")
                ) from None
            raise

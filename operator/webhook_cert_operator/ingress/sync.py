"""Orchestration: keep the WebhookEndpoints of one annotated Ingress in step with it.

Called by the glue for every change of every Ingress when ingress automation is on
(WEBHOOK_CERT_INGRESS_AUTOMATION). What to keep is pure (`ingress/endpoints.py`); this
module compares it with what exists and creates, rewrites or deletes endpoints. It only
ever rewrites or deletes an endpoint that the Ingress owns (ownerReference with its uid):
a WebhookEndpoint the user wrote under the same name is left alone, with a Warning.
Deleting an endpoint keeps its Secret (the default secretDeletionPolicy, Retain).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from webhook_cert_operator import naming
from webhook_cert_operator.ingress import endpoints
from webhook_cert_operator.kube import AlreadyExists, Conflict, Kube

PostEvent = Callable[[str, str, str], None]  # (type Normal|Warning, reason, message)


def sync(kube: Kube, ingress: Mapping[str, Any], post_event: PostEvent) -> None:
    """Create, rewrite or delete the WebhookEndpoints the Ingress owns so that they are the
    ones it asks for now; each skipped tls entry and each change is posted as an Event."""
    meta = ingress["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
    labels = meta.get("labels") or {}
    if labels.get(naming.LABEL_ROLE) == naming.ROLE_SOLVER:
        return  # the operator's own solver Ingress
    desired = endpoints.desired_endpoints(ingress)
    for problem in desired.skipped:
        post_event("Warning", "WebhookEndpointSkipped", f"no WebhookEndpoint for {problem}")
    existing = kube.list_endpoints(namespace, {endpoints.LABEL_INGRESS: naming.label_value(name)})
    owned = {e["metadata"]["name"]: e for e in existing if endpoints.owned_by(e, uid)}
    wanted = set()
    for body in desired.endpoints:
        endpoint = body["metadata"]["name"]
        wanted.add(endpoint)
        _keep(kube, namespace, body, owned.get(endpoint), uid, post_event)
    for endpoint, current in owned.items():
        if endpoint not in wanted:
            kube.delete_endpoint(namespace, endpoint, current["metadata"]["uid"])
            post_event(
                "Normal",
                "WebhookEndpointDeleted",
                f"deleted WebhookEndpoint {endpoint}; its Secret is kept",
            )


def _keep(
    kube: Kube,
    namespace: str,
    body: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    uid: str,
    post_event: PostEvent,
) -> None:
    name = body["metadata"]["name"]
    if current is None:
        current = kube.get_endpoint(namespace, name)  # one the user wrote, unlabelled
        if current is None:
            try:
                kube.create_endpoint(namespace, body)
            except AlreadyExists:
                return  # created meanwhile: the next event of this Ingress looks again
            post_event("Normal", "WebhookEndpointCreated", f"created WebhookEndpoint {name}")
            return
    if not endpoints.owned_by(current, uid):
        post_event(
            "Warning",
            "WebhookEndpointNotOwned",
            f"WebhookEndpoint {name} exists and was not made from this Ingress; it is left "
            "as it is",
        )
        return
    wanted_hash = body["metadata"]["annotations"][endpoints.ANNOTATION_SOURCE_HASH]
    annotations = current["metadata"].get("annotations") or {}
    if annotations.get(endpoints.ANNOTATION_SOURCE_HASH) == wanted_hash:
        return
    metadata = dict(current["metadata"])
    metadata["labels"] = {**(metadata.get("labels") or {}), **body["metadata"]["labels"]}
    metadata["annotations"] = {**annotations, **body["metadata"]["annotations"]}
    try:
        kube.replace_endpoint(namespace, {**current, "metadata": metadata, "spec": body["spec"]})
    except Conflict:
        return  # changed meanwhile (status, finalizer): the next event looks again
    post_event("Normal", "WebhookEndpointUpdated", f"updated WebhookEndpoint {name}")

"""Pure: kopf's peering objects, which the operator creates for itself at start-up.

kopf coordinates replicas of an operator through one peering object: every replica patches
a keep-alive into its status and the one with the highest priority works
(https://docs.kopf.dev/en/stable/peering/). kopf never creates that object: with
`--peering NAME` it stays paused until an object of that name exists.

Shipping the object in manifests/ broke a single `kubectl apply -k manifests/` on a fresh
cluster: kubectl maps every object to its API before it creates any, so a
ClusterKopfPeering is refused in the same run as the CRD that defines it. The manifests
therefore ship kopf's CRDs only, and the operator creates the object it needs (the glue in
`handlers.create_peering`, with RBAC `create` on the peering resource), retrying while the
CRD, applied in the same run, is not yet served.

Cluster-wide operators use one ClusterKopfPeering; an operator limited to namespaces uses a
KopfPeering of the same name in each watched namespace (kopf's `guess_selectors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

GROUP: Final = "kopf.dev"
VERSION: Final = "v1"
CLUSTER_PLURAL: Final = "clusterkopfpeerings"
NAMESPACED_PLURAL: Final = "kopfpeerings"

#: Labels of the objects the operator creates, so that an uninstall can find them.
LABELS: Final = {
    "app.kubernetes.io/part-of": "webhook-cert-operator",
    "app.kubernetes.io/managed-by": "webhook-cert-operator",
}


@dataclass(frozen=True)
class PeeringObject:
    """One peering object to create: where (plural, namespace) and its body."""

    plural: str
    namespace: str | None
    body: dict[str, Any] = field(compare=False)

    @property
    def description(self) -> str:
        kind = self.body["kind"]
        name = self.body["metadata"]["name"]
        return f"{kind} {self.namespace}/{name}" if self.namespace else f"{kind} {name}"


def build_peering(name: str, namespace: str | None) -> dict[str, Any]:
    """The body of a ClusterKopfPeering (namespace None) or a KopfPeering in `namespace`.

    No status: kopf writes each replica's keep-alive there itself."""
    metadata: dict[str, Any] = {"name": name, "labels": dict(LABELS)}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "KopfPeering" if namespace is not None else "ClusterKopfPeering",
        "metadata": metadata,
    }


def peering_objects(name: str, watch_namespaces: Sequence[str]) -> tuple[PeeringObject, ...]:
    """The objects kopf watches for peering `name`: one cluster-wide object when no
    namespaces are listed (the operator watches the whole cluster), else one per namespace."""
    if not watch_namespaces:
        return (PeeringObject(CLUSTER_PLURAL, None, build_peering(name, None)),)
    return tuple(
        PeeringObject(NAMESPACED_PLURAL, namespace, build_peering(name, namespace))
        for namespace in dict.fromkeys(watch_namespaces)
    )

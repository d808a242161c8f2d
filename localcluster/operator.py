"""Install the operator from `manifests/` as its Deployment, through a kustomize overlay.

The local cluster writes its overlay (`write_operator_overlay`): the image built from the
Dockerfile, Pebble as the ACME server with the CA of its HTTPS certificate mounted from a
ConfigMap, the cluster's DNS for the operator's checks. On another cluster (kind) the
overlay comes from the repository. `install_operator` works with either, and with any
kubectl: `make demo` and the integration tests both use it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
OPERATOR_NAMESPACE = "webhook-cert-system"
DEPLOYMENT = "webhook-cert-operator"
POD_SELECTOR = "app.kubernetes.io/name=webhook-cert-operator,app.kubernetes.io/component=operator"
_ACME_CA_MOUNT = "/etc/webhook-cert/acme-ca"

Kubectl = Callable[..., str]


def write_operator_overlay(
    directory: Path,
    *,
    image: str,
    solver_image: str,
    settings: Mapping[str, str],
    acme_ca_pem: bytes,
) -> None:
    """A kustomization over manifests/ for a cluster whose node already has `image` (the
    operator) and `solver_image` (WEBHOOK_CERT_SOLVER_IMAGE, the HTTP-01 solver Pods)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "acme-ca.crt").write_bytes(acme_ca_pem)
    name, _, tag = image.rpartition(":")
    solver_name, _, solver_tag = solver_image.rpartition(":")
    env = [{"name": key, "value": value} for key, value in settings.items()]
    env.append({"name": "WEBHOOK_CERT_ACME_CA_BUNDLE", "value": f"{_ACME_CA_MOUNT}/ca.crt"})
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": OPERATOR_NAMESPACE},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "operator",
                            # Imported into containerd by the harness: no registry to pull from.
                            "imagePullPolicy": "Never",
                            "env": env,
                            "volumeMounts": [
                                {"name": "acme-ca", "mountPath": _ACME_CA_MOUNT, "readOnly": True}
                            ],
                        }
                    ],
                    "volumes": [{"name": "acme-ca", "configMap": {"name": "acme-ca"}}],
                }
            }
        },
    }
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(REPO_ROOT / "manifests", directory)],
        "configMapGenerator": [
            {
                "name": "acme-ca",
                "namespace": OPERATOR_NAMESPACE,
                "files": ["ca.crt=acme-ca.crt"],
            }
        ],
        # manifests/kustomizeconfig.yaml makes `images:` rewrite WEBHOOK_CERT_SOLVER_IMAGE too.
        "images": [
            {"name": "webhook-cert-operator", "newName": name, "newTag": tag},
            {"name": "webhook-cert-solver", "newName": solver_name, "newTag": solver_tag},
        ],
        "patches": [{"patch": yaml.safe_dump(patch)}],
    }
    (directory / "kustomization.yaml").write_text(
        "# Written by localcluster: manifests/ configured for the local cluster.\n"
        + yaml.safe_dump(kustomization, sort_keys=False)
    )


def render(kubectl: Kubectl, overlay: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(kubectl("kustomize", str(overlay))) if d]


def install_operator(
    kubectl: Kubectl,
    overlay: Path,
    *,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] | None = None,
    replicas: int | None = None,
) -> None:
    """Apply the overlay in one `kubectl apply`, as a user installs it, then wait until
    its CRDs are Established and the Deployment has rolled out.

    One apply works because the base holds no custom object (the operator creates its
    kopf peering object itself). `env`, `args` and `replicas` change the Deployment before
    it is applied: a later call without them takes them away again (kubectl's three-way
    merge), so each caller gets exactly the configuration it asks for.
    """
    documents = render(kubectl, overlay)
    for document in documents:
        if document["kind"] == "Deployment":
            _configure(document, env or {}, args, replicas)
    _apply(kubectl, documents)
    for crd in (d for d in documents if d["kind"] == "CustomResourceDefinition"):
        name = crd["metadata"]["name"]
        kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")
    wait_for_rollout(kubectl)


def _configure(
    deployment: dict[str, Any],
    env: Mapping[str, str],
    args: Sequence[str] | None,
    replicas: int | None,
) -> None:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    present = container.setdefault("env", [])
    names = {entry["name"] for entry in present}
    for key, value in env.items():
        if key in names:
            for entry in present:
                if entry["name"] == key:
                    entry.clear()
                    entry.update({"name": key, "value": value})
        else:
            present.append({"name": key, "value": value})
    if args is not None:
        container["args"] = list(args)
    if replicas is not None:
        deployment["spec"]["replicas"] = replicas


def _apply(kubectl: Kubectl, documents: list[dict[str, Any]]) -> None:
    items = {"apiVersion": "v1", "kind": "List", "items": documents}
    kubectl("apply", "-f", "-", input=json.dumps(items))


def wait_for_rollout(kubectl: Kubectl, timeout: str = "180s") -> None:
    kubectl(
        "rollout",
        "status",
        f"deployment/{DEPLOYMENT}",
        "-n",
        OPERATOR_NAMESPACE,
        f"--timeout={timeout}",
    )

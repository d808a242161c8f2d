"""The release manifest install.yaml: what manifests/ renders, and installable in one apply."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from localcluster.versions import LOWEST_KUBERNETES_VERSION

from tools import install_manifest

COMMITTED = install_manifest.INSTALL_YAML.read_text(encoding="utf-8")
OBJECTS: list[dict[str, Any]] = [d for d in yaml.safe_load_all(COMMITTED) if d]

# API groups a fresh cluster serves before anything is applied (and that install.yaml uses).
BUILT_IN_GROUPS = {"", "apps", "rbac.authorization.k8s.io", "apiextensions.k8s.io"}


def group_of(item: dict[str, Any]) -> str:
    api_version: str = item["apiVersion"]
    return api_version.rpartition("/")[0]


def test_the_committed_install_yaml_is_the_render_of_manifests() -> None:
    kubectl = install_manifest.find_kubectl()
    if kubectl is None:
        pytest.skip("no kubectl to render with (set KUBECTL)")
    rendered = install_manifest.render(kubectl)
    assert install_manifest.without_header(COMMITTED) == install_manifest.without_header(
        rendered
    ), "install.yaml is out of date: run `make release-manifest`"


def test_the_header_says_how_to_install_and_how_the_file_is_made() -> None:
    assert COMMITTED.startswith(install_manifest.HEADER)
    assert "kubectl apply -f install.yaml" in install_manifest.HEADER


def test_the_lowest_supported_kubernetes_is_the_one_tested() -> None:
    """tests/integration/test_lowest_kubernetes.py runs LOWEST_KUBERNETES_VERSION: what the
    header, the README and the chart promise must be that minor."""
    minor = ".".join(LOWEST_KUBERNETES_VERSION.removeprefix("v").split(".")[:2])
    readme = (install_manifest.REPO / "README.md").read_text(encoding="utf-8")
    chart = yaml.safe_load((install_manifest.CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert f"(Kubernetes {minor} or newer)" in install_manifest.HEADER
    assert f"| Kubernetes | {minor} or newer |" in readme
    assert chart["kubeVersion"] == f">={minor}.0-0"


def test_every_object_is_of_a_kind_a_fresh_cluster_already_serves() -> None:
    """kubectl maps every object to its API before creating any: one custom object whose
    CRD is in the same file would make a single `kubectl apply` fail on a fresh cluster."""
    custom = [
        f"{item['kind']}/{item['metadata']['name']}"
        for item in OBJECTS
        if group_of(item) not in BUILT_IN_GROUPS
    ]
    assert custom == []


def test_the_manifest_installs_the_crds_the_operator_and_its_rbac() -> None:
    kinds = sorted(f"{item['kind']}/{item['metadata']['name']}" for item in OBJECTS)
    assert kinds == sorted(
        [
            "CustomResourceDefinition/webhookendpoints.webhookcert.dev",
            "CustomResourceDefinition/clusterkopfpeerings.kopf.dev",
            "CustomResourceDefinition/kopfpeerings.kopf.dev",
            "Namespace/webhook-cert-system",
            "ServiceAccount/webhook-cert-operator",
            "ClusterRole/webhook-cert-operator",
            "ClusterRoleBinding/webhook-cert-operator",
            "Deployment/webhook-cert-operator",
        ]
    )


def test_the_operator_may_create_the_peering_object_its_deployment_names() -> None:
    deployment = next(item for item in OBJECTS if item["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--peering") + 1] == "webhook-cert-operator"
    role = next(item for item in OBJECTS if item["kind"] == "ClusterRole")
    peering_rules = [rule for rule in role["rules"] if "kopf.dev" in rule["apiGroups"]]
    assert peering_rules == [
        {
            "apiGroups": ["kopf.dev"],
            "resources": ["clusterkopfpeerings"],
            "verbs": ["list", "watch", "patch", "create"],
        }
    ]


def test_kopfs_shared_crds_can_be_left_in_place_on_uninstall() -> None:
    """README "Uninstall" deletes with `-l app.kubernetes.io/name!=kopf`."""
    kopf_crds = [
        item["metadata"]["name"]
        for item in OBJECTS
        if item["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "kopf"
    ]
    assert sorted(kopf_crds) == ["clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"]


def test_the_charts_crds_and_monitoring_files_are_those_of_manifests() -> None:
    """The Helm chart installs the same CRDs as install.yaml and the monitoring component's
    rules and dashboard: its copies are generated, never edited."""
    for path, text in install_manifest.chart_files(COMMITTED).items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is out of date: run `make release-manifest`"
        )

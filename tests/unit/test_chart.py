"""The Helm chart renders what the kustomize base renders, and its values do what they say.

`helm template` is compared with `kubectl kustomize manifests/` object by object: the same
objects (the chart leaves the Namespace to `helm install --create-namespace`), the same
CRDs, RBAC rules, and the Deployment's essential fields. Needs Helm (`make helm`, or HELM)
and a kubectl (see tools/install_manifest.py); skipped without them, unless
WEBHOOK_CERT_REQUIRE_HELM is set (then they fail).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import install_manifest
from webhook_cert_operator.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "webhook-cert-operator"
NAMESPACE = "webhook-cert-system"
RELEASE = "webhook-cert-operator"


def find_helm() -> str | None:
    configured = os.environ.get("HELM")
    if configured:
        return configured
    cached = Path.home() / ".cache" / "webhook-cert-operator" / "helm" / "helm"
    return str(cached) if cached.is_file() else shutil.which("helm")


HELM = find_helm()
KUBECTL = install_manifest.find_kubectl()


def require_helm() -> None:
    """Skip without Helm, or fail when WEBHOOK_CERT_REQUIRE_HELM is set (CI never skips)."""
    if HELM is None or KUBECTL is None:
        message = "needs helm (`make helm`: tools/install-helm.sh) and kubectl"
        if os.environ.get("WEBHOOK_CERT_REQUIRE_HELM"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _helm_installed() -> None:
    require_helm()


Objects = dict[tuple[str, str | None, str], dict[str, Any]]


def by_key(text: str) -> Objects:
    documents = [d for d in yaml.safe_load_all(text) if d]
    return {
        (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in documents
    }


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    return subprocess.run([HELM, *args], capture_output=True, text=True)


def template(*values: str) -> Objects:
    result = helm("template", RELEASE, str(CHART), "-n", NAMESPACE, "--include-crds", *values)
    assert result.returncode == 0, result.stderr
    return by_key(result.stdout)


def kustomize(directory: Path) -> Objects:
    assert KUBECTL is not None
    return by_key(
        subprocess.run(
            [KUBECTL, "kustomize", str(directory)], check=True, capture_output=True, text=True
        ).stdout
    )


def only(objects: Objects, kind: str) -> dict[str, Any]:
    (found,) = [o for (k, _, _), o in objects.items() if k == kind]
    return found


def container(objects: Objects) -> dict[str, Any]:
    deployment = only(objects, "Deployment")
    (first,) = deployment["spec"]["template"]["spec"]["containers"]
    return first  # type: ignore[no-any-return]


def env(objects: Objects) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(objects)["env"]}


@pytest.fixture(scope="module")
def base() -> Objects:
    require_helm()
    return kustomize(REPO / "manifests")


@pytest.fixture(scope="module")
def chart() -> Objects:
    require_helm()
    return template()


def test_helm_lint_passes_with_the_defaults_and_with_every_option_on() -> None:
    for values in ([], ["--set", "monitoring.enabled=true", "--set", "watchNamespaces={a,b}"]):
        result = helm("lint", "--strict", str(CHART), *values)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_chart_renders_the_objects_of_the_kustomize_base(base: Objects, chart: Objects) -> None:
    expected = {key for key in base if key[0] != "Namespace"}
    assert set(chart) == expected


def test_the_crds_are_those_of_the_base_and_live_in_crds_so_uninstall_keeps_them(
    base: Objects, chart: Objects
) -> None:
    crds = {k: v for k, v in base.items() if k[0] == "CustomResourceDefinition"}
    assert {k: v for k, v in chart.items() if k[0] == "CustomResourceDefinition"} == crds
    # Helm never deletes what crds/ installed; templates/ must hold no CRD.
    plain = helm("template", RELEASE, str(CHART), "-n", NAMESPACE).stdout
    assert "CustomResourceDefinition" not in plain


def test_the_rbac_is_rule_for_rule_that_of_the_base(base: Objects, chart: Objects) -> None:
    assert only(chart, "ClusterRole")["rules"] == only(base, "ClusterRole")["rules"]
    for key in ("roleRef", "subjects"):
        assert only(chart, "ClusterRoleBinding")[key] == only(base, "ClusterRoleBinding")[key]


def test_the_deployment_runs_the_same_container_and_pod(base: Objects, chart: Objects) -> None:
    ours, theirs = container(chart), container(base)
    for field in (
        "name",
        "image",
        "imagePullPolicy",
        "args",
        "ports",
        "livenessProbe",
        "readinessProbe",
        "resources",
        "securityContext",
        "volumeMounts",
    ):
        assert ours[field] == theirs[field], field
    pod, base_pod = (only(o, "Deployment")["spec"] for o in (chart, base))
    for field in ("replicas", "strategy"):
        assert pod[field] == base_pod[field], field
    for field in (
        "serviceAccountName",
        "automountServiceAccountToken",
        "enableServiceLinks",
        "securityContext",
        "volumes",
    ):
        assert pod["template"]["spec"][field] == base_pod["template"]["spec"][field], field
    # The chart states the ACME server the base leaves to the operator's default.
    assert env(chart) == {**env(base), "WEBHOOK_CERT_ACME_SERVER": Settings().acme_server}


def test_the_values_set_the_operators_settings() -> None:
    objects = template(
        "--set",
        "image.repository=registry.example.com/wco",
        "--set",
        "image.tag=1.2.3",
        "--set",
        "solverImage.repository=registry.example.com/wco-solver",
        "--set",
        "acme.server=https://acme-staging-v02.api.letsencrypt.org/directory",
        "--set",
        "acme.email=ops@example.com",
        "--set",
        "acme.agreeTermsOfService=true",
        "--set",
        "replicas=2",
        "--set",
        "resources.limits.memory=512Mi",
        "--set",
        "logFormat=json",
    )
    settings = env(objects)
    assert container(objects)["image"] == "registry.example.com/wco:1.2.3"
    assert settings["WEBHOOK_CERT_SOLVER_IMAGE"] == "registry.example.com/wco-solver:0.1.0"
    assert settings["WEBHOOK_CERT_ACME_SERVER"].startswith("https://acme-staging-v02.")
    assert settings["WEBHOOK_CERT_ACME_EMAIL"] == "ops@example.com"
    assert settings["WEBHOOK_CERT_ACME_AGREE_TOS"] == "true"
    assert only(objects, "Deployment")["spec"]["replicas"] == 2
    assert container(objects)["resources"]["limits"]["memory"] == "512Mi"
    assert container(objects)["args"][-2:] == ["--log-format", "json"]


def test_a_namespace_list_limits_the_operator_and_its_rights_to_those_namespaces() -> None:
    objects = template("--set", "watchNamespaces={payments,shop}")
    assert env(objects)["WEBHOOK_CERT_NAMESPACES"] == "payments,shop"
    cluster_rules = only(objects, "ClusterRole")["rules"]
    assert [r["resources"] for r in cluster_rules] == [["customresourcedefinitions"]]
    roles = {ns: o for (kind, ns, _), o in objects.items() if kind == "Role"}
    assert set(roles) == {"payments", "shop", NAMESPACE}
    for namespace in ("payments", "shop"):
        resources = {res for rule in roles[namespace]["rules"] for res in rule["resources"]}
        assert {"webhookendpoints", "secrets", "pods", "ingresses", "kopfpeerings"} <= resources
    # In its own namespace only the ACME account keys.
    assert roles[NAMESPACE]["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "create"]}
    ]
    bindings = {ns for (kind, ns, _), _o in objects.items() if kind == "RoleBinding"}
    assert bindings == {"payments", "shop", NAMESPACE}


def test_restart_targets_rbac_can_be_left_out(chart: Objects) -> None:
    def workload_rules(objects: Objects) -> list[dict[str, Any]]:
        return [r for r in only(objects, "ClusterRole")["rules"] if r["apiGroups"] == ["apps"]]

    assert workload_rules(chart) == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "statefulsets"],
            "verbs": ["get", "patch"],
        }
    ]
    assert workload_rules(template("--set", "rbac.restartTargets=false")) == []


def test_monitoring_renders_the_objects_of_the_monitoring_component(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(REPO / "manifests", overlay)],
                "components": [
                    os.path.relpath(REPO / "manifests" / "components" / "monitoring", overlay)
                ],
            }
        )
    )
    base = kustomize(overlay)
    objects = template(
        "--set",
        "monitoring.enabled=true",
        "--set",
        "monitoring.labels.release=kube-prometheus-stack",
    )
    assert {k for k in objects} == {k for k in base if k[0] != "Namespace"}
    rule, base_rule = only(objects, "PrometheusRule"), only(base, "PrometheusRule")
    assert rule["spec"] == base_rule["spec"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    monitor, base_monitor = only(objects, "ServiceMonitor"), only(base, "ServiceMonitor")
    assert monitor["spec"]["endpoints"] == base_monitor["spec"]["endpoints"]
    service, base_service = only(objects, "Service"), only(base, "Service")
    assert service["spec"]["ports"] == base_service["spec"]["ports"]
    # The Service selects the operator's Pods, and the ServiceMonitor that Service.
    pod_labels = only(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    dashboard, base_dashboard = only(objects, "ConfigMap"), only(base, "ConfigMap")
    assert json.loads(dashboard["data"]["webhook-cert-operator.json"]) == json.loads(
        base_dashboard["data"]["webhook-cert-operator.json"]
    )
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("acme.server=http://acme.example/dir", "does not match pattern", id="http"),
        pytest.param("logFormat=xml", "logFormat", id="log-format"),
        pytest.param("watchNamespaces={Payments}", "does not match pattern", id="namespace"),
        pytest.param("replica=2", "additional properties 'replica' not allowed", id="typo"),
    ],
)
def test_the_values_schema_refuses_what_the_operator_would_refuse(value: str, message: str) -> None:
    result = helm("template", RELEASE, str(CHART), "--set", value)
    assert result.returncode != 0
    assert message in result.stderr

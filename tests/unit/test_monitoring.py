"""The monitoring component: its alerts (`promtool test rules`, runbook links, metric
names), its Grafana dashboard, and the kustomize component that ships them.

promtool comes from tools/install-promtool.sh (Debian's prometheus package, extracted);
the promtool cases are skipped when it is not installed (they fail instead when
WEBHOOK_CERT_REQUIRE_PROMTOOL is set, as CI does), the others need nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import install_manifest
from webhook_cert_operator.checking.findings import SEVERITY, Code
from webhook_cert_operator.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
COMPONENT = REPO / "manifests" / "components" / "monitoring"
RULE: dict[str, Any] = yaml.safe_load((COMPONENT / "prometheusrule.yaml").read_text())
PROMTOOL_CASES = Path(__file__).resolve().parent / "monitoring" / "alert_rules_test.yaml"
README = (REPO / "README.md").read_text(encoding="utf-8")
RUNBOOK_BASE = "https://github.com/webhook-cert-operator/webhook-cert-operator/blob/main/README.md#"

DASHBOARD_PATH = COMPONENT / "dashboard.json"
KUSTOMIZATION: dict[str, Any] = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())

ALERTS: list[dict[str, Any]] = [
    rule for group in RULE["spec"]["groups"] for rule in group["rules"] if "alert" in rule
]


def find_promtool() -> str | None:
    configured = os.environ.get("PROMTOOL")
    if configured:
        return configured
    cache = Path(
        os.environ.get("PROMTOOL_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "webhook-cert-operator"
        / "promtool"
    )
    if (cache / "promtool").is_file():
        return str(cache / "promtool")
    return shutil.which("promtool")


@pytest.fixture(scope="module")
def promtool_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """promtool, and a folder with the rules as a Prometheus rule file next to the cases."""
    promtool = find_promtool()
    if promtool is None:
        message = "promtool is not installed: run tools/install-promtool.sh (make promtool)"
        if os.environ.get("WEBHOOK_CERT_REQUIRE_PROMTOOL"):  # CI: never skip silently
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("promtool")
    (folder / "rules.yaml").write_text(yaml.safe_dump({"groups": RULE["spec"]["groups"]}))
    shutil.copy(PROMTOOL_CASES, folder / PROMTOOL_CASES.name)
    return promtool, folder


def run(promtool: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=folder, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_accepts_the_rules(promtool_dir: tuple[str, Path]) -> None:
    result = run(*promtool_dir, "check", "rules", "rules.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_behaves_as_its_promtool_cases_say(promtool_dir: tuple[str, Path]) -> None:
    result = run(*promtool_dir, "test", "rules", PROMTOOL_CASES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_the_operator_promises_exists_and_has_promtool_cases() -> None:
    cases = yaml.safe_load(PROMTOOL_CASES.read_text())
    tested = {
        case["alertname"]
        for test in cases["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    names = {alert["alert"] for alert in ALERTS}
    assert names == {
        "WebhookCertChainInvalid",
        "WebhookCertServedCertificateStale",
        "WebhookCertExpiringSoon",
        "WebhookCertExpiryImminent",
        "WebhookCertIssuanceFailing",
        "WebhookCertOperatorAbsent",
    }
    assert tested == names


def test_every_alert_has_a_severity_a_summary_and_a_runbook_in_the_readme() -> None:
    for alert in ALERTS:
        assert alert["labels"]["severity"] in ("warning", "critical"), alert["alert"]
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], alert["alert"]
        url = annotations["runbook_url"]
        assert url.startswith(RUNBOOK_BASE), alert["alert"]
        anchor = url.removeprefix(RUNBOOK_BASE)
        if anchor == "runbook-{{ $labels.code }}":
            continue  # below: one row per code the alert can carry
        assert f'<a id="{anchor}"></a>' in README, f"{alert['alert']}: no README row {anchor}"


def test_the_chain_invalid_runbook_has_a_row_for_every_code_it_can_name() -> None:
    codes = [str(code) for code, severity in SEVERITY.items() if severity == "error"]
    codes.remove(str(Code.STALE_CERTIFICATE))  # its own alert
    for code in [*codes, "trust-bundle-unavailable"]:
        assert f'<a id="runbook-{code}"></a>' in README, f"no README row for {code}"


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(webhook_cert_[a-z_]+)\b", expr))


def exported_names() -> set[str]:
    """Every family's name (a labelled gauge has no sample until it is set) and sample's."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(sample.name for sample in family.samples)
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def test_the_alerts_read_only_metrics_the_operator_exports() -> None:
    used = set().union(*(metric_names(alert["expr"]) for alert in ALERTS))
    assert used, "the alerts read the operator's metrics"
    assert used <= exported_names()


# ---- the Grafana dashboard ----------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD_PATH.read_text(encoding="utf-8"))
    return loaded


def test_the_dashboard_is_valid_json_with_a_stable_uid() -> None:
    board = dashboard()
    assert board["uid"] == "webhook-cert-operator"
    assert board["title"] == "webhook-cert-operator"
    assert isinstance(board["schemaVersion"], int)


def test_the_dashboard_lists_endpoints_findings_and_expiries() -> None:
    panels = {panel["title"]: panel for panel in dashboard()["panels"]}
    assert panels["Endpoints"]["type"] == "table"
    assert panels["Current findings"]["type"] == "table"
    assert panels["Expiries: time left on the served chain"]["type"] == "bargauge"
    columns = set().union(*(metric_names(q["expr"]) for q in panels["Endpoints"]["targets"]))
    assert columns == {
        "webhook_cert_ready",
        "webhook_cert_chain_valid",
        "webhook_cert_certificate_not_after_timestamp_seconds",
        "webhook_cert_served_chain_earliest_not_after_timestamp_seconds",
        "webhook_cert_renewal_timestamp_seconds",
        "webhook_cert_issuance_consecutive_failures",
        "webhook_cert_chain_last_check_timestamp_seconds",
    }


def test_every_panel_is_well_formed_and_reads_only_exported_metrics() -> None:
    board = dashboard()
    exported = exported_names()
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in board["panels"]:
        position = panel["gridPos"]
        assert position["x"] >= 0 and position["x"] + position["w"] <= 24, panel["title"]
        assert panel["targets"], panel["title"]
        for query in panel["targets"]:
            assert metric_names(query["expr"]) <= exported, (panel["title"], query["expr"])
            assert query["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_the_component_ships_the_dashboard_for_grafanas_sidecar() -> None:
    assert KUSTOMIZATION["kind"] == "Component"
    (generator,) = KUSTOMIZATION["configMapGenerator"]
    assert generator["files"] == ["webhook-cert-operator.json=dashboard.json"]
    assert generator["options"]["labels"] == {"grafana_dashboard": "1"}
    assert sorted(KUSTOMIZATION["resources"]) == [
        "prometheusrule.yaml",
        "service.yaml",
        "servicemonitor.yaml",
    ]


def test_an_overlay_with_the_component_adds_the_monitoring_objects(tmp_path: Path) -> None:
    kubectl = install_manifest.find_kubectl()
    if kubectl is None:
        pytest.skip("no kubectl to render with (set KUBECTL)")
    objects = install_manifest.render_with_component(kubectl, COMPONENT, tmp_path)
    base = [item for item in yaml.safe_load_all(install_manifest.INSTALL_YAML.read_text()) if item]
    added = {f"{o['kind']}/{o['metadata']['name']}" for o in objects} - {
        f"{o['kind']}/{o['metadata']['name']}" for o in base
    }
    assert added == {
        "Service/webhook-cert-operator-metrics",
        "ServiceMonitor/webhook-cert-operator",
        "PrometheusRule/webhook-cert-operator",
        "ConfigMap/webhook-cert-operator-dashboard",
    }
    by_kind = {o["kind"]: o for o in objects}
    service, deployment = by_kind["Service"], by_kind["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    monitor = by_kind["ServiceMonitor"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    # The job label Prometheus gives the targets is the Service's name.
    absent = next(
        rule["expr"]
        for rule in by_kind["PrometheusRule"]["spec"]["groups"][0]["rules"]
        if rule["alert"] == "WebhookCertOperatorAbsent"
    )
    assert f'job="{service["metadata"]["name"]}"' in absent
    dashboard_json = by_kind["ConfigMap"]["data"]["webhook-cert-operator.json"]
    assert json.loads(dashboard_json) == dashboard()
    for item in objects:
        labels = item["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "webhook-cert-operator", item["kind"]

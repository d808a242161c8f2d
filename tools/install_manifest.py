"""Render the release manifest `install.yaml` from the kustomize base in manifests/, and the
Helm chart's copies of it: its crds/ (the same CRDs) and files/ (the monitoring
component's alert rules and dashboard, which the chart's templates read).

`make release-manifest` runs this; tests/unit/test_install_manifest.py renders again and
compares, so the committed files never drift from manifests/. Rendering is offline:
`kubectl kustomize` reads only the local files.

The kubectl used is, in order: $KUBECTL, the local cluster's own build (the pinned
Kubernetes version of localcluster/versions.py, so that every machine renders with the
same kustomize), then `kubectl` on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from localcluster import build
from localcluster.versions import BY_NAME

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = REPO / "manifests"
INSTALL_YAML = REPO / "install.yaml"
CHART = REPO / "charts" / "webhook-cert-operator"
MONITORING = MANIFESTS / "components" / "monitoring"

GENERATED = (
    "# Generated from manifests/ by `make release-manifest`: edit manifests/, not this file.\n"
)

HEADER = """\
# webhook-cert-operator: the release manifest. Install (Kubernetes 1.31 or newer) with
#   kubectl apply -f install.yaml
# then set WEBHOOK_CERT_ACME_EMAIL and WEBHOOK_CERT_ACME_AGREE_TOS (README, "Install").
# Generated from manifests/ by `make release-manifest`: edit manifests/, not this file.
"""


def find_kubectl() -> str | None:
    """The kubectl to render with (see the module docstring), or None."""
    configured = os.environ.get("KUBECTL")
    if configured:
        return configured
    pinned = build.bin_dir(BY_NAME["kubernetes"], build.default_cache_dir()) / "kubectl"
    if pinned.is_file() and os.access(pinned, os.X_OK):
        return str(pinned)
    return shutil.which("kubectl")


def render(kubectl: str, manifests: Path = MANIFESTS) -> str:
    """install.yaml's text: the header, then `kubectl kustomize` of the base."""
    rendered = subprocess.run(
        [kubectl, "kustomize", str(manifests)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return HEADER + rendered


def render_with_component(kubectl: str, component: Path, directory: Path) -> list[dict[str, Any]]:
    """The objects of the base with one component (manifests/components/...), as a user's
    overlay in `directory` (an empty scratch folder) renders them."""
    (directory / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                # kustomize takes bases and components by relative path only.
                "resources": [os.path.relpath(MANIFESTS, directory)],
                "components": [os.path.relpath(component, directory)],
            }
        )
    )
    rendered = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=True
    ).stdout
    return [item for item in yaml.safe_load_all(rendered) if item]


def without_header(text: str) -> str:
    """The rendered objects of install.yaml: the leading comment lines dropped."""
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


def chart_files(install_yaml: str) -> dict[Path, str]:
    """The chart's generated files, by path: crds/ holds install.yaml's CRDs (Helm installs
    them before the templates and never deletes them), files/ the monitoring component's
    PrometheusRule spec and dashboard."""
    crds = [
        document
        for document in yaml.safe_load_all(without_header(install_yaml))
        if document and document["kind"] == "CustomResourceDefinition"
    ]
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text(encoding="utf-8"))
    return {
        CHART / "crds" / "crds.yaml": GENERATED
        + yaml.safe_dump_all(crds, sort_keys=False, width=100),
        CHART / "files" / "prometheusrule-spec.yaml": GENERATED
        + yaml.safe_dump(rule["spec"], sort_keys=False, width=100),
        CHART / "files" / "dashboard.json": (MONITORING / "dashboard.json").read_text(
            encoding="utf-8"
        ),
    }


def main() -> int:
    kubectl = find_kubectl()
    if kubectl is None:
        print("no kubectl found: set KUBECTL", file=sys.stderr)
        return 2
    install_yaml = render(kubectl)
    INSTALL_YAML.write_text(install_yaml, encoding="utf-8")
    print(f"wrote {INSTALL_YAML.relative_to(REPO)} with {kubectl}")
    for path, text in chart_files(install_yaml).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

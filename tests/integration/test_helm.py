"""`helm install` of charts/webhook-cert-operator on the cluster: a running operator that
issues the example WebhookEndpoint, and `helm uninstall` that keeps the CRDs.

The kustomize-installed operator (the other tests' `operator_deployment`) is scaled to
zero meanwhile, so that one operator handles the endpoint; the next test that asks for it
applies it again. The chart's CRDs are installed by Helm itself: the test deletes them
first when no WebhookEndpoint exists, so that the install is the one that creates them.
Needs Helm (`make helm`, or HELM); skipped without it unless
WEBHOOK_CERT_REQUIRE_HELM is set.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.integration import k8s
from tests.integration.conftest import Cluster
from tests.integration.operator_deployment import get_status, wait_for_condition
from tests.integration.test_issuance import (
    apply,
    secret_data,
    verify_with_served_intermediates_only,
)
from tests.integration.test_manifests import EXAMPLE
from tests.integration.workloads import wait_for
from tests.unit.test_chart import CHART, HELM, require_helm

pytestmark = pytest.mark.cluster

RELEASE = "wco"
RELEASE_NAMESPACE = "webhook-cert-helm"
FULLNAME = f"{RELEASE}-webhook-cert-operator"
CRDS = ("webhookendpoints.webhookcert.dev", "clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev")
KUSTOMIZE_DEPLOYMENT = ("webhook-cert-system", "webhook-cert-operator")
CA_MOUNT = "/etc/webhook-cert/acme-ca"


def helm(cluster: Cluster, *args: str, timeout: float = 240) -> str:
    assert HELM is not None
    result = subprocess.run(
        [HELM, "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def crd_uid(cluster: Cluster, name: str) -> str | None:
    result = cluster.kubectl("get", "crd", name, "-o", "jsonpath={.metadata.uid}", check=False)
    return result.stdout.strip() or None if result.returncode == 0 else None


def values(cluster: Cluster) -> dict[str, Any]:
    """The chart's values for this cluster: its images (no registry), Pebble, its DNS."""
    image, _, tag = cluster.env["WEBHOOK_CERT_TEST_IMAGE"].rpartition(":")
    solver, _, solver_tag = cluster.env["WEBHOOK_CERT_TEST_SOLVER_IMAGE"].rpartition(":")
    return {
        "image": {"repository": image, "tag": tag, "pullPolicy": "Never"},
        "solverImage": {"repository": solver, "tag": solver_tag},
        "acme": {
            "server": cluster.pebble_directory,
            "email": "ops@example.test",
            "agreeTermsOfService": True,
        },
        "extraEnv": [
            {"name": "WEBHOOK_CERT_NAMESERVERS", "value": ",".join(cluster.nameservers)},
            {"name": "WEBHOOK_CERT_ACME_CA_BUNDLE", "value": f"{CA_MOUNT}/ca.crt"},
        ],
        "extraVolumes": [{"name": "acme-ca", "configMap": {"name": "acme-ca"}}],
        "extraVolumeMounts": [{"name": "acme-ca", "mountPath": CA_MOUNT, "readOnly": True}],
    }


@pytest.fixture
def no_kustomize_operator(cluster: Cluster) -> Iterator[None]:
    require_helm()
    apps = client.AppsV1Api(cluster.api_client)
    namespace, name = KUSTOMIZE_DEPLOYMENT
    try:
        apps.patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": 0}})
    except client.ApiException as error:
        if error.status != 404:
            raise
    core = client.CoreV1Api(cluster.api_client)
    wait_for(
        lambda: (
            not core.list_namespaced_pod(
                namespace, label_selector="app.kubernetes.io/name=webhook-cert-operator"
            ).items
        ),
        timeout=90,
        what="the kustomize-installed operator to stop",
    )
    yield
    try:
        apps.patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": 1}})
    except client.ApiException as error:
        if error.status != 404:
            raise


@pytest.mark.parametrize("scope", ["cluster-wide", "namespaced"])
def test_helm_install_runs_an_operator_that_issues_the_example_and_uninstall_keeps_the_crds(
    cluster: Cluster, namespace: str, no_kustomize_operator: None, tmp_path: Any, scope: str
) -> None:
    """Cluster-wide (the default), and limited to the endpoint's namespace: then the
    operator has only Roles there and in its own namespace, and a KopfPeering."""
    # Let Helm create the CRDs, as on a fresh cluster, when nothing depends on them.
    leftovers = json.loads(
        cluster.kubectl("get", "whe", "-A", "-o", "json", check=False).stdout or '{"items": []}'
    )["items"]
    if not leftovers:
        cluster.kubectl("delete", "crd", *CRDS, "--ignore-not-found", "--wait=true")
    core = client.CoreV1Api(cluster.api_client)
    try:
        core.create_namespace(k8s.body({"metadata": {"name": RELEASE_NAMESPACE}}))
    except client.ApiException as error:
        if error.status != 409:
            raise
    manifest = cluster.kubectl(
        "create",
        "configmap",
        "acme-ca",
        "-n",
        RELEASE_NAMESPACE,
        f"--from-file=ca.crt={cluster.acme_ca_bundle}",
        "--dry-run=client",
        "-o",
        "yaml",
    ).stdout
    cluster.kubectl("apply", "-f", "-", input=manifest)
    values_file = tmp_path / "values.yaml"
    chosen = values(cluster)
    if scope == "namespaced":
        # Namespaced, with a solver Pod per order; cluster-wide, the operator answers itself.
        chosen["watchNamespaces"] = [namespace]
        chosen["solverPods"] = True
    values_file.write_text(yaml.safe_dump(chosen))

    started = time.monotonic()
    helm(
        cluster,
        "upgrade",
        "--install",
        RELEASE,
        str(CHART),
        "-n",
        RELEASE_NAMESPACE,
        "-f",
        str(values_file),
        "--wait",
        "--timeout",
        "180s",
    )
    uids = {name: crd_uid(cluster, name) for name in CRDS}
    assert all(uids.values()), uids
    pods = core.list_namespaced_pod(
        RELEASE_NAMESPACE, label_selector="app.kubernetes.io/instance=" + RELEASE
    ).items
    # The other parametrization's operator Pod may still be on its way out (its phase
    # Succeeded once kopf has exited on SIGTERM): only this release's live Pod counts.
    live = [p for p in pods if k8s.metadata(p).deletion_timestamp is None]
    assert [k8s.status(p).phase for p in live] == ["Running"]
    cluster_role = client.RbacAuthorizationV1Api(cluster.api_client).read_cluster_role(FULLNAME)
    granted = {resource for rule in cluster_role.rules or [] for resource in rule.resources or []}
    if scope == "namespaced":
        assert granted == {"customresourcedefinitions"}
    else:
        assert "webhookendpoints" in granted

    # The example, pointed at this cluster's names and its default CA (Pebble).
    example = yaml.safe_load(EXAMPLE.read_text())
    host = f"hooks.{namespace}.example.test"
    spec = example["spec"]
    spec["dnsNames"] = [host]
    spec.pop("acme", None)
    spec["http01"] = {**spec.get("http01", {}), "ingressClassName": cluster.ingress_class}
    spec["validation"] = {**spec.get("validation", {}), "url": f"https://{host}/ringcentral"}
    body = {**example, "metadata": {**example["metadata"], "namespace": namespace}}
    apply(cluster, body)
    wait_for_condition(
        cluster, namespace, example["metadata"]["name"], "Ready", "True", timeout=180
    )
    print(f"helm install to Ready: {time.monotonic() - started:.0f}s")
    if scope == "namespaced":
        # The operator made its namespaced peering object there, with the Role's `create`.
        cluster.kubectl("get", "kopfpeering", "-n", namespace, FULLNAME)
    status = get_status(cluster, namespace, example["metadata"]["name"])
    assert status["dnsNames"] == [host]
    data = secret_data(cluster, namespace, spec["secretName"])
    assert len(verify_with_served_intermediates_only(cluster, data["tls.crt"], host)) >= 2
    # With solverPods, a solver Pod ran the solver image, not the operator's; without,
    # no Pod ran it: the operator answered.
    events = cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    solver_image = cluster.env["WEBHOOK_CERT_TEST_SOLVER_IMAGE"]
    assert (solver_image in events) == (scope == "namespaced"), "solver Pods: " + scope

    cluster.kubectl("delete", "-f", "-", "--wait=true", "--timeout=90s", input=json.dumps(body))
    helm(cluster, "uninstall", RELEASE, "-n", RELEASE_NAMESPACE, "--wait")
    apps = client.AppsV1Api(cluster.api_client)
    assert not apps.list_namespaced_deployment(RELEASE_NAMESPACE).items
    # crds/ are never deleted by Helm: the same CRD objects are still there.
    assert {name: crd_uid(cluster, name) for name in CRDS} == uids

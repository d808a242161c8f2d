"""The kustomize base in manifests/ installs cleanly on a real API server, with least privilege.

What `kubectl apply -k manifests/` would create is rendered once and checked three ways:
the API server accepts every object in a server-side dry run; the operator's
ServiceAccount may do exactly what the operator and kopf do (asked of the real RBAC
authorizer through SubjectAccessReviews); and the Deployment matches what the code reads
(settings, ports, peering name). The ClusterRole's rules are written out below, so a change
of privileges is a visible change of this file too.

A dry run cannot create a namespaced object in a namespace that does not exist yet, nor a
custom resource whose CRD is not yet established, so the objects the others depend on
(the CRDs, the namespace, the ServiceAccount and its RBAC) are applied for real first. The
Deployment never is: a running operator would act on other tests' WebhookEndpoints.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes import client

from tests.integration import k8s
from tests.integration.conftest import Cluster
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.glue import run as run_command
from webhook_cert_operator.settings import DEFAULT_NAMESPACE, ENVIRONMENT_VARIABLES, Settings

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
EXAMPLE = MANIFESTS / "examples" / "webhookendpoint.yaml"

NAMESPACE = DEFAULT_NAMESPACE
SERVICE_ACCOUNT = "webhook-cert-operator"
USER = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
USER_GROUPS = [
    "system:serviceaccounts",
    f"system:serviceaccounts:{NAMESPACE}",
    "system:authenticated",
]
IMAGE = "webhook-cert-operator:0.1.0"
SOLVER_IMAGE = "webhook-cert-solver:0.1.0"

# (API group, resource) -> verbs: everything the ServiceAccount may do, and why.
GRANTED: dict[tuple[str, str], frozenset[str]] = {
    # kopf lists, watches and patches (finalizer, progress annotations); kube.get_endpoint.
    ("webhookcert.dev", "webhookendpoints"): frozenset({"get", "list", "watch", "patch"}),
    # kube.patch_endpoint_status.
    ("webhookcert.dev", "webhookendpoints/status"): frozenset({"patch"}),
    # blockOwnerDeletion on solver objects, under OwnerReferencesPermissionEnforcement.
    ("webhookcert.dev", "webhookendpoints/finalizers"): frozenset({"update"}),
    # kube.get_secret, create_secret, replace_secret.
    ("", "secrets"): frozenset({"get", "create", "update"}),
    # validation.trustBundle of kind ConfigMap.
    ("", "configmaps"): frozenset({"get"}),
    # the HTTP-01 solver: kube.list_labelled, create, delete.
    ("", "pods"): frozenset({"list", "create", "delete"}),
    ("", "services"): frozenset({"list", "create", "delete"}),
    ("discovery.k8s.io", "endpointslices"): frozenset({"list", "create", "delete", "patch"}),
    ("networking.k8s.io", "ingresses"): frozenset({"list", "create", "delete"}),
    ("gateway.networking.k8s.io", "httproutes"): frozenset({"list", "create", "delete"}),
    # spec.restartTargets.
    ("apps", "deployments"): frozenset({"get", "patch"}),
    ("apps", "statefulsets"): frozenset({"get", "patch"}),
    # kopf posts core v1 Events.
    ("", "events"): frozenset({"create"}),
    # kopf's cluster-wide peering; the operator creates the object (handlers.create_peering).
    ("kopf.dev", "clusterkopfpeerings"): frozenset({"list", "watch", "patch", "create"}),
    # kopf's resource observer.
    ("apiextensions.k8s.io", "customresourcedefinitions"): frozenset({"list", "watch"}),
}
CLUSTER_SCOPED = {"clusterkopfpeerings", "customresourcedefinitions"}

# A few things the ServiceAccount must NOT be able to do, close to what it can.
DENIED = [
    pytest.param("list", "", "secrets", id="list-secrets"),
    pytest.param("watch", "", "secrets", id="watch-secrets"),
    pytest.param("delete", "", "secrets", id="delete-secrets"),
    pytest.param("patch", "", "secrets", id="patch-secrets"),
    pytest.param("get", "", "pods", id="get-pods"),
    pytest.param("create", "", "pods/exec", id="exec-into-pods"),
    pytest.param("update", "", "services", id="update-services"),
    pytest.param("list", "", "configmaps", id="list-configmaps"),
    pytest.param("create", "webhookcert.dev", "webhookendpoints", id="create-endpoints"),
    pytest.param("delete", "webhookcert.dev", "webhookendpoints", id="delete-endpoints"),
    pytest.param("update", "webhookcert.dev", "webhookendpoints", id="update-endpoints"),
    pytest.param("create", "apps", "deployments", id="create-deployments"),
    pytest.param("list", "", "namespaces", id="list-namespaces"),
    pytest.param("create", "events.k8s.io", "events", id="create-events-k8s-io"),
    pytest.param("patch", "", "events", id="patch-events"),
    pytest.param("delete", "kopf.dev", "clusterkopfpeerings", id="delete-peerings"),
    pytest.param("create", "kopf.dev", "kopfpeerings", id="create-namespaced-peerings"),
    pytest.param("update", "apiextensions.k8s.io", "customresourcedefinitions", id="update-crds"),
    pytest.param("create", "rbac.authorization.k8s.io", "rolebindings", id="bind-roles"),
]

# Applied for real before the dry run; (kind, name) in rendering order.
PREREQUISITE_KINDS = (
    "CustomResourceDefinition",
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
)


def render(cluster: Cluster, path: Path = MANIFESTS) -> list[dict[str, Any]]:
    output = cluster.kubectl("kustomize", str(path)).stdout
    return [document for document in yaml.safe_load_all(output) if document]


def dump(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


def the(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        item
        for item in objects
        if item["kind"] == kind and (name is None or item["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = the(objects, "Deployment", "webhook-cert-operator")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in container.get("env") or []}


def kind_and_name(item: dict[str, Any]) -> str:
    return f"{item['kind']}/{item['metadata']['name']}"


@pytest.fixture(scope="module")
def rendered(cluster: Cluster) -> list[dict[str, Any]]:
    return render(cluster)


@pytest.fixture(scope="module")
def installed_prerequisites(cluster: Cluster, rendered: list[dict[str, Any]]) -> None:
    """Apply the CRDs, the namespace, the ServiceAccount and its RBAC for real.

    They stay: the CRDs are shared with other tests, and the operator's Deployment that
    other tests install (localcluster/operator.py) needs the same objects; applying them
    again is a no-op.
    """
    prerequisites = [item for item in rendered if item["kind"] in PREREQUISITE_KINDS]
    cluster.kubectl("apply", "-f", "-", input=dump(prerequisites))
    for item in prerequisites:
        if item["kind"] == "CustomResourceDefinition":
            cluster.kubectl(
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                f"crd/{item['metadata']['name']}",
            )


def test_the_base_renders_the_objects_of_an_installation(
    rendered: list[dict[str, Any]],
) -> None:
    assert sorted(kind_and_name(item) for item in rendered) == sorted(
        [
            "CustomResourceDefinition/webhookendpoints.webhookcert.dev",
            "CustomResourceDefinition/clusterkopfpeerings.kopf.dev",
            "CustomResourceDefinition/kopfpeerings.kopf.dev",
            f"Namespace/{NAMESPACE}",
            f"ServiceAccount/{SERVICE_ACCOUNT}",
            "ClusterRole/webhook-cert-operator",
            "ClusterRoleBinding/webhook-cert-operator",
            "Deployment/webhook-cert-operator",
        ]
    )
    for item in rendered:
        if item["kind"] in ("ServiceAccount", "Deployment"):
            assert item["metadata"]["namespace"] == NAMESPACE, kind_and_name(item)


def test_the_api_server_accepts_every_object_of_the_base_in_a_server_side_dry_run(
    cluster: Cluster, rendered: list[dict[str, Any]], installed_prerequisites: None
) -> None:
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=dump(rendered))
    # One line per object: "<resource>[.<group>]/<name> <action> (server dry run)"
    reported = {
        (line.split("/", 1)[0].split(".", 1)[0], line.split("/", 1)[1].split(" ", 1)[0])
        for line in result.stdout.splitlines()
        if line.endswith("(server dry run)")
    }
    assert reported == {(item["kind"].lower(), item["metadata"]["name"]) for item in rendered}, (
        result.stdout
    )
    # The namespace enforces, and warns about, the "restricted" Pod Security profile.
    assert "PodSecurity" not in result.stderr, result.stderr


def test_the_crd_label_selects_exactly_the_crds(
    cluster: Cluster, rendered: list[dict[str, Any]], installed_prerequisites: None
) -> None:
    """`make deploy` waits for the CRDs by this label."""
    result = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "-o",
        "name",
        "-k",
        str(MANIFESTS),
        "-l",
        "app.kubernetes.io/component=crd",
    )
    assert sorted(result.stdout.split()) == sorted(
        f"customresourcedefinition.apiextensions.k8s.io/{item['metadata']['name']}"
        for item in rendered
        if item["kind"] == "CustomResourceDefinition"
    )


def pod_from_template(rendered: list[dict[str, Any]], name: str) -> dict[str, Any]:
    template = the(rendered, "Deployment", "webhook-cert-operator")["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": template["metadata"]["labels"],
        },
        "spec": copy.deepcopy(template["spec"]),
    }


def test_the_operator_pod_is_admitted_under_the_restricted_pod_security_profile(
    cluster: Cluster, rendered: list[dict[str, Any]], installed_prerequisites: None
) -> None:
    pod = pod_from_template(rendered, "operator-dry-run")
    result = cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(pod)
    )
    assert json.loads(result.stdout)["spec"]["serviceAccountName"] == SERVICE_ACCOUNT
    assert "PodSecurity" not in result.stderr, result.stderr


def test_the_operator_namespace_refuses_a_pod_that_is_not_restricted(
    cluster: Cluster, rendered: list[dict[str, Any]], installed_prerequisites: None
) -> None:
    pod = pod_from_template(rendered, "loose-dry-run")
    for container in pod["spec"]["containers"]:
        container["securityContext"] = {"allowPrivilegeEscalation": True}
    result = cluster.kubectl(
        "create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False
    )
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted' in result.stderr, result.stderr


def test_the_example_webhook_endpoint_is_accepted_by_a_server_side_dry_run(
    cluster: Cluster, installed_prerequisites: None, namespace: str
) -> None:
    result = cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-o", "json", "-f", str(EXAMPLE)
    )
    stored = json.loads(result.stdout)
    assert stored["kind"] == api.KIND
    assert stored["metadata"]["namespace"] == namespace
    # Defaults from the CRD schema were applied: the server validated it against the CRD.
    assert stored["spec"]["http01"]["serviceType"] == "ClusterIP"
    assert stored["spec"]["privateKey"]["rotationPolicy"] == "Always"


def test_the_example_webhook_endpoint_is_also_a_spec_the_operator_accepts() -> None:
    example = yaml.safe_load(EXAMPLE.read_text())
    spec = parse_spec(example["spec"], name=example["metadata"]["name"], settings=Settings())
    assert spec.dns_names == ("hooks.example.com",)
    assert "namespace" not in example["metadata"], "the example goes where `-n` says"


def granted_by(cluster_role: dict[str, Any]) -> dict[tuple[str, str], frozenset[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in cluster_role["rules"]:
        assert not rule.get("resourceNames"), rule
        assert not rule.get("nonResourceURLs"), rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return {key: frozenset(verbs) for key, verbs in grants.items()}


def test_the_cluster_role_grants_exactly_the_verbs_the_operator_uses(
    rendered: list[dict[str, Any]],
) -> None:
    assert granted_by(the(rendered, "ClusterRole", "webhook-cert-operator")) == GRANTED
    assert not [item for item in rendered if item["kind"] in ("Role", "RoleBinding")]
    binding = the(rendered, "ClusterRoleBinding", "webhook-cert-operator")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "webhook-cert-operator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}
    ]


def service_account_may(
    cluster: Cluster, verb: str, group: str, resource: str, namespace: str | None
) -> bool:
    """Ask the API server's authorizer whether the operator's ServiceAccount may do this."""
    name, _, subresource = resource.partition("/")
    attributes: dict[str, str] = {"verb": verb, "group": group, "resource": name}
    if subresource:
        attributes["subresource"] = subresource
    if namespace:
        attributes["namespace"] = namespace
    review = client.AuthorizationV1Api(cluster.api_client).create_subject_access_review(
        k8s.body(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {"user": USER, "groups": USER_GROUPS, "resourceAttributes": attributes},
            }
        )
    )
    return bool(k8s.status(review).allowed)


GRANTED_CASES = [
    pytest.param(verb, group, resource, id=f"{verb}-{resource}".replace("/", "-"))
    for (group, resource), verbs in sorted(GRANTED.items())
    for verb in sorted(verbs)
]


@pytest.mark.parametrize(("verb", "group", "resource"), GRANTED_CASES)
def test_the_service_account_may_do_what_the_operator_does_in_any_namespace(
    cluster: Cluster, installed_prerequisites: None, verb: str, group: str, resource: str
) -> None:
    namespace = None if resource in CLUSTER_SCOPED else "payments"
    assert service_account_may(cluster, verb, group, resource, namespace)


@pytest.mark.parametrize(("verb", "group", "resource"), DENIED)
def test_the_service_account_may_not_do_more(
    cluster: Cluster, installed_prerequisites: None, verb: str, group: str, resource: str
) -> None:
    namespace = None if resource in CLUSTER_SCOPED | {"namespaces"} else NAMESPACE
    assert not service_account_may(cluster, verb, group, resource, namespace)


def test_the_deployment_runs_the_operator_with_a_peering_it_creates_itself(
    rendered: list[dict[str, Any]],
) -> None:
    """The base holds no peering object (its CRD would not be served yet in the same
    apply); the operator creates it at start-up (handlers.create_peering)."""
    container = operator_container(rendered)
    assert container["image"] == IMAGE
    args = container["args"]
    assert args[0] == "run"
    assert args[args.index("--peering") + 1] == "webhook-cert-operator"
    assert not [item for item in rendered if item["apiVersion"].startswith("kopf.dev/")]
    assert env_of(container)["POD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_the_deployment_sets_only_settings_the_operator_reads(
    rendered: list[dict[str, Any]],
) -> None:
    env = env_of(operator_container(rendered))
    settings = [name for name in env if name.startswith("WEBHOOK_CERT_")]
    assert set(settings) <= set(ENVIRONMENT_VARIABLES)
    assert env["WEBHOOK_CERT_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.namespace"
    )
    # The CA's terms are agreed by the person deploying, never by default (RFC 8555 7.3).
    assert env["WEBHOOK_CERT_ACME_AGREE_TOS"]["value"] == "false"
    assert env["WEBHOOK_CERT_SOLVER_IMAGE"]["value"] == SOLVER_IMAGE


def test_the_probes_and_ports_match_what_the_operator_listens_on(
    rendered: list[dict[str, Any]],
) -> None:
    container = operator_container(rendered)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    parser = argparse.ArgumentParser()
    run_command.add_arguments(parser)
    liveness = urlsplit(parser.parse_args([]).liveness)
    assert ports == {
        "metrics": Settings().metrics_port,
        "health": liveness.port,
        "http01": Settings().solver_port,
    }
    # The operator answers HTTP-01 at its Pod's address.
    address = env_of(container)["WEBHOOK_CERT_SOLVER_ADDRESS"]
    assert address["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": liveness.path, "port": "health"}


def test_an_overlay_that_changes_the_images_changes_the_solver_image_too(
    cluster: Cluster, tmp_path: Path
) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                # kustomize takes a base by relative path only.
                "resources": [os.path.relpath(MANIFESTS, tmp_path)],
                "images": [
                    {
                        "name": "webhook-cert-operator",
                        "newName": "registry.example.com/team/webhook-cert-operator",
                        "newTag": "1.2.3",
                    },
                    {
                        "name": "webhook-cert-solver",
                        "newName": "registry.example.com/team/webhook-cert-solver",
                        "newTag": "1.2.3",
                    },
                ],
            }
        )
    )
    container = operator_container(render(cluster, tmp_path))
    assert container["image"] == "registry.example.com/team/webhook-cert-operator:1.2.3"
    assert env_of(container)["WEBHOOK_CERT_SOLVER_IMAGE"]["value"] == (
        "registry.example.com/team/webhook-cert-solver:1.2.3"
    )
    # Only the image is rewritten, not every variable.
    assert env_of(container)["WEBHOOK_CERT_ACME_AGREE_TOS"]["value"] == "false"

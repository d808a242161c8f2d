"""Unit tests for webhook_cert_operator.solver.resources: the solver's Pod, Service, Ingress."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from webhook_cert_operator.solver import resources
from webhook_cert_operator.solver.resources import SolverSpec

TOKEN_A = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
TOKEN_B = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
KEYAUTH_A = TOKEN_A + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
KEYAUTH_B = TOKEN_B + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

SELECTOR = {
    "app.kubernetes.io/managed-by": "webhook-cert-operator",
    "webhookcert.dev/role": "solver",
    "webhookcert.dev/endpoint": "ringcentral",
    "webhookcert.dev/order": "0123456789abcdef0123",
}


def make_spec(**changes: Any) -> SolverSpec:
    base = SolverSpec(
        name="wco-solver-ringcentral-0123456789",
        namespace="payments",
        owner_api_version="webhookcert.dev/v1alpha1",
        owner_kind="WebhookEndpoint",
        owner_name="ringcentral",
        owner_uid="6f1c1e4e-0000-4000-8000-000000000001",
        labels=SELECTOR,
        image="registry.example/webhook-cert-operator:0.1.0",
        challenges={TOKEN_B: KEYAUTH_B, TOKEN_A: KEYAUTH_A},
        hosts=("hooks.example.com", "www.example.com"),
    )
    return dataclasses.replace(base, **changes)


def container_of(pod: dict[str, Any]) -> dict[str, Any]:
    containers = pod["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


ALL_BUILDERS = [
    pytest.param(resources.build_pod, id="pod"),
    pytest.param(resources.build_service, id="service"),
    pytest.param(resources.build_ingress, id="ingress"),
    pytest.param(resources.build_http_route, id="httproute"),
]


# --- the spec ---------------------------------------------------------------------------


def test_spec_never_prints_its_challenges() -> None:
    text = repr(make_spec())
    assert TOKEN_A not in text
    assert KEYAUTH_B not in text
    assert "challenges" not in text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"name": "1-starts-with-digit"}, "DNS-1035", id="name-not-dns-1035"),
        pytest.param({"name": "a" * 64}, "DNS-1035", id="name-too-long"),
        pytest.param({"labels": {}}, "selector labels", id="no-labels"),
        pytest.param({"hosts": ()}, "host", id="no-hosts"),
        pytest.param({"image": ""}, "image", id="no-image"),
        pytest.param({"port": 80}, "1024", id="privileged-port"),
        pytest.param({"port": 70000}, "65535", id="port-out-of-range"),
        pytest.param({"service_type": "ExternalName"}, "service type", id="external-name"),
    ],
)
def test_spec_refuses_what_cannot_become_valid_objects(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(resources.SolverSpecError, match=message):
        make_spec(**changes)


@pytest.mark.parametrize(
    "challenges",
    [
        pytest.param({}, id="none"),
        pytest.param({"../../etc": "../../etc.x"}, id="token-with-path-characters"),
        pytest.param({"tok en": "tok en.x"}, id="token-with-space"),
        pytest.param({TOKEN_A: KEYAUTH_B}, id="key-authorization-of-another-token"),
        pytest.param({TOKEN_A: TOKEN_A}, id="key-authorization-without-thumbprint"),
        pytest.param({TOKEN_A: TOKEN_A + "."}, id="empty-thumbprint"),
        pytest.param({TOKEN_A: TOKEN_A + ".a b"}, id="thumbprint-not-base64url"),
    ],
)
def test_spec_refuses_malformed_challenges_without_quoting_them(
    challenges: dict[str, str],
) -> None:
    with pytest.raises(resources.ChallengeError) as caught:
        make_spec(challenges=challenges)
    message = str(caught.value)
    for token, key_authorization in challenges.items():
        assert token not in message
        assert key_authorization not in message


def test_tokens_are_sorted() -> None:
    assert make_spec().tokens == tuple(sorted([TOKEN_A, TOKEN_B]))


# --- shared by all three objects --------------------------------------------------------


@pytest.mark.parametrize("build", ALL_BUILDERS)
def test_every_object_is_owned_by_the_endpoint_as_controller(build: Any) -> None:
    obj = build(make_spec())
    assert obj["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "webhookcert.dev/v1alpha1",
            "kind": "WebhookEndpoint",
            "name": "ringcentral",
            "uid": "6f1c1e4e-0000-4000-8000-000000000001",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


@pytest.mark.parametrize("build", ALL_BUILDERS)
def test_every_object_has_the_spec_name_namespace_and_selector_labels(build: Any) -> None:
    metadata = build(make_spec())["metadata"]
    assert metadata["name"] == "wco-solver-ringcentral-0123456789"
    assert metadata["namespace"] == "payments"
    assert SELECTOR.items() <= metadata["labels"].items()


@pytest.mark.parametrize("build", ALL_BUILDERS)
def test_every_object_is_plain_json(build: Any) -> None:
    obj = build(make_spec(tolerations=({"key": "k", "operator": "Exists"},)))
    assert json.loads(json.dumps(obj)) == obj


@pytest.mark.parametrize("build", ALL_BUILDERS)
def test_built_objects_do_not_share_state_with_the_spec(build: Any) -> None:
    spec = make_spec(node_selector={"zone": "a"}, pod_labels={"team": "x"})
    build(spec)["metadata"]["labels"]["webhookcert.dev/role"] = "changed"
    assert spec.labels["webhookcert.dev/role"] == "solver"
    assert build(spec) == build(spec)


# --- Pod --------------------------------------------------------------------------------


def test_pod_runs_the_operators_image_as_the_solver() -> None:
    pod = resources.build_pod(make_spec(port=8089))
    assert pod["apiVersion"] == "v1"
    assert pod["kind"] == "Pod"
    container = container_of(pod)
    assert container["image"] == "registry.example/webhook-cert-operator:0.1.0"
    assert container["command"] == ["webhook-cert"]
    assert container["args"] == ["solve", "--port", "8089"]
    assert container["ports"] == [{"name": "http", "containerPort": 8089, "protocol": "TCP"}]


def test_pod_listens_on_the_spec_port() -> None:
    container = container_of(resources.build_pod(make_spec(port=9000)))
    assert container["args"] == ["solve", "--port", "9000"]
    assert container["ports"][0]["containerPort"] == 9000
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 9000}


def test_pod_hands_over_the_challenges_as_json_in_the_environment() -> None:
    container = container_of(resources.build_pod(make_spec()))
    env = {item["name"]: item["value"] for item in container["env"]}
    assert json.loads(env["WEBHOOK_CERT_CHALLENGES"]) == {TOKEN_A: KEYAUTH_A, TOKEN_B: KEYAUTH_B}


def test_pod_environment_does_not_depend_on_challenge_order() -> None:
    forward = make_spec(challenges={TOKEN_A: KEYAUTH_A, TOKEN_B: KEYAUTH_B})
    backward = make_spec(challenges={TOKEN_B: KEYAUTH_B, TOKEN_A: KEYAUTH_A})
    assert resources.build_pod(forward) == resources.build_pod(backward)


def test_pod_meets_the_restricted_pod_security_profile() -> None:
    pod = resources.build_pod(make_spec())
    pod_security = pod["spec"]["securityContext"]
    container_security = container_of(pod)["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] == 65532
    assert pod_security["runAsGroup"] == 65532
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container_security == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_pod_gets_no_api_access_and_no_service_links() -> None:
    spec = resources.build_pod(make_spec())["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["restartPolicy"] == "OnFailure"


def test_pod_has_small_resources_by_default() -> None:
    container = container_of(resources.build_pod(make_spec()))
    assert container["resources"] == {
        "requests": {"cpu": "10m", "memory": "32Mi"},
        "limits": {"cpu": "100m", "memory": "64Mi"},
    }


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param(
            {"requests": {"cpu": "50m", "memory": "128Mi"}},
            {"requests": {"cpu": "50m", "memory": "128Mi"}},
            id="template-replaces-the-defaults-as-a-whole",
        ),
        pytest.param(
            {},
            {
                "requests": {"cpu": "10m", "memory": "32Mi"},
                "limits": {"cpu": "100m", "memory": "64Mi"},
            },
            id="empty-template-means-defaults",
        ),
    ],
)
def test_pod_resources_come_from_the_template_when_given(
    template: dict[str, Any], expected: dict[str, Any]
) -> None:
    container = container_of(resources.build_pod(make_spec(resources=template)))
    assert container["resources"] == expected


def test_pod_takes_scheduling_and_metadata_from_the_template() -> None:
    toleration = {"key": "dedicated", "operator": "Equal", "value": "edge", "effect": "NoSchedule"}
    pod = resources.build_pod(
        make_spec(
            pod_labels={"team": "payments"},
            pod_annotations={"sidecar.istio.io/inject": "false"},
            node_selector={"kubernetes.io/os": "linux"},
            tolerations=(toleration,),
            image_pull_policy="IfNotPresent",
        )
    )
    assert pod["metadata"]["labels"]["team"] == "payments"
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["spec"]["tolerations"] == [toleration]
    assert container_of(pod)["imagePullPolicy"] == "IfNotPresent"


def test_pod_leaves_out_empty_template_parts() -> None:
    pod = resources.build_pod(make_spec())
    assert "annotations" not in pod["metadata"]
    assert "nodeSelector" not in pod["spec"]
    assert "tolerations" not in pod["spec"]
    assert "imagePullPolicy" not in container_of(pod)


# --- Service ----------------------------------------------------------------------------


def test_service_selects_the_pod_by_the_selector_labels() -> None:
    spec = make_spec(pod_labels={"team": "payments"})
    service = resources.build_service(spec)
    pod = resources.build_pod(spec)
    assert service["apiVersion"] == "v1"
    assert service["kind"] == "Service"
    assert service["spec"]["selector"] == SELECTOR
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()


@pytest.mark.parametrize("port", [pytest.param(8089, id="default"), pytest.param(9000, id="other")])
def test_service_port_8089_targets_the_pod_port(port: int) -> None:
    service = resources.build_service(make_spec(port=port))
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8089, "targetPort": port, "protocol": "TCP"}
    ]


@pytest.mark.parametrize("service_type", ["ClusterIP", "NodePort"])
def test_service_type_comes_from_the_spec(service_type: str) -> None:
    assert resources.build_service(make_spec(service_type=service_type))["spec"]["type"] == (
        service_type
    )


# --- Ingress ----------------------------------------------------------------------------


def test_ingress_routes_every_token_on_every_host_to_the_service() -> None:
    ingress = resources.build_ingress(make_spec())
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["kind"] == "Ingress"
    backend = {"service": {"name": "wco-solver-ringcentral-0123456789", "port": {"number": 8089}}}
    expected_paths = [
        {"path": f"/.well-known/acme-challenge/{token}", "pathType": "Exact", "backend": backend}
        for token in sorted([TOKEN_A, TOKEN_B])
    ]
    assert ingress["spec"]["rules"] == [
        {"host": "hooks.example.com", "http": {"paths": expected_paths}},
        {"host": "www.example.com", "http": {"paths": expected_paths}},
    ]


def test_ingress_has_one_rule_per_distinct_host() -> None:
    ingress = resources.build_ingress(make_spec(hosts=("a.example.com", "a.example.com")))
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == ["a.example.com"]


@pytest.mark.parametrize(
    ("class_name", "expected"),
    [pytest.param("traefik", "traefik", id="given"), pytest.param(None, None, id="default-class")],
)
def test_ingress_class_name_is_set_only_when_given(
    class_name: str | None, expected: str | None
) -> None:
    ingress = resources.build_ingress(make_spec(ingress_class_name=class_name))
    assert ingress["spec"].get("ingressClassName") == expected


def test_ingress_template_adds_labels_and_annotations() -> None:
    ingress = resources.build_ingress(
        make_spec(
            ingress_labels={"team": "payments"},
            ingress_annotations={"traefik.ingress.kubernetes.io/router.entrypoints": "web"},
        )
    )
    assert ingress["metadata"]["labels"] == {**SELECTOR, "team": "payments"}
    assert ingress["metadata"]["annotations"] == {
        "traefik.ingress.kubernetes.io/router.entrypoints": "web"
    }


@pytest.mark.parametrize(
    ("build", "template_field"),
    [
        pytest.param(resources.build_ingress, "ingress_labels", id="ingress"),
        pytest.param(resources.build_pod, "pod_labels", id="pod"),
    ],
)
def test_templates_cannot_override_the_selector_labels(build: Any, template_field: str) -> None:
    hostile = {"webhookcert.dev/role": "other", "webhookcert.dev/order": "x", "extra": "y"}
    labels = build(make_spec(**{template_field: hostile}))["metadata"]["labels"]
    assert labels == {**SELECTOR, "extra": "y"}


GATEWAY = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public"}


def test_the_http_route_sends_each_challenge_path_of_each_host_to_the_solver_service() -> None:
    route = resources.build_http_route(make_spec(gateway_parent_refs=(GATEWAY,)))
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [GATEWAY]
    assert route["spec"]["hostnames"] == ["hooks.example.com", "www.example.com"]
    assert route["spec"]["rules"] == [
        {
            "matches": [
                {"path": {"type": "Exact", "value": f"/.well-known/acme-challenge/{token}"}}
            ],
            "backendRefs": [
                {"name": "wco-solver-ringcentral-0123456789", "port": resources.SERVICE_PORT}
            ],
        }
        for token in sorted([TOKEN_A, TOKEN_B])
    ]

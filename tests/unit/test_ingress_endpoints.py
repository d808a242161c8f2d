"""Ingress automation: which WebhookEndpoints an annotated Ingress asks for, and the sync
that keeps them (against a fake API), never touching an endpoint the user wrote."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.unit.fakes import FakeKube, as_kube
from tools import install_manifest
from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.ingress import sync as ingress_sync
from webhook_cert_operator.ingress.endpoints import (
    ANNOTATION_CHECK_ONLY,
    ANNOTATION_ENABLED,
    ANNOTATION_SOLVER_CLASS,
    desired_endpoints,
    endpoint_name,
    owned_by,
)
from webhook_cert_operator.kube import AlreadyExists
from webhook_cert_operator.settings import Settings, settings_from_env

NAMESPACE = "payments"
UID = "ingress-uid-1"
HOST = "hooks.example.com"


def ingress(
    annotations: Mapping[str, str] | None = None,
    tls: list[dict[str, Any]] | None = None,
    *,
    class_name: str | None = "traefik",
    name: str = "receiver",
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tls": tls if tls is not None else [{"hosts": [HOST], "secretName": "hooks-tls"}]
    }
    if class_name:
        spec["ingressClassName"] = class_name
    return {
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": UID,
            "annotations": dict(
                annotations if annotations is not None else {ANNOTATION_ENABLED: "true"}
            ),
        },
        "spec": spec,
    }


def specs(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["metadata"]["name"]: e["spec"] for e in desired_endpoints(body).endpoints}


# ---- what an Ingress asks for -------------------------------------------------------------


@pytest.mark.parametrize(
    "annotations",
    [{}, {ANNOTATION_ENABLED: "false"}, {"webhookcert.dev/endpoint": "true"}],
    ids=["none", "false", "another-annotation"],
)
def test_an_ingress_without_the_annotation_asks_for_nothing(annotations: dict[str, str]) -> None:
    assert desired_endpoints(ingress(annotations)).endpoints == ()


def test_each_tls_entry_becomes_an_endpoint_for_its_hosts_and_secret() -> None:
    body = ingress(
        tls=[
            {"hosts": [HOST, "api.example.com"], "secretName": "hooks-tls"},
            {"hosts": ["other.example.com"], "secretName": "other-tls"},
        ]
    )
    assert specs(body) == {
        "receiver-hooks-tls": {
            "dnsNames": [HOST, "api.example.com"],
            "secretName": "hooks-tls",
            "http01": {"ingressClassName": "traefik"},
        },
        "receiver-other-tls": {
            "dnsNames": ["other.example.com"],
            "secretName": "other-tls",
            "http01": {"ingressClassName": "traefik"},
        },
    }


def test_every_endpoint_made_is_one_the_operator_accepts() -> None:
    for endpoint in desired_endpoints(ingress()).endpoints:
        parse_spec(endpoint["spec"], name=endpoint["metadata"]["name"], settings=Settings())


def test_the_endpoint_is_owned_by_the_ingress_so_it_goes_with_it() -> None:
    (endpoint,) = desired_endpoints(ingress()).endpoints
    (owner,) = endpoint["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "name": "receiver",
        "uid": UID,
        "controller": True,
    }
    assert owned_by(endpoint, UID) and not owned_by(endpoint, "another-uid")


def test_check_only_reads_the_ingress_secret_instead_of_issuing_into_it() -> None:
    body = ingress({ANNOTATION_ENABLED: "true", ANNOTATION_CHECK_ONLY: "true"})
    assert specs(body) == {
        "receiver-hooks-tls": {
            "dnsNames": [HOST],
            "checkOnly": {"secretRef": {"name": "hooks-tls"}},
        }
    }


def test_the_solver_class_annotation_overrides_the_ingress_class() -> None:
    body = ingress({ANNOTATION_ENABLED: "true", ANNOTATION_SOLVER_CLASS: "nginx-public"})
    assert specs(body)["receiver-hooks-tls"]["http01"] == {"ingressClassName": "nginx-public"}


def test_without_any_class_the_solver_uses_the_clusters_default() -> None:
    assert "http01" not in specs(ingress(class_name=None))["receiver-hooks-tls"]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"hosts": [HOST]}, "spec.tls[0] names no secretName"),
        ({"secretName": "x"}, "spec.tls[0] lists no hosts"),
        ({"hosts": ["*.example.com"], "secretName": "x"}, "HTTP-01 cannot validate wildcard"),
    ],
    ids=["no-secret", "no-hosts", "wildcard"],
)
def test_entries_that_cannot_become_an_endpoint_are_skipped_and_said(
    entry: dict[str, Any], problem: str
) -> None:
    desired = desired_endpoints(ingress(tls=[entry]))
    assert desired.endpoints == ()
    assert problem in desired.skipped[0]


def test_a_name_too_long_is_cut_with_a_hash_and_stays_distinct() -> None:
    first, second = endpoint_name("i" * 200, "a" * 100), endpoint_name("i" * 200, "b" * 100)
    assert len(first) <= 253 and len(second) <= 253 and first != second


# ---- the sync ------------------------------------------------------------------------


class EndpointStore(FakeKube):
    """WebhookEndpoints as a dict, with the API's behaviours the sync relies on."""

    def __init__(self) -> None:
        super().__init__()
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, str]] = []

    def list_endpoints(self, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(e)
            for e in self.endpoints.values()
            if all((e["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
        ]

    def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.endpoints.get(name)
        return copy.deepcopy(found) if found else None

    def create_endpoint(self, namespace: str, body: Mapping[str, Any]) -> None:
        name = body["metadata"]["name"]
        if name in self.endpoints:
            raise AlreadyExists(name)
        stored = copy.deepcopy(dict(body))
        stored["metadata"]["uid"] = f"uid-{name}"
        self.endpoints[name] = stored
        self.writes.append(("create", name))

    def replace_endpoint(self, namespace: str, body: Mapping[str, Any]) -> None:
        self.endpoints[body["metadata"]["name"]] = copy.deepcopy(dict(body))
        self.writes.append(("replace", body["metadata"]["name"]))

    def delete_endpoint(self, namespace: str, name: str, uid: str) -> None:
        if self.endpoints.get(name, {}).get("metadata", {}).get("uid") == uid:
            del self.endpoints[name]
            self.writes.append(("delete", name))


def run(store: EndpointStore, body: dict[str, Any]) -> list[tuple[str, str, str]]:
    events: list[tuple[str, str, str]] = []
    ingress_sync.sync(as_kube(store), body, lambda *event: events.append(event))
    return events


def test_an_annotated_ingress_gets_its_endpoint_once() -> None:
    store = EndpointStore()
    events = run(store, ingress())
    run(store, ingress())
    assert store.writes == [("create", "receiver-hooks-tls")]
    assert events == [
        ("Normal", "WebhookEndpointCreated", "created WebhookEndpoint receiver-hooks-tls")
    ]


def test_a_changed_ingress_rewrites_its_endpoint() -> None:
    store = EndpointStore()
    run(store, ingress())
    run(store, ingress(tls=[{"hosts": [HOST, "api.example.com"], "secretName": "hooks-tls"}]))
    assert store.writes[-1] == ("replace", "receiver-hooks-tls")
    assert store.endpoints["receiver-hooks-tls"]["spec"]["dnsNames"] == [HOST, "api.example.com"]
    assert store.endpoints["receiver-hooks-tls"]["metadata"]["uid"] == "uid-receiver-hooks-tls"


def test_removing_the_annotation_deletes_the_endpoint() -> None:
    store = EndpointStore()
    run(store, ingress())
    events = run(store, ingress({}))
    assert store.endpoints == {}
    assert events == [
        (
            "Normal",
            "WebhookEndpointDeleted",
            "deleted WebhookEndpoint receiver-hooks-tls; its Secret is kept",
        )
    ]


def test_a_tls_entry_removed_from_the_ingress_removes_only_its_endpoint() -> None:
    store = EndpointStore()
    two = [
        {"hosts": [HOST], "secretName": "hooks-tls"},
        {"hosts": ["b.example.com"], "secretName": "b-tls"},
    ]
    run(store, ingress(tls=two))
    run(store, ingress(tls=two[:1]))
    assert list(store.endpoints) == ["receiver-hooks-tls"]


def test_an_endpoint_the_user_wrote_under_that_name_is_never_touched() -> None:
    store = EndpointStore()
    users = {
        "apiVersion": "webhookcert.dev/v1alpha1",
        "kind": "WebhookEndpoint",
        "metadata": {"name": "receiver-hooks-tls", "namespace": NAMESPACE, "uid": "u"},
        "spec": {"dnsNames": ["mine.example.com"]},
    }
    store.endpoints["receiver-hooks-tls"] = copy.deepcopy(users)

    events = run(store, ingress())
    run(store, ingress({}))  # and removing the annotation does not delete it either

    assert store.endpoints["receiver-hooks-tls"] == users
    assert store.writes == []
    assert events[0][:2] == ("Warning", "WebhookEndpointNotOwned")


def test_the_operators_own_solver_ingress_is_ignored() -> None:
    store = EndpointStore()
    body = ingress()
    body["metadata"]["labels"] = {"webhookcert.dev/role": "solver"}
    assert run(store, body) == [] and store.writes == []


# ---- the component that turns it on ---------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
COMPONENT = REPO / "manifests" / "components" / "ingress-automation"


def test_the_component_turns_the_setting_on_and_grants_only_what_the_sync_calls(
    tmp_path: Path,
) -> None:
    kubectl = install_manifest.find_kubectl()
    if kubectl is None:
        pytest.skip("no kubectl to render with (set KUBECTL)")
    rendered = install_manifest.render_with_component(kubectl, COMPONENT, tmp_path)
    objects = {f"{o['kind']}/{o['metadata']['name']}": o for o in rendered}
    (container,) = objects["Deployment/webhook-cert-operator"]["spec"]["template"]["spec"][
        "containers"
    ]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert settings_from_env({k: v for k, v in env.items() if v}).ingress_automation is True
    rules = objects["ClusterRole/webhook-cert-operator-ingress-automation"]["rules"]
    assert [(r["resources"], r["verbs"]) for r in rules] == [
        (["ingresses"], ["list", "watch"]),
        (["webhookendpoints"], ["create", "update", "delete"]),
    ]
    binding = objects["ClusterRoleBinding/webhook-cert-operator-ingress-automation"]
    service_account = objects["Deployment/webhook-cert-operator"]["spec"]["template"]["spec"][
        "serviceAccountName"
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": service_account, "namespace": "webhook-cert-system"}
    ]

"""kopf's peering objects: what the operator creates at start-up, and how it retries."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import kopf
import pytest

from webhook_cert_operator.glue import handlers, peering
from webhook_cert_operator.kube import AlreadyExists, Forbidden, NotServed
from webhook_cert_operator.settings import Settings


def test_a_cluster_wide_operator_needs_one_cluster_kopf_peering() -> None:
    (item,) = peering.peering_objects("webhook-cert-operator", ())
    assert item.plural == "clusterkopfpeerings"
    assert item.namespace is None
    assert item.body == {
        "apiVersion": "kopf.dev/v1",
        "kind": "ClusterKopfPeering",
        "metadata": {"name": "webhook-cert-operator", "labels": peering.LABELS},
    }
    assert item.description == "ClusterKopfPeering webhook-cert-operator"


def test_an_operator_limited_to_namespaces_needs_a_kopf_peering_in_each_once() -> None:
    items = peering.peering_objects("ops", ("payments", "billing", "payments"))
    assert [(i.plural, i.namespace) for i in items] == [
        ("kopfpeerings", "payments"),
        ("kopfpeerings", "billing"),
    ]
    assert items[1].body["kind"] == "KopfPeering"
    assert items[1].body["metadata"]["namespace"] == "billing"
    assert items[1].description == "KopfPeering billing/ops"


class PeeringKube:
    """Just the call create_peering makes; `answers` are raised in turn (None: created)."""

    def __init__(self, *answers: Exception | None) -> None:
        self.answers = list(answers)
        self.created: list[tuple[str, str | None, str]] = []

    def create_custom_object(
        self, group: str, version: str, plural: str, namespace: str | None, body: Any
    ) -> None:
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        assert (group, version) == ("kopf.dev", "v1")
        self.created.append((plural, namespace, body["metadata"]["name"]))


def run_create_peering(
    kube: PeeringKube, *, standalone: bool = False, namespaces: tuple[str, ...] = ()
) -> None:
    settings = kopf.OperatorSettings()
    settings.peering.standalone = standalone
    settings.peering.clusterwide = not namespaces
    settings.peering.name = "webhook-cert-operator"
    memo = SimpleNamespace(kube=kube, settings=Settings(watch_namespaces=namespaces))
    handlers.create_peering(
        settings=settings,
        memo=memo,
        logger=logging.getLogger("test"),
        retry=0,
        started=datetime.now(UTC),
        runtime=timedelta(0),
    )


def test_with_peering_the_operator_creates_its_cluster_peering_object() -> None:
    kube = PeeringKube()
    run_create_peering(kube)
    assert kube.created == [("clusterkopfpeerings", None, "webhook-cert-operator")]


def test_limited_to_namespaces_it_creates_one_per_namespace() -> None:
    kube = PeeringKube()
    run_create_peering(kube, namespaces=("a", "b"))
    assert kube.created == [
        ("kopfpeerings", "a", "webhook-cert-operator"),
        ("kopfpeerings", "b", "webhook-cert-operator"),
    ]


def test_a_standalone_operator_creates_nothing() -> None:
    kube = PeeringKube()
    run_create_peering(kube, standalone=True)
    assert kube.created == []


def test_an_existing_peering_object_is_used_as_it_is() -> None:
    kube = PeeringKube(AlreadyExists("clusterkopfpeerings.kopf.dev webhook-cert-operator"))
    run_create_peering(kube)  # no error
    assert kube.created == []


def test_a_crd_not_yet_served_is_retried_soon() -> None:
    kube = PeeringKube(NotServed("clusterkopfpeerings.kopf.dev/v1 is not served"))
    with pytest.raises(kopf.TemporaryError) as raised:
        run_create_peering(kube)
    assert raised.value.delay == handlers.PEERING_RETRY_DELAY
    assert "not served" in str(raised.value)
    # Two minutes of retries cover a CRD applied in the same `kubectl apply` as the operator.
    assert handlers.PEERING_RETRIES * handlers.PEERING_RETRY_DELAY >= 120


def test_without_rbac_to_create_it_warns_and_lets_kopf_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kube = PeeringKube(
        Forbidden("creating kopfpeerings.kopf.dev webhook-cert-operator is forbidden")
    )
    with caplog.at_level(logging.WARNING, logger="test"):
        run_create_peering(kube, namespaces=("a", "b"))
    assert kube.created == [("kopfpeerings", "b", "webhook-cert-operator")]
    assert "kopf stays paused until KopfPeering a/webhook-cert-operator exists" in caplog.text
    assert "grant create on kopfpeerings.kopf.dev" in caplog.text

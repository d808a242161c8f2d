"""Secrets stay secret across the whole suite: after every other test, no private key
(certificate or ACME account), no ACME token and no key authorization appears in any
operator log line, container log, event, WebhookEndpoint status or metric.

Marked `after_all`: conftest.py runs it last, so it sees what the whole run left behind.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from kubernetes import client
from localcluster.cluster import LocalCluster

from tests.integration import k8s
from tests.integration.conftest import Cluster
from tests.integration.operator_deployment import OperatorDeployment

pytestmark = [pytest.mark.cluster, pytest.mark.after_all]

_PEM_KEY = re.compile(
    rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\s+(.+?)\s+-----END [A-Z ]*PRIVATE KEY-----", re.S
)


def private_key_fragments(cluster: Cluster) -> set[str]:
    """Every full base64 line of every PEM private key held in any Secret of the cluster:
    the certificates' keys and the ACME account keys alike."""
    fragments: set[str] = set()
    for secret in client.CoreV1Api(cluster.api_client).list_secret_for_all_namespaces().items:
        for value in (secret.data or {}).values():
            for body in _PEM_KEY.findall(base64.b64decode(value)):
                fragments.update(line for line in body.decode().split() if len(line) >= 40)
    return fragments


def acme_tokens(harness: LocalCluster) -> set[str]:
    """The HTTP-01 tokens Pebble asked for (it logs each validation URL)."""
    log = harness.processes.log_file("pebble").read_text(errors="replace")
    return set(re.findall(r"/\.well-known/acme-challenge/([A-Za-z0-9_-]{20,})", log))


def haystack(cluster: Cluster) -> dict[str, str]:
    operator = OperatorDeployment(cluster)
    found: dict[str, str] = {}
    for pod in operator.pods():
        name = k8s.name(pod)
        found[f"log of {name}"] = operator.logs(name)
        found[f"metrics of {name}"] = operator.metrics(name)
    events = cluster.kubectl("get", "events", "-A", "-o", "json").stdout
    found["events"] = json.dumps([e.get("message", "") for e in json.loads(events)["items"]])
    endpoints = cluster.kubectl("get", "webhookendpoints", "-A", "-o", "json").stdout
    found["statuses"] = json.dumps([e.get("status", {}) for e in json.loads(endpoints)["items"]])
    return found


@pytest.mark.harness
def test_no_key_token_or_key_authorization_reaches_logs_events_status_or_metrics(
    cluster: Cluster,
) -> None:
    harness = LocalCluster(log=lambda _: None)
    places = haystack(cluster)
    # Every container log the node still has: solver Pods, receivers, the operator's.
    for log in Path(harness.node_layout.pod_logs, "pods").rglob("*.log"):
        places[f"container log {log.parent.parent.name}"] = log.read_text(errors="replace")
    keys = private_key_fragments(cluster)
    tokens = acme_tokens(harness)

    leaks = [
        (place, "private key" if secret in keys else "ACME token")
        for place, text in places.items()
        for secret in keys | tokens
        if secret in text
    ]

    assert keys, "the suite left certificates and account keys to look for"
    assert tokens, "Pebble validated challenges whose tokens to look for"
    assert any(place.startswith("log of ") for place in places)
    assert leaks == []

"""The people's commands against a live endpoint: `webhook-cert status`, `inspect secret`
and `renew --wait`, run as installed (the `kubectl webhookcert` plugin name too), with a
kubeconfig, against the operator's Deployment issuing from Pebble."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Cluster
from tests.integration.operator_deployment import (
    OperatorDeployment,
    endpoint,
    get_status,
    operator_deployment,
    wait_for_condition,
)
from tests.integration.test_issuance import apply
from tests.integration.test_served_chain import serve_through_traefik, trust_pebble

pytestmark = pytest.mark.cluster

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def operator(cluster: Cluster) -> OperatorDeployment:
    return operator_deployment(cluster)


def command(
    cluster: Cluster, program: str, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    path = shutil.which(program, path=str(BIN)) or shutil.which(program)
    assert path, f"{program} is not installed: run `make install`"
    return subprocess.run(
        [path, *args, "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"},
    )


@pytest.fixture
def served_endpoint(
    cluster: Cluster, operator: OperatorDeployment, namespace: str
) -> tuple[str, str]:
    """An endpoint that is Ready and whose chain Traefik serves (ChainValid=True)."""
    host = f"hooks.{namespace}.example.test"
    serve_through_traefik(cluster, namespace, host, "hooks-tls")
    bundle = trust_pebble(cluster, namespace)
    apply(cluster, endpoint(namespace, "hooks", [host], validation={"trustBundle": bundle}))
    wait_for_condition(cluster, namespace, "hooks", "Ready", "True", timeout=180)
    wait_for_condition(cluster, namespace, "hooks", "ChainValid", "True", timeout=120)
    return namespace, host


def test_status_shows_the_stored_and_the_served_leaf_alike_and_exits_0(
    cluster: Cluster, served_endpoint: tuple[str, str]
) -> None:
    namespace, _ = served_endpoint
    result = command(cluster, "webhook-cert", "status", f"{namespace}/hooks", "-o", "json")
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    status = get_status(cluster, namespace, "hooks")
    assert report["healthy"] is True
    assert report["stored"]["serialNumber"] == status["serialNumber"]
    assert report["stored"]["sha256"] == report["served"]["leaf"]["sha256"]
    assert report["served"]["sameAsStored"] is True
    assert report["renewal"]["time"] == status["renewalTime"]
    assert any(event["type"] == "Normal" for event in report["events"])

    text = command(cluster, "kubectl-webhookcert", "status", f"{namespace}/hooks")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"WebhookEndpoint {namespace}/hooks: healthy")
    assert "the endpoint serves the stored certificate" in text.stdout


def test_inspect_secret_judges_the_stored_chain_and_key(
    cluster: Cluster, served_endpoint: tuple[str, str], tmp_path: Path
) -> None:
    namespace, host = served_endpoint
    roots = tmp_path / "pebble-roots.pem"
    roots.write_bytes(cluster.pebble_roots_pem())
    result = command(
        cluster,
        "webhook-cert",
        "inspect",
        "secret",
        f"{namespace}/hooks-tls",
        "--trust-bundle",
        str(roots),
        "-o",
        "json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["host"] == host
    assert report["key"]["matches_leaf"] is True
    assert len(report["served_chain"]) >= 2  # leaf and intermediate: the full chain

    # Against the default (Mozilla) roots Pebble's chain cannot be completed to a trusted
    # root (as a staging chain: README, "From staging to production"): exit 1.
    untrusted = command(cluster, "webhook-cert", "inspect", "secret", f"{namespace}/hooks-tls")
    assert untrusted.returncode == 1
    assert untrusted.stdout.startswith("INVALID:")
    assert "incomplete-chain" in untrusted.stdout


def test_renew_wait_follows_the_renewal_to_a_new_certificate(
    cluster: Cluster, served_endpoint: tuple[str, str]
) -> None:
    namespace, _ = served_endpoint
    before = get_status(cluster, namespace, "hooks")["serialNumber"]
    result = command(
        cluster,
        "webhook-cert",
        "renew",
        f"{namespace}/hooks",
        "--wait",
        "--timeout",
        "150",
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    after = get_status(cluster, namespace, "hooks")["serialNumber"]
    assert after != before
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"renewal requested for {namespace}/hooks")
    # Each step of this renewal, in the order it happened (Pebble can finish within one
    # poll, so the steps are the operator's Events), then the outcome.
    steps = [line.split("] ", 1)[1].split(":")[0] for line in lines[1:]]
    order = ["event Normal OrderCreated", "event Normal Issued"]
    assert [step for step in steps if step in order] == order, result.stdout
    assert lines[-1].startswith("[") and f"renewed: serial {after}," in lines[-1]


def test_status_of_a_missing_endpoint_exits_3(cluster: Cluster, namespace: str) -> None:
    result = command(cluster, "webhook-cert", "status", f"{namespace}/nothing")
    assert result.returncode == 3
    assert result.stderr == f"webhook-cert status: WebhookEndpoint {namespace}/nothing not found\n"

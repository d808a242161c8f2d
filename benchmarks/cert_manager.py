"""Benchmark: webhook-cert-operator side by side with cert-manager, on the local cluster.

    make bench-cert-manager                          # 1 name, then 100 at once
    .venv/bin/python -m benchmarks.cert_manager --burst 20

cert-manager is taken as a user installs it: its Helm chart, from its root Go module (the
module proxy serves it; the chart is under deploy/charts/cert-manager), with its images
already on the node. No registry here serves those images and this project carries no
recipe for them: when they are missing the benchmark says so and skips (on a cluster that
can pull from quay.io, pass --pull). Both get the same Pebble, the same ingress class and
the same test DNS: cert-manager through a ClusterIssuer (spec.acme.caBundle, HTTP-01 through
the Traefik ingress class, ClusterIP solver Services) and the controller's
--acme-http01-solver-nameservers flag, the operator through its overlay's settings.

Each round applies N objects at once in a fresh namespace, for one system at a time, and
measures apply-to-Ready (first, median, last). API writes per issuance are counted from the
apiserver's audit log: every write the system's ServiceAccounts make between the apply and
the moment its solver Pods are gone; leader-election Leases and kopf peering (they tick
with time, not with work) and access reviews (nothing is stored) left out. Prints a table
with ratios (operator / cert-manager).
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from kubernetes import client, config
from localcluster.cluster import INGRESS_CLASS, REPO_ROOT, LocalCluster
from localcluster.demo import start_operator
from localcluster.network import in_host_network
from localcluster.operator import OPERATOR_NAMESPACE

VERSION = "v1.21.2"
MODULE = f"github.com/cert-manager/cert-manager@{VERSION}"
NAMESPACE = "cert-manager"
ISSUER = "bench-pebble"
# The chart's default image references once its release tooling sets the version.
IMAGES = tuple(
    f"quay.io/jetstack/cert-manager-{name}:{VERSION}"
    for name in ("controller", "webhook", "cainjector", "acmesolver")
)
OPERATOR_SERVICE_ACCOUNTS = f"system:serviceaccount:{OPERATOR_NAMESPACE}:"
CERT_MANAGER_SERVICE_ACCOUNTS = f"system:serviceaccount:{NAMESPACE}:"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# Writes that follow the clock rather than the work (leader election, kopf's peering), and
# reviews, which are questions to the apiserver that nothing stores.
LEFT_OUT_RESOURCES = frozenset(
    {
        "leases",
        "clusterkopfpeerings",
        "kopfpeerings",
        "subjectaccessreviews",
        "tokenreviews",
    }
)
POLL_SECONDS = 0.2
ROUND_PREFIX = "bench-cm-"


@dataclass(frozen=True)
class System:
    """One certificate controller under test: how to ask it for N names, and who it is."""

    label: str
    group: str
    version: str
    plural: str
    user_prefix: str
    build: Callable[[str, str], dict[str, Any]]  # (name, namespace) -> object to apply


@dataclass(frozen=True)
class Round:
    """What one round measured: seconds to Ready per object, and the API writes counted."""

    count: int
    ready: list[float]
    writes: int
    events: int

    def per_issuance(self) -> float:
        return self.writes / self.count

    def stat(self, which: str) -> float | None:
        """ "first", "median" or "last" seconds to Ready; no last while some are not Ready."""
        if which == "last" and len(self.ready) < self.count:
            return None
        return _pick(self.ready, which)


def _pick(values: list[float], which: str) -> float | None:
    if not values:
        return None
    if which == "first":
        return min(values)
    if which == "last":
        return max(values)
    return statistics.median(values)


def webhook_endpoint(name: str, namespace: str) -> dict[str, Any]:
    """The smallest WebhookEndpoint: one name, the operator's ACME settings."""
    return {
        "apiVersion": "webhookcert.dev/v1alpha1",
        "kind": "WebhookEndpoint",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"dnsNames": [f"{name}.{namespace}.example.test"]},
    }


def certificate(name: str, namespace: str) -> dict[str, Any]:
    """A Certificate asking what the WebhookEndpoint asks: one name, an ECDSA P-256 key."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "secretName": f"{name}-tls",
            "dnsNames": [f"{name}.{namespace}.example.test"],
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": {"kind": "ClusterIssuer", "name": ISSUER},
        },
    }


OPERATOR = System(
    "webhook-cert-operator",
    "webhookcert.dev",
    "v1alpha1",
    "webhookendpoints",
    OPERATOR_SERVICE_ACCOUNTS,
    webhook_endpoint,
)
CERT_MANAGER = System(
    f"cert-manager {VERSION}",
    "cert-manager.io",
    "v1",
    "certificates",
    CERT_MANAGER_SERVICE_ACCOUNTS,
    certificate,
)


# ---- installing cert-manager -------------------------------------------------------------


def missing_images(cluster: LocalCluster) -> list[str]:
    """The images of IMAGES that the node's containerd does not hold (the kubelet's
    node.status.images lags behind an import and lists only the 50 largest)."""
    listed = subprocess.run(
        ["ctr", f"--address={cluster.node_layout.socket}", "-n", "k8s.io", "images", "ls", "-q"],
        capture_output=True,
        text=True,
        check=True,
    )
    present = set(listed.stdout.split())
    return [image for image in IMAGES if image not in present]


def chart_directory(work: Path) -> Path:
    """cert-manager's chart from its root Go module, versioned as its release tooling
    versions it (the module holds v0.0.0 placeholders, and the images follow appVersion)."""
    result = subprocess.run(
        in_host_network(["go", "mod", "download", "-json", MODULE]),
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    source = Path(json.loads(result.stdout)["Dir"]) / "deploy" / "charts" / "cert-manager"
    chart = work / "cert-manager"
    shutil.copytree(source, chart)
    chart.chmod(0o755)
    manifest = chart / "Chart.yaml"
    manifest.chmod(0o644)
    text = manifest.read_text()
    text = text.replace("version: v0.0.0", f"version: {VERSION}")
    manifest.write_text(text.replace("appVersion: v0.0.0", f"appVersion: {VERSION}"))
    return chart


def helm_binary() -> str:
    """The project's Helm (tools/install-helm.sh builds it once into the cache)."""
    result = subprocess.run(
        in_host_network([str(REPO_ROOT / "tools" / "install-helm.sh")]),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def chart_values(cluster: LocalCluster) -> dict[str, Any]:
    """Values a user of this cluster would set: CRDs with the release, no start-up check
    Job (its image is not needed for the benchmark), the test DNS for the self-check.
    The images' pull policy stays the chart's IfNotPresent: present images are used."""
    return {
        "crds": {"enabled": True},
        "startupapicheck": {"enabled": False},
        "extraArgs": [f"--acme-http01-solver-nameservers={cluster.nameserver}"],
    }


def install_cert_manager(cluster: LocalCluster) -> None:
    """`helm upgrade --install` of the chart into NAMESPACE, waiting for its Pods."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cert-manager-chart-") as work:
        chart = chart_directory(Path(work))
        values = Path(work) / "values.json"
        values.write_text(json.dumps(chart_values(cluster)))
        subprocess.run(
            [
                helm_binary(),
                f"--kubeconfig={cluster.kubeconfig}",
                "upgrade",
                "--install",
                "cert-manager",
                str(chart),
                f"--namespace={NAMESPACE}",
                "--create-namespace",
                f"--values={values}",
                "--wait",
                "--timeout=5m",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    print(f"cert-manager {VERSION} installed from its chart in {time.monotonic() - started:.1f}s")


def cluster_issuer(cluster: LocalCluster) -> dict[str, Any]:
    """An ACME ClusterIssuer for the operator's Pebble, trusting the CA of its HTTPS."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": ISSUER},
        "spec": {
            "acme": {
                "server": cluster.pebble_directory,
                "caBundle": base64.b64encode(cluster.pki.ca_cert.read_bytes()).decode(),
                "email": "ops@example.test",
                "privateKeySecretRef": {"name": f"{ISSUER}-account"},
                "solvers": [
                    {
                        "http01": {
                            "ingress": {
                                "ingressClassName": INGRESS_CLASS,
                                "serviceType": "ClusterIP",
                            }
                        }
                    }
                ],
            }
        },
    }


def create_issuer(cluster: LocalCluster, timeout: float = 120) -> None:
    """Apply the ClusterIssuer and wait until its ACME account is registered.

    The apply goes through cert-manager's validating webhook: the apiserver calling the
    webhook's Service is what proves the webhook reachable. Retried while the CA
    injector has not yet put the webhook's CA into its configuration.
    """
    deadline = time.monotonic() + timeout
    body = json.dumps(cluster_issuer(cluster))
    while True:
        result = subprocess.run(
            [*_kubectl(cluster), "apply", "-f", "-"], input=body, capture_output=True, text=True
        )
        if result.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"ClusterIssuer not accepted: {result.stderr.strip()}")
        time.sleep(2)
    cluster.kubectl(
        "wait", "--for=condition=Ready", f"--timeout={int(timeout)}s", f"clusterissuer/{ISSUER}"
    )


# ---- one round ---------------------------------------------------------------------------


def run_round(
    cluster: LocalCluster,
    api: client.CustomObjectsApi,
    core: client.CoreV1Api,
    system: System,
    count: int,
    timeout: float,
) -> Round:
    """N objects of `system` applied at once in a fresh namespace; Ready times and writes."""
    namespace = f"{ROUND_PREFIX}{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", namespace)
    items = [system.build(f"e{i}", namespace) for i in range(count)]
    window_start = time.time()
    started = time.monotonic()
    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    ready = wait_ready(api, system, namespace, count, started, timeout)
    wait_solvers_gone(core, namespace, deadline=time.monotonic() + 60)
    time.sleep(2)  # writes still in flight reach the audit log
    writes, events = count_writes(
        read_audit(cluster.audit_log), system.user_prefix, namespace, window_start, time.time()
    )
    # Gone before the next round starts: its clean-up is neither timed nor counted there.
    cluster.kubectl("delete", "namespace", namespace, "--timeout=300s", check=False)
    return Round(count, ready, writes, events)


def wait_ready(
    api: client.CustomObjectsApi,
    system: System,
    namespace: str,
    count: int,
    started: float,
    timeout: float,
) -> list[float]:
    """Seconds from `started` until each object showed Ready=True, sorted."""
    ready_at: dict[str, float] = {}
    while len(ready_at) < count and time.monotonic() - started < timeout:
        listed = cast(
            dict[str, Any],
            api.list_namespaced_custom_object(
                system.group, system.version, namespace, system.plural
            ),
        )
        for item in listed["items"]:
            name = item["metadata"]["name"]
            if name not in ready_at and is_ready(item):
                ready_at[name] = time.monotonic() - started
        time.sleep(POLL_SECONDS)
    return sorted(ready_at.values())


def is_ready(item: Mapping[str, Any]) -> bool:
    conditions = (item.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def wait_solvers_gone(core: client.CoreV1Api, namespace: str, deadline: float) -> None:
    """Until no Pod is left in the round's namespace: both systems clean up their solvers."""
    while time.monotonic() < deadline:
        if not core.list_namespaced_pod(namespace).items:
            return
        time.sleep(0.5)


# ---- the audit log -------------------------------------------------------------------------


def read_audit(path: Path) -> list[dict[str, Any]]:
    """The audit log's events, one JSON object a line."""
    events = []
    with path.open() as lines:
        for line in lines:
            if line.strip():
                events.append(json.loads(line))
    return events


def count_writes(
    audit: Iterable[Mapping[str, Any]],
    user_prefix: str,
    namespace: str,
    start: float,
    end: float,
) -> tuple[int, int]:
    """(writes, of which Events) by users named `user_prefix`*, completed in [start, end],
    in the round's `namespace` or outside any round's (an ACME account Secret, say)."""
    writes = events = 0
    for entry in audit:
        if entry.get("stage") != "ResponseComplete" or entry.get("verb") not in WRITE_VERBS:
            continue
        if not entry.get("user", {}).get("username", "").startswith(user_prefix):
            continue
        target = entry.get("objectRef") or {}
        resource = target.get("resource", "")
        if resource in LEFT_OUT_RESOURCES:
            continue
        other = target.get("namespace", "")
        if other != namespace and other.startswith(ROUND_PREFIX):
            continue
        when = datetime.fromisoformat(entry["stageTimestamp"].replace("Z", "+00:00"))
        if start <= when.timestamp() <= end:
            writes += 1
            events += resource == "events"
    return writes, events


# ---- the table -----------------------------------------------------------------------------


def table(rounds: Mapping[str, Mapping[int, Round]], counts: list[int]) -> str:
    """Both systems' figures for each round size, with webhook-cert-operator / cert-manager."""
    operator, cert_manager = (rounds[system.label] for system in (OPERATOR, CERT_MANAGER))
    rows = [f"{'':34} {OPERATOR.label:>22} {CERT_MANAGER.label:>22} {'ratio':>7}"]

    def row(label: str, ours: float | None, theirs: float | None, unit: str) -> None:
        ratio = f"{ours / theirs:7.2f}" if ours is not None and theirs else f"{'-':>7}"
        rows.append(f"{label:34} {_cell(ours, unit):>22} {_cell(theirs, unit):>22} {ratio}")

    for count in counts:
        ours, theirs = operator[count], cert_manager[count]
        title = "1 name" if count == 1 else f"{count} at once"
        rows.append(f"{title}: Ready {len(ours.ready)}/{count} vs {len(theirs.ready)}/{count}")
        for which in ("first", "median", "last") if count > 1 else ("first",):
            label = "  apply to Ready" if count == 1 else f"  apply to Ready, {which}"
            row(label, ours.stat(which), theirs.stat(which), "s")
        row("  API writes per issuance", ours.per_issuance(), theirs.per_issuance(), "")
        row(
            "    of which Events",
            ours.events / count,
            theirs.events / count,
            "",
        )
    return "\n".join(rows)


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "not Ready"
    return f"{value:.1f}{unit}"


# ---- entry point ---------------------------------------------------------------------------


def _kubectl(cluster: LocalCluster) -> list[str]:
    return [cluster._bin("kubernetes", "kubectl"), f"--kubeconfig={cluster.kubeconfig}"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cert_manager")
    parser.add_argument("--burst", type=int, default=100, help="objects applied at once")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per round")
    parser.add_argument(
        "--pull",
        action="store_true",
        help="do not look for the images on the node: its containerd pulls them",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    cluster = LocalCluster(log=lambda _: None)
    cluster.up()
    api_client = config.new_client_from_config(str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
    core = client.CoreV1Api(api_client)
    missing = [] if args.pull else missing_images(cluster)
    if missing:
        print(
            "skipped: cert-manager's images are not on the node: "
            + ", ".join(missing)
            + "\nImport each (a docker-archive) into the node's containerd:\n"
            f"  ctr --address={cluster.node_layout.socket} -n k8s.io images import ARCHIVE\n"
            "or run where the node can pull them from quay.io, with --pull."
        )
        return 0
    start_operator(cluster)
    install_cert_manager(cluster)
    create_issuer(cluster)
    api = client.CustomObjectsApi(api_client)
    counts = [1, args.burst]
    rounds: dict[str, dict[int, Round]] = {OPERATOR.label: {}, CERT_MANAGER.label: {}}
    for count in counts:
        for system in (OPERATOR, CERT_MANAGER):
            measured = run_round(cluster, api, core, system, count, args.timeout)
            rounds[system.label][count] = measured
            print(
                f"{system.label}: {count} at once, {len(measured.ready)} Ready, "
                f"last {_cell(measured.stat('last'), 's')}, {measured.writes} writes",
                flush=True,
            )
    print()
    print(table(rounds, counts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

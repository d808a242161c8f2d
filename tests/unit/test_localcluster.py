"""Pure parts of the local cluster harness: wrapper go.mod generation, the node's
configuration, the image cache key and the operator overlay."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from localcluster import build, cluster
from localcluster.build import bin_dir, upstream_replacements
from localcluster.images import PRUNE_AFTER_SECONDS, hash_tree, operator_image_name, prune_archives
from localcluster.node import (
    NodeLayout,
    cni_conflist,
    containerd_config,
    kube_proxy_config,
    kubelet_config,
)
from localcluster.operator import REPO_ROOT, write_operator_overlay
from localcluster.versions import BY_NAME, COMPONENTS, LOWEST_KUBERNETES_VERSION

from tools import install_manifest

UPSTREAM_GO_MOD = """module go.etcd.io/etcd/server/v3

go 1.26.0

replace (
\tgo.etcd.io/etcd/api/v3 => ../api
\tgo.etcd.io/etcd/client/v3 => ../client/v3 // local sibling
)

replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY

replace github.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59
"""


def test_local_path_replacements_become_the_published_sibling_modules() -> None:
    lines = upstream_replacements(UPSTREAM_GO_MOD, "v3.6.16")

    assert "replace go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 v3.6.16" in lines
    assert "replace go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 v3.6.16" in lines


def test_module_replacements_are_copied_and_forbidden_markers_dropped() -> None:
    lines = upstream_replacements(UPSTREAM_GO_MOD, "v3.6.16")

    assert (
        "replace github.com/gorilla/mux => github.com/containous/mux "
        "v0.0.0-20250523120546-41b6ec3aed59"
    ) in lines
    assert not any("FORBIDDEN" in line for line in lines)
    assert len(lines) == 3


def _absolute_paths(value: object) -> list[str]:
    if isinstance(value, dict):
        # cgroupRoot names a cgroup, not a file: `remove_cgroups` is tested on the cluster.
        return [p for k, v in value.items() if k != "cgroupRoot" for p in _absolute_paths(v)]
    if isinstance(value, list):
        return [p for item in value for p in _absolute_paths(item)]
    if isinstance(value, str) and value.startswith("/"):
        return [value]
    if isinstance(value, str) and value.startswith("unix:///"):
        return [value.removeprefix("unix://")]
    return []


# Inside the node's mount namespace /var/lib and /run are private tmpfs, /var/log and
# /var/lib/{kubelet,containerd} are the node's own directories; /usr/lib/cni is read only.
_PRIVATE_TO_THE_NODE = ("/var/lib/", "/run/", "/var/log/", "/usr/lib/cni")


def test_every_path_the_node_writes_is_its_own_or_private_to_its_mount_namespace(
    tmp_path: Path,
) -> None:
    layout = NodeLayout(tmp_path / "node")
    ca_file = tmp_path / "pki" / "ca.crt"
    containerd = tomllib.loads(containerd_config(layout, "registry.k8s.io/pause:3.10.1"))
    configs = [
        containerd,
        kubelet_config(layout, node_ip="10.244.0.1", ca_file=ca_file, netns="wcx"),
        kube_proxy_config(layout, node_ip="10.244.0.1"),
        cni_conflist(layout),
    ]

    paths = [p for config in configs for p in _absolute_paths(config)]

    assert paths
    outside = [
        p
        for p in paths
        if not (
            p.startswith(str(layout.directory))
            or p == str(ca_file)
            or p.startswith(_PRIVATE_TO_THE_NODE)
        )
    ]
    assert outside == []


def test_containerd_gives_up_negative_oom_scores_and_keeps_pod_netns_in_its_state() -> None:
    config = tomllib.loads(containerd_config(NodeLayout(Path("/n")), "pause:1"))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]

    assert cri["restrict_oom_score_adj"] is True
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["sandbox_image"] == "pause:1"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False


def test_two_clusters_get_separate_cgroup_trees() -> None:
    layout = NodeLayout(Path("/n"))
    first = kubelet_config(layout, node_ip="10.244.0.1", ca_file=Path("/ca"), netns="one")
    second = kubelet_config(layout, node_ip="10.244.0.1", ca_file=Path("/ca"), netns="two")

    assert first["cgroupRoot"] == "/one/pods"
    assert second["cgroupRoot"] == "/two/pods"


def test_the_image_hash_follows_the_source_and_ignores_bytecode(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    before = hash_tree(tmp_path, ["Dockerfile", "pkg"])

    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    unchanged = hash_tree(tmp_path, ["Dockerfile", "pkg"])
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    changed = hash_tree(tmp_path, ["Dockerfile", "pkg"])

    assert unchanged == before
    assert changed != before
    assert operator_image_name(changed).startswith("webhook-cert-operator:0.1.0-")


def test_the_operator_overlay_names_the_built_image_and_the_ca_settings(tmp_path: Path) -> None:
    overlay = tmp_path / "operator"
    write_operator_overlay(
        overlay,
        image="webhook-cert-operator:0.1.0-abc",
        solver_image="webhook-cert-solver:0.1.0-abc",
        settings={"WEBHOOK_CERT_ACME_SERVER": "https://10.244.0.1:14000/dir"},
        acme_ca_pem=b"-----BEGIN CERTIFICATE-----\n",
    )

    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    patch = yaml.safe_load(kustomization["patches"][0]["patch"])
    container = patch["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}

    assert (overlay / kustomization["resources"][0]).resolve() == REPO_ROOT / "manifests"
    assert kustomization["images"] == [
        {
            "name": "webhook-cert-operator",
            "newName": "webhook-cert-operator",
            "newTag": "0.1.0-abc",
        },
        {"name": "webhook-cert-solver", "newName": "webhook-cert-solver", "newTag": "0.1.0-abc"},
    ]
    assert env["WEBHOOK_CERT_ACME_SERVER"] == "https://10.244.0.1:14000/dir"
    assert env["WEBHOOK_CERT_ACME_CA_BUNDLE"].endswith("/ca.crt")
    assert container["imagePullPolicy"] == "Never"
    assert (overlay / "acme-ca.crt").read_bytes().startswith(b"-----BEGIN")


def test_the_rendered_overlay_runs_solver_pods_from_the_solver_image(tmp_path: Path) -> None:
    kubectl = install_manifest.find_kubectl()
    if kubectl is None:
        pytest.skip("no kubectl to render with (set KUBECTL)")
    overlay = tmp_path / "operator"
    write_operator_overlay(
        overlay,
        image="webhook-cert-operator:0.1.0-abc",
        solver_image="webhook-cert-solver:0.1.0-abc",
        settings={},
        acme_ca_pem=b"-----BEGIN CERTIFICATE-----\n",
    )
    rendered = subprocess.run(
        [kubectl, "kustomize", str(overlay)], check=True, capture_output=True, text=True
    ).stdout
    (deployment,) = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}

    assert container["image"] == "webhook-cert-operator:0.1.0-abc"
    assert env["WEBHOOK_CERT_SOLVER_IMAGE"] == "webhook-cert-solver:0.1.0-abc"


def test_pruning_spares_archives_another_checkout_may_be_about_to_import(tmp_path: Path) -> None:
    import os

    now = 1_800_000_000.0
    ours, fresh, stale, solver = (
        tmp_path / name
        for name in ("operator-a.tar", "operator-b.tar", "operator-c.tar", "solver-c.tar")
    )
    for path, age in ((ours, 0), (fresh, 600), (stale, PRUNE_AFTER_SECONDS + 1), (solver, 10**6)):
        path.write_bytes(b"")
        os.utime(path, (now - age, now - age))

    deleted = prune_archives(tmp_path, "operator-", keep=ours, now=now)

    assert deleted == [stale]
    assert ours.exists() and fresh.exists() and solver.exists()


# ---- the lowest supported Kubernetes: built with the cluster, never started by it --------


class _StopAfterBuilds(Exception):
    pass


def test_cluster_up_builds_the_lowest_kubernetes_apiserver_with_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    monkeypatch.setattr(build, "build", lambda component, _: built.append(component.name))

    def images(*_: object) -> None:
        raise _StopAfterBuilds  # `_up` builds the images next: far enough

    monkeypatch.setattr(cluster, "ImageBuilder", images)
    with pytest.raises(_StopAfterBuilds):
        cluster.LocalCluster(state_dir=tmp_path / "state", cache_dir=tmp_path / "cache")._up()
    assert built == [component.name for component in COMPONENTS]
    assert "kubernetes-lowest" in built


def test_the_lowest_kubernetes_is_only_an_apiserver_reporting_its_own_version() -> None:
    lowest = BY_NAME["kubernetes-lowest"]
    assert lowest.version == LOWEST_KUBERNETES_VERSION
    assert lowest.binaries == ("kube-apiserver",)
    assert lowest.staging_version == "v0" + LOWEST_KUBERNETES_VERSION[2:]
    assert f"-X k8s.io/component-base/version.gitVersion={lowest.version}" in lowest.ldflags
    assert int(lowest.version.split(".")[1]) < int(BY_NAME["kubernetes"].version.split(".")[1])


def _recording_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[cluster.LocalCluster, dict[str, list[str]]]:
    """A LocalCluster that records the argv of each component it would start."""
    harness = cluster.LocalCluster(state_dir=tmp_path / "state", cache_dir=tmp_path / "cache")
    started: dict[str, list[str]] = {}
    monkeypatch.setattr(
        harness, "_start", lambda name, argv, env=None: started.update({name: argv})
    )
    monkeypatch.setattr(harness, "_wait", lambda *_, **__: None)
    return harness, started


def test_the_apiserver_logs_every_write_at_metadata_level_for_the_benchmarks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness, started = _recording_cluster(tmp_path, monkeypatch)

    harness._start_apiserver()

    argv = started["kube-apiserver"]
    assert f"--audit-log-path={harness.audit_log}" in argv
    policy = yaml.safe_load((tmp_path / "state" / "audit-policy.yaml").read_text())
    assert policy["rules"][0] == {
        "level": "Metadata",
        "verbs": ["create", "update", "patch", "delete", "deletecollection"],
    }
    assert policy["rules"][-1] == {"level": "None"}


def test_the_local_clusters_control_plane_runs_the_pinned_kubernetes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness, started = _recording_cluster(tmp_path, monkeypatch)
    harness._start_etcd()
    harness._start_apiserver()
    harness._start_controllers()
    pinned = str(bin_dir(BY_NAME["kubernetes"], tmp_path / "cache"))
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert started[name][0] == f"{pinned}/{name}"
    lowest = str(bin_dir(BY_NAME["kubernetes-lowest"], tmp_path / "cache"))
    assert not any(lowest in arg for argv in started.values() for arg in argv)

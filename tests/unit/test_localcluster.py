"""Pure parts of the local cluster harness: wrapper go.mod generation and the node agent's
reading of container specs."""

from __future__ import annotations

import pytest
from localcluster.build import upstream_replacements
from localcluster.nodeagent import container_argv, image_repository

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


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        pytest.param("webhook-cert-operator:0.1.0", "webhook-cert-operator", id="tagged"),
        pytest.param(
            "ghcr.io/acme/webhook-cert-operator", "webhook-cert-operator", id="registry-no-tag"
        ),
        pytest.param(
            "localhost:5000/webhook-cert-operator:dev@sha256:abc",
            "webhook-cert-operator",
            id="registry-port-digest",
        ),
        pytest.param("nginx:1.27", "nginx", id="other-image"),
    ],
)
def test_the_image_repository_ignores_registry_tag_and_digest(image: str, repository: str) -> None:
    assert image_repository(image) == repository


@pytest.mark.parametrize(
    ("container", "argv"),
    [
        pytest.param({}, ["/bin/webhook-cert", "run"], id="entrypoint-and-cmd"),
        pytest.param(
            {"args": ["solve", "--port", "8089"]},
            ["/bin/webhook-cert", "solve", "--port", "8089"],
            id="args-replace-cmd",
        ),
        pytest.param(
            {"command": ["webhook-cert"], "args": ["check", "https://x/"]},
            ["/bin/webhook-cert", "check", "https://x/"],
            id="explicit-command",
        ),
        pytest.param({"command": ["sleep", "5"]}, ["sleep", "5"], id="command-drops-cmd"),
    ],
)
def test_container_argv_follows_entrypoint_and_cmd_semantics(
    container: dict[str, list[str]], argv: list[str]
) -> None:
    assert container_argv(container, "/bin/webhook-cert") == argv

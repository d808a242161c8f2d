"""The CI workflow and `make e2e-kind`, checked offline: neither can run on a machine
without Docker, so their files are checked against their schemas and against each other.

- .github/workflows/ci.yml against the GitHub workflow schema that check-jsonschema vendors;
- e2e/kind/kind-config.yaml decoded strictly into kind's own Go types (e2e/kind/configcheck,
  built with Go from the module proxy), and its port forwards followed to a container;
- every manifest under e2e/ parsed, and decoded strictly into its Kubernetes type by the
  same checker; the addresses the pieces give each other compared;
- the operator's overlay rendered by kubectl's kustomize (skipped without a kubectl, except
  under CI, where that is a failure);
- Pebble's HTTPS certificate as run.sh makes it, verified for the names both sides dial.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from localcluster.build import bin_dir, default_cache_dir
from localcluster.network import in_host_network
from localcluster.versions import BY_NAME

from webhook_cert_operator.settings import ENVIRONMENT_VARIABLES, settings_from_env

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
E2E = REPO / "e2e" / "kind"
KIND_CONFIG = E2E / "kind-config.yaml"
OVERLAY = E2E / "overlay"
RUN = E2E / "run.sh"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _manifests() -> list[dict[str, Any]]:
    return _documents(E2E / "traefik.yaml") + _documents(E2E / "pebble.yaml")


def _find(kind: str, namespace: str, name: str) -> dict[str, Any]:
    for doc in _manifests():
        meta = doc["metadata"]
        if (doc["kind"], meta.get("namespace"), meta["name"]) == (kind, namespace, name):
            return doc
    raise AssertionError(f"no {kind} {namespace}/{name} in e2e/kind")


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


def _arg(container: dict[str, Any], flag: str) -> str:
    for arg in container["args"]:
        if arg.startswith(f"{flag}="):
            return str(arg.split("=", 1)[1])
    raise AssertionError(f"{container['name']} has no {flag}")


def _workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def _run_commands(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _test_env() -> dict[str, str]:
    """The environment run.sh gives the integration suite (`run.sh env` needs no cluster)."""
    out = subprocess.run(
        ["bash", str(RUN), "env"], capture_output=True, text=True, check=True
    ).stdout
    pairs = (line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    return {name: shlex.split(value)[0] for name, value in pairs}


def _operator_settings_env() -> dict[str, str]:
    """The operator's settings in the overlay's patch."""
    patch = yaml.safe_load((OVERLAY / "operator-settings.yaml").read_text())
    container = patch["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item["value"] for item in container["env"] if "value" in item}


def _broken_copy(source: Path, directory: Path, change: tuple[str, str]) -> Path:
    """A copy of `source` with one change, to show that a check refuses it."""
    old, new = change
    text = source.read_text()
    assert old in text
    broken = directory / source.name
    broken.write_text(text.replace(old, new, 1))
    return broken


def _ci_must_check(reason: str) -> None:
    """Locally a missing tool skips a check; under CI the check must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run this check")
    pytest.skip(reason)


# ---- the workflow -------------------------------------------------------------------------


def _check_workflow_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(path),
        ],
        capture_output=True,
        text=True,
    )


def test_the_workflow_matches_the_github_workflow_schema() -> None:
    result = _check_workflow_schema(WORKFLOW)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_refuses_a_misspelt_job_key(tmp_path: Path) -> None:
    result = _check_workflow_schema(_broken_copy(WORKFLOW, tmp_path, ("runs-on:", "run-on:")))

    assert result.returncode != 0
    assert "run-on" in result.stdout


@pytest.mark.parametrize(
    ("job", "command"),
    [
        ("lint", "make lint"),
        ("unit", "make unit"),
        ("image", "docker build"),
        ("e2e-kind", "make e2e-kind"),
    ],
    ids=["lint", "unit", "image", "e2e-kind"],
)
def test_each_ci_job_runs_its_make_target(job: str, command: str) -> None:
    assert command in _run_commands(_workflow()["jobs"][job])


def test_the_e2e_job_installs_the_kind_that_configcheck_is_built_with() -> None:
    workflow = _workflow()
    go_mod = (E2E / "configcheck" / "go.mod").read_text()

    assert 'go install "sigs.k8s.io/kind@${KIND_VERSION}"' in _run_commands(
        workflow["jobs"]["e2e-kind"]
    )
    assert f"sigs.k8s.io/kind {workflow['env']['KIND_VERSION']}" in go_mod


def test_ci_uses_python_3_11() -> None:
    assert _workflow()["env"]["PYTHON_VERSION"] == "3.11"


# ---- the kind config ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def configcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is needed (as for the local cluster) to build e2e/kind/configcheck")
    binary = tmp_path_factory.mktemp("configcheck") / "configcheck"
    env = {**os.environ, "GOFLAGS": "-mod=readonly -buildvcs=false", "GOWORK": "off"}
    env.setdefault("GOTOOLCHAIN", "local")
    # In the host's network: `make test` runs the integration tests first, and they move
    # the test process into the local cluster's namespace, where no module proxy answers.
    result = subprocess.run(
        in_host_network([go, "build", "-o", str(binary), "."]),
        cwd=E2E / "configcheck",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"building configcheck failed:\n{result.stderr}"
    return binary


def _decode(configcheck: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(configcheck), "kind", str(path)], capture_output=True, text=True)


def _decode_objects(configcheck: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(configcheck), "objects", *map(str, paths)], capture_output=True, text=True
    )


@pytest.fixture(scope="session")
def kind_cluster(configcheck: Path) -> dict[str, Any]:
    result = _decode(configcheck, KIND_CONFIG)
    assert result.returncode == 0, result.stderr
    decoded: dict[str, Any] = json.loads(result.stdout)
    return decoded


def test_kind_decodes_the_config_strictly_with_its_own_types(
    kind_cluster: dict[str, Any],
) -> None:
    assert kind_cluster["kindVersion"] == _workflow()["env"]["KIND_VERSION"]
    assert [node["role"] for node in kind_cluster["config"]["nodes"]] == ["control-plane"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("extraPortMappings", "extraPortMapping"), "field extraPortMapping not found"),
        (("protocol: UDP", "protocol: UPD"), "UPD"),
        (("hostPort: 80,", "hostPort: eighty,"), "eighty"),
        (("apiVersion: kind.x-k8s.io/v1alpha4", "apiVersion: kind.x-k8s.io/v1"), "v1alpha4"),
    ],
    ids=["unknown-field", "unknown-protocol", "wrong-type", "wrong-api-version"],
)
def test_the_config_decoder_refuses_what_kind_refuses(
    configcheck: Path, tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    result = _decode(configcheck, _broken_copy(KIND_CONFIG, tmp_path, change))

    assert result.returncode == 1
    assert message in result.stderr


def test_kubectl_in_ci_matches_the_minor_version_of_kinds_node_image(
    kind_cluster: dict[str, Any],
) -> None:
    image = kind_cluster["config"]["nodes"][0]["image"]
    node_version = re.fullmatch(r"kindest/node:(v\d+\.\d+)\.\d+@sha256:[0-9a-f]{64}", image)
    assert node_version is not None, image
    kubectl_version = _workflow()["env"]["KUBECTL_VERSION"]

    assert kubectl_version.startswith(node_version.group(1) + ".")


def _port_mappings(kind_cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for node in kind_cluster["config"]["nodes"] for m in node["extraPortMappings"]]


def test_no_two_forwards_share_a_host_port_and_protocol(kind_cluster: dict[str, Any]) -> None:
    # kind's own rule (its Validate is internal to kind, so it is repeated here).
    keys = [(m["hostPort"], m["protocol"]) for m in _port_mappings(kind_cluster)]

    assert len(keys) == len(set(keys))
    assert {m["listenAddress"] for m in _port_mappings(kind_cluster)} == {"127.0.0.1"}


def _services() -> Iterator[dict[str, Any]]:
    return (doc for doc in _manifests() if doc["kind"] == "Service")


def _pods_behind(service: dict[str, Any]) -> list[dict[str, Any]]:
    selector = service["spec"]["selector"]
    namespace = service["metadata"]["namespace"]
    return [
        doc
        for doc in _manifests()
        if doc["kind"] == "Deployment"
        and doc["metadata"]["namespace"] == namespace
        and selector.items() <= doc["spec"]["template"]["metadata"]["labels"].items()
    ]


def test_every_forwarded_port_reaches_a_container_port(kind_cluster: dict[str, Any]) -> None:
    by_node_port = {
        (port["nodePort"], port.get("protocol", "TCP")): (service, port)
        for service in _services()
        for port in service["spec"]["ports"]
        if "nodePort" in port
    }
    for mapping in _port_mappings(kind_cluster):
        key = (mapping["containerPort"], mapping["protocol"])
        assert key in by_node_port, f"no Service has the node port {key} of {mapping}"
        service, port = by_node_port[key]
        pods = _pods_behind(service)
        assert len(pods) == 1, service["metadata"]["name"]
        container_ports = {
            (p["name"], p.get("protocol", "TCP"))
            for container in _containers(pods[0])
            for p in container["ports"]
        }
        assert (port["targetPort"], mapping["protocol"]) in container_ports, mapping


def test_the_fixed_cluster_ips_are_in_kinds_static_service_band(
    kind_cluster: dict[str, Any],
) -> None:
    subnet = ipaddress.ip_network(kind_cluster["config"]["networking"]["serviceSubnet"])
    # Kubernetes hands out dynamic ClusterIPs above this band while it can (KEP-3070).
    band = min(max(16, subnet.num_addresses // 16), 256)
    fixed = [s["spec"]["clusterIP"] for s in _services() if "clusterIP" in s["spec"]]

    assert fixed
    for address in fixed:
        offset = int(ipaddress.ip_address(address)) - int(subnet.network_address)
        assert 0 < offset < band, address


# ---- the manifests and the addresses they share --------------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted((REPO / "e2e").rglob("*.yaml")),
    ids=lambda path: str(path.relative_to(REPO / "e2e")),
)
def test_every_manifest_under_e2e_parses_and_names_its_kind(path: Path) -> None:
    documents = _documents(path)

    assert documents
    for document in documents:
        assert document.get("apiVersion") and document.get("kind"), document


OBJECT_FILES = [E2E / "traefik.yaml", E2E / "pebble.yaml", OVERLAY / "operator-settings.yaml"]


def test_every_object_under_e2e_decodes_strictly_into_its_kubernetes_type(
    configcheck: Path,
) -> None:
    result = _decode_objects(configcheck, *OBJECT_FILES)

    assert result.returncode == 0, result.stderr
    decoded = json.loads(result.stdout)
    assert decoded["unchecked"] == []
    assert len(decoded["checked"]) == sum(len(_documents(path)) for path in OBJECT_FILES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("readinessProbe:", "readynessProbe:"), 'unknown field "spec.template.spec.containers'),
        (("nodePort: 30080}", 'nodePort: "30080"}'), "nodePort"),
    ],
    ids=["unknown-field", "wrong-type"],
)
def test_the_object_decoder_refuses_what_kubectl_apply_refuses(
    configcheck: Path, tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    result = _decode_objects(configcheck, _broken_copy(E2E / "traefik.yaml", tmp_path, change))

    assert result.returncode == 1
    assert message in result.stderr


def test_pebbles_config_is_json_and_listens_on_its_container_ports() -> None:
    config_map = _find("ConfigMap", "pebble", "pebble-config")
    config = json.loads(config_map["data"]["pebble-config.json"])["pebble"]
    ports = {
        p["containerPort"] for p in _containers(_find("Deployment", "pebble", "pebble"))[0]["ports"]
    }

    assert {
        int(config["listenAddress"].rsplit(":", 1)[1]),
        int(config["managementListenAddress"].rsplit(":", 1)[1]),
    } == ports
    # Let's Encrypt validates HTTP-01 on port 80; so does Pebble here, through Traefik.
    assert config["httpPort"] == 80


def test_the_clusters_dns_answers_traefiks_cluster_ip_on_port_80() -> None:
    traefik = _find("Service", "traefik", "traefik")["spec"]
    cluster_view = _containers(_find("Deployment", "pebble", "challtestsrv"))[0]

    assert _arg(cluster_view, "-defaultIPv4") == traefik["clusterIP"]
    assert {p["port"] for p in traefik["ports"]} == {80, 443}


def test_pebble_and_the_operator_ask_the_clusters_dns() -> None:
    dns = _find("Service", "pebble", "challtestsrv")["spec"]
    address = f"{dns['clusterIP']}:{dns['ports'][0]['port']}"
    pebble = _containers(_find("Deployment", "pebble", "pebble"))[0]
    operator_env = _operator_settings_env()

    assert _arg(pebble, "-dnsserver") == address
    assert operator_env["WEBHOOK_CERT_NAMESERVERS"] == address
    assert {p["port"] for p in dns["ports"]} == {8053}


def test_the_hosts_dns_answers_the_loopback_where_kind_forwards_the_ingress(
    kind_cluster: dict[str, Any],
) -> None:
    host_view = _containers(_find("Deployment", "pebble", "challtestsrv"))[1]
    env = _test_env()
    host_ports = {(m["hostPort"], m["protocol"]) for m in _port_mappings(kind_cluster)}
    dns_host, dns_port = env["WEBHOOK_CERT_NAMESERVERS"].rsplit(":", 1)

    assert _arg(host_view, "-defaultIPv4") == env["WEBHOOK_CERT_TEST_INGRESS_ADDRESS"] == dns_host
    assert {(80, "TCP"), (443, "TCP"), (int(dns_port), "UDP"), (int(dns_port), "TCP")} <= host_ports


def test_the_host_reaches_pebble_on_forwarded_ports(kind_cluster: dict[str, Any]) -> None:
    env = _test_env()
    host_ports = {m["hostPort"] for m in _port_mappings(kind_cluster) if m["protocol"] == "TCP"}
    for url in (env["WEBHOOK_CERT_ACME_SERVER"], env["WEBHOOK_CERT_TEST_PEBBLE_MANAGEMENT"]):
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.hostname == "127.0.0.1", url
        assert parts.port in host_ports, url


@pytest.mark.parametrize(
    ("image", "component"),
    [
        ("traefik:", "traefik"),
        ("ghcr.io/letsencrypt/pebble:", "pebble"),
        ("ghcr.io/letsencrypt/pebble-challtestsrv:", "pebble"),
    ],
    ids=["traefik", "pebble", "challtestsrv"],
)
def test_images_are_pinned_to_the_local_clusters_versions(image: str, component: str) -> None:
    version = BY_NAME[component].version
    # Pebble's image tags have no leading v; Traefik's have one.
    tag = version.removeprefix("v") if image.startswith("ghcr.io/letsencrypt/") else version
    images = {
        container["image"]
        for doc in _manifests()
        if doc["kind"] == "Deployment"
        for container in _containers(doc)
        if container["image"].startswith(image)
    }

    assert images == {image + tag}


def test_the_suite_gets_every_variable_its_external_mode_reads() -> None:
    conftest = (REPO / "tests" / "integration" / "conftest.py").read_text()
    wanted = set(re.findall(r"\b(WEBHOOK_CERT_[A-Z0-9_]+|KUBECONFIG)\b", conftest))
    # The kind cluster runs one Pebble and no Gateway API: the tests that switch CAs and
    # that solve through an HTTPRoute skip there.
    wanted -= {
        "WEBHOOK_CERT_TEST_SECOND_ACME_SERVER",
        "WEBHOOK_CERT_TEST_SECOND_PEBBLE_ROOTS",
        "WEBHOOK_CERT_TEST_GATEWAY",
    }
    env = _test_env()

    assert wanted <= env.keys()
    assert env["WEBHOOK_CERT_TEST_CLUSTER"] == "external"
    assert Path(env["WEBHOOK_CERT_TEST_OPERATOR_OVERLAY"]) == OVERLAY
    assert (OVERLAY / "kustomization.yaml").is_file()


def test_the_overlay_sets_only_settings_the_operator_reads() -> None:
    # A misspelt name would be ignored by the operator, silently.
    assert _operator_settings_env().keys() <= set(ENVIRONMENT_VARIABLES)


@pytest.mark.parametrize(
    "side", ["operator", "host"], ids=["the-operator-in-the-cluster", "the-tests-on-the-host"]
)
def test_the_operator_accepts_the_settings_each_side_gives_it(side: str) -> None:
    env = _operator_settings_env() if side == "operator" else _test_env()

    settings = settings_from_env(env)

    assert settings.acme_agree_tos
    assert settings.acme_server == env["WEBHOOK_CERT_ACME_SERVER"]
    assert settings.nameservers == (env["WEBHOOK_CERT_NAMESERVERS"],)


# ---- Pebble's certificate -----------------------------------------------------------------


@pytest.fixture(scope="session")
def pebble_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed: run.sh makes Pebble's certificate with it")
    directory = tmp_path_factory.mktemp("pki")
    subprocess.run(["bash", str(RUN), "pki", str(directory)], check=True, timeout=60)
    return directory


def _pebble_hosts() -> list[str]:
    operator_env = _operator_settings_env()
    urls = [operator_env["WEBHOOK_CERT_ACME_SERVER"], _test_env()["WEBHOOK_CERT_ACME_SERVER"]]
    return [str(urlsplit(url).hostname) for url in urls]


def test_pebbles_certificate_is_valid_for_the_operator_and_for_the_host(pebble_pki: Path) -> None:
    ca = x509.load_pem_x509_certificate((pebble_pki / "ca.crt").read_bytes())
    leaf = x509.load_pem_x509_certificate((pebble_pki / "tls.crt").read_bytes())
    builder = PolicyBuilder().store(Store([ca])).time(datetime.now(UTC))
    hosts = _pebble_hosts()

    assert hosts == ["pebble.pebble.svc.cluster.local", "127.0.0.1"]
    for host in hosts:
        try:
            name: x509.DNSName | x509.IPAddress = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            name = x509.DNSName(host)
        chain = builder.build_server_verifier(name).verify(leaf, [])
        assert chain[-1] == ca


def test_pebbles_certificate_is_refused_for_another_name(pebble_pki: Path) -> None:
    ca = x509.load_pem_x509_certificate((pebble_pki / "ca.crt").read_bytes())
    leaf = x509.load_pem_x509_certificate((pebble_pki / "tls.crt").read_bytes())
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(x509.DNSName("pebble"))

    with pytest.raises(VerificationError):
        verifier.verify(leaf, [])


# ---- the overlay, rendered ----------------------------------------------------------------


def _kubectl() -> str:
    built = bin_dir(BY_NAME["kubernetes"], default_cache_dir()) / "kubectl"
    if built.is_file():
        return str(built)
    found = shutil.which("kubectl")
    if found is None:
        _ci_must_check(f"no kubectl at {built} (make cluster-up builds it) nor on PATH")
    return str(found)


@pytest.fixture(scope="session")
def rendered_overlay(
    tmp_path_factory: pytest.TempPathFactory, pebble_pki: Path
) -> list[dict[str, Any]]:
    # A copy of the tree the overlay reads, with the CA run.sh would write there.
    root = tmp_path_factory.mktemp("render")
    shutil.copytree(REPO / "manifests", root / "manifests")
    shutil.copytree(OVERLAY, root / "e2e" / "kind" / "overlay")
    shutil.copy(pebble_pki / "ca.crt", root / "e2e" / "kind" / "overlay" / "pebble-ca.pem")
    result = subprocess.run(
        [_kubectl(), "kustomize", str(root / "e2e" / "kind" / "overlay")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _operator(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [d for d in rendered if d["kind"] == "Deployment"]
    return deployment


def test_the_overlay_renders_the_operator_with_the_test_settings(
    rendered_overlay: list[dict[str, Any]],
) -> None:
    (container,) = _containers(_operator(rendered_overlay))
    env = {item["name"]: item.get("value") for item in container["env"]}

    assert env["WEBHOOK_CERT_ACME_SERVER"] == "https://pebble.pebble.svc.cluster.local:14000/dir"
    assert env["WEBHOOK_CERT_ACME_AGREE_TOS"] == "true"
    assert env["WEBHOOK_CERT_ACME_EMAIL"]
    assert env["WEBHOOK_CERT_NAMESERVERS"] == "10.96.0.53:8053"
    assert container["imagePullPolicy"] == "Never"
    # Everything else of the base stays: its namespace and the solver image, which
    # run.sh builds and loads into the node beside the operator's.
    run_sh = (REPO / "e2e" / "kind" / "run.sh").read_text()
    assert f"\nSOLVER_IMAGE={env['WEBHOOK_CERT_SOLVER_IMAGE']}\n" in run_sh
    assert f"\nIMAGE={container['image']}\n" in run_sh
    assert "WEBHOOK_CERT_NAMESPACE" in env


def test_the_overlay_mounts_the_ca_that_signed_pebbles_certificate(
    rendered_overlay: list[dict[str, Any]], pebble_pki: Path
) -> None:
    spec = _operator(rendered_overlay)["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    bundle = Path(
        next(e["value"] for e in container["env"] if e["name"] == "WEBHOOK_CERT_ACME_CA_BUNDLE")
    )
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(bundle.parent)]
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    (config_map,) = [
        d
        for d in rendered_overlay
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == volume["configMap"]["name"]
    ]

    assert (
        config_map["metadata"]["namespace"] == _operator(rendered_overlay)["metadata"]["namespace"]
    )
    assert config_map["data"][bundle.name] == (pebble_pki / "ca.crt").read_text()


def test_the_rendered_overlay_decodes_strictly(
    rendered_overlay: list[dict[str, Any]], configcheck: Path, tmp_path: Path
) -> None:
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(rendered_overlay))

    result = _decode_objects(configcheck, rendered)

    assert result.returncode == 0, result.stderr
    # The base's CRDs have no type in the checker (the operator creates its own kopf
    # peering object at start-up, so the base carries none).
    assert set(json.loads(result.stdout)["unchecked"]) == {"CustomResourceDefinition"}


def test_run_sh_loads_the_image_the_overlay_deploys(
    rendered_overlay: list[dict[str, Any]],
) -> None:
    (container,) = _containers(_operator(rendered_overlay))
    loaded = re.search(r"^IMAGE=(\S+)$", RUN.read_text(), re.MULTILINE)

    assert loaded is not None
    assert loaded.group(1) == container["image"]


# ---- the script ---------------------------------------------------------------------------


def test_run_sh_is_valid_bash() -> None:
    result = subprocess.run(["bash", "-n", str(RUN)], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr

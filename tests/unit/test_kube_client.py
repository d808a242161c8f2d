"""The Kubernetes API adapter over HTTP: `kube.Kube` and `kube_client.ApiClient` against a
recording API server on the loopback (plain HTTP: TLS is `requests`' own business)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from webhook_cert_operator import kube_client
from webhook_cert_operator.kube import AlreadyExists, Conflict, Forbidden, Kube, NotServed
from webhook_cert_operator.kube_client import ApiClient, ApiError, Credentials
from webhook_cert_operator.kube_errors import passes_on_its_own


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApiServer:
    """Answers each (method, path) from `answers` (status, JSON body); 404 otherwise."""

    answers: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                server.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        dict(self.headers),
                        json.loads(raw) if raw else None,
                    )
                )
                status, body = server.answers.get(
                    (self.command, self.path), (404, {"kind": "Status", "code": 404})
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


@pytest.fixture
def api() -> Iterator[tuple[FakeApiServer, Kube]]:
    fake = FakeApiServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    credentials = Credentials(server=f"http://127.0.0.1:{httpd.server_address[1]}", token="t0k")
    try:
        yield fake, Kube(ApiClient(credentials))
    finally:
        httpd.shutdown()
        httpd.server_close()


SECRETS = "/api/v1/namespaces/ns/secrets"
ENDPOINTS = "/apis/webhookcert.dev/v1alpha1/namespaces/ns/webhookendpoints"


def test_a_secret_is_read_with_the_bearer_token_and_its_data_decoded(api) -> None:
    fake, kube = api
    body = {
        "type": "kubernetes.io/tls",
        "metadata": {"resourceVersion": "7", "labels": {"a": "b"}},
        "data": {"tls.crt": base64.b64encode(b"PEM").decode()},
    }
    fake.answers["GET", f"{SECRETS}/s"] = (200, body)
    secret = kube.get_secret("ns", "s")
    assert secret is not None
    assert (secret.type, secret.resource_version, dict(secret.data)) == (
        "kubernetes.io/tls",
        "7",
        {"tls.crt": b"PEM"},
    )
    assert fake.seen[0].headers["Authorization"] == "Bearer t0k"


def test_a_missing_object_reads_as_none(api) -> None:
    _, kube = api
    assert kube.get_secret("ns", "gone") is None
    assert kube.get_endpoint("ns", "gone") is None
    assert kube.get_config_map_data("ns", "gone") is None


def test_creating_a_taken_name_is_already_exists(api) -> None:
    fake, kube = api
    fake.answers["POST", SECRETS] = (409, {"kind": "Status", "code": 409})
    with pytest.raises(AlreadyExists):
        kube.create_secret("ns", {"metadata": {"name": "s"}})


def test_a_secret_is_replaced_at_the_version_read_and_a_newer_one_conflicts(api) -> None:
    fake, kube = api
    fake.answers["PUT", f"{SECRETS}/s"] = (409, {})
    with pytest.raises(Conflict):
        kube.replace_secret("ns", {"metadata": {"name": "s"}, "data": {}}, "41")
    assert fake.seen[0].body["metadata"]["resourceVersion"] == "41"


def test_status_is_merge_patched_on_the_status_subresource(api) -> None:
    fake, kube = api
    fake.answers["PATCH", f"{ENDPOINTS}/e/status"] = (200, {})
    kube.patch_endpoint_status("ns", "e", {"observedGeneration": 2})
    (seen,) = fake.seen
    assert seen.headers["Content-Type"] == "application/merge-patch+json"
    assert seen.body == {"status": {"observedGeneration": 2}}


def test_a_deleted_endpoints_status_write_is_no_error(api) -> None:
    _, kube = api
    kube.patch_endpoint_status("ns", "gone", {"observedGeneration": 2})


def test_objects_are_listed_by_a_sorted_label_selector(api) -> None:
    fake, kube = api
    path = "/apis/networking.k8s.io/v1/namespaces/ns/ingresses?labelSelector=a%3D1%2Cb%3D2"
    fake.answers["GET", path] = (200, {"items": [{"metadata": {"name": "i"}}]})
    assert kube.list_labelled("Ingress", "ns", {"b": "2", "a": "1"}) == [
        {"metadata": {"name": "i"}}
    ]


def test_without_the_gateway_api_there_are_no_routes_and_none_can_be_created(api) -> None:
    _, kube = api
    assert kube.list_labelled("HTTPRoute", "ns", {"a": "1"}) == []
    with pytest.raises(NotServed):
        kube.create("HTTPRoute", "ns", {"metadata": {"name": "r"}})


def test_a_deletion_is_in_the_foreground_and_a_gone_object_counts_zero(api) -> None:
    fake, kube = api
    fake.answers["DELETE", "/api/v1/namespaces/ns/pods/p"] = (200, {})
    assert kube.delete("Pod", "ns", "p") == 1
    assert fake.seen[0].body["propagationPolicy"] == "Foreground"
    assert kube.delete("Pod", "ns", "gone") == 0


def test_an_unknown_kind_is_a_value_error(api) -> None:
    _, kube = api
    with pytest.raises(ValueError, match="unsupported kind"):
        kube.list_labelled("Job", "ns", {})
    with pytest.raises(ValueError, match="unsupported kind"):
        kube.pod_template_annotations("Pod", "ns", "p")


def test_a_workloads_pod_template_annotations_are_read(api) -> None:
    fake, kube = api
    workload = {"spec": {"template": {"metadata": {"annotations": {"x": "y"}}}}}
    fake.answers["GET", "/apis/apps/v1/namespaces/ns/statefulsets/db"] = (200, workload)
    assert kube.pod_template_annotations("StatefulSet", "ns", "db") == {"x": "y"}
    assert kube.pod_template_annotations("Deployment", "ns", "gone") is None


def test_creating_a_peering_object_without_rights_is_forbidden(api) -> None:
    fake, kube = api
    fake.answers["POST", "/apis/kopf.dev/v1/clusterkopfpeerings"] = (403, {})
    with pytest.raises(Forbidden):
        kube.create_custom_object("kopf.dev", "v1", "clusterkopfpeerings", None, {
            "metadata": {"name": "p"}
        })  # fmt: skip


def test_events_come_oldest_first(api) -> None:
    fake, kube = api
    path = (
        "/api/v1/namespaces/ns/events?fieldSelector="
        "involvedObject.kind%3DWebhookEndpoint%2CinvolvedObject.name%3De"
    )
    late = {"lastTimestamp": "2026-01-02T00:00:00Z", "metadata": {"resourceVersion": "1"}}
    early = {"lastTimestamp": "2026-01-01T00:00:00Z", "metadata": {"resourceVersion": "2"}}
    fake.answers["GET", path] = (200, {"items": [late, early]})
    assert kube.list_events("ns", "WebhookEndpoint", "e") == [early, late]


@pytest.mark.parametrize(
    ("status", "passes"),
    [(503, True), (504, True), (429, True), (500, True), (403, False), (422, False)],
    ids=lambda value: str(value),
)
def test_an_api_error_passes_on_its_own_only_for_trouble_statuses(
    api, status: int, passes: bool
) -> None:
    fake, kube = api
    fake.answers["POST", SECRETS] = (status, {})
    with pytest.raises(ApiError) as raised:
        kube.create_secret("ns", {"metadata": {"name": "s"}})
    assert raised.value.status == status
    assert passes_on_its_own(raised.value) is passes


def test_a_refused_connection_passes_on_its_own() -> None:
    kube = Kube(ApiClient(Credentials(server="http://127.0.0.1:9")))
    with pytest.raises(requests.ConnectionError) as raised:
        kube.get_secret("ns", "s")
    assert passes_on_its_own(raised.value)


def test_a_service_account_token_is_read_again_after_a_minute(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    now = [0.0]
    client = ApiClient(
        Credentials(server="https://api", token_path=str(token)), clock=lambda: now[0]
    )
    assert client.token() == "first"
    token.write_text("second")
    now[0] = kube_client.TOKEN_REREAD - 1
    assert client.token() == "first"
    now[0] = kube_client.TOKEN_REREAD
    assert client.token() == "second"


def test_outside_a_pod_there_are_no_in_cluster_credentials() -> None:
    assert kube_client.in_cluster({}) is None


def test_kubeconfig_data_is_written_to_a_private_file() -> None:
    path = Path(kube_client.data_file(base64.b64encode(b"PEM DATA"), ".crt"))
    assert path.read_bytes() == b"PEM DATA"
    assert path.stat().st_mode & 0o077 == 0


def test_the_cli_without_the_kubernetes_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import argparse
    import sys

    from webhook_cert_operator.cli import references

    monkeypatch.setitem(sys.modules, "kubernetes", None)
    with pytest.raises(references.ClusterError, match=r"webhook-cert-operator\[cli\]"):
        references.kube_from_args(argparse.Namespace(kubeconfig=None, context=None))


def test_the_cli_reads_a_kubeconfigs_server_token_and_ca(tmp_path: Path) -> None:
    import argparse

    from webhook_cert_operator.cli import references

    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()
    (tmp_path / "config").write_text(
        json.dumps({
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "c",
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
            "clusters": [{"name": "k", "cluster": {
                "server": "https://api.example:6443", "certificate-authority-data": ca,
            }}],
            "users": [{"name": "u", "user": {"token": "s3cret"}}],
        })
    )  # fmt: skip
    kube = references.kube_from_args(
        argparse.Namespace(kubeconfig=str(tmp_path / "config"), context=None)
    )
    credentials = kube.api.credentials
    assert (credentials.server, credentials.token) == ("https://api.example:6443", "s3cret")
    assert credentials.ca_path is not None
    assert Path(credentials.ca_path).read_bytes() == b"-----BEGIN CERTIFICATE-----\n"


def test_the_operator_outside_a_pod_uses_kopfs_kubeconfig_reading_with_inline_data() -> None:
    import kopf

    from webhook_cert_operator.glue.run import _kubeconfig_credentials

    info = kopf.ConnectionInfo(
        server="https://10.1.2.3:6443",
        ca_data=base64.b64encode(b"CA PEM"),
        certificate_data=base64.b64encode(b"CERT PEM"),
        private_key_data=base64.b64encode(b"KEY PEM"),
    )
    credentials = _kubeconfig_credentials(info)
    assert credentials.server == "https://10.1.2.3:6443"
    assert credentials.token is None
    files = (credentials.ca_path, credentials.cert_path, credentials.key_path)
    assert [Path(str(path)).read_bytes() for path in files] == [b"CA PEM", b"CERT PEM", b"KEY PEM"]


def test_the_operator_without_any_credentials_says_so() -> None:
    from webhook_cert_operator.glue.run import _kubeconfig_credentials

    with pytest.raises(RuntimeError, match="no Kubernetes credentials"):
        _kubeconfig_credentials(None)


def test_kopf_logs_in_as_the_pods_service_account_at_the_service_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kopf

    from webhook_cert_operator.glue import handlers

    (tmp_path / "token").write_text("sa-token\n")
    monkeypatch.setattr(kube_client, "SERVICE_ACCOUNT", str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    login: Any = handlers.login  # as kopf calls it: with keyword arguments only
    info = login(settings=kopf.OperatorSettings())
    assert info is not None
    assert (info.server, info.token) == ("https://10.96.0.1:443", "sa-token")
    assert info.ca_path == f"{tmp_path}/ca.crt"

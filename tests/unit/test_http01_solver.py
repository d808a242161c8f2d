"""Unit tests for webhook_cert_operator.solver.http01: presenting the solver objects,
the self-check loop, cleaning up, and the self-check's HTTP fetch.

The self-check runs on a fake clock and a scripted fetch; present and clean_up run against
FakeKube. `fetch_over_http` is tried against small servers on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests import pki_factory as pki
from tests.fake_dns import FakeDNS
from tests.unit.fakes import (
    FakeClock,
    FakeKube,
    as_kube,
    key_authorization_for,
    settings,
    token_for,
)
from webhook_cert_operator import naming
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.types import Endpoint, Http01Spec
from webhook_cert_operator.kube import NotServed
from webhook_cert_operator.settings import Settings
from webhook_cert_operator.solver import resources
from webhook_cert_operator.solver.fetch import fetch_over_http
from webhook_cert_operator.solver.http01 import Answer, Http01Solver, SelfCheckFailed

HOST = "hooks.example.test"
OTHER_HOST = "api.example.test"
ENDPOINT = Endpoint("payments", "ringcentral", "uid-ringcentral")
ORDER = "https://ca.test/order/1"
OLD_ORDER = "https://ca.test/order/0"
HTTP01 = Http01Spec(ingress_class_name="traefik")

Response = tuple[int | None, bytes, str]
NOT_FOUND: Response = (404, b"404 page not found\n", "answered HTTP 404")


def answer(host: str) -> Answer:
    token = token_for(host)
    return Answer(host, token, key_authorization_for(token))


def ok(host: str) -> Response:
    return (200, key_authorization_for(token_for(host)).encode(), "answered HTTP 200")


class ScriptedFetch:
    """Answers each host from its script in turn; the last answer repeats forever."""

    def __init__(self, scripts: dict[str, Sequence[Response]]) -> None:
        self.scripts = {host: list(script) for host, script in scripts.items()}
        self.fetched: list[tuple[str, str]] = []

    def __call__(self, host: str, path: str) -> Response:
        self.fetched.append((host, path))
        script = self.scripts[host]
        return script.pop(0) if len(script) > 1 else script[0]

    def count(self, host: str) -> int:
        return sum(1 for fetched_host, _ in self.fetched if fetched_host == host)


def checker(
    fetch: ScriptedFetch,
    clock: FakeClock,
    *,
    successes: int = 3,
    interval: float = 2,
    timeout: float = 60,
    start_timeout: float = 600,
    kube: FakeKube | None = None,
) -> Http01Solver:
    return Http01Solver(
        as_kube(kube or FakeKube()),
        settings(
            self_check_successes=successes,
            self_check_interval=timedelta(seconds=interval),
            self_check_timeout=timedelta(seconds=timeout),
            solver_start_timeout=timedelta(seconds=start_timeout),
        ),
        fetch=fetch,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )


# ---- self-check ---------------------------------------------------------------------


def test_self_check_passes_after_the_needed_successes_in_a_row_and_stops_fetching() -> None:
    fetch, clock = ScriptedFetch({HOST: [ok(HOST)]}), FakeClock()
    checker(fetch, clock, successes=3, interval=2).self_check(ENDPOINT, ORDER, [answer(HOST)])
    assert fetch.fetched == [(HOST, f"/.well-known/acme-challenge/{token_for(HOST)}")] * 3
    assert clock.sleeps == [2, 2]


def test_a_flapping_answer_starts_the_streak_again() -> None:
    script = [ok(HOST), ok(HOST), NOT_FOUND, ok(HOST), ok(HOST), ok(HOST)]
    fetch, clock = ScriptedFetch({HOST: script}), FakeClock()
    checker(fetch, clock, successes=3).self_check(ENDPOINT, ORDER, [answer(HOST)])
    assert fetch.count(HOST) == 6


def test_an_answer_right_only_every_other_time_never_passes() -> None:
    # Behind several ingress replicas, one of which serves stale config: the CA may hit either.
    fetch, clock = ScriptedFetch({HOST: [ok(HOST), NOT_FOUND] * 100}), FakeClock()
    with pytest.raises(SelfCheckFailed):
        checker(fetch, clock, successes=2, timeout=60).self_check(ENDPOINT, ORDER, [answer(HOST)])


def test_trailing_whitespace_after_the_key_authorization_is_accepted() -> None:
    body = key_authorization_for(token_for(HOST)).encode() + b"\r\n"
    fetch, clock = ScriptedFetch({HOST: [(200, body, "answered HTTP 200")]}), FakeClock()
    checker(fetch, clock, successes=1).self_check(ENDPOINT, ORDER, [answer(HOST)])


def test_every_host_needs_its_own_streak_and_a_done_host_is_not_fetched_again() -> None:
    fetch = ScriptedFetch({HOST: [ok(HOST)], OTHER_HOST: [NOT_FOUND, NOT_FOUND, ok(OTHER_HOST)]})
    clock = FakeClock()
    checker(fetch, clock, successes=2).self_check(
        ENDPOINT, ORDER, [answer(HOST), answer(OTHER_HOST)]
    )
    assert fetch.count(HOST) == 2
    assert fetch.count(OTHER_HOST) == 4


def test_self_check_gives_up_at_the_deadline_and_not_before() -> None:
    fetch, clock = ScriptedFetch({HOST: [NOT_FOUND]}), FakeClock(start=500.0)
    with pytest.raises(SelfCheckFailed):
        checker(fetch, clock, interval=2, timeout=10).self_check(ENDPOINT, ORDER, [answer(HOST)])
    assert 510.0 <= clock.now < 510.5
    assert fetch.count(HOST) == 21  # not served yet: every half second, from 0 to 10 s


def test_an_answer_not_served_yet_is_fetched_every_half_second_and_a_streak_at_the_interval() -> (
    None
):
    fetch, clock = ScriptedFetch({HOST: [NOT_FOUND, NOT_FOUND, ok(HOST)]}), FakeClock()
    checker(fetch, clock, successes=3, interval=2).self_check(ENDPOINT, ORDER, [answer(HOST)])
    assert clock.sleeps == [0.5, 0.5, 2, 2]


def solver_pod(**status: Any) -> dict[str, Any]:
    labels = naming.solver_labels(ENDPOINT.name, ORDER)
    meta = {"name": "solver", "namespace": ENDPOINT.namespace, "labels": labels}
    return {"metadata": meta, "status": status}


STARTING = {
    "phase": "Pending",
    "conditions": [
        {
            "type": "PodScheduled",
            "status": "False",
            "message": "0/1 nodes are available: 1 Too many pods.",
        }
    ],
}


def test_while_the_solver_pod_is_still_starting_the_self_check_waits_longer() -> None:
    kube = FakeKube()
    kube.objects["Pod"].append(solver_pod(**STARTING))
    # The route answers only after 50 s: the Pod waited for a node for most of that.
    fetch = ScriptedFetch({HOST: [NOT_FOUND] * 101 + [ok(HOST)]})
    clock = FakeClock(start=0.0)
    checker(fetch, clock, successes=1, timeout=10, kube=kube).self_check(
        ENDPOINT, ORDER, [answer(HOST)]
    )
    assert 50.0 <= clock.now < 51.0


def test_a_solver_pod_still_starting_after_the_start_timeout_fails_the_self_check_saying_why() -> (
    None
):
    kube = FakeKube()
    kube.objects["Pod"].append(solver_pod(**STARTING))
    fetch, clock = ScriptedFetch({HOST: [NOT_FOUND]}), FakeClock(start=0.0)
    with pytest.raises(SelfCheckFailed) as failed:
        checker(fetch, clock, timeout=10, start_timeout=30, kube=kube).self_check(
            ENDPOINT, ORDER, [answer(HOST)]
        )
    assert 40.0 <= clock.now < 51.0
    assert "the solver Pod is not scheduled yet: 0/1 nodes are available" in str(failed.value)


def test_a_solver_pod_that_cannot_start_fails_the_self_check_at_its_timeout_saying_why() -> None:
    kube = FakeKube()
    waiting = {"reason": "ErrImageNeverPull", "message": "image is not present"}
    kube.objects["Pod"].append(
        solver_pod(phase="Pending", containerStatuses=[{"state": {"waiting": waiting}}])
    )
    fetch, clock = ScriptedFetch({HOST: [NOT_FOUND]}), FakeClock(start=0.0)
    with pytest.raises(SelfCheckFailed) as failed:
        checker(fetch, clock, timeout=10, kube=kube).self_check(ENDPOINT, ORDER, [answer(HOST)])
    assert clock.now < 10.5
    assert "the solver container is waiting (ErrImageNeverPull)" in str(failed.value)


def test_a_ready_solver_pod_points_at_the_ingress_when_the_self_check_fails() -> None:
    kube = FakeKube()
    kube.objects["Pod"].append(
        solver_pod(phase="Running", conditions=[{"type": "Ready", "status": "True"}])
    )
    fetch, clock = ScriptedFetch({HOST: [NOT_FOUND]}), FakeClock(start=0.0)
    with pytest.raises(SelfCheckFailed) as failed:
        checker(fetch, clock, timeout=10, kube=kube).self_check(ENDPOINT, ORDER, [answer(HOST)])
    assert clock.now < 10.5
    assert "Check that the Ingress class is served by an ingress controller" in str(failed.value)


@pytest.mark.parametrize(
    ("response", "said"),
    [
        pytest.param(NOT_FOUND, "answered HTTP 404", id="not-found"),
        pytest.param(
            (503, b"Service Unavailable", "answered HTTP 503"), "answered HTTP 503", id="no-backend"
        ),
        pytest.param(
            (200, b"<html>default backend</html>", "answered HTTP 200"),
            "answered with something other than the key authorization",
            id="wrong-body",
        ),
        pytest.param(
            (200, token_for(HOST).encode(), "answered HTTP 200"),
            "answered with something other than the key authorization",
            id="token-instead-of-key-authorization",
        ),
        pytest.param(
            (None, b"", "is unreachable at 192.0.2.7:80 (Connection refused)"),
            "is unreachable at 192.0.2.7:80 (Connection refused)",
            id="unreachable",
        ),
        pytest.param(
            (None, b"", "does not resolve (NXDOMAIN)"),
            "does not resolve (NXDOMAIN)",
            id="no-dns",
        ),
    ],
)
def test_a_failed_self_check_shows_the_url_without_the_token_and_what_it_answered(
    response: Response, said: str
) -> None:
    fetch, clock = ScriptedFetch({HOST: [response]}), FakeClock()
    with pytest.raises(SelfCheckFailed) as failed:
        checker(fetch, clock, timeout=10).self_check(ENDPOINT, ORDER, [answer(HOST)])
    message = str(failed.value)
    assert message.startswith(f"http://{HOST}/.well-known/acme-challenge/<token> {said};")
    token = token_for(HOST)
    for secret in (token, key_authorization_for(token), "S3cr3t", "thumbpr1nt"):
        assert secret not in message


def test_a_failed_self_check_names_the_host_that_failed() -> None:
    fetch = ScriptedFetch({HOST: [ok(HOST)], OTHER_HOST: [NOT_FOUND]})
    with pytest.raises(SelfCheckFailed) as failed:
        checker(fetch, FakeClock(), timeout=10).self_check(
            ENDPOINT, ORDER, [answer(HOST), answer(OTHER_HOST)]
        )
    assert f"http://{OTHER_HOST}/" in str(failed.value)
    assert f"http://{HOST}/" not in str(failed.value)


def test_a_last_failure_is_reported_even_when_the_answer_came_right_afterwards() -> None:
    script = [NOT_FOUND, ok(HOST)]
    fetch = ScriptedFetch({HOST: script})
    with pytest.raises(SelfCheckFailed) as failed:
        checker(fetch, FakeClock(), successes=10, interval=2, timeout=6).self_check(
            ENDPOINT, ORDER, [answer(HOST)]
        )
    assert "answered HTTP 404" in str(failed.value)


def test_correct_answers_too_few_before_the_deadline_are_not_reported_as_never_fetched() -> None:
    fetch = ScriptedFetch({HOST: [ok(HOST)]})
    with pytest.raises(SelfCheckFailed) as failed:
        checker(fetch, FakeClock(), successes=3, interval=2, timeout=1).self_check(
            ENDPOINT, ORDER, [answer(HOST)]
        )
    message = str(failed.value)
    assert "not fetched" not in message
    assert "answered correctly" in message


def test_an_answer_never_shows_its_token_or_key_authorization() -> None:
    shown = repr(answer(HOST))
    assert token_for(HOST) not in shown
    assert answer(HOST).shown_url == f"http://{HOST}/.well-known/acme-challenge/<token>"


# ---- present and clean up -----------------------------------------------------------


def solver(kube: FakeKube) -> Http01Solver:
    return Http01Solver(as_kube(kube), Settings(solver_image="registry.test/webhook-cert:1"))


def test_present_creates_one_pod_service_and_ingress_for_the_order() -> None:
    kube = FakeKube()
    solver(kube).present(ENDPOINT, ORDER, [answer(HOST), answer(OTHER_HOST)], HTTP01)
    name = naming.solver_name(ENDPOINT.name, ORDER)
    assert [call[1:] for call in kube.created()] == [
        ("Pod", name),
        ("Service", name),
        ("Ingress", name),
    ]
    for kind in ("Pod", "Service", "Ingress"):
        (item,) = kube.objects[kind]
        assert item["metadata"]["namespace"] == ENDPOINT.namespace
        assert item["metadata"]["labels"] == naming.solver_labels(ENDPOINT.name, ORDER)
    # The endpoint owns the Pod, the Pod the rest: deleting the Pod deletes all three.
    pod = kube.objects["Pod"][0]
    assert [ref["uid"] for ref in pod["metadata"]["ownerReferences"]] == [ENDPOINT.uid]
    for kind in ("Service", "Ingress"):
        (owner,) = kube.objects[kind][0]["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "Pod",
            name,
            pod["metadata"]["uid"],
        )
        assert owner["controller"] is True
    ingress = kube.objects["Ingress"][0]
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [OTHER_HOST, HOST]
    pod = kube.objects["Pod"][0]
    assert pod["spec"]["containers"][0]["image"] == "registry.test/webhook-cert:1"
    environment = pod["spec"]["containers"][0]["env"][0]
    assert environment["name"] == resources.CHALLENGES_ENV
    assert key_authorization_for(token_for(OTHER_HOST)) in environment["value"]


def test_with_gateway_parent_refs_an_http_route_replaces_the_ingress() -> None:
    kube = FakeKube()
    http01 = api.Http01Spec(gateway_parent_refs=(api.ParentReference("public", "gateways"),))
    solver(kube).present(ENDPOINT, ORDER, [answer(HOST)], http01)
    name = naming.solver_name(ENDPOINT.name, ORDER)
    assert [call[1:] for call in kube.created()] == [
        ("Pod", name),
        ("Service", name),
        ("HTTPRoute", name),
    ]
    (route,) = kube.objects["HTTPRoute"]
    assert route["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "public",
            "namespace": "gateways",
        }
    ]
    assert route["metadata"]["ownerReferences"][0]["kind"] == "Pod"
    assert solver(kube).clean_up(ENDPOINT) == 1  # the Pod; the collector takes the rest
    assert kube.objects["HTTPRoute"] == []


def test_a_cluster_without_the_gateway_api_fails_the_self_check_saying_so() -> None:
    kube = FakeKube()

    def not_served(kind: str, namespace: str, body: Any) -> dict[str, Any]:
        if kind == "HTTPRoute":
            raise NotServed("HTTPRoute (gateway.networking.k8s.io/v1) is not served")
        return FakeKube.create(kube, kind, namespace, body)

    kube.create = not_served  # type: ignore[method-assign]
    http01 = api.Http01Spec(gateway_parent_refs=(api.ParentReference("public"),))
    with pytest.raises(SelfCheckFailed, match=r"HTTPRoute .* is not served"):
        solver(kube).present(ENDPOINT, ORDER, [answer(HOST)], http01)


def test_presenting_again_creates_nothing() -> None:
    kube = FakeKube()
    solver(kube).present(ENDPOINT, ORDER, [answer(HOST)], HTTP01)
    kube.calls.clear()
    solver(kube).present(ENDPOINT, ORDER, [answer(HOST)], HTTP01)
    assert kube.created() == []
    assert [call for call in kube.calls if call[0] == "delete"] == []
    assert all(len(kube.objects[kind]) == 1 for kind in ("Pod", "Service", "Ingress"))


def test_presenting_again_recreates_only_what_is_missing() -> None:
    kube = FakeKube()
    solver(kube).present(ENDPOINT, ORDER, [answer(HOST)], HTTP01)
    kube.objects["Service"].clear()
    kube.calls.clear()
    solver(kube).present(ENDPOINT, ORDER, [answer(HOST)], HTTP01)
    assert [call[1] for call in kube.created()] == ["Service"]


def test_present_deletes_another_orders_objects_but_not_another_endpoints() -> None:
    kube = FakeKube()
    neighbour = Endpoint(ENDPOINT.namespace, "zoom", "uid-zoom")
    solver(kube).present(ENDPOINT, OLD_ORDER, [answer(HOST)], HTTP01)
    solver(kube).present(neighbour, OLD_ORDER, [answer(OTHER_HOST)], HTTP01)
    solver(kube).present(ENDPOINT, ORDER, [answer(HOST)], HTTP01)
    ours, old = (
        naming.solver_name(ENDPOINT.name, ORDER),
        naming.solver_name(ENDPOINT.name, OLD_ORDER),
    )
    theirs = naming.solver_name(neighbour.name, OLD_ORDER)
    for kind in ("Pod", "Service", "Ingress"):
        assert kube.names(kind) == sorted([ours, theirs])
        assert old not in kube.names(kind)


def test_present_accepts_objects_created_concurrently() -> None:
    kube = FakeKube()
    name = naming.solver_name(ENDPOINT.name, ORDER)

    def another_replica_creates_the_pod() -> None:
        kube.objects["Pod"].append(
            {"metadata": {"name": name, "namespace": ENDPOINT.namespace, "labels": {}}}
        )

    kube.before["create"] = [another_replica_creates_the_pod]
    solver(kube).present(ENDPOINT, ORDER, [answer(HOST)], HTTP01)
    assert kube.names("Service") == [name]
    assert kube.names("Ingress") == [name]


def test_present_lets_other_creation_errors_through() -> None:
    kube = FakeKube()

    def refuse() -> None:
        raise RuntimeError("forbidden")

    kube.before["create"] = [refuse]
    with pytest.raises(RuntimeError):
        solver(kube).present(ENDPOINT, ORDER, [answer(HOST)], HTTP01)


def add_solver_objects(kube: FakeKube, endpoint: Endpoint, order_url: str) -> None:
    """One order's Pod, Service and Ingress, as an earlier run of the operator left them."""
    spec = solver(kube).solver_spec(endpoint, order_url, [answer(HOST)], HTTP01)
    for build in (resources.build_pod, resources.build_service, resources.build_ingress):
        body = build(spec)
        kube.create(body["kind"], endpoint.namespace, body)


def test_clean_up_deletes_every_order_of_the_endpoint_and_nothing_else() -> None:
    kube = FakeKube()
    neighbour = Endpoint(ENDPOINT.namespace, "zoom", "uid-zoom")
    add_solver_objects(kube, ENDPOINT, OLD_ORDER)
    add_solver_objects(kube, ENDPOINT, ORDER)
    add_solver_objects(kube, neighbour, ORDER)
    users_service = {
        "metadata": {
            "name": "user-service",
            "namespace": ENDPOINT.namespace,
            "labels": {naming.LABEL_ENDPOINT: ENDPOINT.name},
        }
    }
    kube.objects["Service"].append(users_service)

    deleted = solver(kube).clean_up(ENDPOINT)

    theirs = naming.solver_name(neighbour.name, ORDER)
    assert deleted == 6
    assert kube.names("Pod") == [theirs]
    assert kube.names("Ingress") == [theirs]
    assert kube.names("Service") == sorted([theirs, "user-service"])


def test_clean_up_can_keep_one_order() -> None:
    kube = FakeKube()
    add_solver_objects(kube, ENDPOINT, OLD_ORDER)
    add_solver_objects(kube, ENDPOINT, ORDER)
    assert solver(kube).clean_up(ENDPOINT, keep_order_url=ORDER) == 3
    for kind in ("Pod", "Service", "Ingress"):
        assert kube.names(kind) == [naming.solver_name(ENDPOINT.name, ORDER)]


def test_clean_up_of_what_present_made_sends_one_delete_for_the_pod() -> None:
    kube = FakeKube()
    solver(kube).present(ENDPOINT, ORDER, [answer(HOST)], HTTP01)
    kube.calls.clear()
    assert solver(kube).clean_up(ENDPOINT) == 1
    assert [call[:2] for call in kube.calls if call[0] == "delete"] == [("delete", "Pod")]
    assert all(kube.objects[kind] == [] for kind in ("Pod", "Service", "Ingress"))


def test_clean_up_deletes_objects_their_pod_left_behind_one_by_one() -> None:
    kube = FakeKube()
    solver(kube).present(ENDPOINT, ORDER, [answer(HOST)], HTTP01)
    # `kubectl delete pod --cascade=orphan`: the Pod goes, its dependents lose their owner.
    kube.objects["Pod"].clear()
    for kind in ("Service", "Ingress"):
        kube.objects[kind][0]["metadata"]["ownerReferences"] = []
    assert solver(kube).clean_up(ENDPOINT) == 2
    assert kube.objects["Service"] == [] and kube.objects["Ingress"] == []


def test_clean_up_of_nothing_deletes_nothing() -> None:
    assert solver(FakeKube()).clean_up(ENDPOINT) == 0


# ---- the self-check's HTTP fetch ----------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Host")))
        if self.path.endswith("/good"):
            body, status = b"good.thumbprint\n", 200
        else:
            body, status = b"not here", 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    _Handler.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture
def not_http_port() -> Iterator[int]:
    """A server that answers anything but HTTP (say, a TLS-only port)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(4096)
                connection.sendall(b"\x15\x03\x01\x00\x02\x02\x50 this is not HTTP\r\n\r\n")

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def fetch(path: str, port: int) -> Response:
    return fetch_over_http("127.0.0.1", path, nameservers=(), port=port, timeout=5)


def test_fetch_returns_status_and_body_and_sends_the_host_header(http_port: int) -> None:
    status, body, reason = fetch("/.well-known/acme-challenge/good", http_port)
    assert (status, body, reason) == (200, b"good.thumbprint\n", "answered HTTP 200")
    assert _Handler.seen == [("/.well-known/acme-challenge/good", "127.0.0.1")]


def test_fetch_reports_the_status_of_a_wrong_answer(http_port: int) -> None:
    assert fetch("/.well-known/acme-challenge/missing", http_port)[::2] == (
        404,
        "answered HTTP 404",
    )


def test_fetch_reports_a_closed_port_as_unreachable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    status, body, reason = fetch("/.well-known/acme-challenge/x", port)
    assert (status, body) == (None, b"")
    assert reason.startswith(f"is unreachable at 127.0.0.1:{port} (")


def test_fetch_reports_an_answer_that_is_not_http_instead_of_raising(not_http_port: int) -> None:
    status, body, reason = fetch("/.well-known/acme-challenge/x", not_http_port)
    assert (status, body) == (None, b"")
    assert reason == f"answered something other than HTTP at 127.0.0.1:{not_http_port}"


# ---- redirects and several addresses, as Let's Encrypt follows them --------------------

TOKEN_PATH = "/.well-known/acme-challenge/tok3n-secret"


class _Scripted(http.server.BaseHTTPRequestHandler):
    """Answers from the server's `routes`: path -> (status, Location or None, body)."""

    def do_GET(self) -> None:
        routes: dict[str, tuple[int, str | None, bytes]] = self.server.routes  # type: ignore[attr-defined]
        status, location, body = routes.get(self.path, (404, None, b"not here"))
        self.send_response(status)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Servers:
    """An HTTP server and an HTTPS one (self-signed certificate) on one loopback address."""

    def __init__(self, tmp: Path, host: str = "127.0.0.1") -> None:
        self.ports: dict[str, int] = {}
        self.http = http.server.ThreadingHTTPServer((host, 0), _Scripted)
        self.https = http.server.ThreadingHTTPServer((host, 0), _Scripted)
        leaf = pki.make_self_signed_leaf(["default.ingress.test"])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(
            pki.write_pem(tmp / f"{host}.pem", leaf.cert),
            pki.write_key(tmp / f"{host}.key", leaf.key),
        )
        self.https.socket = context.wrap_socket(self.https.socket, server_side=True)
        self.ports = {"http": self.http.server_address[1], "https": self.https.server_address[1]}
        for server in (self.http, self.https):
            server.routes = {}  # type: ignore[attr-defined]
        self.threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05})
            for s in (self.http, self.https)
        ]

    def route(
        self, scheme: str, path: str, status: int, location: str | None, body: bytes = b""
    ) -> None:
        server = self.http if scheme == "http" else self.https
        server.routes[path] = (status, location, body)  # type: ignore[attr-defined]

    def fetch(self, host: str = "127.0.0.1", nameservers: Sequence[str] = ()) -> Response:
        return fetch_over_http(
            host,
            TOKEN_PATH,
            nameservers=nameservers,
            port=self.ports["http"],
            https_port=self.ports["https"],
            timeout=5,
        )

    def __enter__(self) -> _Servers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        for server in (self.http, self.https):
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(timeout=5)


def test_an_entrypoint_redirect_to_https_with_a_self_signed_certificate_is_followed(
    tmp_path: Path,
) -> None:
    # Fault class 6 (docs/conformance.md): port 80 answers every path with 308 to https://<host><path>,
    # and HTTPS serves the challenge with an ingress controller's default certificate.
    with _Servers(tmp_path) as servers:
        servers.route("http", TOKEN_PATH, 308, f"https://127.0.0.1{TOKEN_PATH}")
        servers.route("https", TOKEN_PATH, 200, None, b"key.authorization")
        assert servers.fetch()[:2] == (200, b"key.authorization")


def test_a_failure_after_redirects_names_the_final_url_without_the_token(tmp_path: Path) -> None:
    with _Servers(tmp_path) as servers:
        servers.route("http", TOKEN_PATH, 301, "/elsewhere/tok3n-secret")
        servers.route(
            "http", "/elsewhere/tok3n-secret", 302, "https://127.0.0.1/final/tok3n-secret"
        )
        status, _, reason = servers.fetch()
    assert status == 404
    assert reason == "answered HTTP 404 at https://127.0.0.1/final/<token> after 2 redirect(s)"
    assert "tok3n-secret" not in reason


def test_more_than_ten_redirects_fail(tmp_path: Path) -> None:
    with _Servers(tmp_path) as servers:
        servers.route("http", TOKEN_PATH, 302, TOKEN_PATH)
        status, _, reason = servers.fetch()
    assert status is None
    assert reason == "redirects more than 10 times"


@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("https://127.0.0.1:8443/x", "the CA follows only ports 80 and 443"),
        ("ftp://127.0.0.1/x", "which the CA does not follow"),
    ],
    ids=["another port", "another scheme"],
)
def test_redirects_the_ca_would_not_follow_fail(tmp_path: Path, location: str, words: str) -> None:
    with _Servers(tmp_path) as servers:
        servers.route("http", TOKEN_PATH, 302, location)
        status, _, reason = servers.fetch()
    assert status == 302
    assert words in reason


def test_every_address_of_the_host_must_serve_the_answer(tmp_path: Path) -> None:
    # Fault class 4 (docs/conformance.md): Let's Encrypt may ask any A or AAAA record.
    with (
        _Servers(tmp_path, "127.0.0.1") as good,
        FakeDNS({"hooks.example.test": ["127.0.0.1", "127.0.0.2"]}) as dns,
    ):
        good.route("http", TOKEN_PATH, 200, None, b"key.authorization")
        bad = http.server.ThreadingHTTPServer(("127.0.0.2", good.ports["http"]), _Scripted)
        bad.routes = {}  # type: ignore[attr-defined]
        thread = threading.Thread(target=bad.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            status, _, reason = good.fetch("hooks.example.test", [dns.address])
        finally:
            bad.shutdown()
            bad.server_close()
            thread.join(timeout=5)
    assert status == 404
    assert reason == "answered HTTP 404 (from 127.0.0.2, one of 2 addresses)"


def test_an_ipv6_address_that_gives_no_connection_falls_back_to_ipv4_as_the_ca_does(
    tmp_path: Path,
) -> None:
    # Nothing listens on [::1] at the servers' ports: the IPv6 connection is refused.
    with (
        _Servers(tmp_path) as servers,
        FakeDNS({"hooks.example.test": ["::1", "127.0.0.1"]}) as dns,
    ):
        servers.route("http", TOKEN_PATH, 200, None, b"key.authorization")
        status, body, _ = servers.fetch("hooks.example.test", [dns.address])
    assert (status, body) == (200, b"key.authorization")

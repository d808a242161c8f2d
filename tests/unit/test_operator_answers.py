"""Unit tests for the operator answering HTTP-01 itself: `OperatorAnswers` over real HTTP
on 127.0.0.1, and `Http01Solver` with `settings.solver_address` set, against FakeKube: a
selector-less Service, its EndpointSlice and the Ingress, and no Pod."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.unit.fakes import FakeClock, FakeKube, as_kube, key_authorization_for, token_for
from webhook_cert_operator import naming
from webhook_cert_operator.api.formats import challenge_path
from webhook_cert_operator.api.types import Endpoint, Http01Spec
from webhook_cert_operator.settings import ConfigError, Settings, settings_from_env
from webhook_cert_operator.solver import resources
from webhook_cert_operator.solver.http01 import Answer, Http01Solver, SelfCheckFailed
from webhook_cert_operator.solver.operator_answers import OperatorAnswers

HOST = "hooks.example.test"
ENDPOINT = Endpoint("payments", "ringcentral", "uid-ringcentral")
OTHER_ENDPOINT = Endpoint("payments", "stripe", "uid-stripe")
ORDER = "https://ca.test/order/1"
OLD_ORDER = "https://ca.test/order/0"
HTTP01 = Http01Spec(ingress_class_name="traefik")
POD_IP = "10.245.0.7"


def answer(host: str, order: str = "") -> Answer:
    token = token_for(host + order.rsplit("/", 1)[-1])
    return Answer(host, token, key_authorization_for(token))


@pytest.fixture
def answers() -> Iterator[OperatorAnswers]:
    served = OperatorAnswers()
    served.start("127.0.0.1", 0)
    yield served
    served.stop()


def port_of(answers: OperatorAnswers) -> int:
    assert answers._server is not None
    return int(answers._server.server_address[1])


def fetch(answers: OperatorAnswers, token: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port_of(answers), timeout=5)
    try:
        connection.request("GET", challenge_path(token), headers={"Host": HOST})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def solver(kube: FakeKube, answers: OperatorAnswers, address: str = POD_IP) -> Http01Solver:
    return Http01Solver(as_kube(kube), Settings(solver_address=address), answers=answers)


# ---- the answer server ------------------------------------------------------------------


def test_published_answers_are_served_and_withdrawn_ones_are_not(
    answers: OperatorAnswers,
) -> None:
    mine = answer(HOST)
    answers.publish(("payments", "ringcentral"), ORDER, {mine.token: mine.key_authorization})
    assert fetch(answers, mine.token) == (200, mine.key_authorization.encode())
    answers.withdraw(("payments", "ringcentral"))
    assert fetch(answers, mine.token)[0] == 404


def test_withdrawing_one_endpoint_keeps_the_others_and_the_kept_order(
    answers: OperatorAnswers,
) -> None:
    old, new, theirs = answer(HOST, OLD_ORDER), answer(HOST, ORDER), answer("other.test")
    answers.publish(("payments", "ringcentral"), OLD_ORDER, {old.token: old.key_authorization})
    answers.publish(("payments", "ringcentral"), ORDER, {new.token: new.key_authorization})
    answers.publish(("payments", "stripe"), ORDER, {theirs.token: theirs.key_authorization})
    answers.withdraw(("payments", "ringcentral"), keep_order=ORDER)
    assert fetch(answers, old.token)[0] == 404
    assert fetch(answers, new.token)[0] == 200
    assert fetch(answers, theirs.token)[0] == 200


def test_answers_published_before_the_server_starts_are_served() -> None:
    early = answer(HOST)
    served = OperatorAnswers()
    served.publish(("payments", "ringcentral"), ORDER, {early.token: early.key_authorization})
    served.start("127.0.0.1", 0)
    try:
        assert fetch(served, early.token) == (200, early.key_authorization.encode())
    finally:
        served.stop()


# ---- the solver when the operator answers -----------------------------------------------


def test_present_makes_a_service_without_selector_its_endpoint_slice_and_the_ingress(
    answers: OperatorAnswers,
) -> None:
    kube = FakeKube()
    mine = answer(HOST)
    solver(kube, answers).present(ENDPOINT, ORDER, [mine], HTTP01)
    name = naming.solver_name(ENDPOINT.name, ORDER)
    assert [call[1:] for call in kube.created()] == [
        ("Service", name),
        ("EndpointSlice", name),
        ("Ingress", name),
    ]
    assert kube.objects["Pod"] == []
    (service,) = kube.objects["Service"]
    assert "selector" not in service["spec"]
    assert [ref["uid"] for ref in service["metadata"]["ownerReferences"]] == [ENDPOINT.uid]
    (endpoint_slice,) = kube.objects["EndpointSlice"]
    assert endpoint_slice["addressType"] == "IPv4"
    assert endpoint_slice["endpoints"] == [{"addresses": [POD_IP], "conditions": {"ready": True}}]
    assert endpoint_slice["ports"] == [{"name": "http", "port": 8089, "protocol": "TCP"}]
    assert endpoint_slice["metadata"]["labels"][resources.SERVICE_NAME_LABEL] == name
    # The Service owns the rest: deleting it deletes them.
    for kind in ("EndpointSlice", "Ingress"):
        (owner,) = kube.objects[kind][0]["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"]) == ("Service", service["metadata"]["uid"])
    assert fetch(answers, mine.token) == (200, mine.key_authorization.encode())


def test_clean_up_withdraws_the_answers_and_sends_one_delete(answers: OperatorAnswers) -> None:
    kube = FakeKube()
    mine = answer(HOST)
    solver(kube, answers).present(ENDPOINT, ORDER, [mine], HTTP01)
    kube.calls.clear()
    assert solver(kube, answers).clean_up(ENDPOINT) == 1
    assert [call[:2] for call in kube.calls if call[0] == "delete"] == [("delete", "Service")]
    assert all(kube.objects[kind] == [] for kind in ("Service", "EndpointSlice", "Ingress"))
    assert fetch(answers, mine.token)[0] == 404


def test_finishing_an_order_sends_one_delete_and_lists_nothing(answers: OperatorAnswers) -> None:
    kube = FakeKube()
    mine = answer(HOST)
    solver(kube, answers).present(ENDPOINT, ORDER, [mine], HTTP01)
    kube.calls.clear()
    solver(kube, answers).finish(ENDPOINT, ORDER)
    assert kube.calls == [("delete", "Service", naming.solver_name(ENDPOINT.name, ORDER))]
    assert all(kube.objects[kind] == [] for kind in ("Service", "EndpointSlice", "Ingress"))
    assert fetch(answers, mine.token)[0] == 404


def test_finishing_an_order_never_presented_removes_what_an_earlier_order_left(
    answers: OperatorAnswers,
) -> None:
    """A restarted operator that never saw the earlier order in status, and a CA that
    reused its valid authorization for the next one: nothing to delete by name."""
    kube = FakeKube()
    solver(kube, answers).present(ENDPOINT, OLD_ORDER, [answer(HOST, OLD_ORDER)], HTTP01)
    solver(kube, answers).finish(ENDPOINT, ORDER)
    assert all(kube.objects[kind] == [] for kind in ("Service", "EndpointSlice", "Ingress"))


def test_presenting_lists_each_kind_once(answers: OperatorAnswers) -> None:
    kube = FakeKube()
    solver(kube, answers).present(ENDPOINT, ORDER, [answer(HOST)], HTTP01)
    listed = [call[1] for call in kube.calls if call[0] == "list"]
    assert sorted(listed) == sorted(set(listed))


def test_a_new_order_stops_serving_the_old_orders_answers_but_not_another_endpoints(
    answers: OperatorAnswers,
) -> None:
    kube = FakeKube()
    old, new, theirs = answer(HOST, OLD_ORDER), answer(HOST, ORDER), answer("other.test")
    solver(kube, answers).present(ENDPOINT, OLD_ORDER, [old], HTTP01)
    solver(kube, answers).present(OTHER_ENDPOINT, ORDER, [theirs], HTTP01)
    solver(kube, answers).present(ENDPOINT, ORDER, [new], HTTP01)
    assert fetch(answers, old.token)[0] == 404
    assert fetch(answers, new.token)[0] == 200
    assert fetch(answers, theirs.token)[0] == 200
    assert len(kube.objects["Service"]) == 2


def test_an_order_taken_over_from_another_replica_is_routed_to_this_one(
    answers: OperatorAnswers,
) -> None:
    kube = FakeKube()
    mine = answer(HOST)
    solver(kube, answers, address="10.245.0.99").present(ENDPOINT, ORDER, [mine], HTTP01)
    kube.calls.clear()
    solver(kube, answers).present(ENDPOINT, ORDER, [mine], HTTP01)
    (endpoint_slice,) = kube.objects["EndpointSlice"]
    assert resources.endpoint_slice_address(endpoint_slice) == POD_IP
    assert [call for call in kube.calls if call[0] in ("create", "patch", "delete")] == [
        ("patch", "EndpointSlice", naming.solver_name(ENDPOINT.name, ORDER))
    ]


def test_presenting_again_on_the_same_replica_writes_nothing(answers: OperatorAnswers) -> None:
    kube = FakeKube()
    solver(kube, answers).present(ENDPOINT, ORDER, [answer(HOST)], HTTP01)
    kube.calls.clear()
    solver(kube, answers).present(ENDPOINT, ORDER, [answer(HOST)], HTTP01)
    assert [call for call in kube.calls if call[0] in ("create", "patch", "delete")] == []


def test_an_ipv6_pod_address_makes_an_ipv6_endpoint_slice(answers: OperatorAnswers) -> None:
    kube = FakeKube()
    solver(kube, answers, address="fd00::7").present(ENDPOINT, ORDER, [answer(HOST)], HTTP01)
    (endpoint_slice,) = kube.objects["EndpointSlice"]
    assert endpoint_slice["addressType"] == "IPv6"


def test_a_solver_address_without_an_answer_server_is_refused() -> None:
    with pytest.raises(ValueError, match="answers are needed"):
        Http01Solver(as_kube(FakeKube()), Settings(solver_address=POD_IP))


@pytest.mark.parametrize("value", ["my-pod", "10.0.0", "10.245.0.7:8089"])
def test_a_solver_address_that_is_not_an_ip_address_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_CERT_SOLVER_ADDRESS"):
        settings_from_env({"WEBHOOK_CERT_SOLVER_ADDRESS": value})


def test_a_pod_solver_is_used_without_a_solver_address() -> None:
    kube = FakeKube()
    Http01Solver(as_kube(kube), Settings(solver_image="registry.test/solver:1")).present(
        ENDPOINT, ORDER, [answer(HOST)], HTTP01
    )
    assert [call[1] for call in kube.created()] == ["Pod", "Service", "Ingress"]
    assert kube.objects["EndpointSlice"] == []


def test_a_failed_self_check_says_the_ingress_controller_must_reach_the_operator(
    answers: OperatorAnswers,
) -> None:
    clock = FakeClock()
    checking = Http01Solver(
        as_kube(FakeKube()),
        Settings(solver_address=POD_IP, self_check_timeout=timedelta(seconds=5)),
        answers=answers,
        fetch=lambda host, path: (502, b"Bad Gateway", "answered HTTP 502"),
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )
    with pytest.raises(SelfCheckFailed) as failed:
        checking.self_check(ENDPOINT, ORDER, [answer(HOST)])
    message = str(failed.value)
    assert "answered HTTP 502" in message
    assert "must reach the operator's Pod on the solver port" in message
    assert clock.now - 1000.0 < 6  # no wait for a solver Pod: there is none

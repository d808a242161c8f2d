"""What the real `AcmeClient` costs the CA: requests counted at a fake CA (fake_ca.py).

A CA counts every request against the account (Let's Encrypt's rate limits, a
politeness budget for an endpoint that keeps failing), so these tests pin the counts a
CA would notice: one nonce request per client, none after an error answer, and no
authorization fetched again for an attempt that never gets as far as answering.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from tests.unit.fake_ca import DIRECTORY, FakeCaNetwork
from webhook_cert_operator.acme.client import AcmeClient
from webhook_cert_operator.acme.errors import AcmeError
from webhook_cert_operator.acme.messages import Http01Challenge, RememberedChallenges
from webhook_cert_operator.certificates import pki

KEY = pki.generate_account_key()


def connect() -> tuple[AcmeClient, FakeCaNetwork]:
    ca = FakeCaNetwork()
    client = AcmeClient(DIRECTORY, KEY, transport=ca)
    client.ensure_account(None, agree_tos=True)
    return client, ca


def test_a_client_asks_for_a_nonce_once_and_then_uses_those_of_the_answers() -> None:
    client, ca = connect()
    order = client.new_order(["host1.example.com"])
    for _ in range(3):
        client.get_order(order.url)
    assert ca.requests_to("/new-nonce") == 1


def test_a_bad_nonce_is_sent_again_with_the_nonce_of_the_error_answer() -> None:
    client, ca = connect()
    order = client.new_order(["host1.example.com"])
    ca.reject_nonces = 2
    assert client.get_order(order.url).status == "pending"
    assert ca.requests_to("/order/1") == 3  # two refused, then accepted
    assert ca.requests_to("/new-nonce") == 1


def test_a_ca_that_keeps_refusing_nonces_fails_the_request_after_a_few_tries() -> None:
    client, ca = connect()
    order = client.new_order(["host1.example.com"])
    ca.reject_nonces = 100
    with pytest.raises(AcmeError, match="badNonce"):
        client.get_order(order.url)
    assert ca.requests_to("/order/1") == 5


def test_a_ca_that_forgot_every_pooled_nonce_costs_each_request_one_refusal() -> None:
    # Many threads at once leave many nonces pooled; a CA that restarts (or lets them
    # expire) refuses them all, more of them than a request has retries.
    client, ca = connect()
    order = client.new_order(["host1.example.com"])
    ca.latency = 0.02
    with ThreadPoolExecutor(max_workers=40) as pool:
        list(pool.map(lambda _: client.get_order(order.url), range(40)))
    ca.latency = 0.0
    ca.forget_nonces()
    before = ca.requests_to("/order/1")
    for _ in range(10):
        assert client.get_order(order.url).status == "pending"
    assert ca.requests_to("/order/1") - before <= 20


def test_a_retry_of_a_pending_order_fetches_no_authorization_until_it_answers() -> None:
    client, ca = connect()
    order = client.new_order(["host1.example.com"])
    [first] = client.pending_http01_challenges(order)  # the self-check then fails
    before = sum(ca.asked.values())

    resumed = client.get_order(order.url)
    [again] = client.pending_http01_challenges(resumed)

    assert sum(ca.asked.values()) - before == 1  # the order alone
    assert ca.requests_to("/authz/") == 1
    assert (again.token, again.key_authorization) == (first.token, first.key_authorization)
    assert again.remembered and not first.remembered


def test_a_remembered_challenge_is_answered_after_one_authorization_fetch() -> None:
    client, ca = connect()
    order = client.new_order(["host1.example.com"])
    client.pending_http01_challenges(order)
    [remembered] = client.pending_http01_challenges(client.get_order(order.url))

    client.answer(remembered)

    assert ca.requests_to("/authz/") == 2
    assert ca.requests_to("/chall/") == 1
    assert ca.authorizations["/authz/1"]["status"] == "valid"


def test_a_fresh_challenge_is_answered_without_fetching_its_authorization_again() -> None:
    client, ca = connect()
    order = client.new_order(["host1.example.com"])
    [challenge] = client.pending_http01_challenges(order)

    client.answer(challenge)

    assert (ca.requests_to("/authz/"), ca.requests_to("/chall/")) == (1, 1)


def test_a_remembered_challenge_whose_authorization_became_valid_is_not_answered() -> None:
    client, ca = connect()
    order = client.new_order(["host1.example.com"])
    client.pending_http01_challenges(order)
    [remembered] = client.pending_http01_challenges(order)
    ca.authorizations["/authz/1"]["status"] = "valid"  # through another order

    client.answer(remembered)

    assert ca.requests_to("/chall/") == 0


def test_a_remembered_challenge_whose_authorization_expired_fails_the_attempt() -> None:
    client, ca = connect()
    order = client.new_order(["host1.example.com"])
    client.pending_http01_challenges(order)
    [remembered] = client.pending_http01_challenges(order)
    ca.authorizations["/authz/1"]["status"] = "expired"

    with pytest.raises(AcmeError):
        client.answer(remembered)
    assert ca.requests_to("/chall/") == 0
    with pytest.raises(AcmeError):  # forgotten: the next attempt asks the CA again
        client.pending_http01_challenges(order)
    assert ca.requests_to("/authz/") == 3


def test_an_answered_challenge_is_not_remembered() -> None:
    client, ca = connect()
    order = client.new_order(["host1.example.com"])
    [challenge] = client.pending_http01_challenges(order)
    client.answer(challenge)
    ca.authorizations["/authz/1"]["status"] = "pending"  # as if the CA had reset it

    [again] = client.pending_http01_challenges(order)

    assert not again.remembered
    assert ca.requests_to("/authz/") == 2


def _challenge(number: int) -> Http01Challenge:
    return Http01Challenge(
        identifier=f"host{number}.example.com",
        url=f"https://ca.test/chall/{number}",
        authz_url=f"https://ca.test/authz/{number}",
        status="pending",
        token=f"{number:043d}",
        key_authorization=f"{number:043d}.thumbprint",
    )


def test_the_remembered_challenges_are_bounded_and_the_oldest_go_first() -> None:
    remembered = RememberedChallenges(2)
    for number in (1, 2, 3):
        remembered.keep(_challenge(number))
    assert len(remembered) == 2
    assert remembered.recall("https://ca.test/authz/1") is None
    assert remembered.recall("https://ca.test/authz/3") == replace(_challenge(3), remembered=True)

"""The account registry: one client per account, reused across calls and threads.

Real `AcmeClient`s talk to `FakeCaNetwork` (tests/unit/fake_ca.py), a requests
transport that answers as a CA would and counts what it was asked, so the tests can say
how often the directory was fetched and the account looked up.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.unit.acme_certificates import certificate, pem
from tests.unit.fake_ca import CA, DIRECTORY, FakeCaNetwork
from webhook_cert_operator.acme.accounts import MAX_AGE, AcmeAccounts
from webhook_cert_operator.acme.client import AcmeClient
from webhook_cert_operator.acme.errors import AcmeError
from webhook_cert_operator.certificates import pki

LEAF_PEM = pem(certificate("hooks.example.com", "Intermediate A", serial=7)).encode()


class World:
    """A registry over clients that reach `ca`, on a clock the test moves."""

    def __init__(self) -> None:
        self.ca = FakeCaNetwork()
        self.now = 0.0
        self.connected: list[AcmeClient] = []
        self.accounts = AcmeAccounts(self._connect, monotonic=lambda: self.now)

    def _connect(self, directory_url: str, account_key_pem: bytes) -> AcmeClient:
        client = AcmeClient(directory_url, account_key_pem, transport=self.ca)
        self.connected.append(client)
        return client

    def poll(self, key_pem: bytes, account: str = "account-1") -> AcmeClient:
        """What the Issuer does for one ARI poll: account, renewal info, close."""
        client = self.accounts.client(DIRECTORY, key_pem, account)
        try:
            client.ensure_account(None, agree_tos=True)
            client.renewal_info(LEAF_PEM)
        finally:
            client.close()
        return client


KEY = pki.generate_account_key()
OTHER_KEY = pki.generate_account_key()


def test_repeated_ari_polls_fetch_the_directory_and_find_the_account_once() -> None:
    world = World()
    clients = {world.poll(KEY) for _ in range(3)}
    assert len(clients) == 1
    assert world.ca.fetches("/directory") == 1
    assert world.ca.fetches("/new-account") == 1
    assert sum(n for (_, p), n in world.ca.asked.items() if p.startswith("/renewal-info/")) == 3


def test_a_new_key_for_the_same_account_replaces_its_client() -> None:
    world = World()
    first = world.poll(KEY)
    second = world.poll(OTHER_KEY)
    assert first is not second
    assert world.poll(OTHER_KEY) is second
    assert len(world.accounts) == 1
    assert world.ca.fetches("/directory") == 2


def test_two_accounts_on_one_server_keep_a_client_each() -> None:
    world = World()
    one = world.poll(KEY, "account-1")
    two = world.poll(OTHER_KEY, "account-2")
    assert one is not two
    assert world.poll(KEY, "account-1") is one
    assert len(world.accounts) == 2


def test_without_an_account_name_the_key_names_the_slot() -> None:
    world = World()
    one = world.accounts.client(DIRECTORY, KEY)
    two = world.accounts.client(DIRECTORY, OTHER_KEY)
    assert one is not two
    assert world.accounts.client(DIRECTORY, KEY) is one


def test_a_ca_that_forgot_the_account_gets_it_back_and_the_request_goes_through() -> None:
    world = World()
    client = world.poll(KEY)
    world.ca.forget_accounts()
    order = client.get_order(f"{CA}/order/1")
    assert order.status == "ready"
    assert world.ca.fetches("/new-account") == 2
    assert world.ca.fetches("/order/1") == 2
    assert not client.disowned
    assert world.poll(KEY) is client


def test_a_client_whose_account_the_ca_keeps_refusing_is_replaced() -> None:
    world = World()
    first = world.poll(KEY)
    world.ca.refuse_accounts = True
    world.ca.forget_accounts()
    with pytest.raises(AcmeError, match="urn:ietf:params:acme:error:accountDoesNotExist"):
        first.get_order(f"{CA}/order/1")
    assert first.disowned
    assert world.poll(KEY) is not first
    assert world.ca.fetches("/directory") == 2


@pytest.mark.parametrize(
    ("age", "reused"),
    [
        pytest.param(MAX_AGE - 1, True, id="younger-than-max-age-reused"),
        pytest.param(MAX_AGE, False, id="max-age-rebuilt-to-see-directory-changes"),
    ],
)
def test_a_client_is_rebuilt_once_it_reaches_the_max_age(age: float, reused: bool) -> None:
    world = World()
    first = world.poll(KEY)
    world.now += age
    assert (world.poll(KEY) is first) is reused


def test_threads_asking_at_once_share_one_client_and_one_directory_fetch() -> None:
    world = World()
    start = threading.Barrier(8)

    def poll(_: int) -> AcmeClient:
        start.wait()
        return world.poll(KEY)

    with ThreadPoolExecutor(max_workers=8) as pool:
        clients = set(pool.map(poll, range(8)))
    assert len(clients) == 1
    assert len(world.connected) == 1
    assert world.ca.fetches("/directory") == 1
    assert world.ca.fetches("/new-account") == 1


def test_connections_close_only_when_the_last_user_lets_go() -> None:
    world = World()
    first = world.accounts.client(DIRECTORY, KEY, "account-1")
    second = world.accounts.client(DIRECTORY, KEY, "account-1")
    first.close()
    assert world.ca.closed == 0  # `second` may be in the middle of a request
    second.close()
    assert world.ca.closed > 0
    assert world.accounts.client(DIRECTORY, KEY, "account-1") is first  # still usable

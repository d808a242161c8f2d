"""Drive the operator's served-chain check (`ChainChecker`) against real local TLS servers.

No cluster: the servers listen on 127.0.0.1 in this process, the WebhookEndpoint's TLS
Secret and trust bundle live in a fake Kubernetes, and the probe is the real one (real
sockets, real handshakes, real DNS through a local server where a test needs a name).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests import pki_factory as pki
from tests.fake_dns import FakeDNS
from tests.tls_server import SilentServer, TLSServer, WebhookReceiver
from tests.unit.fakes import FakeKube, as_kube
from webhook_cert_operator import naming
from webhook_cert_operator.api import types as api
from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.checking.checker import ChainChecker
from webhook_cert_operator.checking.condition import CheckResult
from webhook_cert_operator.metrics import Metrics
from webhook_cert_operator.settings import Settings

HOST = "hooks.example.test"
NAMESPACE = "payments"
ENDPOINT = "ringcentral"
SECRET = "ringcentral-tls"
BUNDLE = {"kind": "ConfigMap", "name": "test-roots"}


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


class Kube(FakeKube):
    """FakeKube with ConfigMaps."""

    def __init__(self) -> None:
        super().__init__()
        self.config_maps: dict[tuple[str, str], dict[str, bytes]] = {}

    def get_config_map_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        data = self.config_maps.get((namespace, name))
        return dict(data) if data is not None else None


@pytest.fixture(scope="module")
def hierarchy() -> pki.Chain:
    return pki.build_chain([HOST], depth=2)


@pytest.fixture
def kube(hierarchy: pki.Chain) -> Kube:
    kube = Kube()
    kube.config_maps[NAMESPACE, "test-roots"] = {"ca.crt": pem(hierarchy.root.cert)}
    return kube


def store_secret(kube: Kube, chain: tuple[x509.Certificate, ...], key: pki.PrivateKey) -> None:
    kube.put_secret(
        NAMESPACE,
        SECRET,
        {"tls.crt": pem(*chain), "tls.key": pki.Issued(chain[0], key).key_pem()},
        annotations={naming.ANNOTATION_ENDPOINT: f"{NAMESPACE}/{ENDPOINT}"},
    )


def spec(server: TLSServer | SilentServer, **validation: Any) -> api.EndpointSpec:
    fields = {
        "url": f"https://{HOST}:{server.port}/hook",
        "connectTo": server.address,
        "trustBundle": BUNDLE,
        **validation,
    }
    return parse_spec(
        {"dnsNames": [HOST], "secretName": SECRET, "validation": fields},
        name=ENDPOINT,
        settings=Settings(),
    )


def checker(kube: Kube, *, timeout: float = 5.0, **settings: Any) -> ChainChecker:
    return ChainChecker(as_kube(kube), Settings(**settings), Metrics(), timeout=timeout)


def check(kube: Kube, server: TLSServer | SilentServer, **validation: Any) -> CheckResult:
    return checker(kube).check(NAMESPACE, ENDPOINT, spec(server, **validation))


@pytest.fixture
def full_chain_server(hierarchy: pki.Chain) -> Iterator[TLSServer]:
    with TLSServer(hierarchy.served(), hierarchy.leaf.key) as server:
        yield server


def test_a_server_presenting_the_full_chain_is_chain_valid(
    kube: Kube, hierarchy: pki.Chain, full_chain_server: TLSServer
) -> None:
    store_secret(kube, hierarchy.served(), hierarchy.leaf.key)

    result = check(kube, full_chain_server)

    assert result.condition.status == "True", result.condition.message
    assert result.validation["tlsVersion"] == "TLSv1.3"
    assert [c["subject"] for c in result.validation["servedChain"]] == [
        c.subject.rfc4514_string() for c in hierarchy.served()
    ]
    # The lenient handshake, then the sender's.
    assert full_chain_server.server_names == [HOST, HOST]


class PairedServer(TLSServer):
    """Starts no handshake until a second connection is open beside the first: a client
    that makes its two handshakes one after the other gets nothing from it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.both_open = threading.Barrier(2, timeout=3)

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.both_open.wait()
        except threading.BrokenBarrierError:
            conn.close()
            return
        super()._handle(conn)


def test_the_two_handshakes_of_a_check_are_made_at_the_same_time(
    kube: Kube, hierarchy: pki.Chain
) -> None:
    with PairedServer(hierarchy.served(), hierarchy.leaf.key) as server:
        result = check(kube, server)

    assert result.condition.status == "True", result.condition.message
    assert result.validation["servedChain"], "the lenient handshake's chain is reported"
    assert server.handshakes == 2


def test_a_server_presenting_only_the_leaf_is_an_incomplete_chain(
    kube: Kube, hierarchy: pki.Chain
) -> None:
    with TLSServer([hierarchy.leaf.cert], hierarchy.leaf.key) as server:
        result = check(kube, server)

    assert (result.condition.status, result.condition.reason) == ("False", "IncompleteChain")
    assert '"Test Intermediate CA 2"' in result.condition.message


def test_a_server_still_serving_the_old_certificate_is_stale_until_it_reloads(
    kube: Kube, hierarchy: pki.Chain, full_chain_server: TLSServer
) -> None:
    renewed = pki.make_leaf(hierarchy.intermediates[-1], [HOST])
    store_secret(kube, (renewed.cert, *hierarchy.served()[1:]), renewed.key)

    before = check(kube, full_chain_server)
    with TLSServer((renewed.cert, *hierarchy.served()[1:]), renewed.key) as reloaded:
        after = check(kube, reloaded)

    assert before.condition.reason == "StaleCertificate" and before.stale
    assert after.condition.status == "True" and not after.stale


def test_a_silent_server_is_connection_failed_within_the_probe_timeout(kube: Kube) -> None:
    with SilentServer() as server:
        started = time.monotonic()
        result = checker(kube, timeout=1.0).check(NAMESPACE, ENDPOINT, spec(server))
        elapsed = time.monotonic() - started

    assert (result.condition.status, result.condition.reason) == ("False", "ConnectionFailed")
    assert "timed out after 1s" in result.condition.message
    assert elapsed < 5


def test_the_host_resolves_through_the_configured_nameservers(
    kube: Kube, full_chain_server: TLSServer
) -> None:
    with FakeDNS({HOST: ["127.0.0.1"]}) as dns_server:
        result = checker(kube, nameservers=(dns_server.address,)).check(
            NAMESPACE,
            ENDPOINT,
            parse_spec(
                {
                    "dnsNames": [HOST],
                    "validation": {
                        "url": f"https://{HOST}:{full_chain_server.port}/",
                        "trustBundle": BUNDLE,
                    },
                },
                name=ENDPOINT,
                settings=Settings(),
            ),
        )

    assert result.condition.status == "True", result.condition.message
    assert (HOST, "A") in dns_server.queries


def test_a_hanging_server_does_not_hold_up_checks_of_other_endpoints(
    kube: Kube, full_chain_server: TLSServer
) -> None:
    shared = checker(kube, timeout=5.0, check_concurrency=2)
    with SilentServer() as silent:
        hanging = threading.Thread(
            target=shared.check, args=(NAMESPACE, "silent", spec(silent)), daemon=True
        )
        hanging.start()
        results = [shared.check(NAMESPACE, ENDPOINT, spec(full_chain_server)) for _ in range(5)]
        still_waiting = hanging.is_alive()
        hanging.join(timeout=15)

    assert all(r.condition.status == "True" for r in results)
    assert still_waiting, "the silent server answered: this test proved nothing"


@pytest.mark.parametrize(
    ("echo", "status", "reason"),
    [
        ("ringcentral", 200, "ChainValid"),
        (None, 200, "SenderTokenNotEchoed"),
        ("ringcentral", 500, "SenderStatus"),
    ],
    ids=["echoes", "does not echo", "answers 500"],
)
def test_the_ringcentral_profile_shows_in_the_chain_valid_reason(
    kube: Kube, hierarchy: pki.Chain, echo: str | None, status: int, reason: str
) -> None:
    store_secret(kube, hierarchy.served(), hierarchy.leaf.key)
    receiver = WebhookReceiver(hierarchy.served(), hierarchy.leaf.key, echo=echo, status=status)
    with receiver:
        result = check(kube, receiver, sender="ringcentral")
    assert result.condition.reason == reason, result.condition.message
    [(_, _, headers)] = receiver.requests
    assert headers["validation-token"]

"""The protocol floor: certbot's `acme` library ordering certificates from the cluster's
Pebble, answering HTTP-01 from a plain HTTP server, with no Kubernetes in the way.

Pebble resolves names through the cluster's challenge test server (challtestsrv), which
answers every A query with the ingress address unless told otherwise. The baseline's
names are pointed (`/add-a`) at a loopback address of the cluster's network namespace,
where a threaded HTTP server answers the challenges on port 80: Pebble validates there
exactly as it validates the operator's solver behind Traefik.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from acme import challenges, client, messages
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import (
    CertificateSigningRequestBuilder,
    DNSName,
    Name,
    NameAttribute,
    NameOID,
    SubjectAlternativeName,
)
from josepy.jwa import ES256
from josepy.jwk import JWKEC
from localcluster import network
from localcluster.cluster import CHALLTESTSRV_MANAGEMENT_PORT, PEBBLE_ENV, LocalCluster

from benchmarks.harness import spread

#: Where the baseline's challenge server listens, inside the cluster's network namespace.
CHALLENGE_ADDRESS = "127.0.80.1"
CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
ORDER_TIMEOUT = 120.0
# Pebble answers in milliseconds; a request that takes this long met its deadlock.
REQUEST_TIMEOUT = 15
BASELINE_TRIES = 3


@dataclass(frozen=True)
class BareResult:
    """`count` orders started at once: `last` is when the last certificate arrived after
    they started, `wall` adds the setup (account, challenge server, DNS records)."""

    count: int
    wall: float
    durations: tuple[float, ...]
    failures: tuple[str, ...] = ()

    @property
    def last(self) -> float | None:
        return max(self.durations) if self.durations else None

    @property
    def wall_if_any(self) -> float | None:
        """The wall time, or None when every order failed (then it measures nothing)."""
        return self.wall if self.durations else None

    def line(self) -> str:
        if not self.durations:
            return f"bare acme client, {self.count} order(s): all failed"
        first, median, last = spread(self.durations)
        reasons = Counter(self.failures).most_common(3)
        failed = (
            f", {len(self.failures)} failed ({'; '.join(f'{n}x {r}' for r, n in reasons)})"
            if self.failures
            else ""
        )
        return (
            f"bare acme client, {self.count:3d} order(s) at once: first {first:5.2f}s, "
            f"median {median:5.2f}s, last {last:5.2f}s, wall {self.wall:5.2f}s{failed}"
        )


class _Answers(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, bytes]] = {}  # each server gets a subclass with its own

    def do_GET(self) -> None:
        token = self.path.removeprefix(CHALLENGE_PREFIX)
        body = self.answers.get(token) if self.path.startswith(CHALLENGE_PREFIX) else None
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def challenge_server() -> Iterator[dict[str, bytes]]:
    """A plain HTTP server on CHALLENGE_ADDRESS:80; yields its token -> answer map."""
    answers: dict[str, bytes] = {}
    handler = type("Answers", (_Answers,), {"answers": answers})
    server = ThreadingHTTPServer((CHALLENGE_ADDRESS, 80), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield answers
    finally:
        server.shutdown()
        server.server_close()


def challtestsrv(path: str, body: dict[str, object]) -> None:
    url = f"http://{network.NODE_IP}:{CHALLTESTSRV_MANAGEMENT_PORT}{path}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


@contextlib.contextmanager
def pointed_at_challenge_server(hosts: Sequence[str]) -> Iterator[None]:
    """A records for `hosts` at the baseline's server, removed afterwards."""
    for host in hosts:
        challtestsrv("/add-a", {"host": host, "addresses": [CHALLENGE_ADDRESS]})
    try:
        yield
    finally:
        for host in hosts:
            challtestsrv("/clear-a", {"host": host})


def _csr_pem(host: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        CertificateSigningRequestBuilder()
        .subject_name(Name([NameAttribute(NameOID.COMMON_NAME, host)]))
        .add_extension(SubjectAlternativeName([DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


class BareClient:
    """One ACME account at the cluster's Pebble; each order uses a client of its own
    (the library's client keeps per-connection state), all signing with that account."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.directory_url = cluster.pebble_directory
        self.ca_bundle = str(cluster.pki.ca_cert)
        self.key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        self.account: messages.RegistrationResource | None = None

    def _client(self) -> client.ClientV2:
        net = client.ClientNetwork(
            self.key, alg=ES256, user_agent="webhook-cert-bench", timeout=REQUEST_TIMEOUT
        )
        net.verify_ssl = self.ca_bundle  # type: ignore[assignment]  # requests takes a path
        directory = client.ClientV2.get_directory(self.directory_url, net)
        acme = client.ClientV2(directory, net)
        if self.account is None:
            self.account = acme.new_account(
                messages.NewRegistration.from_data(terms_of_service_agreed=True)
            )
        net.account = self.account
        return acme

    def register(self) -> None:
        self._client()

    def order(self, host: str, answers: dict[str, bytes]) -> None:
        """One certificate for `host`, answering its HTTP-01 challenge from `answers`."""
        acme = self._client()
        order = acme.new_order(_csr_pem(host))
        for authorization in order.authorizations:
            for challenge in authorization.body.challenges:
                if isinstance(challenge.chall, challenges.HTTP01):
                    response, validation = challenge.response_and_validation(self.key)
                    answers[challenge.chall.encode("token")] = validation.encode()
                    acme.answer_challenge(challenge, response)
        acme.poll_and_finalize(order, deadline=datetime.now() + timedelta(seconds=ORDER_TIMEOUT))


def run(cluster: LocalCluster, count: int) -> BareResult:
    """`count` orders for new names, started at once."""
    started = time.monotonic()
    suffix = uuid.uuid4().hex[:6]
    hosts = [f"bare{i}-{suffix}.example.test" for i in range(count)]
    bare = BareClient(cluster)
    bare.register()
    durations: list[float] = []
    failures: list[str] = []
    with pointed_at_challenge_server(hosts), challenge_server() as answers:
        launched = time.monotonic()

        def one(host: str) -> float | str:
            # Once more after a failure, as any client would: Pebble refuses 5% of nonces
            # and the library retries a refused nonce only once.
            for attempt in range(2):
                try:
                    bare.order(host, answers)
                except Exception as error:  # a failed order is counted, not fatal
                    if attempt:
                        return f"{type(error).__name__}: {str(error)[:80]}"
                else:
                    break
            return time.monotonic() - launched

        with ThreadPoolExecutor(max_workers=count) as pool:
            for result in pool.map(one, hosts):
                if isinstance(result, str):
                    failures.append(result)
                else:
                    durations.append(result)
    return BareResult(count, time.monotonic() - started, tuple(durations), tuple(failures))


def pebble_alive(cluster: LocalCluster, timeout: float = 15.0) -> bool:
    """Whether Pebble still registers an account within `timeout`.

    Pebble 2.10.3 can deadlock under concurrent orders: `CAImpl.CompleteOrder` holds an
    order's read lock while `MemoryStore.AddCertificate` waits for the store's write lock,
    and `MemoryStore.GetOrderByID` (a client polling that order) holds the store's read
    lock while it waits for the order's write lock. From then on every request that needs
    the store hangs (GET /dir still answers).
    """
    done = threading.Event()

    def register() -> None:
        with contextlib.suppress(Exception):
            BareClient(cluster).register()
            done.set()

    threading.Thread(target=register, daemon=True).start()
    return done.wait(timeout)


def ensure_pebble(cluster: LocalCluster) -> bool:
    """Restart Pebble if it hangs (see `pebble_alive`); True if it had to."""
    if pebble_alive(cluster):
        return False
    cluster.restart_pebble(PEBBLE_ENV)
    return True


def baseline(cluster: LocalCluster, count: int) -> BareResult:
    """`run`, again after restarting Pebble when Pebble hung or most orders failed (at
    most BASELINE_TRIES times): the baseline is the protocol's floor, not Pebble's bug."""
    for attempt in range(1, BASELINE_TRIES + 1):
        result = run(cluster, count)
        restarted = ensure_pebble(cluster)
        if not restarted and len(result.failures) <= count // 10:
            return result
        print(f"  (try {attempt}: {result.line()}; Pebble restarted: {restarted})")
        if not restarted:
            cluster.restart_pebble(PEBBLE_ENV)
    return result

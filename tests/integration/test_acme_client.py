"""The ACME client against a real Pebble CA.

Pebble and its DNS (pebble-challtestsrv, v2.10 or later for ARI and profiles) are started
from the binaries in `$PEBBLE_BIN_DIR`, by default the local cluster's build; without
either those tests are skipped. Pebble
validates HTTP-01 for real: its DNS answers 127.0.0.1 for every name and it fetches the
key authorization from the port the `pebble` fixture names, where these tests serve it.
The failure modes of a CA that is down or refusing are in test_acme_network.py.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests import pki_factory
from webhook_cert_operator.acme.ari import cert_id
from webhook_cert_operator.acme.client import AcmeClient
from webhook_cert_operator.acme.errors import AcmeError, AcmeTimeout, AcmeUnavailable
from webhook_cert_operator.acme.messages import Http01Challenge, Order
from webhook_cert_operator.acme.network import REQUEST_KINDS

# Pebble's test configuration, sent with every run (see the fixture for the rest).
PEBBLE_EAB_KEYS = {"kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}
ORDER_RETRY_AFTER = 2  # seconds Pebble asks clients to wait while an order is processing
AUTHZ_RETRY_AFTER = 1

UNAUTHORIZED_TYPES = {
    "urn:ietf:params:acme:error:unauthorized",
    "urn:ietf:params:acme:error:incorrectResponse",
}


# ---------------------------------------------------------------------------------------
# Pebble


@dataclass(frozen=True)
class PebbleCA:
    """Where a running Pebble is and how to talk to it."""

    directory_url: str
    ca_bundle: str  # trusts the CA's HTTPS endpoints (ACME and management)
    http01_port: int  # where Pebble's VA fetches /.well-known/acme-challenge/...
    management_url: str
    order_retry_after: int  # Pebble's retryAfter.order setting, in seconds
    alternate_roots: int  # PEBBLE_ALTERNATE_ROOTS: how many roots besides /roots/0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost (ca, cert, key)."""
    ca = pki_factory.make_root("pebble test harness CA")
    server = pki_factory.make_leaf(ca, ["localhost"], ip_addresses=["127.0.0.1"])
    return (
        pki_factory.write_pem(directory / "ca.pem", ca.cert),
        pki_factory.write_pem(directory / "cert.pem", server.cert),
        pki_factory.write_key(directory / "key.pem", server.key),
    )


def _start_pebble(
    bin_dir: Path, workdir: Path, *, eab_required: bool = False
) -> Iterator[PebbleCA]:
    """Start pebble-challtestsrv (DNS only) and Pebble; stop both afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca_pem, cert_pem, key_pem = _write_tls_files(workdir)
    acme_port, mgmt_port, http01_port, dns_port, dns_mgmt_port = (_free_port() for _ in range(5))
    config: dict[str, Any] = {
        "listenAddress": f"127.0.0.1:{acme_port}",
        "managementListenAddress": f"127.0.0.1:{mgmt_port}",
        "certificate": str(cert_pem),
        "privateKey": str(key_pem),
        "httpPort": http01_port,
        "tlsPort": _free_port(),
        "ocspResponderURL": "",
        "externalAccountBindingRequired": eab_required,
        "retryAfter": {"authz": AUTHZ_RETRY_AFTER, "order": ORDER_RETRY_AFTER},
        "keyAlgorithm": "ecdsa",
        "profiles": {
            "default": {"description": "90 days", "validityPeriod": 7776000},
            "shortlived": {"description": "6 days", "validityPeriod": 518400},
        },
    }
    if eab_required:
        config["externalAccountMACKeys"] = PEBBLE_EAB_KEYS
    config_path = workdir / "pebble-config.json"
    config_path.write_text(json.dumps({"pebble": config}, indent=2))
    # fmt: off
    dns_cmd = [
        str(bin_dir / "pebble-challtestsrv"),
        "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
        "-dnsserver", f"127.0.0.1:{dns_port}", "-management", f"127.0.0.1:{dns_mgmt_port}",
        "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
    ]
    pebble_cmd = [
        str(bin_dir / "pebble"), "-config", str(config_path),
        "-dnsserver", f"127.0.0.1:{dns_port}",
    ]
    # fmt: on
    env = {
        **os.environ,
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_ALTERNATE_ROOTS": "1",
    }
    processes: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for name, cmd in (("challtestsrv", dns_cmd), ("pebble", pebble_cmd)):
            log = (workdir / f"{name}.log").open("wb")
            logs.append(log)
            processes.append(
                subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
            )
        ca = PebbleCA(
            directory_url=f"https://127.0.0.1:{acme_port}/dir",
            ca_bundle=str(ca_pem),
            http01_port=http01_port,
            management_url=f"https://127.0.0.1:{mgmt_port}",
            order_retry_after=ORDER_RETRY_AFTER,
            alternate_roots=int(env["PEBBLE_ALTERNATE_ROOTS"]),
        )
        _wait_until_serving(ca, processes, workdir)
        yield ca
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


def _wait_until_serving(
    ca: PebbleCA, processes: list[subprocess.Popen[bytes]], workdir: Path
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                logs = "\n".join(p.read_text() for p in workdir.glob("*.log"))
                pytest.fail(f"{process.args!r} exited with {process.returncode}:\n{logs}")
        try:
            if requests.get(ca.directory_url, verify=ca.ca_bundle, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    pytest.fail("Pebble did not serve its directory within 30 s")


def _pebble_bin_dir() -> Path:
    value = os.environ.get("PEBBLE_BIN_DIR") or _local_cluster_pebble()
    if not value:
        pytest.skip(
            "PEBBLE_BIN_DIR is not set: point it at a directory holding `pebble` and "
            "`pebble-challtestsrv` (github.com/letsencrypt/pebble/v2, v2.10 or later)"
        )
    path = Path(value)
    for name in ("pebble", "pebble-challtestsrv"):
        if not (path / name).is_file():
            pytest.fail(f"PEBBLE_BIN_DIR={value} has no {name}")
    return path


def _local_cluster_pebble() -> str | None:
    from localcluster import build
    from localcluster.versions import BY_NAME

    pebble = BY_NAME["pebble"]
    if build.is_built(pebble, build.default_cache_dir()):
        return str(build.bin_dir(pebble, build.default_cache_dir()))
    return None


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PebbleCA]:
    """A running Pebble with two roots, profiles and ARI; validates HTTP-01 for real."""
    bin_dir = _pebble_bin_dir()
    yield from _start_pebble(bin_dir, tmp_path_factory.mktemp("pebble"))


@pytest.fixture(scope="module")
def pebble_with_eab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PebbleCA]:
    """A second Pebble that only registers accounts with External Account Binding."""
    bin_dir = _pebble_bin_dir()
    yield from _start_pebble(bin_dir, tmp_path_factory.mktemp("pebble-eab"), eab_required=True)


# ---------------------------------------------------------------------------------------
# The HTTP-01 side: what a solver Pod does, in a thread


class ChallengeServer:
    """Serves /.well-known/acme-challenge/<token> from a dict, as the solver would."""

    def __init__(self, port: int) -> None:
        self.answers: dict[str, str] = {}
        answers = self.answers

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                prefix = "/.well-known/acme-challenge/"
                token = self.path[len(prefix) :] if self.path.startswith(prefix) else ""
                body = answers.get(token)
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def challenge_server(pebble: PebbleCA) -> Iterator[ChallengeServer]:
    server = ChallengeServer(pebble.http01_port)
    yield server
    server.close()


# ---------------------------------------------------------------------------------------
# Helpers


def account_key_pem(kind: str = "p256") -> bytes:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if kind == "rsa2048":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP384R1() if kind == "p384" else ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def csr_pem(names: list[str]) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def unique_names(count: int) -> list[str]:
    # Fresh names per test: Pebble reuses valid authorizations half of the time.
    label = uuid.uuid4().hex[:10]
    return [f"host{i}.{label}.hooks.test" for i in range(count)]


@dataclass
class Recorder:
    """Observer and sleep recorder."""

    requests: list[tuple[str, int | None, float]] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def observe(self, kind: str, status: int | None, seconds: float) -> None:
        self.requests.append((kind, status, seconds))

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(seconds)

    def kinds(self) -> set[str]:
        return {kind for kind, _, _ in self.requests}


def new_client(ca: PebbleCA, recorder: Recorder | None = None, **kwargs: Any) -> AcmeClient:
    return AcmeClient(
        ca.directory_url,
        kwargs.pop("key", None) or account_key_pem(),
        ca_bundle=ca.ca_bundle,
        observer=recorder.observe if recorder else None,
        **kwargs,
    )


def solve(acme: AcmeClient, order: Order, server: ChallengeServer) -> list[Http01Challenge]:
    challenges = acme.pending_http01_challenges(order)
    for challenge in challenges:
        server.answers[challenge.token] = challenge.key_authorization
    for challenge in challenges:
        acme.answer(challenge)
    return challenges


def issue(
    acme: AcmeClient,
    server: ChallengeServer,
    names: list[str],
    *,
    recorder: Recorder | None = None,
    **order_args: Any,
) -> tuple[Order, str]:
    order = acme.new_order(names, **order_args)
    solve(acme, order, server)
    sleep = recorder.sleep if recorder else time.sleep
    order = acme.wait_for_authorizations(order, deadline=time.monotonic() + 60, sleep=sleep)
    order = acme.finalize(order, csr_pem(names), deadline=time.monotonic() + 60, sleep=sleep)
    return order, acme.download_chain(order)


def load_chain(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def san_names(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName))


def issuer_cn(cert: x509.Certificate) -> str:
    return str(cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def subject_cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def pebble_root(ca: PebbleCA, index: int) -> x509.Certificate:
    response = requests.get(f"{ca.management_url}/roots/{index}", verify=ca.ca_bundle, timeout=5)
    response.raise_for_status()
    return x509.load_pem_x509_certificate(response.content)


# ---------------------------------------------------------------------------------------
# Accounts


@pytest.mark.parametrize("key_kind", ["p256", "p384", "rsa2048"])
def test_an_account_is_created_once_and_found_again_with_the_same_key(
    pebble: PebbleCA, key_kind: str
) -> None:
    key = account_key_pem(key_kind)
    first_calls, second_calls = Recorder(), Recorder()

    started = time.monotonic()
    with new_client(pebble, first_calls, key=key) as first:
        url = first.ensure_account("ops@example.com", agree_tos=True)
    created_in = time.monotonic() - started
    with new_client(pebble, second_calls, key=key) as second:
        again = second.ensure_account("ops@example.com", agree_tos=True)

    assert again == url
    assert "new-account" in first_calls.kinds()
    assert "new-account" not in second_calls.kinds()
    print(f"\naccount ({key_kind}) created in {created_in:.3f} s")


def test_an_account_is_not_registered_without_agreeing_to_the_terms(pebble: PebbleCA) -> None:
    key = account_key_pem()
    with new_client(pebble, key=key) as acme, pytest.raises(AcmeError, match="terms of service"):
        acme.ensure_account("ops@example.com", agree_tos=False)
    # Nothing was created: agreeing later registers the account for the first time.
    recorder = Recorder()
    with new_client(pebble, recorder, key=key) as acme:
        acme.ensure_account("ops@example.com", agree_tos=True)
    assert "new-account" in recorder.kinds()


def test_a_ca_requiring_external_account_binding_registers_with_it_and_refuses_without(
    pebble_with_eab: PebbleCA,
) -> None:
    kid, encoded = next(iter(PEBBLE_EAB_KEYS.items()))
    hmac_key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    with new_client(pebble_with_eab) as acme:
        with pytest.raises(AcmeError, match="External Account Binding"):
            acme.ensure_account("ops@example.com", agree_tos=True)
        url = acme.ensure_account("ops@example.com", agree_tos=True, eab=(kid, hmac_key))
    assert url.startswith("https://127.0.0.1:")


def test_a_wrong_eab_hmac_key_surfaces_the_ca_problem(pebble_with_eab: PebbleCA) -> None:
    with new_client(pebble_with_eab) as acme, pytest.raises(AcmeError) as failure:
        acme.ensure_account("ops@example.com", agree_tos=True, eab=("kid-1", b"not the key"))
    assert failure.value.problem_type is not None
    assert not isinstance(failure.value, AcmeUnavailable)


# ---------------------------------------------------------------------------------------
# Issuance


def test_an_order_for_two_names_yields_a_full_chain_whose_leaf_covers_them(
    pebble: PebbleCA, challenge_server: ChallengeServer
) -> None:
    recorder = Recorder()
    names = unique_names(2)
    with new_client(pebble, recorder) as acme:
        acme.ensure_account(None, agree_tos=True)
        started = time.monotonic()
        order = acme.new_order(names)
        challenges = solve(acme, order, challenge_server)
        order = acme.wait_for_authorizations(
            order, deadline=time.monotonic() + 60, sleep=recorder.sleep
        )
        assert order.status == "ready"
        finalize_from = len(recorder.sleeps)
        order = acme.finalize(
            order, csr_pem(names), deadline=time.monotonic() + 60, sleep=recorder.sleep
        )
        chain_pem = acme.download_chain(order)
        elapsed = time.monotonic() - started

    assert sorted(c.identifier for c in challenges) == sorted(names)
    assert order.status == "valid"
    assert order.identifiers == tuple(sorted(names))
    chain = load_chain(chain_pem)
    assert len(chain) >= 2
    assert san_names(chain[0]) == set(names)
    for child, parent in itertools.pairwise(chain):
        assert child.issuer == parent.subject
        child.verify_directly_issued_by(parent)
    # Pebble answers finalize with "processing" and Retry-After: the poll waits that long.
    # Pebble sends either form at random; its HTTP-date has whole seconds, so up to one
    # second of the delay may already have passed when the answer arrives.
    assert recorder.sleeps[finalize_from:]
    assert min(recorder.sleeps[finalize_from:]) > pebble.order_retry_after - 1
    assert {
        "directory",
        "new-nonce",
        "new-order",
        "get-authz",
        "answer-challenge",
        "poll-authz",
        "finalize",
        "poll-order",
        "download-cert",
    } <= recorder.kinds()
    assert recorder.kinds() <= set(REQUEST_KINDS)
    assert all(status is not None and status < 500 for _, status, _ in recorder.requests)
    print(f"\norder -> certificate in {elapsed:.2f} s, {len(recorder.requests)} requests")


def test_a_challenge_never_exposes_its_secrets_in_its_repr(
    pebble: PebbleCA, challenge_server: ChallengeServer
) -> None:
    with new_client(pebble) as acme:
        acme.ensure_account(None, agree_tos=True)
        challenge = acme.pending_http01_challenges(acme.new_order(unique_names(1)))[0]
    assert challenge.token not in repr(challenge)
    assert challenge.key_authorization.startswith(challenge.token + ".")
    assert challenge.path == f"/.well-known/acme-challenge/{challenge.token}"


def test_a_failed_challenge_reports_the_acme_problem_without_the_key_authorization(
    pebble: PebbleCA, challenge_server: ChallengeServer
) -> None:
    with new_client(pebble) as acme:
        acme.ensure_account(None, agree_tos=True)
        order = acme.new_order(unique_names(1))
        [challenge] = acme.pending_http01_challenges(order)
        challenge_server.answers[challenge.token] = "this is not the key authorization"
        acme.answer(challenge)
        with pytest.raises(AcmeError) as failure:
            acme.wait_for_authorizations(order, deadline=time.monotonic() + 60)
        order_after = acme.get_order(order.url)

    error = failure.value
    assert error.problem_type in UNAUTHORIZED_TYPES
    assert challenge.identifier in str(error)
    assert challenge.key_authorization not in str(error)
    assert challenge.token not in str(error)
    assert challenge.token not in repr(error)
    assert order_after.status == "invalid"


def test_waiting_for_an_unanswered_challenge_ends_at_the_deadline(
    pebble: PebbleCA, challenge_server: ChallengeServer
) -> None:
    clock = [0.0]
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    with new_client(pebble) as acme:
        acme.ensure_account(None, agree_tos=True)
        order = acme.new_order(unique_names(1))
        with pytest.raises(AcmeTimeout):
            acme.wait_for_authorizations(
                order, deadline=10.0, sleep=fake_sleep, now=lambda: clock[0]
            )
    assert slept and clock[0] <= 10.0


def test_an_order_resumed_by_url_can_be_finished(
    pebble: PebbleCA, challenge_server: ChallengeServer
) -> None:
    names = unique_names(1)
    key = account_key_pem()
    with new_client(pebble, key=key) as before_restart:
        before_restart.ensure_account(None, agree_tos=True)
        order_url = before_restart.new_order(names).url
    with new_client(pebble, key=key) as after_restart:
        after_restart.ensure_account(None, agree_tos=True)
        order = after_restart.get_order(order_url)
        assert order.status == "pending"
        solve(after_restart, order, challenge_server)
        order = after_restart.wait_for_authorizations(order, deadline=time.monotonic() + 60)
        order = after_restart.finalize(order, csr_pem(names), deadline=time.monotonic() + 60)
        # Finalizing again after a restart polls instead of sending the CSR a second time.
        assert after_restart.finalize(
            after_restart.get_order(order_url), csr_pem(names), deadline=time.monotonic() + 60
        ) == after_restart.get_order(order_url)
        assert san_names(load_chain(after_restart.download_chain(order))[0]) == set(names)


def test_a_profile_the_ca_offers_is_requested_and_an_unknown_one_refused(
    pebble: PebbleCA, challenge_server: ChallengeServer
) -> None:
    with new_client(pebble) as acme:
        acme.ensure_account(None, agree_tos=True)
        assert acme.new_order(unique_names(1), profile="shortlived").profile == "shortlived"
        with pytest.raises(AcmeError, match="does not offer profile 'longlived'"):
            acme.new_order(unique_names(1), profile="longlived")


# ---------------------------------------------------------------------------------------
# Chains


def test_the_preferred_chain_is_picked_by_its_root_issuer_name(
    pebble: PebbleCA, challenge_server: ChallengeServer
) -> None:
    if pebble.alternate_roots < 1:
        pytest.skip("this Pebble runs without PEBBLE_ALTERNATE_ROOTS: no alternate chains")
    roots = [pebble_root(pebble, 0), pebble_root(pebble, 1)]
    names = unique_names(1)
    with new_client(pebble) as acme:
        acme.ensure_account(None, agree_tos=True)
        order, default_pem = issue(acme, challenge_server, names)
        picked = {
            index: load_chain(acme.download_chain(order, preferred_chain=subject_cn(root)))
            for index, root in enumerate(roots)
        }
        unknown = acme.download_chain(order, preferred_chain="No Such Root CA")

    assert unknown == default_pem
    assert issuer_cn(load_chain(default_pem)[-1]) == subject_cn(roots[0])
    for index, root in enumerate(roots):
        chain = picked[index]
        assert issuer_cn(chain[-1]) == subject_cn(root)
        chain[-1].verify_directly_issued_by(root)
        assert chain[0] == load_chain(default_pem)[0]


# ---------------------------------------------------------------------------------------
# Renewal information (RFC 9773)


def test_renewal_info_gives_a_window_inside_the_certificate_lifetime(
    pebble: PebbleCA, challenge_server: ChallengeServer
) -> None:
    with new_client(pebble) as acme:
        acme.ensure_account(None, agree_tos=True)
        _, chain_pem = issue(acme, challenge_server, unique_names(1))
        leaf_pem = chain_pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
        info = acme.renewal_info(leaf_pem.encode())

    leaf = load_chain(chain_pem)[0]
    assert info is not None
    assert leaf.not_valid_before_utc < info.start < info.end < leaf.not_valid_after_utc
    assert info.retry_after_seconds is not None and info.retry_after_seconds > 0


def test_a_renewal_order_names_the_certificate_it_replaces(
    pebble: PebbleCA, challenge_server: ChallengeServer
) -> None:
    names = unique_names(2)
    with new_client(pebble) as acme:
        acme.ensure_account(None, agree_tos=True)
        _, chain_pem = issue(acme, challenge_server, names)
        old_id = cert_id(chain_pem.encode())
        renewal, renewed_pem = issue(acme, challenge_server, names, replaces=old_id)
        with pytest.raises(AcmeError) as twice:
            acme.new_order(names, replaces=old_id)

    assert renewal.replaces == old_id
    assert load_chain(renewed_pem)[0].serial_number != load_chain(chain_pem)[0].serial_number
    # Pebble remembers the replacement: a second one for the same certificate is refused.
    assert twice.value.code == "alreadyReplaced"

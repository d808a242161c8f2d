"""Run the real `webhook-cert check` against local TLS servers presenting each case.

No cluster: every server listens on 127.0.0.1 in this process, every name resolves
through `--connect` or a local DNS server, and the CLI runs as a subprocess, as a user
would run it. The test hierarchy's root is given with `--trust-bundle`.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests import pki_factory as pki
from tests.fake_dns import FakeDNS
from tests.tls_server import SilentServer, TLSServer, WebhookReceiver, tls_version_supported
from webhook_cert_operator.checking import probe

HOST = "hooks.example.test"
AIA_URL = "http://ca.example.test/intermediate.der"


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data

    @property
    def codes(self) -> list[str]:
        return [f["code"] for f in self.json["findings"]]


# The source root, so that `python -m webhook_cert_operator` works even where the
# package is not installed.
SOURCE_ROOT = Path(__file__).resolve().parents[2] / "operator"


def webhook_cert(*args: str | Path, timeout: float = 60) -> Result:
    path = os.pathsep.join(p for p in (str(SOURCE_ROOT), os.environ.get("PYTHONPATH")) if p)
    completed = subprocess.run(
        [sys.executable, "-m", "webhook_cert_operator", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": path},
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


@pytest.fixture(scope="module")
def hierarchy() -> pki.Chain:
    return pki.build_chain([HOST], depth=2, ca_issuers_url=AIA_URL)


@pytest.fixture(scope="module")
def trust_bundle(hierarchy: pki.Chain, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pki.write_pem(tmp_path_factory.mktemp("trust") / "roots.pem", hierarchy.root.cert)


def check(server: TLSServer | SilentServer, trust_bundle: Path, *extra: str | Path) -> Result:
    return webhook_cert(
        "check",
        f"https://{HOST}:{server.port}/hook",
        "--connect",
        server.address,
        "--trust-bundle",
        trust_bundle,
        "--json",
        *extra,
    )


Served = Callable[[pki.Chain], tuple[Sequence[x509.Certificate], pki.PrivateKey]]


def _leaf_signed_by_lower(chain: pki.Chain, **kwargs: Any) -> pki.Issued:
    return pki.make_leaf(chain.intermediates[-1], ca_issuers_url=AIA_URL, **kwargs)


def _expired(c: pki.Chain) -> tuple[Sequence[x509.Certificate], pki.PrivateKey]:
    leaf = _leaf_signed_by_lower(c, dns_names=[HOST], validity=pki.EXPIRED)
    return (leaf.cert, *c.served()[1:]), leaf.key


def _wrong_host(c: pki.Chain) -> tuple[Sequence[x509.Certificate], pki.PrivateKey]:
    leaf = _leaf_signed_by_lower(c, dns_names=["other.example.test"])
    return (leaf.cert, *c.served()[1:]), leaf.key


def _self_signed(c: pki.Chain) -> tuple[Sequence[x509.Certificate], pki.PrivateKey]:
    leaf = pki.make_self_signed_leaf([HOST])
    return (leaf.cert,), leaf.key


def _unrelated(c: pki.Chain) -> tuple[Sequence[x509.Certificate], pki.PrivateKey]:
    other = pki.build_chain(["other.example.test"], prefix="Other")
    return (*c.served(), other.intermediates[0].cert), c.leaf.key


# case id -> (what the server serves, exit status, finding codes)
CASES: dict[str, tuple[Served, int, list[str]]] = {
    "full chain": (lambda c: (c.served(), c.leaf.key), 0, []),
    "leaf only": (lambda c: ((c.leaf.cert,), c.leaf.key), 1, ["incomplete-chain"]),
    "intermediates in wrong order": (
        lambda c: ((c.leaf.cert, c.intermediates[0].cert, c.intermediates[1].cert), c.leaf.key),
        0,
        ["wrong-order"],
    ),
    "root included": (lambda c: (c.full(), c.leaf.key), 0, ["root-included"]),
    "unrelated extra certificate": (_unrelated, 0, ["unrelated-certificate"]),
    "expired leaf": (_expired, 1, ["expired"]),
    "leaf for another host": (_wrong_host, 1, ["hostname-mismatch"]),
    "self-signed leaf": (_self_signed, 1, ["untrusted-root"]),
}


@pytest.mark.parametrize(("serve", "status", "codes"), CASES.values(), ids=CASES.keys())
def test_the_cli_reports_what_each_server_serves(
    hierarchy: pki.Chain, trust_bundle: Path, serve: Served, status: int, codes: list[str]
) -> None:
    certificates, key = serve(hierarchy)
    with TLSServer(certificates, key) as server:
        result = check(server, trust_bundle)
    assert result.returncode == status, result.stdout + result.stderr
    assert result.codes == codes
    report = result.json
    assert report["ok"] is (status == 0)
    assert report["url"] == f"https://{HOST}:{server.port}/hook"
    assert report["tls_version"] == "TLSv1.3"
    assert report["address"] == server.address
    assert [c["sha256"] for c in report["served_chain"]] == [
        pki_fingerprint(c) for c in certificates
    ]


def pki_fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def test_the_url_host_is_sent_as_sni_when_another_address_is_dialled(
    hierarchy: pki.Chain, trust_bundle: Path
) -> None:
    with TLSServer(hierarchy.served(), hierarchy.leaf.key) as server:
        result = check(server, trust_bundle)
    assert result.returncode == 0
    assert server.server_names == [HOST, HOST]  # the lenient handshake, then the sender's


def test_the_probe_can_dial_a_given_address_without_resolving(hierarchy: pki.Chain) -> None:
    with TLSServer(hierarchy.served(), hierarchy.leaf.key) as server:
        served = probe.fetch_served_chain(
            "unresolvable.invalid",
            server.port,
            server_name=HOST,
            timeout=5,
            connect_address="127.0.0.1",
        )
    assert served.certificates == hierarchy.served()
    assert served.address == server.address
    assert server.server_names == [HOST, HOST]


def test_the_served_chain_is_listed_in_served_order_with_subjects_issuers_and_expiry(
    hierarchy: pki.Chain, trust_bundle: Path
) -> None:
    lower, upper = hierarchy.intermediates[1], hierarchy.intermediates[0]
    with TLSServer([hierarchy.leaf.cert, upper.cert, lower.cert], hierarchy.leaf.key) as server:
        chain = check(server, trust_bundle).json["served_chain"]
    assert [(c["subject"], c["issuer"]) for c in chain] == [
        (f"CN={HOST}", "CN=Test Intermediate CA 2,O=Test PKI"),
        ("CN=Test Intermediate CA 1,O=Test PKI", "CN=Test Root CA,O=Test PKI"),
        ("CN=Test Intermediate CA 2,O=Test PKI", "CN=Test Intermediate CA 1,O=Test PKI"),
    ]
    expiry = hierarchy.leaf.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert chain[0]["not_after"] == expiry


def test_a_leaf_served_alone_names_the_missing_intermediate_and_its_url(
    hierarchy: pki.Chain, trust_bundle: Path
) -> None:
    with TLSServer([hierarchy.leaf.cert], hierarchy.leaf.key) as server:
        result = check(server, trust_bundle)
    [finding] = result.json["findings"]
    assert finding["severity"] == "error"
    assert '"Test Intermediate CA 2"' in finding["message"]
    assert AIA_URL in finding["message"]


def test_the_expected_certificate_passes_and_another_is_stale(
    hierarchy: pki.Chain, trust_bundle: Path, tmp_path: Path
) -> None:
    expected = pki.write_pem(tmp_path / "expected.pem", *hierarchy.served())
    renewed = _leaf_signed_by_lower(hierarchy, dns_names=[HOST])
    newer = pki.write_pem(tmp_path / "renewed.pem", renewed.cert)
    with TLSServer(hierarchy.served(), hierarchy.leaf.key) as server:
        same = check(server, trust_bundle, "--expect-cert", expected)
        other = check(server, trust_bundle, "--expect-cert", newer)
    assert (same.returncode, same.codes) == (0, [])
    assert (other.returncode, other.codes) == (1, ["stale-certificate"])


def test_a_leaf_near_its_end_is_a_warning_within_the_given_window(
    hierarchy: pki.Chain, trust_bundle: Path
) -> None:
    leaf = _leaf_signed_by_lower(hierarchy, dns_names=[HOST], validity=pki.expiring_in(5 * pki.DAY))
    with TLSServer([leaf.cert, *hierarchy.served()[1:]], leaf.key) as server:
        default = check(server, trust_bundle)
        narrow = check(server, trust_bundle, "--warn-days", "3")
    assert (default.returncode, default.codes) == (0, ["expiring-soon"])
    assert (narrow.returncode, narrow.codes) == (0, [])


OLD_VERSIONS = {"TLS 1.0": ssl.TLSVersion.TLSv1, "TLS 1.1": ssl.TLSVersion.TLSv1_1}


@pytest.mark.parametrize("version", OLD_VERSIONS.values(), ids=OLD_VERSIONS.keys())
def test_a_server_stuck_on_an_old_tls_version_is_reported(
    hierarchy: pki.Chain, trust_bundle: Path, version: ssl.TLSVersion
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ssl deprecates TLS 1.0/1.1
        unsupported = tls_version_supported(version)
        if unsupported:
            pytest.skip(f"the local OpenSSL cannot serve this version: {unsupported}")
        server = TLSServer(hierarchy.served(), hierarchy.leaf.key, versions=(version, version))
    with server:
        result = check(server, trust_bundle)
    assert result.returncode == 1
    assert result.codes == ["tls-version"]
    expected = {ssl.TLSVersion.TLSv1: "TLSv1", ssl.TLSVersion.TLSv1_1: "TLSv1.1"}[version]
    assert result.json["tls_version"] == expected


def test_the_minimum_tls_version_is_an_option(hierarchy: pki.Chain, trust_bundle: Path) -> None:
    versions = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
    with TLSServer(hierarchy.served(), hierarchy.leaf.key, versions=versions) as server:
        default = check(server, trust_bundle)
        strict = check(server, trust_bundle, "--min-tls", "1.3")
    assert (default.returncode, default.codes) == (0, [])
    assert default.json["tls_version"] == "TLSv1.2"
    assert (strict.returncode, strict.codes) == (1, ["tls-version"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_refused_connection_is_a_connection_failure() -> None:
    port = _free_port()
    result = webhook_cert(
        "check", f"https://{HOST}:{port}/", "--connect", f"127.0.0.1:{port}", "--json"
    )
    assert result.returncode == 1
    [finding] = result.json["findings"]
    assert finding["code"] == "connection-failed"
    assert f"connection refused by 127.0.0.1:{port}" in finding["message"]
    assert result.json["served_chain"] == []
    assert result.json["tls_version"] is None


def test_a_server_that_never_answers_times_out(trust_bundle: Path) -> None:
    with SilentServer() as server:
        result = check(server, trust_bundle, "--timeout", "0.5")
    assert result.returncode == 1
    [finding] = result.json["findings"]
    assert finding["code"] == "connection-failed"
    assert "timed out after 0.5s in the TLS handshake" in finding["message"]


def test_a_server_that_does_not_speak_tls_is_a_handshake_failure(trust_bundle: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as plain:
        port = plain.getsockname()[1]

        def answer_http() -> None:
            conn, _ = plain.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=answer_http, daemon=True)
        thread.start()
        result = webhook_cert(
            "check", f"https://{HOST}:{port}/", "--connect", f"127.0.0.1:{port}", "--json"
        )
        thread.join(timeout=5)
    assert result.returncode == 1
    [finding] = result.json["findings"]
    assert finding["code"] == "connection-failed"
    assert f"TLS handshake with 127.0.0.1:{port} failed" in finding["message"]


@pytest.fixture
def dns_server() -> Iterator[FakeDNS]:
    with FakeDNS({HOST: ["127.0.0.1"]}) as server:
        yield server


def test_host_names_resolve_through_the_given_nameserver(
    hierarchy: pki.Chain, trust_bundle: Path, dns_server: FakeDNS
) -> None:
    with TLSServer(hierarchy.served(), hierarchy.leaf.key) as server:
        result = webhook_cert(
            "check",
            f"https://{HOST}:{server.port}/",
            "--nameserver",
            dns_server.address,
            "--trust-bundle",
            trust_bundle,
            "--json",
        )
    assert (result.returncode, result.codes) == (0, [])
    assert (HOST, "A") in dns_server.queries
    assert result.json["address"] == server.address


def test_a_name_the_nameserver_does_not_know_is_a_connection_failure(
    dns_server: FakeDNS,
) -> None:
    result = webhook_cert(
        "check", "https://unknown.example.test/", "--nameserver", dns_server.address, "--json"
    )
    assert result.returncode == 1
    [finding] = result.json["findings"]
    assert finding["code"] == "connection-failed"
    assert "cannot resolve unknown.example.test: no such domain" in finding["message"]


def test_an_ip_address_url_is_checked_against_the_leafs_ip_addresses(tmp_path: Path) -> None:
    chain = pki.build_chain([], ip_addresses=["127.0.0.1"])
    bundle = pki.write_pem(tmp_path / "roots.pem", chain.root.cert)
    with TLSServer(chain.served(), chain.leaf.key) as server:
        result = webhook_cert(
            "check", f"https://127.0.0.1:{server.port}/", "--trust-bundle", bundle, "--json"
        )
    assert (result.returncode, result.codes) == (0, [])
    assert server.server_names == [None, None]  # RFC 6066: no IP addresses in SNI


def test_without_a_trust_bundle_the_mozilla_roots_do_not_trust_a_test_ca(
    hierarchy: pki.Chain,
) -> None:
    with TLSServer(hierarchy.served(), hierarchy.leaf.key) as server:
        result = webhook_cert(
            "check", f"https://{HOST}:{server.port}/", "--connect", server.address, "--json"
        )
    assert result.returncode == 1
    assert result.codes == ["incomplete-chain"]
    assert '"Test Root CA"' in result.json["findings"][0]["message"]


def test_the_human_report_gives_verdict_chain_and_findings(
    hierarchy: pki.Chain, trust_bundle: Path
) -> None:
    with TLSServer([hierarchy.leaf.cert], hierarchy.leaf.key) as server:
        result = webhook_cert(
            "check",
            f"https://{HOST}:{server.port}/",
            "--connect",
            server.address,
            "--trust-bundle",
            trust_bundle,
        )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"INVALID: https://{HOST}:{server.port}/ (1 error, 0 warnings)"
    assert lines[1] == f"Connected to {server.address} with TLSv1.3, TLS_AES_256_GCM_SHA384"
    assert f"  0  CN={HOST}" in lines
    assert "     issuer   CN=Test Intermediate CA 2,O=Test PKI" in lines
    assert any(line.startswith("  error   incomplete-chain: missing issuer") for line in lines)


def test_the_console_script_runs_the_same_check(hierarchy: pki.Chain, trust_bundle: Path) -> None:
    script = Path(sys.executable).with_name("webhook-cert")
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable} (package not installed)")
    with TLSServer(hierarchy.served(), hierarchy.leaf.key) as server:
        completed = subprocess.run(
            [
                str(script),
                "check",
                f"https://{HOST}:{server.port}/",
                "--connect",
                server.address,
                "--trust-bundle",
                str(trust_bundle),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.startswith(f"VALID: https://{HOST}:{server.port}/ (0 errors")


USAGE_ERRORS = {
    "a URL that is not https": ["check", "http://hooks.example.test/"],
    "a bad --connect port": ["check", "https://h.test/", "--connect", "127.0.0.1:http"],
    "a --nameserver that is not an address": ["check", "https://h.test/", "--nameserver", "ns1"],
    "an unknown --min-tls": ["check", "https://h.test/", "--min-tls", "1.4"],
    "a negative --warn-days": ["check", "https://h.test/", "--warn-days", "-1"],
    "a missing trust bundle": ["check", "https://h.test/", "--trust-bundle", "/nonexistent.pem"],
    "a missing expected certificate": [
        "check",
        "https://h.test/",
        "--expect-cert",
        "/nonexistent.pem",
    ],
}


@pytest.mark.parametrize("args", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_errors_exit_with_2_and_say_why(args: list[str]) -> None:
    result = webhook_cert(*args)
    assert result.returncode == 2
    assert "error:" in result.stderr
    assert result.stdout == ""


def test_a_trust_bundle_without_certificates_is_a_usage_error(tmp_path: Path) -> None:
    bundle = tmp_path / "empty.pem"
    bundle.write_text("not a certificate\n")
    result = webhook_cert("check", "https://h.test/", "--trust-bundle", bundle)
    assert result.returncode == 2
    assert f"cannot use trust bundle: {bundle}: no PEM certificate found" in result.stderr


# Field faults, each the first instance of its class (more in tests/unit/chain_cases.py
# and the conformance corpus): a private PKI, a local server, `check` against it.
def _rsa_hierarchy(
    leaf_bits: int = 2048, *, sha1_intermediate: bool = False
) -> tuple[Sequence[x509.Certificate], pki.PrivateKey, x509.Certificate]:
    root = pki.issue(None, "RSA Root CA", key=pki.rsa_key())
    intermediate = pki.issue(root, "RSA Intermediate CA", key=pki.rsa_key())
    if sha1_intermediate:
        resigned = pki.resign(intermediate.cert, root.key, "sha1")  # type: ignore[arg-type]
        intermediate = pki.Issued(resigned, intermediate.key)
    leaf = pki.issue_leaf(intermediate, [HOST], key=pki.rsa_key(leaf_bits))
    return (leaf.cert, intermediate.cert), leaf.key, root.cert


def _lax_private_ca() -> tuple[Sequence[x509.Certificate], pki.PrivateKey, x509.Certificate]:
    root = pki.issue(None, "Lax Root CA", basic_constraints_critical=False)
    intermediate = pki.issue(root, "Lax Intermediate CA", basic_constraints_critical=False)
    leaf = pki.issue_leaf(intermediate, [HOST])
    return (leaf.cert, intermediate.cert), leaf.key, root.cert


def _expired_root() -> tuple[Sequence[x509.Certificate], pki.PrivateKey, x509.Certificate]:
    root = pki.issue(None, "Expired Root CA", validity=pki.EXPIRED)
    intermediate = pki.issue(root, "Intermediate CA")
    leaf = pki.issue_leaf(intermediate, [HOST])
    return (leaf.cert, intermediate.cert), leaf.key, root.cert


ISSUE_INPUTS = {
    "class 1: an RSA-1024 leaf under RSA-2048 CAs": (lambda: _rsa_hierarchy(1024), ["weak-key"]),
    "class 2: an intermediate signed with SHA-1 by a trusted root": (
        lambda: _rsa_hierarchy(sha1_intermediate=True),
        ["weak-signature"],
    ),
    "class 7: CA:TRUE without the critical flag": (_lax_private_ca, []),
    "class 8: the only trusted root has expired": (_expired_root, ["root-expired"]),
}


@pytest.mark.parametrize(("make", "codes"), ISSUE_INPUTS.values(), ids=ISSUE_INPUTS.keys())
def test_the_issue_inputs_get_the_findings_of_their_class(
    tmp_path: Path,
    make: Callable[[], tuple[Sequence[x509.Certificate], pki.PrivateKey, x509.Certificate]],
    codes: list[str],
) -> None:
    served, key, root = make()
    bundle = pki.write_pem(tmp_path / "root.pem", root)
    with TLSServer(served, key, lenient=True) as server:
        result = check(server, bundle)
    assert result.codes == codes, result.stdout
    assert result.returncode == (1 if codes else 0)
    for finding in result.json["findings"]:
        assert "(serial " in finding["message"]


MUTUAL_TLS = {
    "TLS 1.3": (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3),
    "TLS 1.2": (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),
}


@pytest.mark.parametrize("versions", MUTUAL_TLS.values(), ids=MUTUAL_TLS.keys())
def test_a_server_requiring_a_client_certificate_is_refused_with_its_chain_shown(
    hierarchy: pki.Chain, trust_bundle: Path, versions: tuple[ssl.TLSVersion, ssl.TLSVersion]
) -> None:
    server = TLSServer(
        hierarchy.served(),
        hierarchy.leaf.key,
        versions=versions,
        client_certificate=ssl.CERT_REQUIRED,
    )
    with server:
        result = check(server, trust_bundle)
    assert (result.returncode, result.codes) == (1, ["client-certificate-required"])
    assert len(result.json["served_chain"]) == len(hierarchy.served())
    assert result.json["cipher_suite"] is None


def test_a_server_that_only_asks_for_a_client_certificate_is_valid(
    hierarchy: pki.Chain, trust_bundle: Path
) -> None:
    server = TLSServer(hierarchy.served(), hierarchy.leaf.key, client_certificate=ssl.CERT_OPTIONAL)
    with server:
        result = check(server, trust_bundle)
    assert (result.returncode, result.codes) == (0, [])


def test_the_cipher_suite_a_sender_negotiates_is_reported(
    hierarchy: pki.Chain, trust_bundle: Path
) -> None:
    versions = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
    with TLSServer(hierarchy.served(), hierarchy.leaf.key, versions=versions) as server:
        result = check(server, trust_bundle)
    assert result.json["cipher_suite"].startswith("ECDHE-ECDSA-")


def test_a_server_with_only_a_group_go_lacks_is_a_handshake_failure(
    hierarchy: pki.Chain, trust_bundle: Path
) -> None:
    server = TLSServer(hierarchy.served(), hierarchy.leaf.key)
    server.context.set_ecdh_curve("X448")  # OpenSSL and Java have X448, Go does not
    with server:
        result = check(server, trust_bundle)
    assert (result.returncode, result.codes) == (1, ["handshake-failed"]), result.stdout


def test_a_server_without_a_cipher_suite_senders_offer_is_a_handshake_failure(
    hierarchy: pki.Chain, trust_bundle: Path
) -> None:
    versions = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
    server = TLSServer(hierarchy.served(), hierarchy.leaf.key, versions=versions)
    server.context.set_ciphers("ECDHE-ECDSA-CAMELLIA256-SHA384:@SECLEVEL=0")
    with server:
        result = check(server, trust_bundle)
    assert (result.returncode, result.codes) == (1, ["handshake-failed"]), result.stdout
    assert len(result.json["served_chain"]) == len(hierarchy.served())


def test_every_address_of_the_host_is_checked_and_a_failing_one_is_named(
    hierarchy: pki.Chain, trust_bundle: Path
) -> None:
    # Two backends behind one name: 127.0.0.1 serves the full chain, 127.0.0.2 only the
    # leaf. Whatever order DNS gives them in, the host is invalid and 127.0.0.2 is named.
    full, leaf_only = hierarchy.served(), [hierarchy.leaf.cert]
    with (
        TLSServer(full, hierarchy.leaf.key) as good,
        TLSServer(leaf_only, hierarchy.leaf.key, host="127.0.0.2", port=good.port) as bad,
    ):
        for order in (["127.0.0.1", "127.0.0.2"], ["127.0.0.2", "127.0.0.1"]):
            with FakeDNS({HOST: order}) as dns:
                result = webhook_cert(
                    "check",
                    f"https://{HOST}:{good.port}/",
                    "--nameserver",
                    dns.address,
                    "--trust-bundle",
                    trust_bundle,
                    "--json",
                )
            assert result.returncode == 1, result.stdout
            findings = result.json["findings"]
            assert [f["code"] for f in findings] == ["incomplete-chain"]
            assert findings[0]["message"].startswith(f"at {bad.address}: missing issuer")
            assert {(a["address"], a["ok"]) for a in result.json["addresses"]} == {
                (good.address, True),
                (bad.address, False),
            }


def test_a_host_whose_addresses_all_serve_the_full_chain_is_valid_once(
    hierarchy: pki.Chain, trust_bundle: Path
) -> None:
    with (
        TLSServer(hierarchy.served(), hierarchy.leaf.key) as first,
        TLSServer(hierarchy.served(), hierarchy.leaf.key, host="127.0.0.2", port=first.port),
        FakeDNS({HOST: ["127.0.0.1", "127.0.0.2"]}) as dns,
    ):
        result = webhook_cert(
            "check",
            f"https://{HOST}:{first.port}/",
            "--nameserver",
            dns.address,
            "--trust-bundle",
            trust_bundle,
        )
    assert result.returncode == 0, result.stdout
    assert "Addresses:" in result.stdout


RECEIVERS = {
    # (profile, what the receiver echoes, its status, its delay) -> exit, codes
    "ringcentral, echoed": ("ringcentral", "ringcentral", 200, 0.0, 0, []),
    "ringcentral, not echoed": ("ringcentral", None, 200, 0.0, 1, ["sender-token-not-echoed"]),
    "ringcentral, HTTP 500": ("ringcentral", "ringcentral", 500, 0.0, 1, ["sender-status"]),
    "ringcentral, after 4 s": ("ringcentral", "ringcentral", 200, 4.0, 1, ["sender-too-slow"]),
    "msgraph, echoed": ("msgraph", "msgraph", 200, 0.0, 0, []),
    "msgraph, after 4 s (limit 10 s)": ("msgraph", "msgraph", 200, 4.0, 0, []),
    "msgraph, not echoed": ("msgraph", None, 200, 0.0, 1, ["sender-token-not-echoed"]),
    "slack, echoed": ("slack", "slack", 200, 0.0, 0, []),
    "slack, HTTP 500 and not echoed": (
        "slack",
        None,
        500,
        0.0,
        1,
        ["sender-status", "sender-token-not-echoed"],
    ),
}


@pytest.mark.parametrize(
    ("sender", "echo", "status", "delay", "exit_status", "codes"),
    RECEIVERS.values(),
    ids=RECEIVERS.keys(),
)
def test_a_sender_profile_sends_its_validation_request_and_judges_the_answer(
    hierarchy: pki.Chain,
    trust_bundle: Path,
    sender: str,
    echo: str | None,
    status: int,
    delay: float,
    exit_status: int,
    codes: list[str],
) -> None:
    receiver = WebhookReceiver(
        hierarchy.served(), hierarchy.leaf.key, echo=echo, status=status, delay=delay
    )
    with receiver:
        result = check(receiver, trust_bundle, "--sender", sender)
    assert (result.returncode, result.codes) == (exit_status, codes), result.stdout
    [(method, target, headers)] = receiver.requests
    assert method == "POST"
    assert target.startswith("/hook")
    assert headers["x-webhook-cert-check"] == "validation"


def test_the_generic_profile_sends_no_request_to_the_receiver(
    hierarchy: pki.Chain, trust_bundle: Path
) -> None:
    receiver = WebhookReceiver(hierarchy.served(), hierarchy.leaf.key, echo=None)
    with receiver:
        result = check(receiver, trust_bundle)
    assert result.returncode == 0
    assert receiver.requests == []

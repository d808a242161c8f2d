"""`webhook-cert inspect`: a stored chain judged offline, the key pairing, exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from tests import pki_factory
from webhook_cert_operator import __main__
from webhook_cert_operator.certificates import pki
from webhook_cert_operator.cli import inspect as inspect_command
from webhook_cert_operator.kube import Secret

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOST = "hooks.example.com"
CHAIN = pki_factory.build_chain([HOST], now=NOW, prefix="Inspect")
OTHER = pki_factory.build_chain([HOST], now=NOW, prefix="Other")
ROOTS = (CHAIN.root.cert,)


def data(*certs: x509.Certificate, key: bytes | None = None) -> dict[str, bytes]:
    return {
        "tls.crt": pki.chain_to_pem(certs),
        "tls.key": key if key is not None else CHAIN.leaf.key_pem(),
    }


def inspect(stored: dict[str, bytes], host: str | None = None) -> inspect_command.Inspection:
    return inspect_command.inspect_stored(
        stored,
        source="Secret payments/hooks-tls",
        host=host,
        trust_roots=ROOTS,
        now=NOW,
        warn_before=timedelta(days=14),
    )


def codes(inspection: inspect_command.Inspection) -> list[str]:
    return [str(f.code) for f in inspection.report.findings]


def test_a_full_chain_with_its_key_is_valid_for_the_leafs_first_name() -> None:
    inspection = inspect(data(*CHAIN.served()))
    assert inspection.ok and inspection.key_matches
    assert inspection.host == HOST
    assert codes(inspection) == []
    assert inspection.key_type.startswith("ECDSA")


def test_a_leaf_alone_is_an_incomplete_chain_as_a_sender_would_see_it_served() -> None:
    inspection = inspect(data(CHAIN.leaf.cert))
    assert not inspection.ok
    assert codes(inspection) == ["incomplete-chain"]


def test_a_key_that_does_not_pair_with_the_leaf_makes_it_invalid() -> None:
    inspection = inspect(data(*CHAIN.served(), key=OTHER.leaf.key_pem()))
    assert inspection.report.ok and not inspection.key_matches and not inspection.ok
    assert "does NOT pair with the leaf" in inspect_command.format_inspection(inspection)


def test_another_host_is_a_hostname_mismatch() -> None:
    assert codes(inspect(data(*CHAIN.served()), host="other.example.com")) == ["hostname-mismatch"]


def test_a_secret_without_a_key_is_unusable() -> None:
    with pytest.raises(inspect_command.Unusable, match=r"no tls.crt or tls.key"):
        inspect({"tls.crt": pki.chain_to_pem(CHAIN.served())})


def test_the_text_report_shows_the_stored_chain_and_never_the_key() -> None:
    text = inspect_command.format_inspection(inspect(data(*CHAIN.served())))
    assert text.startswith("VALID: Secret payments/hooks-tls")
    assert "Stored chain (tls.crt), in order:" in text
    assert f"Judged for host {HOST}" in text
    assert "PRIVATE KEY" not in text


class Secrets:
    def __init__(self, stored: dict[str, bytes] | None) -> None:
        self.stored = stored

    def get_secret(self, namespace: str, name: str) -> Secret | None:
        if self.stored is None:
            return None
        return Secret(name, namespace, "kubernetes.io/tls", self.stored, {}, {}, "1")


def run(secrets: Secrets, *argv: str, roots: Path) -> int:
    args = __main__.build_parser().parse_args(["inspect", *argv, "--trust-bundle", str(roots)])
    return inspect_command.run(args, api=lambda _: secrets, clock=lambda: NOW)


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    return pki_factory.write_pem(tmp_path / "roots.pem", *ROOTS)


def test_inspect_secret_prints_json_and_exits_0_when_valid(
    roots: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run(
        Secrets(data(*CHAIN.served())), "secret", "payments/hooks-tls", "-o", "json", roots=roots
    )
    assert status == inspect_command.EXIT_VALID
    shown = json.loads(capsys.readouterr().out)
    assert shown["ok"] is True
    assert shown["url"] == "Secret payments/hooks-tls"
    assert shown["key"]["matches_leaf"] is True
    assert len(shown["served_chain"]) == len(CHAIN.served())


def test_inspect_secret_exits_1_when_invalid_or_missing(
    roots: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(Secrets(data(CHAIN.leaf.cert)), "secret", "payments/x", roots=roots) == 1
    assert run(Secrets(None), "secret", "payments/x", roots=roots) == 1
    assert "Secret payments/x not found" in capsys.readouterr().err


def test_inspect_file_reads_certbot_style_files(
    roots: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = pki_factory.write_pem(tmp_path / "fullchain.pem", *CHAIN.served())
    key = tmp_path / "privkey.pem"
    key.write_bytes(CHAIN.leaf.key_pem())
    assert run(Secrets(None), "file", str(cert), "--key", str(key), roots=roots) == 0
    assert capsys.readouterr().out.startswith(f"VALID: {cert}")


def test_a_missing_file_is_a_usage_error(roots: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    assert run(Secrets(None), "file", missing, "--key", missing, roots=roots) == 2


def test_inspect_needs_to_know_what_to_inspect(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        __main__.build_parser().parse_args(["inspect"])
    assert exited.value.code == inspect_command.EXIT_USAGE
    assert "WHAT" in capsys.readouterr().err

"""The `webhook-cert` and `kubectl-webhookcert` entry points."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from webhook_cert_operator import __main__

REPO = Path(__file__).resolve().parents[2]


def test_solve_loads_none_of_the_operators_dependencies() -> None:
    """The solver image has only the package: `webhook-cert solve` must start without
    kopf, the Kubernetes client, acme or cryptography."""
    code = (
        "import sys\n"
        "from webhook_cert_operator import __main__\n"
        "__main__.build_parser(['solve']).parse_args(['solve'])\n"
        "heavy = {'kopf', 'kubernetes', 'acme', 'cryptography', 'OpenSSL', 'requests'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "[]"


def test_top_level_help_lists_every_command_without_loading_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        __main__.main(["--help"])
    out = capsys.readouterr().out
    for name in __main__.COMMANDS:
        assert name in out


def test_the_kubectl_plugin_names_itself_as_kubectl_shows_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["kubectl-webhookcert", "status", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        __main__.kubectl_plugin()
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: kubectl webhookcert status")


def test_the_package_installs_both_commands() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {
        "webhook-cert": "webhook_cert_operator.__main__:main",
        "kubectl-webhookcert": "webhook_cert_operator.__main__:kubectl_plugin",
    }

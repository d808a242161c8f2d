"""requirements/operator.txt, the lock the Dockerfile installs with --require-hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCK = (REPO / "requirements" / "operator.txt").read_text(encoding="utf-8")
PINS = {
    canonicalize_name(name): version
    for name, version in re.findall(r"^([A-Za-z0-9._-]+)==(\S+) \\$", LOCK, re.MULTILINE)
}


def test_every_dependency_of_the_package_is_pinned_to_a_version_it_accepts() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in PINS, f"{name} is not in the lock: run `make lock`"
        assert requirement.specifier.contains(PINS[name]), (
            f"{name}=={PINS[name]} no longer satisfies {line}: run `make lock`"
        )


def test_every_pin_carries_hashes_so_pip_can_refuse_a_changed_file() -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.strip())
    assert len(entries) == len(PINS)
    for entry in entries:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), entry.splitlines()[0]

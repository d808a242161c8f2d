"""The check against real strict TLS clients, on the whole corpus (`conformance/`).

No cluster: every server listens on 127.0.0.1 in this process; OpenSSL's `s_client`, a
Go crypto/tls client and a Java default-PKIX client connect to it beside the check.
A missing toolchain fails these tests (CI installs them: see docs/conformance.md); it
never skips them, or the contract would go unproven without anyone noticing.
"""

from __future__ import annotations

import pytest

from conformance import clients, run
from conformance.scenarios import DELIBERATE, SCENARIOS


@pytest.fixture(scope="module")
def rows() -> dict[str, run.Row]:
    try:
        tools = run.prepare()
    except clients.ClientMissing as error:
        pytest.fail(str(error), pytrace=False)
    return {row.scenario.name: row for row in run.run_corpus(SCENARIOS, tools=tools)}


def test_the_corpus_has_at_least_forty_scenarios_with_distinct_names() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) >= 40
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_the_check_refuses_what_any_client_refuses_and_accepts_what_all_accept(
    rows: dict[str, run.Row], name: str
) -> None:
    row = rows[name]
    words = "; ".join(f"{client}: {v.detail}" for client, v in row.clients.items())
    if name in DELIBERATE:
        assert not row.agrees, f"{name} is listed as a deliberate difference but agrees"
        return
    assert row.agrees, (
        f"ours: {'accept' if row.ours.accepted else 'refuse'} {row.ours.codes} "
        f"{row.ours.detail}; {words}"
    )


def test_every_deliberate_difference_names_a_scenario() -> None:
    assert set(DELIBERATE) <= {s.name for s in SCENARIOS}

"""Run the corpus: serve each scenario locally, judge it with the check and each client.

`run_corpus()` returns one `Row` per scenario; `format_table` and `format_markdown`
show them. Every server listens on 127.0.0.1 only; every client is given the
scenario's roots and nothing else.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from tests import pki_factory as pki
from tests.tls_server import TLSServer

from conformance import clients
from conformance.scenarios import DELIBERATE, SCENARIOS, Scenario
from webhook_cert_operator.checking import checker
from webhook_cert_operator.checking.target import Dial, ascii_host, parse_url

CLIENT_NAMES = ("OpenSSL", "Go", "Java")


@dataclass(frozen=True)
class Ours:
    accepted: bool
    codes: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class Row:
    scenario: Scenario
    ours: Ours
    clients: dict[str, clients.Verdict]

    @property
    def all_accept(self) -> bool:
        return all(v.accepted for v in self.clients.values())

    @property
    def agrees(self) -> bool:
        """The contract: refuse what any client refuses, accept what all accept."""
        return self.ours.accepted == self.all_accept

    @property
    def status(self) -> str:
        if self.agrees:
            return "agree"
        return "deliberate" if self.scenario.name in DELIBERATE else "DISAGREE"


@dataclass(frozen=True)
class Toolchain:
    go: Path
    java: Path
    openssl: str


def prepare() -> Toolchain:
    """Build (or find in the cache) the Go and Java clients; ClientMissing if a tool is."""
    return Toolchain(
        go=clients.build_go_client(),
        java=clients.build_java_client(),
        openssl=clients.openssl_version(),
    )


def _ours(port: int, roots: Sequence[x509.Certificate], host: str) -> Ours:
    report = checker.check_endpoint(
        parse_url(f"https://{host}:{port}/"),
        dial=Dial("127.0.0.1", port),
        trust_roots=roots,
        expected_leaf=None,
        min_tls_version="1.2",
        warn_before=timedelta(days=14),
        timeout=10.0,
        nameservers=(),
        now=datetime.now(UTC),
    )
    errors = [f for f in report.findings if f.severity == "error"]
    codes = tuple(str(f.code) for f in report.findings)
    return Ours(report.ok, codes, errors[0].message if errors else "")


def judge(scenario: Scenario, tools: Toolchain, workdir: Path) -> Row:
    setup = scenario.build()
    roots = pki.write_pem(workdir / "roots.pem", *setup.roots)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 servers
        server = TLSServer(
            setup.served,
            setup.key,
            versions=setup.versions,
            lenient=True,
            client_certificate=setup.client_certificate,
        )
        if setup.ciphers is not None:
            server.context.set_ciphers(setup.ciphers)
        if setup.group is not None:
            server.context.set_ecdh_curve(setup.group)
    with server, ThreadPoolExecutor(max_workers=4) as pool:
        port = server.port
        # Clients get the A-label (IDNA 2008, UTS #46), as a URL parser in a browser or
        # curl makes it; the check gets the host as written.
        host = ascii_host(setup.host)
        ours = pool.submit(_ours, port, setup.roots, setup.host)
        verdicts = {
            "OpenSSL": pool.submit(clients.run_openssl, port, host, roots),
            "Go": pool.submit(clients.run_go, tools.go, port, host, roots),
            "Java": pool.submit(clients.run_java, tools.java, port, host, roots),
        }
        return Row(scenario, ours.result(), {k: f.result() for k, f in verdicts.items()})


def run_corpus(
    scenarios: Iterable[Scenario] = SCENARIOS,
    *,
    tools: Toolchain | None = None,
    progress: Callable[[Row], None] | None = None,
) -> list[Row]:
    tools = tools or prepare()
    rows = []
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        for index, scenario in enumerate(scenarios):
            workdir = Path(tmp) / str(index)
            workdir.mkdir()
            row = judge(scenario, tools, workdir)
            rows.append(row)
            if progress is not None:
                progress(row)
    return rows


def _mark(accepted: bool) -> str:
    return "accept" if accepted else "refuse"


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table: scenario, our verdict (codes), each client, agreement."""
    header = ("scenario", "ours", *CLIENT_NAMES, "status")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        ours = _mark(row.ours.accepted)
        if row.ours.codes:
            ours += f" ({', '.join(row.ours.codes)})"
        lines.append(
            (
                f"[{row.scenario.group}] {row.scenario.name}",
                ours,
                *(_mark(row.clients[name].accepted) for name in CLIENT_NAMES),
                row.status,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
    ]
    text.append("")
    text.append(summary(rows))
    return "\n".join(text)


def summary(rows: Sequence[Row]) -> str:
    counts = {
        status: sum(r.status == status for r in rows)
        for status in ("agree", "deliberate", "DISAGREE")
    }
    return (
        f"{len(rows)} scenarios: {counts['agree']} agree, {counts['deliberate']} deliberate "
        f"differences, {counts['DISAGREE']} unexplained disagreements"
    )


def format_markdown(rows: Sequence[Row], tools: Toolchain) -> str:
    lines = [
        f"Clients: {tools.openssl} (`s_client -verify_return_error`), Go `crypto/tls` "
        "(`conformance/clients/tlscheck.go`), Java default PKIX "
        "(`conformance/clients/TlsCheck.java`).",
        "",
        "| group | scenario | ours | findings | OpenSSL | Go | Java | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            row.scenario.group,
            row.scenario.name,
            _mark(row.ours.accepted),
            ", ".join(f"`{c}`" for c in row.ours.codes) or "-",
            *(_mark(row.clients[name].accepted) for name in CLIENT_NAMES),
            row.status,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", summary(rows)]
    return "\n".join(lines)

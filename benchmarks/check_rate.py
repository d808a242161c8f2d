"""Served-chain checks at scale: the operator's `ChainChecker`, with the operator's default
concurrency, over 1,000 local TLS endpoints, beside a sequential loop of
`openssl s_client -verify_return_error` over the same endpoints; then both again with
50 ms of round-trip latency added; then the checker once more with one endpoint that
accepts TCP connections and never answers.

Everything runs inside the cluster's network namespace, on its loopback: the endpoints
(`tls_farm`, a process of its own) listen on ports BASE_PORT.., and through a relay that
adds 25 ms each way (50 ms per round trip, and one round trip for the TCP handshake) on
ports DELAYED_BASE... The relay stands in for netem, which this machine's kernel lacks
(`tc qdisc add ... netem` answers "Specified qdisc kind is unknown"); see `tls_farm`.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchmarks import tls_farm
from benchmarks.harness import Figure
from webhook_cert_operator.api.parse import parse_spec
from webhook_cert_operator.api.types import EndpointSpec
from webhook_cert_operator.checking.checker import ChainChecker
from webhook_cert_operator.metrics import Metrics
from webhook_cert_operator.settings import Settings

PART = "check-rate"
COUNT = 1000
BASE_PORT = 20000
DELAYED_BASE = 22000
HANG_PORT = 24000
OPENSSL_SAMPLE = 100
ONE_WAY_MS = 25
ROOTS = ("bench", "roots")  # the trust bundle ConfigMap the checks name (namespace, name)


class _Store:
    """The little of the Kubernetes API the checker reads: the trust bundle ConfigMap, and
    no TLS Secret (so no `stale-certificate` expectation)."""

    def __init__(self, roots_pem: bytes) -> None:
        self.roots_pem = roots_pem

    def get_config_map_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return {"ca.crt": self.roots_pem} if (namespace, name) == ROOTS else None

    def get_secret(self, namespace: str, name: str) -> None:
        return None


@dataclass(frozen=True)
class Checked:
    ok: int
    wall: float
    durations: tuple[float, ...]
    note: str = ""
    # When each check ended, in seconds after the first began (same order as durations).
    ended: tuple[float, ...] = ()

    @property
    def rate(self) -> float:
        return len(self.durations) / self.wall


def _spec(host: str, port: int) -> EndpointSpec:
    return parse_spec(
        {
            "dnsNames": [host],
            "validation": {
                "url": f"https://{host}:{port}/",
                "connectTo": f"127.0.0.1:{port}",
                "trustBundle": {"kind": "ConfigMap", "name": ROOTS[1], "key": "ca.crt"},
            },
        },
        name=host.split(".")[0],
        settings=Settings(),
    )


def operator_checks(roots_pem: bytes, targets: Sequence[tuple[str, int]]) -> Checked:
    """Every target checked by one ChainChecker, as the operator runs it: one thread per
    allowed concurrent check (the operator's default executor), the checker's own slots."""
    settings = Settings()
    checker = ChainChecker(_Store(roots_pem), settings, Metrics())  # type: ignore[arg-type]
    specs = [_spec(host, port) for host, port in targets]
    started = time.monotonic()

    def one(spec: EndpointSpec) -> tuple[bool, float, str, float]:
        began = time.monotonic()
        result = checker.check(ROOTS[0], spec.dns_names[0].split(".")[0], spec)
        ended = time.monotonic()
        return result.ok, ended - began, result.condition.reason, ended - started

    with ThreadPoolExecutor(max_workers=settings.check_concurrency) as pool:
        results = list(pool.map(one, specs))
    wall = time.monotonic() - started
    failed = [reason for ok, _, reason, _ in results if not ok]
    note = f"{len(failed)} not valid ({', '.join(sorted(set(failed)))})" if failed else ""
    durations = tuple(r[1] for r in results)
    return Checked(len(results) - len(failed), wall, durations, note, tuple(r[3] for r in results))


def openssl_loop(root: Path, targets: Sequence[tuple[str, int]]) -> Checked:
    """`openssl s_client -verify_return_error` over the targets, one after another."""
    ok = 0
    durations = []
    started = time.monotonic()
    for host, port in targets:
        began = time.monotonic()
        result = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", host,
             "-verify_return_error", "-verify_hostname", host, "-CAfile", str(root), "-brief"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
        )  # fmt: skip
        durations.append(time.monotonic() - began)
        ok += result.returncode == 0
    return Checked(ok, time.monotonic() - started, tuple(durations))


@contextlib.contextmanager
def farm(directory: Path) -> Iterator[None]:
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.tls_farm", str(directory), str(COUNT),
         str(BASE_PORT), str(DELAYED_BASE), str(HANG_PORT), str(ONE_WAY_MS)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the TLS farm did not start")
        yield
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _line(what: str, checked: Checked, scaled_from: int | None = None) -> str:
    scaled = f" (timed {scaled_from}, scaled to {COUNT})" if scaled_from else ""
    median = statistics.median(checked.durations)
    return (
        f"    {what:<44} {checked.wall * (COUNT / scaled_from if scaled_from else 1):7.1f}s"
        f"{scaled}, {checked.ok}/{len(checked.durations)} valid, median {median * 1000:.0f} ms "
        f"per endpoint {checked.note}"
    )


def _round(root: Path, base: int, label: str) -> tuple[float, float]:
    """The checker over all targets and openssl over a sample; (checker s, openssl s for
    all targets, scaled)."""
    targets = [(tls_farm.host(i), base + i) for i in range(COUNT)]
    checker = operator_checks(root.read_bytes(), targets)
    print(_line(f"ChainChecker, {COUNT} endpoints{label}", checker))
    sample = targets[:: len(targets) // OPENSSL_SAMPLE][:OPENSSL_SAMPLE]
    openssl = openssl_loop(root, sample)
    print(_line(f"openssl s_client loop{label}", openssl, OPENSSL_SAMPLE))
    return checker.wall, openssl.wall * COUNT / OPENSSL_SAMPLE


def run() -> list[Figure]:
    """Needs to run inside the cluster's network namespace (the caller has entered it)."""
    targets = [(tls_farm.host(i), BASE_PORT + i) for i in range(COUNT)]
    with tempfile.TemporaryDirectory(prefix="tls-farm-") as tmp:
        root = tls_farm.write_farm(Path(tmp), COUNT)
        with farm(Path(tmp)):
            print(f"  served-chain checks, concurrency {Settings().check_concurrency} (default):")
            plain = _round(root, BASE_PORT, "")
            slow = _round(root, DELAYED_BASE, f", +{ONE_WAY_MS} ms each way")
            hanging = operator_checks(
                root.read_bytes(), [("hang.example.test", HANG_PORT), *targets]
            )
            others = hanging.durations[1:]
            others_done = max(hanging.ended[1:])
            print(_line(f"ChainChecker, {COUNT} + 1 hanging endpoint", hanging))
            print(
                f"    the hanging one took {hanging.durations[0]:.1f}s (its timeout); the "
                f"others: median {statistics.median(others) * 1000:.0f} ms, max "
                f"{max(others) * 1000:.0f} ms, all done after {others_done:.1f}s"
            )
    return [
        Figure(PART, f"{COUNT} checks, loopback", COUNT / plain[0], "/s", COUNT / plain[1],
               "openssl loop", 3, higher_is_better=True),
        Figure(PART, f"{COUNT} checks, +50 ms RTT", COUNT / slow[0], "/s", COUNT / slow[1],
               "openssl loop", 30, higher_is_better=True),
        # The others' last end, not the wall time: that is bounded below by the hanging
        # one's own timeout, whatever the others do.
        Figure(PART, f"{COUNT} others done, 1 hanging", others_done, "s", plain[0],
               "same without it", 1.1),
    ]  # fmt: skip

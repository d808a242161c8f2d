"""The strict TLS clients the check is compared with, run as subprocesses.

Each client connects to a local server with SNI and host name verification for the
scenario's host, trusts only the scenario's roots (a PEM file), fetches nothing (no
AIA), sends no client certificate, and waits briefly after the handshake for what the
server sends then (a TLS 1.3 server's `certificate_required` alert). Each returns a
`Verdict`: accepted or not, and the client's own words.

The Go client is built once with the installed `go` (no external modules) and the Java
client compiled once with the installed `javac`; both are cached under
~/.cache/webhook-cert-operator/conformance/, keyed by a hash of their source.
`ClientMissing` says which tool is absent: the tests fail on it, they do not skip.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SOURCES = Path(__file__).resolve().parent / "clients"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / (
    "webhook-cert-operator/conformance"
)
TIMEOUT = 60.0


class ClientMissing(Exception):
    """A client's toolchain is not installed; the message says which package brings it."""


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    detail: str


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _need(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise ClientMissing(
            f"`{tool}` is not installed: the conformance tests need it (Debian package: {package})"
        )
    return found


def openssl_version() -> str:
    openssl = _need("openssl", "openssl")
    return subprocess.run(
        [openssl, "version"], capture_output=True, text=True, check=True
    ).stdout.strip()


def build_go_client() -> Path:
    """The Go client's binary, built if its cached copy is missing."""
    go = _need("go", "golang-go (Go 1.22 or newer)")
    source = SOURCES / "tlscheck.go"
    binary = CACHE / f"tlscheck-{_digest(source)}"
    if binary.exists():
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    partial = binary.with_suffix(".tmp")
    completed = subprocess.run(
        [go, "build", "-o", str(partial), str(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=SOURCES,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"go build of {source} failed:\n{completed.stderr}")
    partial.rename(binary)
    return binary


def build_java_client() -> Path:
    """The directory holding the compiled Java client, compiled if missing."""
    javac = _need("javac", "default-jdk-headless")
    _need("java", "default-jdk-headless")
    source = SOURCES / "TlsCheck.java"
    directory = CACHE / f"java-{_digest(source)}"
    if (directory / "TlsCheck.class").exists():
        return directory
    partial = CACHE / f"java-{_digest(source)}.tmp{os.getpid()}"
    partial.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [javac, "-d", str(partial), str(source)], capture_output=True, text=True, timeout=300
    )
    if completed.returncode != 0:
        raise RuntimeError(f"javac {source} failed:\n{completed.stderr}")
    partial.rename(directory)
    return directory


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_go(binary: Path, port: int, host: str, roots: Path) -> Verdict:
    completed = subprocess.run(
        [str(binary), f"127.0.0.1:{port}", host, str(roots)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    line = _last_line(completed.stdout) or _last_line(completed.stderr)
    return Verdict(completed.returncode == 0 and line.startswith("OK"), line)


def run_java(classes: Path, port: int, host: str, roots: Path) -> Verdict:
    java = _need("java", "default-jdk-headless")
    completed = subprocess.run(
        [java, "-cp", str(classes), "TlsCheck", "127.0.0.1", str(port), host, str(roots)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    line = _last_line(completed.stdout) or _last_line(completed.stderr)
    return Verdict(completed.returncode == 0 and line.startswith("OK"), line)


def run_openssl(port: int, host: str, roots: Path) -> Verdict:
    """`openssl s_client -verify_return_error` with the system OpenSSL's defaults
    (security level 2 on Debian), host name checked, kept open 0.4 s after the
    handshake so that a post-handshake alert is read."""
    openssl = _need("openssl", "openssl")
    command = [
        openssl,
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-servername",
        host,
        "-verify_return_error",
        "-verify_hostname",
        host,
        "-CAfile",
        str(roots),
        "-brief",
    ]
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.4)
    try:
        stdout, stderr = process.communicate(input="", timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        return Verdict(False, "timed out")
    output = stderr + stdout
    accepted = process.returncode == 0 and "Verification: OK" in output
    if accepted and ("alert" in output.lower() and "error:" in output.lower()):
        accepted = False
    detail = _openssl_detail(output) if not accepted else _openssl_summary(output)
    return Verdict(accepted, detail)


def _openssl_detail(output: str) -> str:
    for line in output.splitlines():
        if "verify error" in line or "error:" in line:
            return line.strip()
    return _last_line(output)


def _openssl_summary(output: str) -> str:
    fields = [
        line.split(":", 1)[1].strip()
        for line in output.splitlines()
        if line.startswith(("Protocol version:", "Ciphersuite:"))
    ]
    return "OK " + " ".join(fields)

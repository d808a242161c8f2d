"""Background processes of the local cluster: started detached, tracked by pid files.

Every process runs inside a network namespace through `nsenter --net`, which execs the
command in place (so the recorded pid is the component's own) and, unlike `ip netns exec`,
keeps the host's mount namespace (the node makes a private one of its own).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class ProcessTable:
    def __init__(self, state_dir: Path) -> None:
        self.run_dir = state_dir / "run"
        self.log_dir = state_dir / "logs"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def pid(self, name: str) -> int | None:
        try:
            pid = int(self.pid_file(name).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def names(self) -> list[str]:
        if not self.run_dir.is_dir():
            return []
        return [p.stem for p in self.run_dir.glob("*.pid")]

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        netns: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        """Start `argv` unless it already runs; returns its pid."""
        running = self.pid(name)
        if running is not None:
            return running
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file(name).open("ab") as log:
            process = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{netns}", "--", *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
                cwd=cwd,
            )
        self.pid_file(name).write_text(str(process.pid))
        return process.pid

    def exited_early(self, name: str) -> str | None:
        """The log's last lines when the process is gone, for a clear start-up error."""
        if self.pid(name) is not None:
            return None
        try:
            lines = self.log_file(name).read_text(errors="replace").splitlines()
        except FileNotFoundError:
            lines = []
        return "\n".join(lines[-15:]) or "(no output)"

    def stop(self, name: str, timeout: float = 10.0) -> None:
        pid = self.pid(name)
        if pid is not None:
            _signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                _signal_group(pid, signal.SIGKILL)
        self.pid_file(name).unlink(missing_ok=True)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False

"""Helpers shared by the tests: the CLI as a subprocess, a real worker process, waiting for another thread or process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WORKER_READY_TIMEOUT = 60.0
#: How long ``wait_until`` waits: only a broken test gets near it, however busy the machine.
WAIT_BOUND = 30.0


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_BOUND) -> None:
    """Poll until ``condition`` holds, something another thread or process is bound to do; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.01)


@dataclass(frozen=True)
class CliResult:
    returncode: int
    output: str

    @property
    def last_line(self) -> str:
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def run_cli(env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 120) -> CliResult:
    """Run ``newsletter ARGS`` in a subprocess, stdout and stderr together as a user sees them."""
    completed = subprocess.run(
        [sys.executable, "-m", "publisher", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(completed.returncode, completed.stdout)


class WorkerProcess:
    """``newsletter worker`` in a subprocess, ready when Celery says so."""

    def __init__(self, env: dict[str, str], log_path: Path, *extra: str) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "publisher", "worker", "--concurrency=2", *extra],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = WORKER_READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()

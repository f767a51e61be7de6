"""The ``newsletter`` command line as a subprocess, its output as a user sees it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CliResult:
    returncode: int
    output: str

    @property
    def last_line(self) -> str:
        return last_line(self.output)


def last_line(output: str) -> str:
    """The last line of ``output`` that is not blank: where a command prints its verdict."""
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_cli(
    env: dict[str, str], *args: str | os.PathLike[str], cwd: Path | None = None, timeout: float = 120, stdin: str | None = None
) -> CliResult:
    """Run ``newsletter ARGS`` in a subprocess, stdout and stderr together as a user sees them; ``stdin`` is its input."""
    completed = subprocess.run(
        [sys.executable, "-m", "publisher", *map(str, args)],
        env=env,
        cwd=cwd,
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(completed.returncode, completed.stdout)


def assert_plain(output: str, most: int = 2000) -> None:
    """A refusal as a user should see it: no traceback, no escape sequence reaching the terminal, no value echoed at length."""
    assert "Traceback" not in output and "\x1b" not in output and "\x07" not in output, output[:500]
    assert len(output) < most, f"{len(output)} characters"

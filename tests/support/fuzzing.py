"""schemathesis as its command-line tool against a served app: one run, its JSON report read back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCHEMATHESIS = Path(sys.executable).with_name("st")
#: The fuzzer's run may take minutes on a busy machine; a test's own pytest limit stays above it.
RUN_TIMEOUT = 600


def fuzz(url: str, report: Path, *options: str) -> dict[str, Any]:
    """Run schemathesis on ``url``'s OpenAPI document with ``options``; assert it passed and return its report.

    Fixed seed, no shrinking, one worker and a 10 s request timeout keep the
    run repeatable; the caller names the checks, examples and operations.
    """
    if not SCHEMATHESIS.exists():
        pytest.skip(f"schemathesis is not installed beside {sys.executable} (install the dev extra)")
    command = [str(SCHEMATHESIS), "run", f"{url}/openapi.json", *options]
    command += ["--no-shrink", "--request-timeout", "10", "--workers", "1", "--report", "json", "--report-json-path", str(report)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    summary: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return summary

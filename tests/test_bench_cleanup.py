"""A benchmark stops its embedded Redis however it ends: at the end, on an error, on Ctrl-C or on SIGTERM."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.core.broker import EmbeddedRedis
from tests.support.paths import PROJECT

# As a benchmark's main does: Redis for the block, then the work (here: wait
# for a line on stdin, then fail).
BENCH = """
import signal
import sys
from pathlib import Path
from tests.bench.cleanup import embedded_redis, interrupted_by_sigterm

# Ctrl-C as a terminal delivers it, whatever this test runs under: a run
# started in the background (nohup, a CI runner's job) ignores SIGINT, and
# Python then keeps ignoring it.
signal.signal(signal.SIGINT, signal.default_int_handler)
with interrupted_by_sigterm(), embedded_redis(Path(sys.argv[1])) as redis:
    print(redis.url, flush=True)
    sys.stdin.readline()
    raise RuntimeError("the benchmark failed")
"""


@contextlib.contextmanager
def bench(directory: Path) -> Iterator[subprocess.Popen[str]]:
    """The benchmark, once its Redis answers; on leaving, the benchmark has ended and no Redis is left (stopped here if it was)."""
    command = [sys.executable, "-c", BENCH, str(directory)]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    with subprocess.Popen(command, cwd=PROJECT, text=True, **pipes) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("unix://")
            assert EmbeddedRedis(directory).is_running()
            yield process
        finally:
            process.kill()
            process.communicate()
            left_running = EmbeddedRedis(directory).stop()
    assert not left_running, "the benchmark left its redis-server running"


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_stopped_benchmark_stops_its_redis(tmp_path: Path, stop_with: signal.Signals) -> None:
    with bench(tmp_path) as process:
        process.send_signal(stop_with)
        assert process.wait(timeout=60) != 0


def test_a_failed_benchmark_stops_its_redis(tmp_path: Path) -> None:
    with bench(tmp_path) as process:
        _, errors = process.communicate("go on\n", timeout=60)
        assert process.returncode == 1
        assert "the benchmark failed" in errors

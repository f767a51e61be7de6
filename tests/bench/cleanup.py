"""What every benchmark starts and must stop however it ends (done, failed, Ctrl-C, SIGTERM): its embedded Redis."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from publisher.core.broker import EmbeddedRedis


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[EmbeddedRedis]:
    """Run the project's redis-server under ``data_dir`` for the block, and shut it down after."""
    redis = EmbeddedRedis(data_dir)
    try:
        redis.start()
        yield redis
    finally:
        redis.stop()


@contextlib.contextmanager
def interrupted_by_sigterm() -> Iterator[None]:
    """Treat SIGTERM (``timeout``, a CI job cancelled) as Ctrl-C for the block.

    Python's default for SIGTERM ends the process without unwinding, so no
    ``finally`` runs: the daemonized redis-server and the services in their
    own sessions would outlive the benchmark.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

"""``newsletter publish`` with a clock around its publish call: ``python -m tests.bench.publish_call publish RECAP --list NAME``.

The command runs exactly as ``newsletter publish`` (same imports, same CLI,
same settings from the environment); the one difference is that
``run_publish`` (lint, audience, ledger, enqueue: everything but starting
the interpreter and importing) is timed, and its wall and CPU seconds are
written to stderr as ``publish call: WALL s wall, CPU s CPU`` before the
command's own last line. ``bench_send`` reads both.
"""

from __future__ import annotations

import re
import resource
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from publisher.cli.main import main
from publisher.cli.startup import loading

if TYPE_CHECKING:
    from publisher.ledger.campaigns import CreatedCampaign

#: How the line reads, for the bench to find it again.
LINE = re.compile(r"^publish call: ([0-9.]+) s wall, ([0-9.]+) s CPU$", re.MULTILINE)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(run_publish: Callable[..., CreatedCampaign]) -> Callable[..., CreatedCampaign]:
    def timed(*args: Any, **kwargs: Any) -> CreatedCampaign:
        cpu, started = _cpu(), time.perf_counter()
        try:
            return run_publish(*args, **kwargs)
        finally:
            print(f"publish call: {time.perf_counter() - started:.4f} s wall, {_cpu() - cpu:.4f} s CPU", file=sys.stderr, flush=True)

    return timed


def parse(output: str) -> tuple[float, float]:
    """The (wall, CPU) seconds of the publish call, from the command's output."""
    found = LINE.search(output)
    if found is None:
        raise ValueError(f"no publish call timing in the output:\n{output}")
    return float(found.group(1)), float(found.group(2))


if __name__ == "__main__":
    # Imported as ``newsletter publish`` imports it (publisher.cli.startup), and
    # patched before the command runs: it imports run_publish then and finds this one.
    with loading():
        from publisher.cli import publishing
    publishing.run_publish = _timed(publishing.run_publish)  # type: ignore[assignment]
    main()

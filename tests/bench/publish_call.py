"""The publish call alone, in a fresh interpreter: ``python -m tests.bench.publish_call RECAP LIST``.

``bench_send`` runs this instead of ``newsletter publish`` and reads its last
line: the seconds the imports took, then the wall and CPU seconds of the
``run_publish`` call (lint, audience, ledger, enqueue: everything
``newsletter publish`` does but start and import), then ``campaign ID``. The
settings come from the environment, as the command's do.
"""

from __future__ import annotations

import time

_started = time.perf_counter()

import resource  # noqa: E402 (the imports are timed)
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from publisher.cli.publishing import PublishOptions, run_publish  # noqa: E402
from publisher.core.settings import Settings  # noqa: E402

_imported = time.perf_counter()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    recap, list_name = argv
    settings = Settings()
    options = PublishOptions(recap=Path(recap), list_name=list_name, provider=settings.provider)
    cpu, started = _cpu(), time.perf_counter()
    created = run_publish(settings, options, report=lambda line: print(line, file=sys.stderr))
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    print(f"{_imported - _started:.4f} {seconds:.4f} {cpu:.4f} campaign {created.id}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

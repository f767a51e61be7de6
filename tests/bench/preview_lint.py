"""Preview plus lint of a recap, as a console does on every (debounced) keystroke.

``bench_render`` times it warm, in its own process, and against two baselines
measured in the same run: the first call in a fresh interpreter, and a whole
``newsletter lint`` command. Run as ``python -m tests.bench.preview_lint`` this
module is that fresh interpreter: it prints the import time, the first call's
time and a digest of the report, so the warm reports can be checked against
it.
"""

from __future__ import annotations

import time

_started = time.perf_counter()

import dataclasses  # noqa: E402 (the imports are part of what a fresh interpreter pays)
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

from publisher.content.lint import LintReport, preview_and_lint  # noqa: E402
from publisher.content.recap import Recap, load_recap  # noqa: E402
from publisher.core.settings import Settings  # noqa: E402
from tests.bench.processes import PYTHON, checked, run_measured  # noqa: E402

_imported = time.perf_counter()

PROJECT = Path(__file__).resolve().parents[2]
SEED_ISSUE = PROJECT / "examples" / "recaps" / "modu-product-vs-tech.md"
PUBLIC_URL = "https://news.modu.example"
POSTAL_ADDRESS = "Modu Ltd, 1 Example Street, London WC1V 7AA"
SECRET_KEY = "bench-secret-key-0123456789"

WARMUP = 3
RUNS = 30
#: The target: preview plus lint of the seed recap within 150 ms (median) in a warm process.
TARGET_MEDIAN_MS = 150.0


@dataclasses.dataclass(frozen=True)
class PreviewLintFigures:
    samples_ms: Sequence[float]
    #: Import of the preview and lint modules, and the first call, in a fresh interpreter.
    cold_import_ms: float
    cold_first_ms: float
    #: ``newsletter lint`` on the seed recap, start to exit.
    cli_ms: float
    #: The warm report of the unedited seed recap equals the fresh interpreter's.
    same_report: bool

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[math.ceil(0.95 * len(ordered)) - 1]

    @property
    def passed(self) -> bool:
        return self.median_ms <= TARGET_MEDIAN_MS and self.same_report


def settings() -> Settings:
    return Settings(secret_key=SECRET_KEY, public_url=PUBLIC_URL, postal_address=POSTAL_ADDRESS)


def call(config: Settings, recap: Recap) -> LintReport:
    """What a console does per keystroke: the sample subscriber's email and its lint report, one render for both."""
    return preview_and_lint(config, recap).report


def digest(report: LintReport) -> str:
    return hashlib.sha256(json.dumps(report.as_dict(), sort_keys=True).encode()).hexdigest()[:16]


def edited(recap: Recap, number: int) -> Recap:
    """The recap after one more keystroke: a body no earlier call has seen, so no cache keyed on content helps."""
    return dataclasses.replace(recap, body=f"{recap.body.rstrip()}\n\nEdit number {number}: one more sentence.\n")


def measure() -> PreviewLintFigures:
    """Time preview plus lint warm in this process, and the two baselines in fresh ones."""
    cold = checked(run_measured([PYTHON, "-m", "tests.bench.preview_lint"], os.environ.copy()), "preview_lint")
    cold_import_ms, cold_first_ms, cold_digest = cold.last_line.split()
    cli_ms = _cli_ms()

    config, recap = settings(), load_recap(SEED_ISSUE)
    same = digest(call(config, recap)) == cold_digest
    for number in range(WARMUP):
        call(config, edited(recap, -number))
    samples = []
    for number in range(RUNS):
        changed = edited(recap, number)
        started = time.perf_counter_ns()
        call(config, changed)
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return PreviewLintFigures(samples, float(cold_import_ms), float(cold_first_ms), cli_ms, same)


def _cli_ms() -> float:
    with tempfile.TemporaryDirectory(prefix="newsletter-bench-") as data_dir:
        env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSLETTER_")}
        env.update(
            NEWSLETTER_DATA_DIR=data_dir,
            NEWSLETTER_SECRET_KEY=SECRET_KEY,
            NEWSLETTER_PUBLIC_URL=PUBLIC_URL,
            NEWSLETTER_POSTAL_ADDRESS=POSTAL_ADDRESS,
        )
        # Exit 1 means the lint found errors: still a full run. Anything else is not.
        result = run_measured([PYTHON, "-m", "publisher", "lint", str(SEED_ISSUE)], env)
    if result.returncode not in (0, 1):
        raise SystemExit(f"newsletter lint failed with exit code {result.returncode}:\n{result.output}")
    return result.seconds * 1000


def report_lines(figures: PreviewLintFigures) -> list[str]:
    median, cold, cli = figures.median_ms, figures.cold_first_ms, figures.cli_ms
    return [
        "preview + lint (warm): preview_and_lint() of the seed recap, one edit more each call",
        f"  warm, n={len(figures.samples_ms)} after {WARMUP} warm-up: median {median:7.1f} ms   p95 {figures.p95_ms:7.1f} ms",
        f"  baseline cold: first call in a fresh interpreter {cold:7.1f} ms (imports before it {figures.cold_import_ms:.0f} ms)",
        f"  baseline CLI:  newsletter lint, process start to exit {cli:7.1f} ms",
        f"  ratio:    cold / warm median = {cold / median:,.0f}x; newsletter lint / warm median = {cli / median:,.0f}x",
        f"  check:    warm report identical to the fresh interpreter's: {'yes' if figures.same_report else 'NO'}",
        f"  target:   median <= {TARGET_MEDIAN_MS:.0f} ms: {'yes' if median <= TARGET_MEDIAN_MS else 'NO'} "
        f"({median / TARGET_MEDIAN_MS:.0%} of target)",
    ]


def main() -> int:
    first_started = time.perf_counter()
    report = call(settings(), load_recap(SEED_ISSUE))
    first_ms = (time.perf_counter() - first_started) * 1000
    print(f"{(_imported - _started) * 1000:.1f} {first_ms:.1f} {digest(report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

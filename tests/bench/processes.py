"""Processes for the send benchmark: run and measure them (wall time, peak RSS and PSS, CPU), optionally under cProfile.

Linux only: memory and CPU come from /proc and getrusage.
"""

from __future__ import annotations

import collections
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.cli import last_line

PROJECT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TICKS = os.sysconf("SC_CLK_TCK")
#: Seconds between two samples of a process tree; the tree itself is re-read every TREE_EVERY samples
#: (a scan of /proc costs milliseconds of the bench process, which also serves the fake provider).
SAMPLE_INTERVAL = 0.2
TREE_EVERY = 10
#: PSS (``/proc/PID/smaps_rollup``) is read every PSS_EVERY samples: the kernel walks every mapping to answer.
PSS_EVERY = 5
#: Set to a directory to run every worker pool process under cProfile (bench_send ``--profile DIR``).
PROFILE_ENV = "NEWSLETTER_BENCH_PROFILE"


@dataclass(frozen=True)
class Measured:
    """A finished command: exit code, output, wall time, peak RSS and CPU time."""

    returncode: int
    output: str
    seconds: float
    max_rss_mb: float
    cpu_seconds: float

    @property
    def last_line(self) -> str:
        return last_line(self.output)


# The command is started from this small interpreter, not from the bench:
# Linux carries a parent's peak RSS into its child's ru_maxrss across fork and
# exec, and the bench process (it serves the fake provider) is larger than the
# publisher being measured.
_MEASURE = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "open(sys.argv[1], 'w').write(f'{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}'); sys.exit(code)"
)


def run_measured(argv: Sequence[str], env: dict[str, str], timeout: float = 3600) -> Measured:
    """Run a command to the end; return its output, wall time, peak RSS and CPU time."""
    with tempfile.TemporaryDirectory() as scratch:
        usage = Path(scratch) / "usage"
        started = time.monotonic()
        completed = subprocess.run(
            [PYTHON, "-c", _MEASURE, str(usage), *argv],
            env=env,
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
        max_rss_kb, cpu = usage.read_text().split() if usage.exists() else ("0", "0")
    output = completed.stdout.decode("utf-8", errors="replace")
    return Measured(completed.returncode, output, seconds, int(max_rss_kb) / 1024, float(cpu))


def checked(result: Measured, what: str) -> Measured:
    if result.returncode != 0:
        raise SystemExit(f"{what} failed with exit code {result.returncode}:\n{result.output}")
    return result


class Service:
    """A long-running process (a worker) in its own session, so it is stopped with its children."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(argv, env=env, cwd=PROJECT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log_path.read_text(encoding="utf-8", errors="replace"):
                return
            if self.process.poll() is not None:
                raise SystemExit(f"{self.log_path.name} exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            time.sleep(0.1)
        raise SystemExit(f"{self.log_path.name}: not ready after {timeout:g}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self._log.close()


def _stat_fields(pid: int | str) -> list[str]:
    """/proc/PID/stat after the command name (which may contain spaces): field 3 onwards."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def _descendants(roots: Sequence[int]) -> list[int]:
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children[int(_stat_fields(entry)[1])].append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
    except OSError:
        return 0


def _pss_kb(pid: int) -> int:
    """Proportional set size: each shared page counted once in all, split between the processes sharing it."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as rollup:
            return next((int(line.split()[1]) for line in rollup if line.startswith("Pss:")), 0)
    except OSError:
        return 0


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = _stat_fields(pid)
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far."""
    with open("/proc/stat", encoding="utf-8") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


class TreeWatch(threading.Thread):
    """Poll some process trees: the peaks of their summed VmRSS and PSS, and the CPU time each process used."""

    def __init__(self, roots: Sequence[int]) -> None:
        super().__init__(daemon=True)
        self.roots = list(roots)
        self.peak_kb = 0
        self.peak_pss_kb = 0
        self.processes = 0
        self._cpu: dict[int, float] = {}
        #: Each process's PSS in the sample of the peak total.
        self._pss_at_peak: dict[int, int] = {}
        self._base: dict[int, float] = {}
        self._stopping = threading.Event()

    def mark(self) -> None:
        """Count CPU time from now on (not the workers' start-up)."""
        self._base = {pid: cpu for pid in _descendants(self.roots) if (cpu := _cpu_seconds(pid)) is not None}

    def run(self) -> None:
        samples = 0
        pids: list[int] = []
        while not self._stopping.is_set():
            if samples % TREE_EVERY == 0:
                pids = _descendants(self.roots)
            self._sample(pids, pss=samples % PSS_EVERY == 0)
            samples += 1
            self._stopping.wait(SAMPLE_INTERVAL)
        self._sample(_descendants(self.roots), pss=True)

    def _sample(self, pids: list[int], *, pss: bool) -> None:
        if pss:
            each = {pid: _pss_kb(pid) for pid in pids}
            if sum(each.values()) > self.peak_pss_kb:
                self.peak_pss_kb, self._pss_at_peak = sum(each.values()), each
        total = sum(_rss_kb(pid) for pid in pids)
        if total > self.peak_kb:
            self.peak_kb, self.processes = total, len(pids)
        for pid in pids:
            cpu = _cpu_seconds(pid)
            if cpu is not None:
                self._cpu[pid] = cpu

    def stop(self) -> None:
        """Take a last sample and stop (call it before the processes exit)."""
        self._stopping.set()
        if self.is_alive():
            self.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    @property
    def peak_pss_mb(self) -> float:
        return self.peak_pss_kb / 1024

    @property
    def cpu_seconds(self) -> float:
        """CPU time used since ``mark()`` by every process seen."""
        return sum(cpu - self._base.get(pid, 0.0) for pid, cpu in self._cpu.items())

    @property
    def roots_cpu_seconds(self) -> float:
        """The part of ``cpu_seconds`` used by the roots themselves (the worker mains, not their pool)."""
        return sum(cpu - self._base.get(pid, 0.0) for pid, cpu in self._cpu.items() if pid in self.roots)

    @property
    def roots_pss_mb(self) -> float:
        """The roots' share of the peak PSS."""
        return sum(kb for pid, kb in self._pss_at_peak.items() if pid in self.roots) / 1024


# Profiling the workers ----------------------------------------------------------

_profiler: cProfile.Profile | None = None


def profiled_worker() -> None:
    """``newsletter worker`` whose pool processes each write ``$NEWSLETTER_BENCH_PROFILE/<pid>.prof`` when they stop."""
    from celery import signals

    from publisher.cli.main import main

    signals.worker_process_init.connect(_start_profile, weak=False)
    signals.worker_process_shutdown.connect(_stop_profile, weak=False)
    main()


def _start_profile(**_: Any) -> None:
    global _profiler
    _profiler = cProfile.Profile(time.process_time)
    _profiler.enable()


def _stop_profile(**_: Any) -> None:
    if _profiler is not None:
        _profiler.disable()
        _profiler.dump_stats(Path(os.environ[PROFILE_ENV]) / f"{os.getpid()}.prof")


def worker_command(profile: Path | None) -> list[str]:
    """``newsletter worker`` with no options, under cProfile when ``profile`` names a directory (set PROFILE_ENV too)."""
    if profile is None:
        return [PYTHON, "-m", "publisher", "worker"]
    entry = "from tests.bench.processes import profiled_worker; profiled_worker()"
    return [PYTHON, "-c", entry, "worker"]


def print_profile(directory: Path, limit: int = 35) -> None:
    files = [str(path) for path in sorted(directory.glob("*.prof"))]
    if not files:
        print(f"no profiles in {directory}: did the pool processes stop cleanly?")
        return
    print(f"profile of {len(files)} worker pool processes ({directory}); CPU time, so lock and network waits do not count:")
    stats = pstats.Stats(*files)
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)

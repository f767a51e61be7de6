"""End-to-end benchmark at the defaults a user gets: publish, lint, send, worker CPU and memory, import.

Run from the project root: ``make bench`` or ``python -m tests.bench.bench_send``.
The file name does not match pytest's ``test_*.py``, so the suite never
collects it. Everything runs as real processes on this machine, configured
as a fresh install is: no ``NEWSLETTER_BATCH_SIZE`` (so Postmark's 500 per
batch), two ``newsletter worker`` with no options (Celery's default pool, one
process per CPU), an embedded Redis, the Postmark batch API against the fake
provider (tests/fakes, 5 ms per call) on loopback, SQLite, and the local
PostgreSQL server for one figure. docs/performance.md describes each figure.

Every figure is the median of ``--runs`` runs (3), except the import of a
million rows, run once. One run of each:

1. **lint** of the seed recap: the first call in a fresh interpreter (cold,
   imports excluded) and the median of 30 calls in a warm one;
2. **sends**: 20,000 recipients on SQLite, 100,000 on SQLite, 20,000 on
   PostgreSQL. The audience is imported once per database; each run starts
   from it (a copy of the SQLite file), starts both workers, then times
   ``newsletter publish`` (the process, and its publish call from inside)
   and stops the clock at the last message the fake accepts. Also: the
   workers' CPU per email, their peak PSS (mains and pool children summed),
   duplicates, the ledger's counts;
3. **naive baseline**: one Celery task and premailer per recipient
   (tests/bench/naive_tasks.py), same fake, same number of workers;
4. **import** of 1,000,000 subscribers on SQLite: wall time and peak RSS.

Prints yes or NO per target and exits 1 when any is NO.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import dataclasses
import datetime
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench import preview_lint, publish_call
from tests.bench.bench_render import FIRST_NAMES, LAST_NAMES, machine, subscribers
from tests.bench.cleanup import embedded_redis, interrupted_by_sigterm
from tests.bench.processes import (
    PROFILE_ENV,
    PROJECT,
    PYTHON,
    Measured,
    Service,
    TreeWatch,
    checked,
    machine_ticks,
    print_profile,
    run_measured,
    worker_command,
)
from tests.fakes.postmark import TOKEN as POSTMARK_TOKEN
from tests.fakes.server import FakeProviders, Request, all_handlers, start_fake_providers
from tests.support.recaps import RECAP

RECIPIENTS = 20_000
LARGE = 100_000
NAIVE_RECIPIENTS = 3_000
MILLION = 1_000_000
RUNS = 3
WORKERS = 2
PROVIDER_LATENCY = 0.005
SEND_TIMEOUT = 900.0
#: The local server; a fresh database is created on it for the bench and dropped after.
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Targets (issue 14), all at the defaults.
PUBLISH_CALL_S = 1.0
PUBLISH_PROCESS_S = 2.0
LINT_WARM_MS = 100.0
LINT_COLD_MS = 300.0
WORKER_CPU_MS = 0.15
RATE_SQLITE = 4_000.0
RATE_SQLITE_LARGE = 5_000.0
RATE_POSTGRES = 3_500.0
WORKER_PSS_MB = 400.0
IMPORT_RSS_MB = 300.0
IMPORT_SECONDS = 90.0
LINT_WARM_CALLS = 30


def newsletter(*args: str) -> list[str]:
    return [PYTHON, "-m", "publisher", *args]


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# The fake provider -----------------------------------------------------------


class _BodilessCalls(list[tuple[str, Request]]):
    """The fake's call log without request bodies: 100,000 bodies of 25 KB would fill the bench's memory."""

    def append(self, item: tuple[str, Request]) -> None:
        name, request = item
        super().append((name, dataclasses.replace(request, body=b"")))


class Acceptances:
    """Wraps the fake's record of accepted messages: keeps no bodies, notes when the last one arrived."""

    def __init__(self, fake: FakeProviders) -> None:
        self.fake = fake
        self.last = 0.0
        original = fake.accept

        def accept(message: Any) -> None:
            original(dataclasses.replace(message, raw=None))
            self.last = time.monotonic()

        fake.accept = accept  # type: ignore[method-assign]
        fake.calls = _BodilessCalls()

    def reset(self) -> None:
        with self.fake.lock:
            self.fake.accepted.clear()
            self.fake.calls.clear()
        self.last = 0.0

    @property
    def count(self) -> int:
        return len(self.fake.accepted)

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.count < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def duplicates(self) -> int:
        return sum(n - 1 for n in collections.Counter(self.fake.recipients()).values())


def without_nagle(fake: FakeProviders) -> None:
    """Answer without the 40 ms Nagle / delayed-ACK stall of the fake's server.

    BaseHTTPRequestHandler writes the headers and the body of an answer in two
    send()s; without TCP_NODELAY the body waits for the client's delayed ACK,
    about 40 ms per call on Linux. That stall belongs to the fake, not to any
    real provider, and would cost the one-message-per-call baseline far more
    than the batches of the product.
    """
    fake.server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]


def fake_ceiling(fake: FakeProviders, acceptances: Acceptances, clients: int = 4, calls: int = 40, size: int = 500) -> float:
    """Messages per second the fake takes from ``clients`` concurrent senders of prepared ``size``-message batches."""
    import requests

    from publisher.content.recap import load_recap
    from publisher.content.rendering.layout import IssueFrame, render_issue
    from publisher.content.rendering.personalize import Recipient
    from publisher.core.message import OutgoingEmail
    from publisher.core.settings import Settings
    from workers.providers.postmark import PostmarkProvider

    issue = render_issue(load_recap(RECAP), IssueFrame(list_name="bench", postal_address="1 Example Street"))
    emails = []
    for person in subscribers(size):
        recipient = Recipient(person.email, person.first_name, person.last_name, "https://x.example/u/t", "https://x.example/v/t")
        html, text = issue.personalise(recipient)
        emails.append(
            OutgoingEmail(person.id, 1, f"{person.id}@x.example", "A <a@x.example>", person.email, "", "Subject", html, text, "https://x")
        )
    provider = PostmarkProvider(Settings(postmark_api_key=POSTMARK_TOKEN, postmark_base_url=fake.base_url, secret_key="bench-secret-key"))
    body = json.dumps(provider.prepare(emails)).encode()
    headers = {"Content-Type": "application/json", "X-Postmark-Server-Token": POSTMARK_TOKEN}

    def client() -> None:
        with requests.Session() as session:
            for _ in range(calls // clients):
                session.post(provider.url, data=body, headers=headers, timeout=60).raise_for_status()

    acceptances.reset()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rate = acceptances.count / (time.monotonic() - started)
    acceptances.reset()
    return rate


# Data ------------------------------------------------------------------------


def write_audience(path: Path, count: int, prefix: str) -> None:
    """Write ``count`` subscribers with names that need escaping, the same on every run."""
    rng = random.Random(count)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["email", "first_name", "last_name", "company"])
        for number in range(1, count + 1):
            writer.writerow([f"{prefix}{number}@example.com", rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), f"Company {number % 97}"])


@contextlib.contextmanager
def database(directory: Path, kind: str, name: str, server: str) -> Iterator[str]:
    """A fresh database: SQLite under ``directory``, or a new one on the PostgreSQL ``server``, dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / name}.db"
        return
    import psycopg
    from sqlalchemy import make_url

    admin = make_url(server)
    fresh = f"newsletter_bench_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{fresh}"')
        try:
            yield admin.set(database=fresh).render_as_string(hide_password=False)
        finally:
            connection.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')


def environment(data_dir: Path, redis_url: str, database_url: str, fake: FakeProviders) -> dict[str, str]:
    """A fresh install's settings: only what must be set (where things are, the sender, Postmark's key); no tuning."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSLETTER_")}
    env.update(
        {
            "NEWSLETTER_DATA_DIR": str(data_dir),
            "NEWSLETTER_REDIS_URL": redis_url,
            "NEWSLETTER_DATABASE_URL": database_url,
            "NEWSLETTER_SECRET_KEY": "bench-secret-key",
            "NEWSLETTER_FROM": "Modu Events <events@modu.example>",
            "NEWSLETTER_POSTAL_ADDRESS": "Modu Ltd, 1 Example Street, London WC1V 7AA",
            "NEWSLETTER_PROVIDER": "postmark",
            "NEWSLETTER_POSTMARK_API_KEY": POSTMARK_TOKEN,
            "NEWSLETTER_POSTMARK_BASE_URL": fake.base_url,
            "PYTHONPATH": str(PROJECT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


# The runs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    runs: int
    postgres: str | None
    large: bool
    million: bool
    naive: int
    keep: bool
    profile: Path | None = None


@dataclass
class SendFigures:
    """One send, from the first work handed over (publish, or the first delay()) to the last acceptance."""

    recipients: int
    #: Seconds from the start to the last acceptance.
    seconds: float
    complete: bool
    duplicates: int
    calls: int
    peak_worker_mb: float
    peak_worker_pss_mb: float
    worker_processes: int
    #: CPU seconds used by the workers, by this process (the fake provider), and the machine's busy share meanwhile.
    worker_cpu: float
    fake_cpu: float
    #: The worker mains' part of ``worker_cpu`` and of the peak PSS (the rest is their pool processes').
    mains_cpu: float
    mains_pss_mb: float
    machine_busy: float
    publish: Measured | None = None
    #: The publish call inside the command: wall and CPU seconds.
    call_seconds: float = 0.0
    call_cpu: float = 0.0
    ledger: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.recipients / self.seconds if self.complete else 0.0

    @property
    def worker_cpu_ms(self) -> float:
        return self.worker_cpu / self.recipients * 1000


class Clock:
    """Wall time, this process's CPU time and the machine's busy share, from start() on."""

    def start(self) -> None:
        self.started = time.monotonic()
        self._cpu = _own_cpu()
        self._ticks = machine_ticks()

    def cpu(self) -> float:
        return _own_cpu() - self._cpu

    def busy(self) -> float:
        busy, total = (now - then for now, then in zip(machine_ticks(), self._ticks, strict=True))
        return busy / total if total else 0.0


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def start_workers(argv: Sequence[str], env: dict[str, str], directory: Path, name: str) -> list[Service]:
    # A node name per worker, as two hosts would have: identity, not tuning.
    workers = [Service([*argv, f"--hostname={name}{i}@%h"], env, directory / f"{name}{i}.log") for i in range(WORKERS)]
    for worker in workers:
        worker.wait_ready()
    return workers


@dataclass(frozen=True)
class Setup:
    """One send configuration: its database, its audience, and how many runs."""

    label: str
    kind: str
    recipients: int


def run_setup(
    setup: Setup, directory: Path, redis_url: str, fake: FakeProviders, acceptances: Acceptances, options: Options
) -> list[SendFigures]:
    """Import the audience once, then send to it ``options.runs`` times, each from the state the import left."""
    here = directory / setup.label
    here.mkdir()
    with database(here, setup.kind, "audience", options.postgres or "") as url:
        env = environment(here / "data", redis_url, url, fake)
        audience = here / "audience.csv"
        write_audience(audience, setup.recipients, "reader")
        progress(f"{setup.label}: importing {setup.recipients:,} subscribers")
        checked(run_measured(newsletter("subscribers", "import", str(audience), "--list", "bench"), env), "import")
        audience.unlink()
        figures = []
        for number in range(1, options.runs + 1):
            run_env = dict(env)
            if setup.kind == "sqlite":
                run_env["NEWSLETTER_DATABASE_URL"] = f"sqlite:///{_copy_sqlite(here / 'audience.db', here / f'run{number}.db')}"
            progress(f"{setup.label}: run {number} of {options.runs}")
            figures.append(send_once(here, f"run{number}", run_env, setup.recipients, fake, acceptances, options.profile))
            if setup.kind == "sqlite" and not options.keep:
                for path in here.glob(f"run{number}.db*"):
                    path.unlink()
    return figures


def _copy_sqlite(source: Path, target: Path) -> Path:
    """Copy a SQLite database nobody has open, with its WAL if one was left."""
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return target


def send_once(
    directory: Path, name: str, env: dict[str, str], recipients: int, fake: FakeProviders, acceptances: Acceptances, profile: Path | None
) -> SendFigures:
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        env = {**env, PROFILE_ENV: str(profile)}
    workers = start_workers(worker_command(profile), env, directory, f"{name}-worker")
    watch, clock = TreeWatch([worker.pid for worker in workers]), Clock()
    watch.start()
    acceptances.reset()
    try:
        watch.mark()
        clock.start()
        command = [PYTHON, "-m", "tests.bench.publish_call", "publish", str(RECAP), "--list", "bench"]
        published = checked(run_measured(command, env), "publish")
        complete = acceptances.wait_for(recipients, SEND_TIMEOUT)
        seconds, fake_cpu, busy = acceptances.last - clock.started, clock.cpu(), clock.busy()
        watch.stop()
        status = checked(run_measured(newsletter("status", published.last_line.split()[1], "--json"), env), "status")
        ledger = dict(json.loads(status.output)["campaigns"][0]["deliveries"])
    finally:
        watch.stop()
        for worker in workers:
            worker.stop()
    call_seconds, call_cpu = publish_call.parse(published.output)
    return SendFigures(
        recipients=recipients,
        seconds=seconds,
        complete=complete and ledger.get("sent") == recipients,
        duplicates=acceptances.duplicates(),
        calls=len(fake.calls),
        peak_worker_mb=watch.peak_mb,
        peak_worker_pss_mb=watch.peak_pss_mb,
        worker_processes=watch.processes,
        worker_cpu=watch.cpu_seconds,
        fake_cpu=fake_cpu,
        mains_cpu=watch.roots_cpu_seconds,
        mains_pss_mb=watch.roots_pss_mb,
        machine_busy=busy,
        publish=published,
        call_seconds=call_seconds,
        call_cpu=call_cpu,
        ledger=ledger,
    )


def run_naive(directory: Path, redis_url: str, fake: FakeProviders, acceptances: Acceptances, recipients: int) -> SendFigures:
    from tests.bench import naive_tasks

    # The naive tasks read no database; the URL is only there to be complete.
    env = environment(directory / "naive", redis_url, "sqlite://", fake)
    argv = [PYTHON, "-m", "celery", "-A", "tests.bench.naive_tasks", "worker", f"--queues={naive_tasks.QUEUE}"]
    argv += ["--loglevel=INFO", "--without-mingle", "--without-gossip"]
    workers = start_workers(argv, env, directory, "naive")
    watch, clock = TreeWatch([worker.pid for worker in workers]), Clock()
    watch.start()
    acceptances.reset()
    naive_tasks.configure(redis_url)
    try:
        watch.mark()
        clock.start()
        with naive_tasks.app.connection_for_write() as connection:
            for person in subscribers(recipients):
                naive_tasks.send_one.apply_async((person.id, person.email, person.first_name, person.last_name), connection=connection)
        complete = acceptances.wait_for(recipients, SEND_TIMEOUT)
        seconds, fake_cpu, busy = acceptances.last - clock.started, clock.cpu(), clock.busy()
    finally:
        watch.stop()
        for worker in workers:
            worker.stop()
    return SendFigures(
        recipients=recipients,
        seconds=seconds,
        complete=complete,
        duplicates=acceptances.duplicates(),
        calls=len(fake.calls),
        peak_worker_mb=watch.peak_mb,
        peak_worker_pss_mb=watch.peak_pss_mb,
        worker_processes=watch.processes,
        worker_cpu=watch.cpu_seconds,
        fake_cpu=fake_cpu,
        mains_cpu=watch.roots_cpu_seconds,
        mains_pss_mb=watch.roots_pss_mb,
        machine_busy=busy,
    )


def run_million(directory: Path, redis_url: str, fake: FakeProviders) -> Measured:
    """Import a million subscribers into a fresh SQLite database: the importer must stream the file."""
    here = directory / "million"
    here.mkdir()
    env = environment(here / "data", redis_url, f"sqlite:///{here / 'million.db'}", fake)
    audience = here / "million.csv"
    write_audience(audience, MILLION, "million")
    progress(f"million: importing {MILLION:,} subscribers")
    imported = checked(run_measured(newsletter("subscribers", "import", str(audience), "--list", "million"), env), "import")
    audience.unlink()
    return imported


@dataclass(frozen=True)
class LintFigures:
    cold_ms: list[float]
    warm_ms: list[float]
    same_report: bool


def measure_lint(runs: int) -> LintFigures:
    """The seed recap's lint: first call in ``runs`` fresh interpreters (imports excluded), and warm calls here."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cold, digests = [], set()
    for _ in range(runs):
        fresh = checked(run_measured([PYTHON, "-m", "tests.bench.preview_lint"], env), "preview_lint")
        _imports_ms, first_ms, digest = fresh.last_line.split()
        cold.append(float(first_ms))
        digests.add(digest)
    config, recap = preview_lint.settings(), preview_lint.load_recap(preview_lint.SEED_ISSUE)
    digests.add(preview_lint.digest(preview_lint.call(config, recap)))
    for number in range(preview_lint.WARMUP):
        preview_lint.call(config, preview_lint.edited(recap, -number - 1))
    warm = []
    for number in range(LINT_WARM_CALLS):
        changed = preview_lint.edited(recap, number)
        started = time.perf_counter_ns()
        preview_lint.call(config, changed)
        warm.append((time.perf_counter_ns() - started) / 1e6)
    return LintFigures(cold, warm, len(digests) == 1)


# Report ------------------------------------------------------------------------


@dataclass(frozen=True)
class Results:
    #: 1, 5 and 15 minute load average before the run.
    load: str
    ceiling: float
    lint: LintFigures
    sends: dict[str, list[SendFigures]]
    naive: list[SendFigures]
    million: Measured | None


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def runs_of(values: Sequence[float], form: str) -> str:
    """ "1.2 (1.1, 1.2, 1.4)": the median, then every run."""
    return format(median(values), form) + (f" ({', '.join(format(value, form) for value in values)})" if len(values) > 1 else "")


class Verdicts:
    """Target lines, and whether all of them said yes."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.passed = True

    def add(self, what: str, ok: bool, detail: str) -> None:
        self.passed = self.passed and ok
        self.lines.append(f"  {yes(ok):<4} {what}: {detail}")

    def skipped(self, what: str, why: str) -> None:
        self.lines.append(f"  --   {what}: not run ({why})")


def report(options: Options, results: Results) -> bool:
    out, verdicts = print, Verdicts()
    sends, naive = results.sends, results.naive
    out(f"send benchmark at the defaults, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    out(f"machine:  {machine()}")
    out(f"load:     {results.load} (load average before the run; other work on the machine skews every figure)")
    out(
        f"settings: {WORKERS} x `newsletter worker` with no options (Celery's default pool: {os.cpu_count()} processes each); "
        "NEWSLETTER_BATCH_SIZE unset (Postmark: 500); Postmark batch API; "
        f"fake provider on loopback, {PROVIDER_LATENCY * 1000:g} ms per call; embedded Redis"
    )
    out(f"runs:     each figure is the median of {options.runs} run(s), the runs in brackets")
    out(f"fake:     ceiling {results.ceiling:,.0f} emails/s (alone, 4 clients posting 500-message batches, same latency)")
    lint = results.lint
    out(
        f"lint:     seed recap, cold (first call in a fresh interpreter, imports excluded) {runs_of(lint.cold_ms, '.0f')} ms; "
        f"warm median of {len(lint.warm_ms)} calls {median(lint.warm_ms):.1f} ms; same report cold and warm: {yes(lint.same_report)}"
    )
    verdicts.add(
        f"lint warm <= {LINT_WARM_MS:.0f} ms", median(lint.warm_ms) <= LINT_WARM_MS and lint.same_report, f"{median(lint.warm_ms):.1f} ms"
    )
    verdicts.add(f"lint cold <= {LINT_COLD_MS:.0f} ms", median(lint.cold_ms) <= LINT_COLD_MS, f"{median(lint.cold_ms):.0f} ms")
    for label, figures in sends.items():
        publish = [figure.publish for figure in figures if figure.publish is not None]
        ledger = ", ".join(f"{state} {count:,}" for state, count in figures[-1].ledger.items() if count) or "empty"
        out(f"{label}:")
        out(
            f"  publish:  call {runs_of([f.call_seconds for f in figures], '.2f')} s wall, "
            f"{runs_of([f.call_cpu for f in figures], '.2f')} s CPU; "
            f"whole process {runs_of([p.seconds for p in publish], '.2f')} s wall, "
            f"{runs_of([p.cpu_seconds for p in publish], '.2f')} s CPU, "
            f"peak RSS {median([p.max_rss_mb for p in publish]):.0f} MB"
        )
        out(
            f"  send:     {runs_of([f.rate for f in figures], ',.0f')} emails/s end to end (publish started to last acceptance, "
            f"{runs_of([f.seconds for f in figures], '.1f')} s); {figures[-1].calls:,} provider calls; "
            f"duplicates {sum(f.duplicates for f in figures)}; ledger of the last run: {ledger}"
        )
        out(
            f"  workers:  CPU {runs_of([f.worker_cpu_ms for f in figures], '.3f')} ms per email; "
            f"peak PSS {runs_of([f.peak_worker_pss_mb for f in figures], '.0f')} MB "
            f"(summed RSS {median([f.peak_worker_mb for f in figures]):.0f} MB) over {figures[-1].worker_processes} processes, "
            "mains and pool children"
        )
        out(
            f"            of which the mains: CPU "
            f"{median([f.mains_cpu for f in figures]) / figures[0].recipients * 1000:.3f} ms per email, "
            f"PSS {median([f.mains_pss_mb for f in figures]):.0f} MB"
        )
        out(
            f"  machine:  {median([f.machine_busy for f in figures]):.0%} busy (of {os.cpu_count()} CPUs); "
            f"fake provider and bench {median([f.fake_cpu for f in figures]) / figures[0].recipients * 1000:.3f} ms CPU per email"
        )
    verdicts_for_sends(verdicts, options, sends)
    if naive:
        rate = median([f.rate for f in naive])
        out(
            f"naive:    {naive[0].recipients:,} recipients, one task and premailer each: "
            f"{runs_of([f.rate for f in naive], ',.0f')} emails/s "
            f"(first delay() to last acceptance); workers CPU {runs_of([f.worker_cpu_ms for f in naive], '.2f')} ms per email, "
            f"peak PSS {median([f.peak_worker_pss_mb for f in naive]):.0f} MB; duplicates {sum(f.duplicates for f in naive)}"
        )
        first = next(iter(sends.values()), [])
        product = median([f.rate for f in first])
        ratio = product / rate if rate else 0.0
        out(f"ratio:    {product:,.0f} / {rate:,.0f} = {ratio:.1f}x ({next(iter(sends), '?')} against the naive baseline)")
        verdicts.add(
            "0 duplicates in the naive baseline",
            all(f.complete and f.duplicates == 0 for f in naive),
            f"{sum(f.duplicates for f in naive)}",
        )
    if results.million is not None:
        imported = results.million
        out(
            f"import:   {MILLION:,} subscribers on SQLite, one run: {imported.seconds:.1f} s wall, "
            f"{imported.cpu_seconds:.1f} s CPU, peak RSS {imported.max_rss_mb:.0f} MB"
        )
        verdicts.add(
            f"import of {MILLION:,} <= {IMPORT_RSS_MB:.0f} MB peak RSS (one run)",
            imported.max_rss_mb <= IMPORT_RSS_MB,
            f"{imported.max_rss_mb:.0f} MB",
        )
        verdicts.add(
            f"import of {MILLION:,} <= {IMPORT_SECONDS:.0f} s (one run)", imported.seconds <= IMPORT_SECONDS, f"{imported.seconds:.1f} s"
        )
    else:
        verdicts.skipped(f"import of {MILLION:,}", "--quick or --no-million")
    out("targets:")
    for line in verdicts.lines:
        out(line)
    out("PASS" if verdicts.passed else "FAIL")
    return verdicts.passed


def verdicts_for_sends(verdicts: Verdicts, options: Options, sends: dict[str, list[SendFigures]]) -> None:
    small = sends.get(f"sqlite {RECIPIENTS:,}", [])
    if small:
        call = median([f.call_seconds for f in small])
        process = median([f.publish.seconds for f in small if f.publish is not None])
        verdicts.add(f"publish {RECIPIENTS:,}: call <= {PUBLISH_CALL_S:g} s", call <= PUBLISH_CALL_S, f"{call:.2f} s")
        verdicts.add(f"publish {RECIPIENTS:,}: whole process <= {PUBLISH_PROCESS_S:g} s", process <= PUBLISH_PROCESS_S, f"{process:.2f} s")
    rates: list[tuple[str, float, Callable[[], bool]]] = [
        (f"sqlite {RECIPIENTS:,}", RATE_SQLITE, lambda: True),
        (f"sqlite {LARGE:,}", RATE_SQLITE_LARGE, lambda: options.large),
        (f"postgresql {RECIPIENTS:,}", RATE_POSTGRES, lambda: options.postgres is not None),
    ]
    for label, target, ran in rates:
        if label in sends:
            rate = median([f.rate for f in sends[label]])
            verdicts.add(f"{label} end to end >= {target:,.0f}/s", rate >= target, f"{rate:,.0f}/s")
        elif not ran():
            verdicts.skipped(f"{label} end to end", "skipped by option")
    every = [figure for figures in sends.values() for figure in figures]
    cpu = max((median([f.worker_cpu_ms for f in figures]) for figures in sends.values()), default=float("nan"))
    verdicts.add(f"worker CPU <= {WORKER_CPU_MS:g} ms per email (worst setup)", cpu <= WORKER_CPU_MS, f"{cpu:.3f} ms")
    pss = max((median([f.peak_worker_pss_mb for f in figures]) for figures in sends.values()), default=float("nan"))
    verdicts.add(f"worker memory <= {WORKER_PSS_MB:.0f} MB PSS, two workers (worst setup)", pss <= WORKER_PSS_MB, f"{pss:.0f} MB")
    duplicates = sum(f.duplicates for f in every)
    verdicts.add("every send complete, 0 duplicates", all(f.complete for f in every) and duplicates == 0, f"{duplicates} duplicates")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_send", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs per figure, the median reported (default {RUNS})")
    parser.add_argument("--quick", action="store_true", help="one run per figure and no million-row import")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL send")
    parser.add_argument("--no-large", action="store_true", help=f"skip the {LARGE:,}-recipient send")
    parser.add_argument("--no-million", action="store_true", help=f"skip the import of {MILLION:,} subscribers")
    parser.add_argument("--naive", type=int, default=NAIVE_RECIPIENTS, help="recipients of the naive baseline (0: skip it)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (databases, worker logs)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="run the workers' pool processes under cProfile into DIR")
    args = parser.parse_args(argv)
    postgres = None if args.no_postgres else os.environ.get("NEWSLETTER_BENCH_DATABASE_URL", POSTGRES_SERVER)
    runs = 1 if args.quick else max(1, args.runs)
    options = Options(runs, postgres, not args.no_large, not (args.quick or args.no_million), args.naive, args.keep, args.profile)

    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    directory = Path(tempfile.mkdtemp(prefix="newsletter-bench-"))
    setups = [Setup(f"sqlite {RECIPIENTS:,}", "sqlite", RECIPIENTS)]
    if options.large:
        setups.append(Setup(f"sqlite {LARGE:,}", "sqlite", LARGE))
    if options.postgres:
        setups.append(Setup(f"postgresql {RECIPIENTS:,}", "postgresql", RECIPIENTS))
    try:
        with interrupted_by_sigterm(), embedded_redis(directory) as embedded:
            fake = start_fake_providers(*all_handlers())
            try:
                without_nagle(fake)
                acceptances = Acceptances(fake)
                progress("lint of the seed recap")
                lint = measure_lint(runs)
                fake.faults.delay = PROVIDER_LATENCY
                ceiling = fake_ceiling(fake, acceptances)
                sends = {setup.label: run_setup(setup, directory, embedded.url, fake, acceptances, options) for setup in setups}
                naive = []
                for number in range(1, runs + 1 if options.naive else 1):
                    progress(f"naive: {options.naive:,} tasks, run {number} of {runs}")
                    naive.append(run_naive(directory, embedded.url, fake, acceptances, options.naive))
                million = run_million(directory, embedded.url, fake) if options.million else None
            finally:
                fake.stop()
    finally:
        if options.keep:
            print(f"kept {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)
    passed = report(options, Results(load, ceiling, lint, sends, naive, million))
    if options.profile is not None:
        print_profile(options.profile)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

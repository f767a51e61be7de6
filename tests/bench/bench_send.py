"""End-to-end send benchmark: from ``newsletter publish`` to the provider's last acceptance.

Run from the project root: ``make bench`` or ``python -m tests.bench.bench_send``.
The file name does not match pytest's ``test_*.py``, so the suite never
collects it. Everything runs as real processes on this machine: an embedded
Redis, the fake provider (tests/fakes, 5 ms per call) on loopback, SQLite
(PostgreSQL when NEWSLETTER_BENCH_DATABASE_URL names a server; a fresh
database is created there and dropped), ``newsletter subscribers import``,
``newsletter publish`` and two ``newsletter worker`` processes.

1. **fake provider ceiling**: how many messages a second the fake itself takes
   (several clients posting prepared 500-message batches), so a slow fake is
   not mistaken for a slow product.
2. **product**: N recipients (100,000) are imported (timed, not part of the
   send figures); the workers are started and ready; then publish runs and
   the clock stops at the last message the fake accepts. Publish wall time,
   CPU and peak RSS, end-to-end emails/s, peak worker RSS (VmRSS summed over
   both worker process trees, polled), CPU per email of the workers and of
   the fake, and the ledger's final counts.
3. **naive baseline**: 5,000 recipients, one Celery task per recipient with
   premailer per recipient (tests/bench/naive_tasks.py), same workers count
   and concurrency, same fake; the clock runs from the first ``delay()`` to
   the last acceptance.
4. ``--million``: import and publish 1,000,000 recipients (no send) and
   measure the publisher's peak RSS. Optional because the import alone takes
   several minutes.

Exits 1 when a target is missed (docs/performance.md).
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
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from publisher.core.broker import EmbeddedRedis
from tests.bench.bench_render import FIRST_NAMES, LAST_NAMES, machine, subscribers
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

RECIPIENTS = 100_000
NAIVE_RECIPIENTS = 5_000
MILLION = 1_000_000
WORKERS = 2
#: Pool processes per worker: Celery's default (one per CPU) on the 2-core machine.
CONCURRENCY = 2
#: Recipients per task; measured best of 100, 250 and 500 (docs/performance.md).
BATCH_SIZE = 500
#: The product's default batch size, used for the million-recipient publish.
DEFAULT_BATCH_SIZE = 100
PROVIDER_LATENCY = 0.005
SEND_TIMEOUT = 900.0

TARGET_RATE = 2_000.0
AIM_RATE = 5_000.0
TARGET_RATIO = 15.0
TARGET_PUBLISH_RSS_MB = 200.0


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
def database(directory: Path, name: str) -> Iterator[str]:
    """A fresh database: SQLite under ``directory``, or a new one on NEWSLETTER_BENCH_DATABASE_URL's server."""
    server = os.environ.get("NEWSLETTER_BENCH_DATABASE_URL")
    if not server:
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


def environment(data_dir: Path, redis_url: str, database_url: str, fake: FakeProviders, batch_size: int) -> dict[str, str]:
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
            "NEWSLETTER_BATCH_SIZE": str(batch_size),
            "PYTHONPATH": str(PROJECT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


# The runs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    recipients: int
    naive: int
    batch_size: int
    concurrency: int
    million: bool
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
    worker_processes: int
    #: CPU seconds used by the workers, by this process (the fake provider), and the machine's busy share meanwhile.
    worker_cpu: float
    fake_cpu: float
    machine_busy: float
    publish: Measured | None = None
    imported: Measured | None = None
    ledger: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.recipients / self.seconds if self.complete else 0.0


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
    workers = [Service([*argv, f"--hostname={name}{i}@%h"], env, directory / f"{name}{i}.log") for i in range(WORKERS)]
    for worker in workers:
        worker.wait_ready()
    return workers


def run_product(directory: Path, redis_url: str, fake: FakeProviders, acceptances: Acceptances, options: Options) -> SendFigures:
    with database(directory, "product") as url:
        env = environment(directory / "product", redis_url, url, fake, options.batch_size)
        audience = directory / "audience.csv"
        write_audience(audience, options.recipients, "reader")
        progress(f"product: importing {options.recipients:,} subscribers")
        imported = checked(run_measured(newsletter("subscribers", "import", str(audience), "--list", "bench"), env), "import")
        if options.profile is not None:
            options.profile.mkdir(parents=True, exist_ok=True)
            env[PROFILE_ENV] = str(options.profile)
        workers = start_workers(worker_command(options.concurrency, options.profile), env, directory, "worker")
        watch, clock = TreeWatch([worker.pid for worker in workers]), Clock()
        watch.start()
        acceptances.reset()
        try:
            progress("product: publishing and sending")
            watch.mark()
            clock.start()
            published = checked(run_measured(newsletter("publish", str(RECAP), "--list", "bench"), env), "publish")
            complete = acceptances.wait_for(options.recipients, SEND_TIMEOUT)
            seconds, fake_cpu, busy = acceptances.last - clock.started, clock.cpu(), clock.busy()
            watch.stop()
            status = checked(run_measured(newsletter("status", published.last_line.split()[1], "--json"), env), "status")
            ledger = dict(json.loads(status.output)["campaigns"][0]["deliveries"])
        finally:
            watch.stop()
            for worker in workers:
                worker.stop()
    return SendFigures(
        recipients=options.recipients,
        seconds=seconds,
        complete=complete and ledger.get("sent") == options.recipients,
        duplicates=acceptances.duplicates(),
        calls=len(fake.calls),
        peak_worker_mb=watch.peak_mb,
        worker_processes=watch.processes,
        worker_cpu=watch.cpu_seconds,
        fake_cpu=fake_cpu,
        machine_busy=busy,
        publish=published,
        imported=imported,
        ledger=ledger,
    )


def run_naive(directory: Path, redis_url: str, fake: FakeProviders, acceptances: Acceptances, options: Options) -> SendFigures:
    from tests.bench import naive_tasks

    # The naive tasks read no database; the URL is only there to be complete.
    env = environment(directory / "naive", redis_url, "sqlite://", fake, 1)
    argv = [PYTHON, "-m", "celery", "-A", "tests.bench.naive_tasks", "worker", f"--queues={naive_tasks.QUEUE}"]
    argv += [f"--concurrency={options.concurrency}", "--loglevel=INFO", "--without-mingle", "--without-gossip"]
    workers = start_workers(argv, env, directory, "naive")
    watch, clock = TreeWatch([worker.pid for worker in workers]), Clock()
    watch.start()
    acceptances.reset()
    naive_tasks.configure(redis_url)
    try:
        progress(f"naive: {options.naive:,} tasks")
        watch.mark()
        clock.start()
        with naive_tasks.app.connection_for_write() as connection:
            for person in subscribers(options.naive):
                naive_tasks.send_one.apply_async((person.id, person.email, person.first_name, person.last_name), connection=connection)
        complete = acceptances.wait_for(options.naive, SEND_TIMEOUT)
        seconds, fake_cpu, busy = acceptances.last - clock.started, clock.cpu(), clock.busy()
    finally:
        watch.stop()
        for worker in workers:
            worker.stop()
    return SendFigures(
        recipients=options.naive,
        seconds=seconds,
        complete=complete,
        duplicates=acceptances.duplicates(),
        calls=len(fake.calls),
        peak_worker_mb=watch.peak_mb,
        worker_processes=watch.processes,
        worker_cpu=watch.cpu_seconds,
        fake_cpu=fake_cpu,
        machine_busy=busy,
    )


def run_million(directory: Path, redis_url: str, fake: FakeProviders) -> tuple[Measured, Measured]:
    """Import and publish a million recipients (default batch size, no workers): the publisher must stream."""
    with database(directory, "million") as url:
        env = environment(directory / "million", redis_url, url, fake, DEFAULT_BATCH_SIZE)
        audience = directory / "million.csv"
        write_audience(audience, MILLION, "million")
        progress(f"million: importing {MILLION:,} subscribers (several minutes)")
        imported = checked(run_measured(newsletter("subscribers", "import", str(audience), "--list", "million"), env), "import")
        audience.unlink()
        progress(f"million: publishing {MILLION:,} recipients")
        published = checked(run_measured(newsletter("publish", str(RECAP), "--list", "million"), env), "publish")
    redis.Redis.from_url(redis_url).flushdb()  # nobody will send them
    return imported, published


# Report ------------------------------------------------------------------------


@dataclass(frozen=True)
class Results:
    #: 1, 5 and 15 minute load average before the run.
    load: str
    ceiling: float
    product: SendFigures
    naive: SendFigures
    million: tuple[Measured, Measured] | None


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def per_email(seconds: float, figures: SendFigures) -> str:
    return f"{seconds:.1f} s ({seconds / figures.recipients * 1000:.3f} ms per email)"


def report(options: Options, results: Results) -> bool:
    product, naive, million = results.product, results.naive, results.million
    assert product.publish is not None and product.imported is not None
    publish = product.publish
    database_kind = "postgresql" if os.environ.get("NEWSLETTER_BENCH_DATABASE_URL") else "sqlite"
    ratio = product.rate / naive.rate if naive.rate else 0.0
    batches = -(-options.recipients // options.batch_size)
    ledger = ", ".join(f"{state} {count:,}" for state, count in product.ledger.items() if count) or "empty"
    print(f"send benchmark, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine:  {machine()}")
    print(f"load:     {results.load} (load average before the run; other work on the machine skews every figure)")
    print(
        f"settings: {WORKERS} workers x concurrency {options.concurrency}, batch {options.batch_size}, Postmark batch API; "
        f"fake provider on loopback, {PROVIDER_LATENCY * 1000:g} ms per call; {database_kind}; embedded Redis"
    )
    print(f"fake:     ceiling {results.ceiling:,.0f} emails/s (alone, 4 clients posting 500-message batches, same latency)")
    print(f"import:   {options.recipients:,} subscribers in {product.imported.seconds:.1f} s (not part of the send figures)")
    print(
        f"publish:  {options.recipients:,} recipients in {batches:,} batches: {publish.seconds:.2f} s wall, "
        f"{publish.cpu_seconds:.1f} s CPU, peak RSS {publish.max_rss_mb:.0f} MB"
    )
    print(
        f"send:     last acceptance {product.seconds:.1f} s after publish started: {product.rate:,.0f} emails/s end to end "
        f"({product.recipients / max(product.seconds - publish.seconds, 1e-9):,.0f}/s after publish returned); "
        f"{product.calls:,} provider calls; ledger: {ledger}; {product.duplicates} duplicates"
    )
    print(
        f"workers:  peak RSS {product.peak_worker_mb:.0f} MB (VmRSS summed over {product.worker_processes} processes, "
        f"mains and pool children); CPU {per_email(product.worker_cpu, product)}"
    )
    print(
        f"CPU:      machine {product.machine_busy:.0%} busy (of {os.cpu_count()} CPUs) from publish to the last acceptance; "
        f"fake provider and bench {per_email(product.fake_cpu, product)}"
    )
    print(
        f"naive:    {naive.recipients:,} recipients, one task and premailer each: last acceptance {naive.seconds:.1f} s after "
        f"the first delay(): {naive.rate:,.0f} emails/s; workers peak RSS {naive.peak_worker_mb:.0f} MB "
        f"({naive.worker_processes} processes), CPU {per_email(naive.worker_cpu, naive)}; machine {naive.machine_busy:.0%} busy; "
        f"{naive.duplicates} duplicates"
    )
    print(f"ratio:    {product.rate:,.0f} / {naive.rate:,.0f} = {ratio:.1f}x")
    fast = product.complete and product.rate >= TARGET_RATE
    faster = product.complete and naive.complete and ratio >= TARGET_RATIO
    targets = [
        f">= {TARGET_RATE:,.0f} emails/s end to end: {yes(fast)} (aim {AIM_RATE:,.0f}: {yes(product.rate >= AIM_RATE)})",
        f">= {TARGET_RATIO:.0f}x the naive baseline: {yes(faster)}",
    ]
    lean = True
    if million is not None:
        imported, published = million
        lean = published.returncode == 0 and published.max_rss_mb < TARGET_PUBLISH_RSS_MB
        print(
            f"million:  import {imported.seconds:.0f} s (peak RSS {imported.max_rss_mb:.0f} MB); publish {MILLION:,} recipients in "
            f"{MILLION // DEFAULT_BATCH_SIZE:,} batches: {published.seconds:.1f} s wall, peak RSS {published.max_rss_mb:.0f} MB"
        )
        targets.append(f"publish {MILLION:,} under {TARGET_PUBLISH_RSS_MB:.0f} MB: {yes(lean)}")
    else:
        targets.append(f"publish {MILLION:,} under {TARGET_PUBLISH_RSS_MB:.0f} MB: not run (add --million)")
    print("targets:  " + "; ".join(targets))
    passed = fast and faster and lean and product.duplicates == 0 and naive.duplicates == 0
    print("PASS" if passed else "FAIL")
    return passed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_send", description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=RECIPIENTS, help="recipients of the product run")
    parser.add_argument("--naive", type=int, default=NAIVE_RECIPIENTS, help="recipients of the naive baseline")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="NEWSLETTER_BATCH_SIZE of the product run")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="pool processes per worker (both runs)")
    parser.add_argument("--million", action="store_true", help="also import and publish 1,000,000 recipients (several minutes)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (databases, worker logs)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="run the product's worker pool processes under cProfile into DIR")
    args = parser.parse_args(argv)
    options = Options(args.recipients, args.naive, args.batch_size, args.concurrency, args.million, args.keep, args.profile)

    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    directory = Path(tempfile.mkdtemp(prefix="newsletter-bench-"))
    embedded = EmbeddedRedis(directory)
    embedded.start()
    fake = start_fake_providers(*all_handlers())
    without_nagle(fake)
    acceptances = Acceptances(fake)
    try:
        fake.faults.delay = PROVIDER_LATENCY
        ceiling = fake_ceiling(fake, acceptances)
        product = run_product(directory, embedded.url, fake, acceptances, options)
        naive = run_naive(directory, embedded.url, fake, acceptances, options)
        million = run_million(directory, embedded.url, fake) if options.million else None
    finally:
        fake.stop()
        embedded.stop()
        if options.keep:
            print(f"kept {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)
    passed = report(options, Results(load, ceiling, product, naive, million))
    if options.profile is not None:
        print_profile(options.profile)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

"""How fast the web app answers a click link (and the open pixel): the real app under uvicorn, over loopback.

Run from the project root: ``make bench-redirect`` or
``python -m tests.bench.bench_redirect``. The file name does not match
pytest's ``test_*.py``, so the test suite never collects it.

A fresh SQLite database gets the example subscribers and a tracked campaign
of the seed recap, its records marked sent; ``newsletter serve`` then runs as
its own process, as deployed (uvicorn, one process, its access log on, an
embedded Redis). One client (``http.client``, so the client's own cost stays
small) with a kept-alive connection follows click links of different
recipients and links in turn, without following the redirect, and fetches
pixels: each answer verifies the token, reads the campaign and the delivery,
classifies and writes one engagement, and commits. The figure is the median
time from sending the request to the whole answer (target: at most 5 ms per
click). ``--runs`` repeats the whole measurement and reports the median of
the runs' medians, for a machine shared with other work.

Exits 1 when the click median misses its target.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from publisher.core.clock import utcnow
from publisher.core.links import signer_for
from publisher.core.settings import Settings
from publisher.db.engine import open_database
from tests.bench.bench_render import machine
from tests.bench.cleanup import embedded_redis, interrupted_by_sigterm
from tests.bench.processes import PYTHON, Service, _cpu_seconds
from tests.support.audience import people
from tests.support.campaigns import publish
from tests.support.environment import environment_for
from tests.support.tracking import BROWSER, deliveries, mark_sent, tracked_links
from tests.support.web import free_port

REQUESTS = 2_000
WARMUP = 50
RUNS = 3
#: The target (docs/performance.md): a click answered within 5 ms, median.
TARGET_MEDIAN_MS = 5.0
STARTUP_SECONDS = 60


def settings_in(directory: Path, redis_url: str) -> Settings:
    return Settings(
        data_dir=directory,
        redis_url=redis_url,
        secret_key="bench-secret-key-0123456789",
        postal_address="1 Bench Street, London",
        NEWSLETTER_FROM="Bench <bench@example.com>",
    )


def timed(connection: http.client.HTTPConnection, paths: Sequence[str], expected: int) -> list[float]:
    """Milliseconds per request, after the warm-up ones."""
    samples = []
    headers = {"User-Agent": BROWSER}
    for index, path in enumerate(paths):
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != expected:
            raise SystemExit(f"{path} answered {response.status}, not {expected}")
        if index >= WARMUP:
            samples.append(elapsed)
    return samples


def p99(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(0.99 * len(ordered)) - 1)]


def wait_for(port: int, server: Service) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"newsletter serve exited with {server.process.returncode}:\n{server.log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"newsletter serve did not listen on {port} within {STARTUP_SECONDS} s")


@dataclass
class Run:
    clicks: list[float]
    pixels: list[float]
    #: The server's own CPU time per request (user and system), in ms: what a busy machine cannot inflate.
    click_cpu_ms: float
    pixel_cpu_ms: float
    recipients: int
    links: int


def server_cpu(server: Service) -> float:
    return _cpu_seconds(server.pid) or 0.0


def one_run(folder: Path, requests: int) -> Run:
    """Serve a fresh database and time ``requests`` clicks and as many pixels."""
    folder.mkdir()
    with embedded_redis(folder / "redis") as redis:
        settings = settings_in(folder, redis.url)
        db = open_database(settings.resolved_database_url, settings.secret_keys)
        people(db)
        campaign_id = publish(settings, db).id
        # Sent an hour ago: the clicks are judged as a reader's would be, not as a scanner's.
        mark_sent(db, campaign_id, utcnow() - datetime.timedelta(hours=1))
        ids, links = deliveries(db, campaign_id), tracked_links(db, campaign_id)
        db.dispose()
        signer = signer_for(settings)
        tokens = [signer.track_token(ids[n % len(ids)], campaign_id) for n in range(requests + WARMUP)]
        port = free_port()
        server = Service([PYTHON, "-m", "publisher", "serve", "--port", str(port)], environment_for(settings), folder / "serve.log")
        try:
            wait_for(port, server)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.connect()
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = server_cpu(server)
            clicks = timed(connection, [f"/t/c/{n % len(links)}.{token}" for n, token in enumerate(tokens)], 302)
            middle = server_cpu(server)
            pixels = timed(connection, [f"/t/o/{token}.gif" for token in tokens], 200)
            ended = server_cpu(server)
            connection.close()
        finally:
            server.stop()
    per_request = 1000 / len(tokens)
    return Run(clicks, pixels, (middle - started) * per_request, (ended - middle) * per_request, len(ids), len(links))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_redirect", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=REQUESTS, help="clicks (and as many pixels) to time per run")
    parser.add_argument("--runs", type=int, default=RUNS, help="runs; the figure is the median of their medians")
    args = parser.parse_args(argv)
    click_medians, pixel_medians, click_p99s, loads, cpu = [], [], [], [], []
    with interrupted_by_sigterm(), tempfile.TemporaryDirectory(prefix="bench-redirect-") as folder:
        for run in range(args.runs):
            loads.append(os.getloadavg()[0])
            measured = one_run(Path(folder) / f"run-{run}", args.requests)
            click_medians.append(statistics.median(measured.clicks))
            pixel_medians.append(statistics.median(measured.pixels))
            click_p99s.append(p99(measured.clicks))
            cpu.append((measured.click_cpu_ms, measured.pixel_cpu_ms))
            recipients, links = measured.recipients, measured.links
    click_median, pixel_median = statistics.median(click_medians), statistics.median(pixel_medians)
    print(f"redirect benchmark, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine:  {machine()}; load average at each run's start: {', '.join(f'{load:.1f}' for load in loads)}")
    print(f"app:      newsletter serve (uvicorn, one process), SQLite; {recipients} recipients, {links} links; one kept-alive client")
    runs = ", ".join(f"{value:.2f}" for value in click_medians)
    tail = f"p99 {statistics.median(click_p99s):.1f} ms"
    print(f"click:    GET /t/c/N.TOKEN -> 302, {args.runs} run(s) of {args.requests:,}: median {click_median:.2f} ms (runs: {runs}) {tail}")
    runs = ", ".join(f"{value:.2f}" for value in pixel_medians)
    print(f"pixel:    GET /t/o/TOKEN.gif -> 200, {args.runs} run(s) of {args.requests:,}: median {pixel_median:.2f} ms (runs: {runs})")
    click_cpu, pixel_cpu = statistics.median(c for c, _ in cpu), statistics.median(p for _, p in cpu)
    print(f"server:   CPU per request (user + system, median of the runs): click {click_cpu:.2f} ms, pixel {pixel_cpu:.2f} ms")
    fast = click_median <= TARGET_MEDIAN_MS
    print(f"target:   click median <= {TARGET_MEDIAN_MS} ms: {'yes' if fast else 'NO'} ({click_median / TARGET_MEDIAN_MS:.0%} of target)")
    print("PASS" if fast else "FAIL")
    return 0 if fast else 1


if __name__ == "__main__":
    sys.exit(main())

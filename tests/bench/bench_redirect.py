"""How fast the web app answers a click link (and the open pixel): the real app under uvicorn, over loopback.

Run from the project root: ``make bench-redirect`` or
``python -m tests.bench.bench_redirect``. The file name does not match
pytest's ``test_*.py``, so the test suite never collects it.

A fresh SQLite database gets the example subscribers and a tracked campaign
of the seed recap, its records marked sent; the app is served as
``newsletter serve`` serves it (uvicorn, one process). One client with a
kept-alive connection then follows click links of different recipients and
links in turn, without following the redirect, and fetches pixels: each
answer verifies the token, reads the campaign and the delivery, classifies
and writes one engagement, and commits. The figure is the median time from
sending the request to the whole answer (target: at most 5 ms per click).

Exits 1 when the click median misses its target.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from publisher.core.clock import utcnow
from publisher.core.links import signer_for
from publisher.core.settings import Settings
from publisher.db.engine import open_database
from publisher.web.app import create_app
from tests.bench.bench_render import machine
from tests.support.audience import people
from tests.support.campaigns import publish
from tests.support.tracking import BROWSER, deliveries, mark_sent, tracked_links
from tests.support.web import serving
from workers.providers import check_provider

REQUESTS = 2_000
WARMUP = 50
#: The target (docs/performance.md): a click answered within 5 ms, median.
TARGET_MEDIAN_MS = 5.0


def settings_in(directory: Path) -> Settings:
    return Settings(
        data_dir=directory,
        secret_key="bench-secret-key-0123456789",
        postal_address="1 Bench Street, London",
        NEWSLETTER_FROM="Bench <bench@example.com>",
    )


def timed(client: requests.Session, urls: Sequence[str], expected: int) -> list[float]:
    """Milliseconds per request, after the warm-up ones."""
    samples = []
    for index, url in enumerate(urls):
        started = time.perf_counter()
        response = client.get(url, allow_redirects=False, timeout=10)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != expected:
            raise SystemExit(f"{url} answered {response.status_code}, not {expected}")
        if index >= WARMUP:
            samples.append(elapsed)
    return samples


def p99(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(0.99 * len(ordered)) - 1)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_redirect", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=REQUESTS, help="clicks (and as many pixels) to time")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-redirect-") as folder:
        settings = settings_in(Path(folder))
        db = open_database(settings.resolved_database_url, settings.secret_keys)
        people(db)
        campaign_id = publish(settings, db).id
        # Sent an hour ago: the clicks are judged as a reader's would be, not as a scanner's.
        mark_sent(db, campaign_id, utcnow() - datetime.timedelta(hours=1))
        ids, links = deliveries(db, campaign_id), tracked_links(db, campaign_id)
        db.dispose()
        signer = signer_for(settings)
        total = args.requests + WARMUP
        with serving(create_app(settings, check_provider)) as base, requests.Session() as client:
            client.headers["User-Agent"] = BROWSER
            tokens = [signer.track_token(ids[n % len(ids)], campaign_id) for n in range(total)]
            clicks = timed(client, [f"{base}/t/c/{n % len(links)}.{token}" for n, token in enumerate(tokens)], 302)
            pixels = timed(client, [f"{base}/t/o/{token}.gif" for token in tokens], 200)
    click_median, pixel_median = statistics.median(clicks), statistics.median(pixels)
    print(f"redirect benchmark, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine:  {machine()}")
    print(f"app:      uvicorn, one process, SQLite; {len(ids)} recipients, {len(links)} tracked links; one kept-alive client on loopback")
    print(f"click:    GET /t/c/N.TOKEN -> 302, n={len(clicks):,}: median {click_median:.2f} ms   p99 {p99(clicks):.2f} ms")
    print(f"pixel:    GET /t/o/TOKEN.gif -> 200, n={len(pixels):,}: median {pixel_median:.2f} ms   p99 {p99(pixels):.2f} ms")
    fast = click_median <= TARGET_MEDIAN_MS
    print(f"target:   click median <= {TARGET_MEDIAN_MS} ms: {'yes' if fast else 'NO'} ({click_median / TARGET_MEDIAN_MS:.0%} of target)")
    print("PASS" if fast else "FAIL")
    return 0 if fast else 1


if __name__ == "__main__":
    sys.exit(main())

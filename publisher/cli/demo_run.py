"""``newsletter demo``: the whole story in one command, on embedded defaults.

Starts its own Redis, creates a fresh SQLite database, imports the example
subscribers, publishes the Modu recap, runs a real worker process until the
campaign is complete, then stops everything it started. With ``--serve`` it
then keeps the web app up on the demo's data, with an admin account to sign
in to the console with, until interrupted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from publisher.accounts.passwords import generate_password
from publisher.accounts.users import add_user
from publisher.audience.subscribers import import_subscribers
from publisher.cli.publishing import PublishOptions, run_publish
from publisher.cli.web_server import Listen, serve_web
from publisher.content.preview import SampleSubscriber, preview
from publisher.content.recap import load_recap
from publisher.core.broker import EmbeddedRedis
from publisher.core.errors import NewsletterError
from publisher.core.private_files import private_directory
from publisher.core.settings import Settings
from publisher.db.engine import Database, open_database
from publisher.db.models import Role
from publisher.ledger.status import campaign_progress

DEMO_LIST = "attendees"
DEMO_RECAP = Path("recaps") / "modu-product-vs-tech.md"
DEMO_SUBSCRIBERS = Path("subscribers.csv")
DEMO_ADDRESS = "Modu, Holborn, London WC1V (demo address)"
#: The console account ``demo --serve`` creates, with a password generated for each run.
DEMO_ADMIN = "admin@example.com"
DEFAULT_PUBLIC_URL = "http://localhost:8000"
COMPLETE_TIMEOUT = 50.0
WORKER_STOP_TIMEOUT = 15.0


def examples_dir() -> Path:
    """The project's examples/ folder (beside the package in a checkout, else in the current directory)."""
    beside_package = Path(__file__).resolve().parents[2] / "examples"
    return beside_package if beside_package.is_dir() else Path.cwd() / "examples"


def demo_settings(directory: Path, public_url: str = DEFAULT_PUBLIC_URL) -> Settings:
    return Settings(
        data_dir=directory,
        redis_url=None,
        database_url=None,
        provider="outbox",
        outbox_dir=directory / "outbox",
        postal_address=DEMO_ADDRESS,
        public_url=public_url,
        # A playground beside whatever else runs here: no metrics port taken.
        web_metrics_port=0,
    )


def worker_environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "NEWSLETTER_DATA_DIR": str(settings.data_dir),
            # Empty values override a .env file: the demo uses embedded defaults only.
            "NEWSLETTER_REDIS_URL": "",
            "NEWSLETTER_DATABASE_URL": "",
            "NEWSLETTER_PROVIDER": "outbox",
            "NEWSLETTER_OUTBOX_DIR": str(settings.resolved_outbox_dir),
            "NEWSLETTER_POSTAL_ADDRESS": settings.postal_address,
            # The links in the emails lead to the web app `demo --serve` runs.
            "NEWSLETTER_PUBLIC_URL": settings.public_url,
        }
    )
    return env


def run_demo(directory: Path, report: Callable[[str], None], public_url: str = DEFAULT_PUBLIC_URL) -> Settings:
    """Run the whole pipeline in ``directory`` (wiped first); return the demo's settings."""
    directory = directory.resolve()
    examples = examples_dir()
    embedded = EmbeddedRedis(directory)
    embedded.stop()  # a previous demo's Redis, if it was left behind
    shutil.rmtree(directory, ignore_errors=True)
    private_directory(directory)
    settings = demo_settings(directory, public_url)
    started = time.monotonic()
    embedded.start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        db = open_database(settings.resolved_database_url, settings.secret_keys)
        imported = import_subscribers(db, examples / DEMO_SUBSCRIBERS, DEMO_LIST)
        report(f"imported {imported.added} subscribers into '{DEMO_LIST}'")
        campaign = run_publish(settings, PublishOptions(recap=examples / DEMO_RECAP, list_name=DEMO_LIST, provider="outbox"), report)
        worker = subprocess.Popen(
            [sys.executable, "-m", "publisher", "worker", "--concurrency=2"],
            env=worker_environment(settings),
            stdout=subprocess.DEVNULL,
            stderr=open(directory / "worker.log", "wb"),  # noqa: SIM115 (closed with the process)
        )
        report(f"worker started (pid {worker.pid}, log {directory / 'worker.log'})")
        _wait_complete(db, campaign.id, worker)
        progress = campaign_progress(db, campaign.id)[0]
        db.dispose()
    finally:
        if worker is not None:
            _stop(worker)
        embedded.stop()
    html, _ = preview(settings, load_recap(examples / DEMO_RECAP), SampleSubscriber(), DEMO_LIST)
    preview_path = directory / "preview.html"
    preview_path.write_text(html, encoding="utf-8")
    emls = sorted(settings.resolved_outbox_dir.glob("*.eml"))
    report(f"campaign {campaign.id}: {progress.counts['sent']} sent, {progress.counts['failed']} failed")
    report(f"{len(emls)} .eml files in {settings.resolved_outbox_dir}")
    report(f"preview: {preview_path}")
    report(f"done in {time.monotonic() - started:.1f}s")
    return settings


def serve_demo(directory: Path, listen: Listen, report: Callable[[str], None]) -> None:
    """Run the demo, then serve the web app on its data with a demo admin account, until interrupted."""
    host = "localhost" if listen.host in ("127.0.0.1", "0.0.0.0", "::", "") else listen.host  # noqa: S104 (compared, not bound)
    base = f"http://{host}:{listen.port}"
    settings = run_demo(directory, report, public_url=base)
    db = open_database(settings.resolved_database_url, settings.secret_keys)
    password = generate_password()
    try:
        add_user(db, DEMO_ADMIN, Role.ADMIN, password)
    finally:
        db.dispose()
    report(f"web app: {base} (the links in the demo's emails lead here); Ctrl-C stops it and the demo's Redis")
    report(f"console: {base}/console, sign in as {DEMO_ADMIN} (admin) with the password on the next line")
    report(password)
    # uvicorn stops on SIGINT or SIGTERM and then raises the signal again with
    # the handler it found: these handlers turn that into a return, so the
    # demo's Redis is stopped rather than left behind by a process killed.
    previous = {number: signal.signal(number, _interrupted) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        serve_web(settings, listen)
    except _Interrupted:
        report("stopped; nothing left running")
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        EmbeddedRedis(settings.data_dir).stop()


class _Interrupted(Exception):
    """SIGINT or SIGTERM: the operator stopped ``demo --serve``."""


def _interrupted(_signal: int, _frame: object) -> None:
    raise _Interrupted


def _wait_complete(db: Database, campaign_id: int, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + COMPLETE_TIMEOUT
    while time.monotonic() < deadline:
        if campaign_progress(db, campaign_id)[0].finished:
            return
        if worker.poll() is not None:
            raise NewsletterError(f"the worker exited with code {worker.returncode}; see its log")
        time.sleep(0.3)
    raise NewsletterError(f"campaign {campaign_id} did not complete within {COMPLETE_TIMEOUT:g}s")


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)  # warm shutdown: finish the current task
        try:
            worker.wait(WORKER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

"""Fixtures: real Redis, real databases (SQLite and PostgreSQL), a real worker, a fake Postmark over HTTP.

Only fixtures and hooks live here; the helpers tests import live in tests/support.

Redis is the embedded redis-server the product itself uses (or the server at
NEWSLETTER_TEST_REDIS_URL); it is flushed before and after every test.
PostgreSQL tests use the server at NEWSLETTER_TEST_POSTGRES_URL (default: the
local one) and are skipped, with the reason shown, only when no server can be
reached.

Migrations took most of a short test's time, so a test's database starts
migrated: on SQLite a copy of one migrated once per test process, on
PostgreSQL that process's one database, emptied and renamed for each test
(tests/support/postgres_pool.py). A test marked ``empty_database`` gets no
SQLite file and a new, empty PostgreSQL database, for the product to create
and migrate.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy import make_url

from publisher.core.broker import EmbeddedRedis
from publisher.core.private_files import create_private_file, private_directory
from publisher.core.settings import Settings
from publisher.db.engine import Database, open_database
from tests.fakes.postmark import TOKEN
from tests.fakes.server import FakeProviders, all_handlers, start_fake_providers
from tests.support.api import Api, token
from tests.support.audience import people
from tests.support.environment import TEST_SECRET, environment_for
from tests.support.postgres_pool import PostgresPool
from tests.support.types import ServeWeb, StartWorker
from tests.support.web import serving
from tests.support.workers import WorkerProcess

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No NEWSLETTER_* variable or .env file of the machine leaks into a test."""
    for name in list(os.environ):
        if name.startswith("NEWSLETTER_") and not name.startswith("NEWSLETTER_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("NEWSLETTER_TEST_REDIS_URL")
    if external:
        yield external
        return
    embedded = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    embedded.start()
    yield embedded.url
    embedded.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()


def _postgres_admin_url() -> str:
    return os.environ.get("NEWSLETTER_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


def _postgres_admin() -> psycopg.Connection:
    admin = make_url(_postgres_admin_url())
    try:
        return psycopg.connect(admin.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server reachable at {admin.render_as_string()}: {exc}")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    admin = make_url(_postgres_admin_url())
    connection = _postgres_admin()
    name = f"newsletter_test_{uuid.uuid4().hex[:12]}"
    connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.close()


@pytest.fixture(scope="session")
def postgres_pool() -> Iterator[PostgresPool]:
    """This test process's migrated PostgreSQL database, emptied and renamed for each test."""
    _postgres_admin().close()  # skips, saying why, when no server answers
    pool = PostgresPool(_postgres_admin_url())
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head, in one file (no WAL beside it), to copy."""
    path = tmp_path_factory.mktemp("migrated") / "newsletter.db"
    open_database(f"sqlite:///{path}").dispose()
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs once on SQLite and once on PostgreSQL."""
    empty = request.node.get_closest_marker("empty_database") is not None
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url")) if empty else request.getfixturevalue("postgres_pool").take()
    path = tmp_path / "var" / "newsletter.db"
    if not empty:
        # Made as the product makes it (owner only), then filled with the migrated copy.
        private_directory(path.parent)
        create_private_file(path)
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url, (TEST_SECRET,))
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        redis_url=redis_url,
        database_url=database_url,
        secret_key=TEST_SECRET,
        postal_address="1 Test Street, London",
        NEWSLETTER_FROM="Modu Events <events@modu.example>",
        subscribe_answer_seconds=0.0,  # the answer's delay has a test of its own
    )


@pytest.fixture
def env(settings: Settings, redis_client: redis.Redis) -> dict[str, str]:
    return environment_for(settings)


@pytest.fixture
def fake_provider() -> Iterator[FakeProviders]:
    """The fake email provider (every provider's shapes) on a loopback port."""
    fake = start_fake_providers(*all_handlers())
    yield fake
    fake.stop()


@pytest.fixture
def fake_postmark(fake_provider: FakeProviders) -> FakeProviders:
    return fake_provider


@pytest.fixture
def postmark_env(env: dict[str, str], fake_postmark: FakeProviders) -> dict[str, str]:
    return {
        **env,
        "NEWSLETTER_PROVIDER": "postmark",
        "NEWSLETTER_POSTMARK_API_KEY": TOKEN,
        "NEWSLETTER_POSTMARK_BASE_URL": fake_postmark.base_url,
    }


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """Start real `newsletter worker` processes; all are killed after the test (a test that stops one itself says so)."""
    workers: list[WorkerProcess] = []

    def start(env: dict[str, str], *extra: str) -> WorkerProcess:
        worker = WorkerProcess(env, tmp_path / f"worker-{len(workers)}.log", *extra)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.kill()


@pytest.fixture
def serve_web() -> Iterator[ServeWeb]:
    """Start the real web app for given settings on a loopback port; return its base URL."""
    from publisher.web.app import create_app
    from workers.providers import check_provider

    with contextlib.ExitStack() as stack:

        def start(settings: Settings) -> str:
            return stack.enter_context(serving(create_app(settings, check_provider)))

        yield start


@pytest.fixture
def web_url(settings: Settings, redis_client: redis.Redis, serve_web: ServeWeb) -> str:
    """The web app on the default test settings."""
    return serve_web(settings)


@pytest.fixture
def api(web_url: str, db: Database) -> Api:
    """A client of the web app's ``/v1`` with a token of every scope."""
    return Api(web_url, token(db))


@pytest.fixture
def audience(db: Database) -> dict[str, int]:
    """The example subscribers on "attendees"; their ids by address."""
    return people(db)


def pytest_report_header() -> list[str]:
    return [f"python {sys.version.split()[0]}; postgres tests use {make_url(_postgres_admin_url()).render_as_string()}"]

"""Data at rest: what the service writes to disk is for its owner only, whatever the umask; erased addresses are kept as keyed hashes."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from pydantic import SecretStr
from sqlalchemy import delete, func, select

from publisher.audience.privacy import erase, export
from publisher.audience.subscribers import ERASED, import_subscribers
from publisher.audience.suppressions import address_hash, is_erased, is_suppressed, suppress_address
from publisher.core.broker import EmbeddedRedis
from publisher.core.errors import NewsletterError
from publisher.core.settings import Settings
from publisher.db.engine import Database, open_database
from publisher.db.models import MailingList, Subscriber, Suppression
from tests.support.audience import CSV
from tests.support.campaigns import publish
from tests.support.cli import run_cli
from tests.support.recaps import RECAP
from tests.support.types import ServeWeb, StartWorker

ADA = "ada@example.com"


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The common default umask (group and others may read): the modes below must not depend on a stricter one."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def assert_owner_only(root: Path, *, besides: str | None = None) -> None:
    """``root`` and everything under it (but the files under ``besides``): directories 0700, files 0600, sockets the owner's."""
    assert mode(root) == 0o700, root
    for path in root.rglob("*"):
        kind = path.lstat().st_mode
        if besides and path.is_relative_to(root / besides) and not stat.S_ISDIR(kind):
            continue
        if stat.S_ISDIR(kind):
            assert mode(path) == 0o700, path
        elif stat.S_ISREG(kind):
            assert mode(path) == 0o600, path
        else:
            assert mode(path) & 0o077 == 0, path


@pytest.mark.empty_database
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_import_and_a_send_leave_the_data_directory_for_the_owner_only(
    env: dict[str, str], settings: Settings, start_worker: StartWorker, permissive_umask: None
) -> None:
    data_dir = settings.data_dir
    assert not data_dir.exists()
    assert run_cli(env, "subscribers", "import", CSV, "--list", "attendees").returncode == 0
    start_worker(env)
    published = run_cli(env, "publish", RECAP, "--list", "attendees")
    assert published.returncode == 0, published.output
    campaign = published.last_line.split()[1]
    done = run_cli(env, "status", campaign, "--wait", "--timeout", "60")
    assert done.returncode == 0, done.output
    assert json.loads(run_cli(env, "status", campaign, "--json").output)["campaigns"][0]["deliveries"]["sent"] == 25

    # The worker still has the database open: its WAL and shared-memory files exist.
    database = data_dir / "newsletter.db"
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        assert path.exists() and mode(path) == 0o600, path
    assert len(list((data_dir / "outbox").glob("*.eml"))) == 25
    # The workers' Prometheus counters (prometheus_client's own files) hold
    # no personal data; the 0700 directories above them keep others out.
    assert_owner_only(data_dir, besides="metrics")


def test_the_embedded_redis_keeps_its_files_for_the_owner_only(tmp_path: Path, permissive_umask: None) -> None:
    embedded = EmbeddedRedis(tmp_path / "var")
    embedded.start()
    try:
        client = redis.Redis(unix_socket_path=str(embedded.socket))
        client.rpush("queue", "a task")  # something in the append-only file
        client.close()
        assert_owner_only(tmp_path / "var")
        assert mode(embedded.socket) & 0o077 == 0
    finally:
        embedded.stop()


def test_the_generated_secret_key_and_its_directory_are_for_the_owner_only(tmp_path: Path, permissive_umask: None) -> None:
    settings = Settings(data_dir=tmp_path / "var" / "state")
    assert len(settings.secret) > 16
    assert_owner_only(tmp_path / "var")


# The hash kept for an erased address

UNKEYED = "unkeyed@example.com"
ROTATED = "rotated@example.com"
OLD_KEY = "the-key-before-0123456789"


def plain_sha256(address: str) -> str:
    return hashlib.sha256(address.encode()).hexdigest()


def test_an_erased_address_is_kept_as_a_keyed_hash_not_its_plain_sha256(db: Database) -> None:
    erase(db, ADA)
    with db.transaction() as session:
        stored = session.scalars(select(Suppression.email_hash)).one()
        assert stored != plain_sha256(ADA)
        assert is_erased(session, ADA) and is_suppressed(session, ADA)
    exported = export(db, ADA)
    assert exported is not None and exported["email_hash"] == stored


def test_the_key_makes_the_hash(database_url: str) -> None:
    hashes = []
    for key in ("first-deployment-0123456789", "other-deployment-0123456789"):
        database = open_database(database_url, (key,))
        with database.transaction() as session:
            session.execute(delete(Suppression))
        erase(database, ADA)
        with database.transaction() as session:
            hashes.append(session.scalars(select(Suppression.email_hash)).one())
        database.dispose()
    assert hashes[0] != hashes[1]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_hashes_kept_unkeyed_or_under_a_retired_key_still_suppress_everywhere(
    settings: Settings, database_url: str, tmp_path: Path, serve_web: ServeWeb, redis_client: redis.Redis
) -> None:
    before = open_database(database_url, (OLD_KEY,))
    erase(before, ROTATED)
    with before.transaction() as session:
        session.add(Suppression(email=None, email_hash=plain_sha256(UNKEYED), reason="erased on request", source="privacy"))
        session.add(MailingList(name="news", public=True))
    before.dispose()
    rotated = settings.model_copy(update={"old_secret_keys": SecretStr(OLD_KEY)})
    db = open_database(database_url, rotated.secret_keys)

    with db.transaction() as session:
        for address in (UNKEYED, ROTATED):
            assert is_erased(session, address) and is_suppressed(session, address)
            assert not suppress_address(session, address, "hard bounce", "provider:postmark")  # one entry per scope stays one
    people = tmp_path / "people.csv"
    people.write_text(f"email\n{UNKEYED}\n{ROTATED}\nnew@example.com\n", encoding="utf-8")
    report = import_subscribers(db, people, "news")
    assert [(problem.line, problem.reason) for problem in report.problems] == [(2, ERASED), (3, ERASED)]
    web_url = serve_web(rotated)
    for address in (UNKEYED, ROTATED):
        assert requests.post(f"{web_url}/subscribe", json={"email": address, "list": "news"}, timeout=5).status_code == 202
        with pytest.raises(NewsletterError, match="erased on request"):
            publish(rotated, db, None, test_to=address)
        exported = export(db, address)
        assert exported is not None and [entry["scope"] for entry in exported["suppressions"]] == ["global"]
    with db.transaction() as session:
        assert set(session.scalars(select(Subscriber.email))) == {"new@example.com"}
        assert session.scalar(select(func.count()).select_from(Suppression)) == 2
    db.dispose()


def test_erasing_rekeys_the_entries_written_before_and_keeps_one_per_scope(database_url: str, settings: Settings) -> None:
    before = open_database(database_url, (OLD_KEY,))
    with before.transaction() as session:
        news = MailingList(name="news")
        session.add(news)
        session.flush()
        session.add_all(
            [
                # A bounce recorded before hashes were keyed, and one under the retired key on a list.
                Suppression(email=ADA, email_hash=plain_sha256(ADA), reason="hard bounce", source="provider:postmark"),
                Suppression(email=ADA, email_hash=address_hash(session, ADA), list_id=news.id, reason="complaint", source="provider:ses"),
            ]
        )
    before.dispose()
    rotated = settings.model_copy(update={"old_secret_keys": SecretStr(OLD_KEY)})
    db = open_database(database_url, rotated.secret_keys)
    with db.transaction() as session:
        # An entry of the same scope under the current key, as a concurrent writer of an older version could leave.
        session.add(Suppression(email=None, email_hash=address_hash(session, ADA), list_id=news.id, reason="erased", source="privacy"))
    erase(db, ADA)
    with db.transaction() as session:
        current = address_hash(session, ADA)
        entries = session.execute(select(Suppression.email, Suppression.email_hash, Suppression.list_id)).all()
    assert sorted(entries, key=lambda entry: entry.list_id or 0) == [(None, current, None), (None, current, news.id)]
    db.dispose()

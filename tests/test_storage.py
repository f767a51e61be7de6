"""Storage: migrations apply themselves to a fresh database; SQLite runs in WAL mode with a busy timeout, and only writers take its lock."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text, update
from sqlalchemy.exc import OperationalError

from publisher.accounts.roles import CLI_ACTOR
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import BUSY_TIMEOUT_MS, HEAD_REVISION, Database, alembic_config, open_database, schema_change
from publisher.db.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Engagement,
    EngagementKind,
    EventType,
    MailingList,
    Subscriber,
)
from publisher.ledger.resend import ResendOrder, resend_to_non_openers
from publisher.ledger.welcome import WelcomeIssues
from tests.support.audience import ZOE, people
from tests.support.campaigns import publish
from tests.support.paths import PROJECT


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.mark.empty_database
def test_fresh_database_is_migrated_to_head(db: Database) -> None:
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == _head()
    tables = set(inspect(db.engine).get_table_names())
    assert {"mailing_lists", "subscribers", "subscriptions", "campaigns", "batches", "deliveries"} <= tables


def test_reopening_a_migrated_database_changes_nothing(database_url: str) -> None:
    open_database(database_url).dispose()
    again = open_database(database_url)
    with again.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == _head()
    again.dispose()


def test_the_head_revision_named_in_the_engine_is_alembics_head() -> None:
    assert _head() == HEAD_REVISION


def test_a_database_one_revision_behind_is_upgraded_on_open(db: Database) -> None:
    from alembic import command

    config = alembic_config()
    with schema_change(db.engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() != HEAD_REVISION
    again = open_database(str(db.engine.url.render_as_string(hide_password=False)))
    with again.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == HEAD_REVISION
    again.dispose()


def test_opening_a_current_database_does_not_import_alembic(database_url: str) -> None:
    open_database(database_url).dispose()
    script = (
        "import sys; from publisher.db.engine import open_database; open_database(sys.argv[1]).dispose(); "
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, database_url], cwd=PROJECT, capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def test_migrations_upgrade_and_downgrade_cleanly(db: Database) -> None:
    from alembic import command

    config = alembic_config()
    with schema_change(db.engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert "deliveries" not in inspect(db.engine).get_table_names()
    with schema_change(db.engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert "deliveries" in inspect(db.engine).get_table_names()


def _downgrade_to(db: Database, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    with schema_change(db.engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_downgrading_keeps_resends_and_deletes_welcome_campaigns_whole(settings: Settings, db: Database) -> None:
    """0019's downgrade leaves a resend an ordinary campaign; 0018's deletes the welcome campaigns, no row of them left."""
    people(db)
    issue = publish(settings, db)
    with db.transaction() as session:
        session.execute(update(Delivery).where(Delivery.campaign_id == issue.id).values(state=DeliveryState.SENT, sent_at=utcnow()))
        session.execute(update(Campaign).where(Campaign.id == issue.id).values(status=CampaignStatus.COMPLETE, tracking=True))
        mailing_list = session.scalar(select(MailingList).where(MailingList.name == "attendees"))
        assert mailing_list is not None
        mailing_list.welcome_campaign_id = issue.id
    resend = resend_to_non_openers(settings, db, ResendOrder(issue.id, batch_size=10), CLI_ACTOR)
    with db.transaction() as session:
        mailing_list = session.scalar(select(MailingList).where(MailingList.name == "attendees"))
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == ZOE))
        assert mailing_list is not None and subscriber is not None
        batch_id = WelcomeIssues(settings)(session, mailing_list, subscriber)
        welcome = session.scalar(select(Delivery).where(Delivery.batch_id == batch_id))
        assert welcome is not None
        welcome_id = welcome.campaign_id
        now = utcnow()
        opened = Engagement(delivery_id=welcome.id, campaign_id=welcome_id, kind=EngagementKind.OPEN, source="app", occurred_at=now)
        session.add(opened)
        session.add(DeliveryEvent(delivery_id=welcome.id, type=EventType.DELIVERED, occurred_at=now, provider="postmark", dedupe_key="w1"))

    def count(sql: str, **values: int) -> int:
        with db.engine.connect() as connection:
            return int(connection.execute(text(sql), values).scalar_one())

    _downgrade_to(db, "0018")
    assert count("SELECT count(*) FROM deliveries WHERE campaign_id = :c", c=resend.id) == resend.recipients
    _downgrade_to(db, "0017")
    assert count("SELECT count(*) FROM campaigns WHERE kind = 'welcome'") == 0
    assert count("SELECT count(*) FROM batches WHERE campaign_id = :c", c=welcome_id) == 0
    assert count("SELECT count(*) FROM deliveries WHERE campaign_id = :c", c=welcome_id) == 0
    assert count("SELECT count(*) FROM engagements WHERE campaign_id = :c", c=welcome_id) == 0
    assert count("SELECT count(*) FROM delivery_events WHERE delivery_id NOT IN (SELECT id FROM deliveries)") == 0
    assert count("SELECT count(*) FROM campaigns WHERE id IN (:a, :b)", a=issue.id, b=resend.id) == 2

    from alembic import command

    config = alembic_config()
    with schema_change(db.engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == HEAD_REVISION


def test_migrations_build_exactly_the_schema_the_models_describe(db: Database) -> None:
    """A model change without its migration (or the reverse) shows up here, not on an operator's database."""
    from alembic.autogenerate import compare_metadata

    from publisher.db.models import Base

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'var' / 'n.db'}")
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == BUSY_TIMEOUT_MS
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    database.dispose()


@pytest.mark.empty_database
def test_processes_starting_together_migrate_once(database_url: str) -> None:
    script = "import sys; from publisher.db.engine import open_database; open_database(sys.argv[1]).dispose()"
    processes = [subprocess.Popen([sys.executable, "-c", script, database_url], cwd=PROJECT, stderr=subprocess.PIPE) for _ in range(4)]
    errors = [process.communicate(timeout=60)[1].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], errors
    database = open_database(database_url)
    with database.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == _head()
    database.dispose()


def test_sqlite_reading_waits_for_no_writer_and_may_not_write(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'var' / 'n.db'}")
    with database.transaction() as session:
        session.execute(text("CREATE TABLE counter (value INTEGER)"))
        session.execute(text("INSERT INTO counter VALUES (1)"))
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with database.transaction() as session:
            session.execute(text("UPDATE counter SET value = 2"))
            holding.set()  # the write lock is held until the read below has finished
            release.wait(60)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(60)
        with database.reading() as session:
            assert session.scalar(text("SELECT value FROM counter")) == 1  # the last committed value, at once
    finally:
        release.set()
        thread.join()
    with database.reading() as session:
        refused_on = session.connection().connection.dbapi_connection
        with pytest.raises(OperationalError, match="readonly"):
            session.execute(text("UPDATE counter SET value = 3"))
    # The refusal belongs to the reading transaction only: the same pooled
    # connection writes again (the pool hands its connections out in turn).
    for _ in range(10):
        with database.transaction() as session:
            if session.connection().connection.dbapi_connection is not refused_on:
                continue
            assert session.scalar(text("PRAGMA query_only")) == 0
            session.execute(text("UPDATE counter SET value = value + 1"))
            break
    else:
        pytest.fail("the pool never handed out the connection of the refused read again")
    with database.reading() as session:
        assert session.scalar(text("SELECT value FROM counter")) == 3
    database.dispose()


def test_sqlite_writers_that_read_first_still_take_turns(tmp_path: Path) -> None:
    """Each writing transaction holds the write lock from its first read: no update is lost, none fails."""
    database = open_database(f"sqlite:///{tmp_path / 'var' / 'n.db'}")
    with database.transaction() as session:
        session.execute(text("CREATE TABLE counter (value INTEGER)"))
        session.execute(text("INSERT INTO counter VALUES (0)"))
    errors: list[BaseException] = []

    def add(times: int) -> None:
        try:
            for _ in range(times):
                with database.transaction() as session:
                    seen = session.scalar(text("SELECT value FROM counter"))
                    session.execute(text("UPDATE counter SET value = :value"), {"value": seen + 1})
                with database.reading() as session:
                    session.scalar(text("SELECT value FROM counter"))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(50,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.reading() as session:
        assert session.scalar(text("SELECT value FROM counter")) == 200
    database.dispose()


def test_reading_sees_what_was_committed(db: Database) -> None:
    with db.transaction() as session:
        session.add(MailingList(name="weekly"))
    with db.reading() as session:
        assert session.scalar(select(MailingList.name)) == "weekly"

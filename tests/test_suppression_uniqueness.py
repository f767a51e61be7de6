"""One suppression entry per address and scope: enforced by the database, kept under concurrent writers, merged on upgrade."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select, text

from publisher.audience.suppressions import add_entries, email_hash, is_erased, suppress_address
from publisher.db.engine import Database, alembic_config, schema_change
from publisher.db.models import MailingList, Suppression
from tests.support.waiting import wait_until

ADA = "ada@example.com"
#: A row written as the schema before 0007 allowed: no unique index yet.
INSERT_UNCHECKED = text(
    "INSERT INTO suppressions (email, email_hash, list_id, reason, source, created_at)"
    " VALUES (:email, :email_hash, :list_id, :reason, :source, CURRENT_TIMESTAMP)"
)


def entry(list_id: int | None, email: str | None = ADA, reason: str = "hard bounce") -> dict[str, Any]:
    return {"email": email, "email_hash": email_hash(ADA), "list_id": list_id, "reason": reason, "source": "provider:postmark"}


def two_lists(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        lists = [MailingList(name="news"), MailingList(name="events")]
        session.add_all(lists)
        session.flush()
        return lists[0].id, lists[1].id


def entries(db: Database) -> list[tuple[int | None, str | None]]:
    with db.transaction() as session:
        return [(row.list_id, row.email) for row in session.execute(select(Suppression).order_by(Suppression.id)).scalars()]


def test_an_address_has_at_most_one_entry_everywhere_and_one_per_list(db: Database) -> None:
    news, events = two_lists(db)
    with db.transaction() as session:
        assert add_entries(session, [entry(None), entry(news), entry(events)]) == 3
        assert add_entries(session, [entry(None, reason="complaint"), entry(news), entry(events)]) == 0
    assert entries(db) == [(None, ADA), (news, ADA), (events, ADA)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_transactions_suppressing_one_address_at_once_leave_one_entry(db: Database) -> None:
    """The second checks before the first commits and sees nothing; the index makes it wait, then skip."""
    second: dict[str, bool] = {}

    def report_the_complaint() -> None:
        with db.transaction() as session:
            second["added"] = suppress_address(session, ADA, "complaint", "provider:sendgrid")

    with db.transaction() as first:
        assert suppress_address(first, ADA, "hard bounce", "provider:postmark")
        thread = threading.Thread(target=report_the_complaint)
        thread.start()
        wait_until(lambda: waiting_on_a_lock(db) == 1)  # the second insert waits for the first transaction
        assert thread.is_alive()
    thread.join(timeout=10)
    assert second == {"added": False}
    assert entries(db) == [(None, ADA)]


def waiting_on_a_lock(db: Database) -> int:
    """Sessions of this database that PostgreSQL holds waiting for another transaction's lock."""
    with db.engine.connect() as connection:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        return int(connection.execute(text(query)).scalar_one())


def test_upgrading_merges_duplicates_and_keeps_the_erased_entry(db: Database) -> None:
    news, _ = two_lists(db)
    config = alembic_config()
    # As open_database migrates: on SQLite with foreign keys off, or a table
    # rebuilt by a later revision would cascade its deletes into this one.
    with schema_change(db.engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    rows = [entry(None), entry(None, email=None, reason="erased on request"), entry(None), entry(news), entry(news)]
    with db.engine.begin() as connection:
        for row in rows:
            connection.execute(INSERT_UNCHECKED, row)
    with schema_change(db.engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert entries(db) == [(None, None), (news, ADA)]
    with db.transaction() as session:
        assert is_erased(session, ADA)
        assert session.scalar(select(func.count()).select_from(Suppression)) == 2

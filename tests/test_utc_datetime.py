"""Times go into the database as aware UTC and come back so, whether a write binds one time to many rows or each its own."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import StatementError

from publisher.db.engine import Database
from publisher.db.models import MailingList

PARIS = dt.timezone(dt.timedelta(hours=1))


def test_one_time_bound_to_many_rows_and_times_of_their_own_are_each_stored(db: Database) -> None:
    shared = dt.datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
    own = [shared + dt.timedelta(microseconds=n) for n in range(3)]
    # The same object on every row, then the same moment as a new object, then new moments between repeats.
    stamps = [shared, shared, shared, shared.replace(), own[0], shared, own[1], own[1], own[2]]
    with db.transaction() as session:
        session.execute(insert(MailingList), [{"name": f"list {n}", "created_at": stamp} for n, stamp in enumerate(stamps)])
    with db.transaction() as session:
        stored = dict(session.execute(select(MailingList.name, MailingList.created_at)).all())
    assert stored == {f"list {n}": stamp for n, stamp in enumerate(stamps)}
    assert all(stamp.tzinfo is dt.UTC for stamp in stored.values())


def test_a_time_in_another_zone_is_stored_as_the_same_moment_in_utc(db: Database) -> None:
    paris = dt.datetime(2026, 12, 1, 10, 30, tzinfo=PARIS)
    with db.transaction() as session:
        session.execute(insert(MailingList), [{"name": "a", "created_at": paris}, {"name": "b", "created_at": paris}])
    with db.transaction() as session:
        assert set(session.scalars(select(MailingList.created_at))) == {dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)}


def test_a_naive_time_is_refused_even_right_after_an_aware_one(db: Database) -> None:
    aware = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
    with pytest.raises(StatementError, match="naive datetime"), db.transaction() as session:
        session.execute(insert(MailingList), [{"name": "a", "created_at": aware}, {"name": "b", "created_at": aware.replace(tzinfo=None)}])
    with db.transaction() as session:
        assert session.scalars(select(MailingList)).all() == []

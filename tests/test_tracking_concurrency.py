"""Clicks of one delivery recorded at once, each in its own transaction, on PostgreSQL: the burst and the cap still hold.

PostgreSQL runs such transactions side by side, each blind to the others'
uncommitted rows; recording locks the delivery's row first, so they take
turns. (SQLite's ``BEGIN IMMEDIATE`` already makes every writer wait.)
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, insert, select

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Engagement, EngagementKind
from publisher.tracking.classify import Seen
from publisher.tracking.recording import ENGAGEMENTS, MAX_PER_DELIVERY, Hit, record, target
from tests.support.audience import people
from tests.support.campaigns import publish
from tests.support.tracking import BROWSER, deliveries, engagements, mark_sent
from tests.support.waiting import Running, wait_until, waiting_on_locks

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

SENT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
LATER = SENT + dt.timedelta(hours=3)


@pytest.fixture
def campaign_id(settings: Settings, db: Database) -> int:
    people(db)
    created = publish(settings, db)
    mark_sent(db, created.id, SENT)
    return created.id


def click_in(db: Database, campaign_id: int, delivery: int, number: int, start: threading.Barrier | None = None) -> bool:
    """Record a reader's click of link ``number`` in a transaction of its own (after ``start``, when given)."""
    with db.transaction() as session:
        to = target(session, campaign_id, delivery)
        assert to is not None
        if start is not None:
            start.wait(timeout=30)
        seen = Seen(EngagementKind.CLICK, LATER + dt.timedelta(milliseconds=number), BROWSER)
        return record(session, to, Hit(seen, source="app", link_index=number, url=to.links[number]))


def links_of(db: Database, campaign_id: int) -> int:
    with db.transaction() as session:
        to = target(session, campaign_id, 0)
        assert to is not None
        return len(to.links)


def test_the_last_link_of_a_burst_waits_for_the_clicks_before_it(db: Database, campaign_id: int) -> None:
    """The last click's transaction starts before the others commit: it must still see them and mark the burst."""
    delivery = deliveries(db, campaign_id)[0]
    count = links_of(db, campaign_id)
    with db.transaction() as first:
        to = target(first, campaign_id, delivery)
        assert to is not None
        for number in range(count - 1):
            seen = Seen(EngagementKind.CLICK, LATER + dt.timedelta(milliseconds=number), BROWSER)
            assert record(first, to, Hit(seen, source="app", link_index=number, url=to.links[number]))
        last = Running(lambda: click_in(db, campaign_id, delivery, count - 1))
        # Without the lock the last click commits on its own, blind to the clicks above.
        wait_until(lambda: waiting_on_locks(db) == 1 or last.finished())
        assert waiting_on_locks(db) == 1
    assert last.result() is True
    rows = engagements(db, delivery)
    assert len(rows) == count and all(row.machine for row in rows)


def test_every_link_clicked_at_once_is_a_burst(db: Database, campaign_id: int) -> None:
    delivery = deliveries(db, campaign_id)[0]
    count = links_of(db, campaign_id)
    start = threading.Barrier(count)
    clicks = [Running(lambda number=number: click_in(db, campaign_id, delivery, number, start)) for number in range(count)]
    assert all(running.result() for running in clicks)
    rows = engagements(db, delivery)
    assert len(rows) == count and all(row.machine for row in rows)


def test_two_clicks_at_once_never_pass_the_cap(db: Database, campaign_id: int) -> None:
    delivery = deliveries(db, campaign_id)[0]
    row = {"delivery_id": delivery, "campaign_id": campaign_id, "kind": EngagementKind.OPEN, "source": "app", "machine": False}
    earlier = [{**row, "occurred_at": SENT + dt.timedelta(hours=1, seconds=n)} for n in range(MAX_PER_DELIVERY - 1)]
    with db.transaction() as session:
        session.execute(insert(ENGAGEMENTS), earlier)
    start = threading.Barrier(2)
    clicks = [Running(lambda number=number: click_in(db, campaign_id, delivery, number, start)) for number in range(2)]
    assert sorted(running.result() for running in clicks) == [False, True]
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Engagement).where(Engagement.delivery_id == delivery)) == MAX_PER_DELIVERY


def test_a_burst_whose_earliest_click_is_recorded_last_is_marked(db: Database, campaign_id: int) -> None:
    """Parallel requests take the lock in any order: the click that completes a burst may be its earliest."""
    delivery = deliveries(db, campaign_id)[0]
    count = links_of(db, campaign_id)
    for number in [*range(1, count), 0]:
        assert click_in(db, campaign_id, delivery, number)
    rows = engagements(db, delivery)
    assert len(rows) == count and all(row.machine for row in rows)

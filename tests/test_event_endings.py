"""A platform's "ended" signal counts only after the quiet period without a new start (SQLite and PostgreSQL).

Time is passed in (``now=``) or moved with time-machine; nothing waits.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select, update

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Event
from publisher.events.catalogue import EventFields, ensure_event
from publisher.events.endings import recap_work_waiting, record_end_signal, record_start_signal, settle_end_signals
from publisher.events.platforms.delivery import Delivery, apply_delivery

QUIET = 600
T0 = dt.datetime(2026, 12, 4, 18, 0, tzinfo=dt.UTC)


@pytest.fixture
def quiet(settings: Settings) -> Settings:
    return settings.model_copy(update={"event_end_quiet_seconds": QUIET})


def make_event(db: Database, slug: str = "zoom-1", source: str = "zoom") -> None:
    with db.transaction() as session:
        ensure_event(session, slug, source, EventFields(name="Webinar"), platform_id=slug.split("-", 1)[1])


def signal(db: Database, kind: str, at: dt.datetime, slug: str = "zoom-1") -> bool:
    with db.transaction() as session:
        event = session.scalars(select(Event).where(Event.slug == slug)).one()
        return (record_end_signal if kind == "ended" else record_start_signal)(session, event, at)


def settle(db: Database, settings: Settings, now: dt.datetime) -> list[str]:
    with db.transaction() as session:
        return settle_end_signals(session, settings, now)


def state(db: Database, slug: str = "zoom-1") -> tuple[dt.datetime | None, dt.datetime | None]:
    with db.transaction() as session:
        event = session.scalars(select(Event).where(Event.slug == slug)).one()
        return event.end_signal_at, event.ended_at


@pytest.mark.postgres
def test_an_end_signal_settles_after_the_quiet_period_at_the_time_it_was_given(db: Database, quiet: Settings) -> None:
    make_event(db)
    assert signal(db, "ended", T0) is True
    assert settle(db, quiet, T0 + dt.timedelta(seconds=QUIET - 1)) == []
    assert state(db) == (T0, None)
    assert settle(db, quiet, T0 + dt.timedelta(seconds=QUIET)) == ["zoom-1"]
    assert state(db) == (T0, T0)
    # Settling again ends nothing twice.
    assert settle(db, quiet, T0 + dt.timedelta(hours=5)) == []


@pytest.mark.postgres
def test_a_later_start_cancels_a_pending_end_and_an_older_one_does_not(db: Database, quiet: Settings) -> None:
    make_event(db)
    signal(db, "ended", T0)
    assert signal(db, "started", T0 - dt.timedelta(minutes=30)) is False  # a late redelivery of the first start
    assert state(db) == (T0, None)
    assert signal(db, "started", T0 + dt.timedelta(minutes=2)) is True  # the host came back
    assert state(db) == (None, None)
    assert settle(db, quiet, T0 + dt.timedelta(hours=1)) == []
    later = T0 + dt.timedelta(minutes=40)
    signal(db, "ended", later)
    assert settle(db, quiet, later + dt.timedelta(seconds=QUIET)) == ["zoom-1"]
    assert state(db) == (later, later)


@pytest.mark.postgres
def test_repeated_end_signals_keep_the_latest_and_ignore_older_ones(db: Database, quiet: Settings) -> None:
    make_event(db)
    assert signal(db, "ended", T0) is True
    assert signal(db, "ended", T0) is False  # the same signal again
    assert signal(db, "ended", T0 + dt.timedelta(minutes=5)) is True
    assert signal(db, "ended", T0 + dt.timedelta(minutes=1)) is False
    assert state(db) == (T0 + dt.timedelta(minutes=5), None)
    # The quiet period counts from the latest signal.
    assert settle(db, quiet, T0 + dt.timedelta(seconds=QUIET)) == []
    assert settle(db, quiet, T0 + dt.timedelta(minutes=5, seconds=QUIET)) == ["zoom-1"]


@pytest.mark.postgres
def test_an_event_that_has_ended_stays_ended_whatever_comes_after(db: Database, quiet: Settings) -> None:
    make_event(db)
    signal(db, "ended", T0)
    settle(db, quiet, T0 + dt.timedelta(hours=1))
    assert signal(db, "started", T0 + dt.timedelta(hours=2)) is False
    signal(db, "ended", T0 + dt.timedelta(hours=3))
    assert state(db)[1] == T0
    assert settle(db, quiet, T0 + dt.timedelta(hours=5)) == []


def test_only_events_whose_quiet_period_has_passed_are_settled(db: Database, quiet: Settings) -> None:
    for number in (1, 2, 3):
        make_event(db, f"zoom-{number}")
    signal(db, "ended", T0, "zoom-1")
    signal(db, "ended", T0 + dt.timedelta(minutes=8), "zoom-2")
    assert settle(db, quiet, T0 + dt.timedelta(minutes=12)) == ["zoom-1"]
    assert state(db, "zoom-2")[1] is None
    assert state(db, "zoom-3") == (None, None)


def test_settling_with_the_clock_moved_by_time_machine(db: Database, quiet: Settings) -> None:
    make_event(db)
    with time_machine.travel(T0, tick=False):
        delivery = Delivery(source="zoom", event_id="1", signal="ended", signal_at=T0)
        with db.transaction() as session:
            apply_delivery(session, quiet, delivery)
    with time_machine.travel(T0 + dt.timedelta(seconds=QUIET - 1), tick=False):
        assert settle(db, quiet, dt.datetime.now(dt.UTC)) == []
    with time_machine.travel(T0 + dt.timedelta(seconds=QUIET), tick=False):
        assert settle(db, quiet, dt.datetime.now(dt.UTC)) == ["zoom-1"]


def test_a_zero_quiet_period_settles_at_once(db: Database, settings: Settings) -> None:
    make_event(db)
    signal(db, "ended", T0)
    assert settle(db, settings.model_copy(update={"event_end_quiet_seconds": 0}), T0) == ["zoom-1"]


@pytest.mark.postgres
def test_a_late_retried_end_from_before_a_restart_is_ignored_and_the_real_end_counts(db: Database, quiet: Settings) -> None:
    # ended(18:00) got a 503 at first; started(18:02) was applied; the platform retries ended(18:00) at 18:20.
    make_event(db)
    restart = T0 + dt.timedelta(minutes=2)
    signal(db, "started", restart)
    assert signal(db, "ended", T0) is False
    assert settle(db, quiet, T0 + dt.timedelta(minutes=20)) == []
    assert state(db) == (None, None)
    # An end at the very time of the restart is not after it either.
    assert signal(db, "ended", restart) is False
    real_end = T0 + dt.timedelta(hours=1)
    assert signal(db, "ended", real_end) is True
    assert settle(db, quiet, real_end + dt.timedelta(seconds=QUIET)) == ["zoom-1"]
    assert state(db) == (real_end, real_end)


@pytest.mark.postgres
def test_the_latest_start_is_remembered_whatever_order_starts_arrive_in(db: Database, quiet: Settings) -> None:
    make_event(db)
    signal(db, "started", T0 + dt.timedelta(minutes=30))
    signal(db, "started", T0)  # an older start, delivered late, does not move it back
    assert signal(db, "ended", T0 + dt.timedelta(minutes=10)) is False
    assert signal(db, "ended", T0 + dt.timedelta(minutes=31)) is True


@pytest.mark.postgres
def test_an_end_after_the_event_settled_is_kept_as_the_latest_signal_without_ending_it_again(db: Database, quiet: Settings) -> None:
    make_event(db)
    signal(db, "ended", T0)
    settle(db, quiet, T0 + dt.timedelta(seconds=QUIET))
    real_end = T0 + dt.timedelta(hours=1)
    assert signal(db, "ended", real_end) is True
    assert state(db) == (real_end, T0)
    assert signal(db, "ended", T0 + dt.timedelta(minutes=5)) is False
    assert settle(db, quiet, real_end + dt.timedelta(hours=1)) == []
    assert state(db) == (real_end, T0)


@pytest.mark.postgres
def test_the_sweep_finds_work_exactly_when_a_signal_can_settle_or_a_recap_is_due(db: Database, quiet: Settings) -> None:
    settings = quiet.model_copy(update={"event_recap_delay": 3600.0})

    def waiting(now: dt.datetime) -> bool:
        return recap_work_waiting(db, settings, now)

    make_event(db)
    assert not waiting(T0 + dt.timedelta(days=30))  # no end time, no signal
    signal(db, "ended", T0)
    assert not waiting(T0 + dt.timedelta(seconds=QUIET - 1))
    assert waiting(T0 + dt.timedelta(seconds=QUIET))  # the signal can settle
    settle(db, settings, T0 + dt.timedelta(seconds=QUIET))
    assert not waiting(T0 + dt.timedelta(seconds=3599))  # ended at T0, the recap not due yet
    assert waiting(T0 + dt.timedelta(seconds=3600))
    with db.transaction() as session:
        session.execute(update(Event).values(recap_done_at=T0 + dt.timedelta(seconds=3600)))
    assert not waiting(T0 + dt.timedelta(days=30))
    # An end time passing counts as well, with no signal at all.
    with db.transaction() as session:
        ensure_event(session, "zoom-2", "zoom", EventFields(name="Webinar", ends_at=T0), platform_id="2")
    assert not waiting(T0 + dt.timedelta(seconds=3599))
    assert waiting(T0 + dt.timedelta(seconds=3600))

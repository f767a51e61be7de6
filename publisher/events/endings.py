"""When a platform says an event ended: a pending end that counts only after a quiet period.

Zoom sends ``webinar.ended`` again when a host leaves and comes back, and
``webinar.started`` in between; acting on the first "ended" would send the
recap while the webinar still runs. So an "ended" signal is only noted
(``Event.end_signal_at``, the latest one wins), a later start cancels it, and
the sweep settles it into ``Event.ended_at`` once
NEWSLETTER_EVENT_END_QUIET_SECONDS have passed since it without a new start.
The event then ended when the platform said so, not when the sweep noticed.

Signals can arrive out of order: a delivery refused for a while (a 503) is
retried by the platform after later ones were applied. So the latest start
is remembered too (``Event.start_signal_at``), and an "ended" signal at or
before it is ignored: it ended a part of the event that has started again.

An event that has ended (settled, ended by hand, or past its end time once
something set ``ended_at``) stays ended, so its recap is prepared once:
starts after that change nothing, and a later "ended" only moves
``end_signal_at`` (the platform's last word is kept, for whoever looks at
the event) without ending it again.

Each function takes the caller's session and joins its transaction. The
changes are single UPDATE statements whose conditions hold the rules, so a
start recorded by one worker and a settlement by the sweep cannot both win.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Event


def record_end_signal(session: Session, event: Event, at: dt.datetime) -> bool:
    """Note that the platform said the event ended at ``at``; return whether anything changed.

    The same signal delivered again, an older one, or one from before the
    latest start changes nothing. After the event ended, a later signal is
    kept in ``end_signal_at`` but ``ended_at`` stays.
    """
    changed = session.execute(
        update(Event)
        .where(
            Event.id == event.id,
            or_(Event.end_signal_at.is_(None), Event.end_signal_at < at),
            or_(Event.start_signal_at.is_(None), Event.start_signal_at < at),
            or_(Event.ended_at.is_(None), Event.ended_at < at),
        )
        .values(end_signal_at=at)
        .execution_options(synchronize_session=False)
    )
    session.refresh(event)
    return _rows(changed) > 0


def record_start_signal(session: Session, event: Event, at: dt.datetime) -> bool:
    """The platform said the event (re)started at ``at``: a pending end signal from before then no longer counts.

    Return whether a pending end was cancelled. A start older than the pending
    end (a late redelivery) leaves it as it is. The latest start is kept
    either way, so that an end from before it, delivered late, is ignored.
    """
    session.execute(
        update(Event)
        .where(Event.id == event.id, Event.ended_at.is_(None), or_(Event.start_signal_at.is_(None), Event.start_signal_at < at))
        .values(start_signal_at=at)
        .execution_options(synchronize_session=False)
    )
    changed = session.execute(
        update(Event)
        .where(Event.id == event.id, Event.ended_at.is_(None), Event.end_signal_at.is_not(None), Event.end_signal_at <= at)
        .values(end_signal_at=None)
        .execution_options(synchronize_session=False)
    )
    session.refresh(event)
    return _rows(changed) > 0


def settle_end_signals(session: Session, settings: Settings, now: dt.datetime) -> list[str]:
    """End every event whose end signal is NEWSLETTER_EVENT_END_QUIET_SECONDS old; return their slugs.

    ``ended_at`` becomes the time of the signal. The sweep calls this; calling
    it again, or from two places at once, ends each event once.
    """
    settled = session.execute(
        update(Event)
        .where(_settles(settings, now))
        .values(ended_at=Event.end_signal_at)
        .returning(Event.slug)
        .execution_options(synchronize_session=False)
    )
    slugs = sorted(settled.scalars())
    # Rows already loaded in this session would otherwise keep their old ended_at.
    session.expire_all()
    return slugs


def due_events(db: Database, settings: Settings, now: dt.datetime) -> list[int]:
    """The events whose recap is due and not made yet, the longest-ended first."""
    with db.transaction() as session:
        return list(session.scalars(select(Event.id).where(_recap_due(settings, now)).order_by(Event.id)))


def recap_work_waiting(db: Database, settings: Settings, now: dt.datetime) -> bool:
    """Whether the sweep's event step has anything to do: an end signal to settle or a recap due.

    One read, so that a sweep with nothing to do never loads the recap code
    (the renderer and the lint, about 10 MB a worker).
    """
    with db.reading() as session:
        waiting = select(Event.id).where(or_(_settles(settings, now), _recap_due(settings, now))).limit(1)
        return session.scalar(waiting) is not None


def _settles(settings: Settings, now: dt.datetime) -> ColumnElement[bool]:
    """An end signal NEWSLETTER_EVENT_END_QUIET_SECONDS old, on an event not ended yet."""
    cutoff = now - dt.timedelta(seconds=settings.event_end_quiet_seconds)
    return and_(Event.ended_at.is_(None), Event.end_signal_at.is_not(None), Event.end_signal_at <= cutoff)


def _recap_due(settings: Settings, now: dt.datetime) -> ColumnElement[bool]:
    """Ended NEWSLETTER_EVENT_RECAP_DELAY seconds ago or more, its recap not made yet."""
    ended_before = now - dt.timedelta(seconds=settings.event_recap_delay)
    return and_(Event.recap_done_at.is_(None), or_(Event.ended_at <= ended_before, Event.ends_at <= ended_before))


def _rows(result: object) -> int:
    """How many rows an UPDATE changed (SQLAlchemy types its result without ``rowcount``)."""
    return int(getattr(result, "rowcount", 0) or 0)

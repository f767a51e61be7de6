"""An event's two audiences: who attended, and who registered but did not come.

They are lists named ``event:<slug>:attended`` and ``event:<slug>:no-show``,
accepted wherever a list name is (``publish --list``, the API, the console).
Their members are the event's registrants, never subscriptions, so a list row
stands for each only to give campaigns, links and suppressions the list id
they expect; it is made the first time the audience is named.

A registrant is ``attended`` once checked in. After the event has ended, one
without a check-in is ``no-show``; before the end, and where the source has
no attendance data at all (``unknown``), a registrant is in neither.

Unsubscribing from an event audience adds a suppression on the reserved
list ``event:*``, which covers every event audience and nothing else.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, exists, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from publisher.core.clock import utcnow
from publisher.core.errors import NotFoundError
from publisher.core.list_names import EVENT_PREFIX
from publisher.db.models import Attendance, Event, EventRegistrant, MailingList, Subscriber

#: The reserved list whose suppressions stop every event audience (and no newsletter list).
EVENTS_SCOPE = "event:*"
ATTENDED = "attended"
NO_SHOW = "no-show"
AUDIENCES = (ATTENDED, NO_SHOW)
SLUG = re.compile(r"[a-z0-9-]{1,60}")
_LIST_NAME = re.compile(r"event:([a-z0-9-]{1,60}):(attended|no-show)")

LISTS = MailingList.metadata.tables[MailingList.__tablename__]


@dataclass(frozen=True)
class EventAudience:
    slug: str
    audience: str

    @property
    def list_name(self) -> str:
        return f"{EVENT_PREFIX}{self.slug}:{self.audience}"


def parse_audience(name: str) -> EventAudience | None:
    """The event and audience ``name`` stands for; None when it is not ``event:<slug>:attended|no-show``."""
    match = _LIST_NAME.fullmatch(name.strip())
    return EventAudience(match[1], match[2]) if match else None


def audience_names(slug: str) -> tuple[str, str]:
    return tuple(EventAudience(slug, audience).list_name for audience in AUDIENCES)  # type: ignore[return-value]


def has_ended(event: Event, now: dt.datetime | None = None) -> bool:
    """Whether the event is over: it was ended (by hand or a settled platform signal), or its end time has passed."""
    now = now or utcnow()
    return event.ended_at is not None or (event.ends_at is not None and event.ends_at <= now)


def find_event(session: Session, slug: str) -> Event:
    """The event with ``slug``; NotFoundError names some that exist."""
    event = session.scalar(select(Event).where(Event.slug == slug))
    if event is None:
        known = ", ".join(session.scalars(select(Event.slug).order_by(Event.slug).limit(20))) or "none yet"
        raise NotFoundError(f"no event '{slug[:80]}' (events: {known})")
    return event


def audience_list(session: Session, audience: EventAudience) -> MailingList:
    """The list row standing for one audience of an existing event, made the first time it is named."""
    event = find_event(session, audience.slug)
    _insert_list(session, {"name": audience.list_name, "event_id": event.id, "event_audience": audience.audience})
    return session.scalars(select(MailingList).where(MailingList.name == audience.list_name)).one()


def counted_audience(session: Session, event: Event, audience: str) -> MailingList:
    """The audience's list row when it exists, else an unsaved stand-in that counts the same, writing nothing.

    For listing audiences (a read) rather than sending to one. A new audience
    has no suppressions of its own, so the stand-in carries the id of
    ``event:*`` (None when that is not there either): the suppressions that
    leave people out of it are then those on ``event:*`` and the global ones,
    as on its row once made. It is never added to the session.
    """
    name = EventAudience(event.slug, audience).list_name
    existing = session.scalar(select(MailingList).where(MailingList.name == name))
    if existing is not None:
        return existing
    scope_id = session.scalar(select(MailingList.id).where(MailingList.name == EVENTS_SCOPE))
    return MailingList(id=scope_id, name=name, event_id=event.id, event_audience=audience)


def is_registrant(session: Session, subscriber_id: int) -> bool:
    """Whether the subscriber registered for any event: event emails may come their way."""
    return session.scalar(select(EventRegistrant.id).where(EventRegistrant.subscriber_id == subscriber_id).limit(1)) is not None


def events_scope(session: Session) -> MailingList:
    """The reserved list ``event:*``: a suppression on it stops every event audience."""
    _insert_list(session, {"name": EVENTS_SCOPE, "description": "Every event audience (suppressions only)"})
    return session.scalars(select(MailingList).where(MailingList.name == EVENTS_SCOPE)).one()


def _insert_list(session: Session, values: dict[str, object]) -> None:
    # Two sends naming the same audience at once must both find one row.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(LISTS).values(created_at=utcnow(), **values).on_conflict_do_nothing())


def members(mailing_list: MailingList, now: dt.datetime | None = None) -> Select[int, str]:
    """The audience's registrants (subscriber id, address) in subscriber-id order, before suppressions.

    Whether the event has ended is decided once, here: an audience frozen
    while the event runs has no no-shows.
    """
    event_id = mailing_list.event_id
    if mailing_list.event_audience == ATTENDED:
        who: ColumnElement[bool] = EventRegistrant.attendance == Attendance.YES
    else:
        ended = exists().where(
            Event.id == event_id,
            or_(Event.ended_at.is_not(None), and_(Event.ends_at.is_not(None), Event.ends_at <= (now or utcnow()))),
        )
        who = and_(EventRegistrant.attendance == Attendance.NO, ended)
    return (
        select(EventRegistrant.subscriber_id, Subscriber.email)
        .join(Subscriber, Subscriber.id == EventRegistrant.subscriber_id)
        .where(EventRegistrant.event_id == event_id, who)
        .order_by(EventRegistrant.subscriber_id)
    )


def events_scope_of(list_id: int) -> Select[int]:
    """The id of ``event:*`` when ``list_id`` is an event audience (nothing otherwise): the suppressions that also stop it."""
    audience = aliased(MailingList)
    return select(MailingList.id).where(
        MailingList.name == EVENTS_SCOPE,
        exists().where(audience.id == list_id, audience.event_id.is_not(None)),
    )

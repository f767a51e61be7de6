"""The events: create, update from a platform, end, and choose what happens after.

An event's slug names it everywhere (its audiences are ``event:<slug>:…``):
``[a-z0-9-]{1,60}``, and ``<source>-<platform id>`` for an event a platform
reported. A platform's event is found again by its source and platform id
(unique together), so delivering the same event twice finds the same row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from publisher.audience.event_audiences import SLUG, find_event, has_ended
from publisher.core.clock import utcnow, within_range
from publisher.core.errors import NewsletterError
from publisher.core.settings import MAX_EVENT_DELAY, RecapRule, Settings
from publisher.core.text_rules import refuse_control_characters
from publisher.db.engine import Database
from publisher.db.models import Attendance, Event, EventRegistrant

#: Where events come from: by hand (or a generic CSV), or one of the platforms.
SOURCES = ("manual", "zoom", "eventbrite", "luma", "generic")
RULES: tuple[RecapRule, ...] = ("drafts", "none", "auto")
MAX_NAME = 300
MAX_VENUE = 500
MAX_URL = 2000
EVENTS = Event.metadata.tables[Event.__tablename__]
#: Hex digits of the id's digest in a platform event's slug when its id had to be cleaned.
DIGEST = 10


class EventError(NewsletterError):
    """An event that cannot be stored as given; the message says what is wrong."""


@dataclass(frozen=True)
class EventFields:
    """What is known of an event; None leaves a stored value as it is (on update)."""

    name: str | None = None
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    timezone: str | None = None
    venue: str | None = None
    online_url: str | None = None
    url: str | None = None
    speakers: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class EventSummary:
    slug: str
    name: str
    source: str
    platform_id: str | None
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    timezone: str
    venue: str | None
    online_url: str | None
    ended: bool
    recap_rule: RecapRule
    auto_send_after: int | None
    registered: int
    attended: int
    no_show: int
    unknown: int
    speakers: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        when = {key: value.isoformat() if value else None for key, value in (("starts_at", self.starts_at), ("ends_at", self.ends_at))}
        return {
            "slug": self.slug,
            "name": self.name,
            "source": self.source,
            "platform_id": self.platform_id,
            **when,
            "timezone": self.timezone,
            "venue": self.venue,
            "online_url": self.online_url,
            "ended": self.ended,
            "recap": self.recap_rule,
            "auto_send_after": self.auto_send_after,
            "registered": self.registered,
            "attended": self.attended,
            "no_show": self.no_show,
            "unknown": self.unknown,
            "speakers": self.speakers,
        }


def check_slug(slug: str) -> str:
    if not SLUG.fullmatch(slug):
        shown = slug[:80].encode("unicode_escape").decode("ascii")
        raise EventError(f"event slug '{shown}' is not valid: use 1 to 60 lower-case letters, digits and hyphens")
    return slug


def platform_slug(source: str, platform_id: str) -> str:
    """``<source>-<platform id>`` (``zoom-81234567890``) when the id is made of what a slug may hold.

    Otherwise the id is cleaned (lower case, anything else turned into
    hyphens, cut to fit) and a short digest of the whole id is added: cleaning
    folds different ids together (``Meetup.A`` and ``meetup:a``, two long ids
    that differ at the end), and each must keep its own event and audiences.
    """
    plain = f"{source}-{platform_id}"
    if SLUG.fullmatch(plain):
        return plain
    cleaned = re.sub(r"[^a-z0-9-]+", "-", platform_id.lower()).strip("-")
    digest = hashlib.sha256(platform_id.encode(errors="replace")).hexdigest()[:DIGEST]
    return check_slug(f"{f'{source}-{cleaned}'[: 59 - DIGEST].rstrip('-')}-{digest}")


def check_fields(fields: EventFields) -> EventFields:
    """Refuse what no event can hold: a name on two lines, an unknown zone, an end before the start, a naive or far-off time."""
    for label, value, limit in (("name", fields.name, MAX_NAME), ("venue", fields.venue, MAX_VENUE)):
        if value is None:
            continue
        try:
            refuse_control_characters(value)
        except ValueError as exc:
            raise EventError(f"the event {label} {exc}") from None
        if len(value) > limit:
            raise EventError(f"the event {label} is {len(value)} characters long; at most {limit} fit")
    if fields.name is not None and not fields.name.strip():
        raise EventError("the event name is empty")
    for label, url in (("online URL", fields.online_url), ("URL", fields.url)):
        if url is not None and (not re.fullmatch(r"https?://[^\s\x00-\x1f\x7f]+", url) or len(url) > MAX_URL):
            raise EventError(f"the event {label} must be an http(s) address of at most {MAX_URL} characters")
    if fields.timezone is not None:
        check_zone(fields.timezone)
    for label, when in (("start", fields.starts_at), ("end", fields.ends_at)):
        if when is not None and when.tzinfo is None:
            raise EventError(f"the event {label} time has no UTC offset: give one (2026-12-04T18:30:00+01:00)")
        if when is not None:
            try:
                within_range(when)
            except ValueError as exc:
                raise EventError(f"the event {label} time {exc}") from None
    if fields.starts_at and fields.ends_at and fields.ends_at < fields.starts_at:
        raise EventError("the event ends before it starts")
    return fields


def check_zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise EventError(f"unknown time zone '{zone[:60]}': use an IANA name such as Europe/Paris") from None
    return zone


def create_event(db: Database, slug: str, source: str, fields: EventFields) -> EventSummary:
    """Store a new event; EventError when the slug is taken or a field is wrong."""
    check_slug(slug)
    check_fields(fields)
    if not fields.name:
        raise EventError("an event needs a name")
    with db.transaction() as session:
        if session.scalar(select(Event.id).where(Event.slug == slug)) is not None:
            raise EventError(f"there is already an event '{slug}': choose another slug")
        event = _new_event(slug, source, None, fields)
        session.add(event)
        session.flush()
        return summarise(session, event)


def ensure_event(session: Session, slug: str, source: str, fields: EventFields, platform_id: str | None = None) -> Event:
    """The event ``slug`` (or, given a ``platform_id``, the source's event of that id), made from ``fields``
    when it does not exist yet, updated with them when it does.

    Two deliveries racing for the same new event both end with one row: the
    insert skips on conflict and both read the winner. EventError when the
    slug is another event's.
    """
    check_slug(slug)
    check_fields(fields)
    if platform_id is None:
        same = select(Event).where(Event.slug == slug)
    else:
        same = select(Event).where(Event.source == source, Event.platform_id == platform_id)
    event = session.scalar(same)
    if event is None:
        values = _new_event(slug, source, platform_id, fields)
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        row = {column.name: getattr(values, column.key) for column in EVENTS.columns if column.name != "id"}
        now = utcnow()
        row |= {"created_at": now, "updated_at": now, "speakers": values.speakers or []}
        session.execute(dialect.insert(EVENTS).values(**row).on_conflict_do_nothing())
        event = session.scalar(same)
        if event is None:
            raise EventError(f"the slug '{slug}' belongs to another event: this one cannot be stored under it")
        # A delivery that lost the race still applies what it knows (the winner may have known less).
        update_event(event, fields)
    else:
        update_event(event, fields)
    return event


def update_event(event: Event, fields: EventFields) -> None:
    """Apply the known fields (None keeps a value) to a stored event."""
    for name in ("name", "starts_at", "ends_at", "timezone", "venue", "online_url", "url", "speakers"):
        value = getattr(fields, name)
        if value is not None and getattr(event, name) != value:
            setattr(event, name, value)


def _new_event(slug: str, source: str, platform_id: str | None, fields: EventFields) -> Event:
    return Event(
        slug=slug,
        name=(fields.name or slug).strip(),
        source=source,
        platform_id=platform_id,
        starts_at=fields.starts_at,
        ends_at=fields.ends_at,
        timezone=fields.timezone or "UTC",
        venue=fields.venue,
        online_url=fields.online_url,
        url=fields.url,
        speakers=fields.speakers or [],
    )


def end_event(db: Database, slug: str, now: dt.datetime | None = None) -> EventSummary:
    """The event ends now, as a platform's settled "ended" signal would say; ending it again changes nothing."""
    with db.transaction() as session:
        event = find_event(session, check_slug(slug))
        if event.ended_at is None:
            event.ended_at = now or utcnow()
        return summarise(session, event)


def set_recap_rule(db: Database, slug: str, rule: RecapRule | None, auto_send_after: int | None = None) -> EventSummary:
    """Choose what happens when the event ends (None: the source's default)."""
    if rule is not None and rule not in RULES:
        raise EventError(f"unknown recap rule '{rule[:20]}': use drafts, none or auto")
    if auto_send_after is not None and not 0 <= auto_send_after <= MAX_EVENT_DELAY:
        raise EventError(f"--auto-send-after {auto_send_after} is out of range: give 0 to at most {MAX_EVENT_DELAY} seconds (ten years)")
    with db.transaction() as session:
        event = find_event(session, check_slug(slug))
        event.recap_rule = rule
        if auto_send_after is not None:
            event.auto_send_after = auto_send_after
        return summarise(session, event)


def recap_rule(settings: Settings, event: Event) -> RecapRule:
    """The event's own rule, else its source's default."""
    if event.recap_rule in RULES:
        return event.recap_rule
    return settings.event_recap_rule(event.source)


def event_summaries(db: Database, settings: Settings) -> list[EventSummary]:
    """Every event, the newest first, with its people counted."""
    with db.transaction() as session:
        events = session.scalars(select(Event).order_by(Event.starts_at.desc().nulls_last(), Event.id.desc())).all()
        return [summarise(session, event, settings) for event in events]


def event_summary(db: Database, settings: Settings, slug: str) -> EventSummary:
    with db.transaction() as session:
        return summarise(session, find_event(session, check_slug(slug)), settings)


def summarise(session: Session, event: Event, settings: Settings | None = None) -> EventSummary:
    counts = _attendance_counts(session, event.id)
    ended = has_ended(event)
    no = counts.get(Attendance.NO, 0)
    rule: RecapRule = recap_rule(settings, event) if settings is not None else (event.recap_rule or "drafts")  # type: ignore[assignment]
    return EventSummary(
        slug=event.slug,
        name=event.name,
        source=event.source,
        platform_id=event.platform_id,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        timezone=event.timezone,
        venue=event.venue,
        online_url=event.online_url,
        ended=ended,
        recap_rule=rule,
        auto_send_after=event.auto_send_after,
        registered=sum(counts.values()),
        attended=counts.get(Attendance.YES, 0),
        # Before the end nobody has missed it yet.
        no_show=no if ended else 0,
        unknown=counts.get(Attendance.UNKNOWN, 0),
        speakers=list(event.speakers or []),
    )


def _attendance_counts(session: Session, event_id: int) -> dict[Attendance, int]:
    rows = session.execute(
        select(EventRegistrant.attendance, func.count()).where(EventRegistrant.event_id == event_id).group_by(EventRegistrant.attendance)
    ).all()
    return {Attendance(attendance): count for attendance, count in rows}

"""Events for the tests: one made by hand, and registrants recorded as a platform would report them."""

from __future__ import annotations

import datetime as dt

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Attendance
from publisher.events.catalogue import EventFields, create_event, ensure_event
from publisher.events.registrants import Registration, RegistrationReport, record_registrations

STARTS = dt.datetime(2026, 12, 3, 17, 0, tzinfo=dt.UTC)
ENDS = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)
MEETUP = EventFields(name="Modu Meetup", starts_at=STARTS, ends_at=ENDS, timezone="Europe/Paris", venue="Station F")


def make_event(db: Database, slug: str = "modu-meetup", fields: EventFields = MEETUP) -> str:
    return create_event(db, slug, "manual", fields).slug


def register(
    settings: Settings, db: Database, slug: str, *people: tuple[str, Attendance], source: str = "manual", consent: bool = False
) -> RegistrationReport:
    """Record ``(email, attendance)`` registrations for the event ``slug`` (made when new)."""
    registrations = [
        Registration(email=email, first_name=email.split(".")[0].title(), attendance=attendance, consent=consent, line=line)
        for line, (email, attendance) in enumerate(people, start=2)
    ]
    with db.transaction() as session:
        event = ensure_event(session, slug, source, EventFields())
        return record_registrations(session, settings, event, registrations)

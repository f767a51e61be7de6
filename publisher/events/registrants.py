"""An event's people: who registered, whether they came, and when they checked in.

Every source (CSV exports, webhooks) hands its rows over as ``Registration``
values. Recording them is idempotent: the same registration delivered again
changes nothing, and what is known is never forgotten by a later, vaguer
report: a check-in stays a check-in, and attendance that is known does not
go back to ``unknown``.

Registrants become subscribers (the address is the person), but join a
newsletter list only where their source's consent allows it and the
operator named a list for that source (NEWSLETTER_<SOURCE>_SIGNUP_LIST).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from publisher.audience.csv_file import RowProblem
from publisher.audience.subscriber_rows import Row
from publisher.audience.subscribers import ImportReport, join_list
from publisher.audience.suppressions import is_erased
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.models import Attendance, Event, EventRegistrant, Subscriber

REGISTRANTS = EventRegistrant.metadata.tables[EventRegistrant.__tablename__]
SUBSCRIBERS = Subscriber.metadata.tables[Subscriber.__tablename__]
ERASED = "address was erased on request; it is never recorded again"
#: Attendance only moves forward: unknown → no → yes.
_RANK = {Attendance.UNKNOWN: 0, Attendance.NO: 1, Attendance.YES: 2}


@dataclass(frozen=True)
class Registration:
    """One person's registration, as a source reports it. ``email`` is already normalised."""

    email: str
    first_name: str = ""
    last_name: str = ""
    registered_at: dt.datetime | None = None
    attendance: Attendance = Attendance.UNKNOWN
    checked_in_at: dt.datetime | None = None
    #: The platform's id of the registration, where it has one.
    platform_id: str | None = None
    #: Whether the registration form's consent allows joining a newsletter list.
    consent: bool = False
    #: Where the row came from, for problems (a CSV line; 0 for a webhook).
    line: int = 0


@dataclass
class RegistrationReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    joined_list: int = 0
    problems: list[RowProblem] = field(default_factory=list)


def record_registrations(session: Session, settings: Settings, event: Event, registrations: list[Registration]) -> RegistrationReport:
    """Record the registrations in the caller's transaction; return what changed."""
    report = RegistrationReport()
    ids = _subscriber_ids(session, registrations, report)
    # Merging writes what it read, so the rows are locked first (PostgreSQL; SQLite has one writer at a time):
    # a concurrent delivery about the same people waits, then merges into what this one wrote. Locked in
    # subscriber order, so two deliveries about the same people cannot deadlock each other.
    stored = {
        row.subscriber_id: row
        for row in session.scalars(
            select(EventRegistrant)
            .where(EventRegistrant.event_id == event.id, EventRegistrant.subscriber_id.in_(list(ids.values())))
            .order_by(EventRegistrant.subscriber_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    for registration in registrations:
        subscriber_id = ids.get(registration.email)
        if subscriber_id is None:
            continue
        existing = stored.get(subscriber_id)
        if existing is None:
            if _insert(session, event, subscriber_id, registration):
                report.added += 1
                continue
            # Added meanwhile (a concurrent delivery, or the same person twice in this one): merged, not lost.
            existing = stored[subscriber_id] = session.scalars(
                select(EventRegistrant)
                .where(EventRegistrant.event_id == event.id, EventRegistrant.subscriber_id == subscriber_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).one()
        if _merge(existing, registration):
            report.updated += 1
        else:
            report.unchanged += 1
    _join_signup_list(session, settings, event, [r for r in registrations if r.consent and r.email in ids], report)
    return report


def _subscriber_ids(session: Session, registrations: list[Registration], report: RegistrationReport) -> dict[str, int]:
    """The subscriber id of each address, adding the people not known yet; erased addresses are reported and left out."""
    wanted: dict[str, Registration] = {}
    for registration in registrations:
        if is_erased(session, registration.email):
            report.problems.append(RowProblem(registration.line, ERASED))
        else:
            wanted.setdefault(registration.email, registration)
    if not wanted:
        return {}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    now = utcnow()
    new = [
        {"email": r.email, "first_name": r.first_name, "last_name": r.last_name, "attributes": {}, "created_at": now, "updated_at": now}
        for r in wanted.values()
    ]
    # A subscriber a concurrent delivery adds first is found, not duplicated.
    session.execute(dialect.insert(SUBSCRIBERS).on_conflict_do_nothing(index_elements=["email"]), new)
    found = session.execute(select(Subscriber.id, Subscriber.email).where(Subscriber.email.in_(list(wanted))))
    return {email: id_ for id_, email in found}


def _insert(session: Session, event: Event, subscriber_id: int, registration: Registration) -> bool:
    """Add the registration; False when the person is registered already (the row is then left as it is)."""
    now = utcnow()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    values = {
        "event_id": event.id,
        "subscriber_id": subscriber_id,
        "platform_id": registration.platform_id,
        "registered_at": registration.registered_at or now,
        "attendance": registration.attendance,
        "checked_in_at": registration.checked_in_at,
        "created_at": now,
        "updated_at": now,
    }
    inserted = session.execute(dialect.insert(REGISTRANTS).values(**values).on_conflict_do_nothing().returning(REGISTRANTS.c.id))
    return inserted.scalar() is not None


def _merge(existing: EventRegistrant, registration: Registration) -> bool:
    """Fold a new report into a stored registration; return whether anything changed."""
    changed = False
    if _RANK[registration.attendance] > _RANK[existing.attendance]:
        existing.attendance = registration.attendance
        changed = True
    checked_in = registration.checked_in_at
    if checked_in is not None and (existing.checked_in_at is None or checked_in < existing.checked_in_at):
        existing.checked_in_at = checked_in
        changed = True
    if registration.platform_id and existing.platform_id != registration.platform_id and existing.platform_id is None:
        existing.platform_id = registration.platform_id
        changed = True
    if registration.registered_at is not None and registration.registered_at < existing.registered_at:
        existing.registered_at = registration.registered_at
        changed = True
    return changed


def _join_signup_list(
    session: Session, settings: Settings, event: Event, consenting: list[Registration], report: RegistrationReport
) -> None:
    list_name = settings.event_signup_list(event.source)
    if list_name is None or not consenting:
        return
    rows = [Row(r.line, r.email, r.first_name, r.last_name, {}) for r in {r.email: r for r in consenting}.values()]
    # The consent record says which event and platform it came from.
    report.joined_list += join_list(session, rows, list_name, f"event:{event.slug} ({event.source})", ImportReport())

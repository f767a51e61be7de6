"""What one platform delivery changes, in a form every platform shares, and applying it in one transaction.

Each platform module turns its payload (or what its API answered) into a
:class:`Delivery`: the event's platform id and what is known of it, the
registrations it reports, the people it says are no longer coming, check-ins
of people known only by their registration id, and a start or end signal.
:func:`apply_delivery` writes all of it in the caller's transaction, after
claiming the delivery's id so that the same delivery applied twice (a
platform's retry, a task run again after a worker died) changes nothing.

A Delivery is also what the web app puts on the queue for the platforms
whose payload is complete in itself (Zoom, Standard Webhooks): it is a
pydantic model, so it travels as JSON and is read back checked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from publisher.core.errors import NewsletterError
from publisher.core.settings import Settings
from publisher.db.models import Attendance, Event, EventRegistrant, InboundEvent, Subscriber
from publisher.events.catalogue import EventError, EventFields, ensure_event, platform_slug
from publisher.events.endings import record_end_signal, record_start_signal
from publisher.events.registrants import Registration, RegistrationReport, record_registrations

INBOUND = InboundEvent.metadata.tables[InboundEvent.__tablename__]
#: InboundEvent.dedupe_key holds 200 characters; longer keys, and keys that are not printable ASCII, are kept as their digest.
MAX_KEY = 200


class RegistrantNotYetKnown(NewsletterError):
    """A check-in names a registration not recorded yet: the platform's deliveries crossed, so try again later.

    Raised from inside the delivery's transaction, so nothing of it is kept,
    not even the claim of its id: the delivery tried again is applied.
    """


class CheckIn(BaseModel):
    """A check-in of someone the platform names only by their registration id (a Zoom guest without an address)."""

    model_config = ConfigDict(frozen=True)

    registrant_id: str
    checked_in_at: AwareDatetime


class Delivery(BaseModel):
    """Everything one delivery says, checked; applying it twice changes nothing the second time."""

    model_config = ConfigDict(frozen=True)

    source: Literal["zoom", "eventbrite", "luma", "generic"]
    #: The event's id on the platform: its slug is ``<source>-<id>`` (see ``platform_slug``).
    event_id: str
    #: The platform's id of this delivery, where it gives one; None when applying it again is harmless anyway.
    dedupe_key: str | None = None
    fields: EventFields = EventFields()
    registrations: list[Registration] = []
    #: Addresses the platform says are no longer registered (cancelled, refunded, declined); one also in ``registrations`` stays.
    withdrawn: list[str] = []
    check_ins: list[CheckIn] = []
    signal: Literal["started", "ended"] | None = None
    signal_at: AwareDatetime | None = None

    @property
    def slug(self) -> str:
        return platform_slug(self.source, self.event_id)

    def message(self) -> dict[str, Any]:
        """The delivery as the JSON a queue message carries."""
        return self.model_dump(mode="json")


@dataclass
class Applied:
    """What applying a delivery did."""

    slug: str
    duplicate: bool = False
    report: RegistrationReport = field(default_factory=RegistrationReport)
    withdrawn: int = 0
    checked_in: int = 0
    signal_changed: bool = False


def apply_delivery(session: Session, settings: Settings, delivery: Delivery) -> Applied:
    """Write what ``delivery`` says in the caller's transaction (EventError when its event fields cannot be stored)."""
    slug = delivery.slug
    if delivery.dedupe_key is not None and not claim(session, delivery.source, delivery.dedupe_key):
        return Applied(slug, duplicate=True)
    stored_source = session.scalar(select(Event.source).where(Event.slug == slug))
    if stored_source is not None and stored_source != delivery.source:
        # A slug made by hand that happens to look like a platform's: never mixed with the platform's people.
        raise EventError(f"the event '{slug}' was not created by {delivery.source}: its deliveries are not applied to it")
    event = ensure_event(session, slug, delivery.source, delivery.fields, platform_id=delivery.event_id)
    applied = Applied(event.slug)
    if delivery.registrations:
        applied.report = record_registrations(session, settings, event, list(delivery.registrations))
    # One order can hold a refunded ticket and a live one for the same person: the live one keeps them registered.
    registered = {registration.email for registration in delivery.registrations}
    for email in delivery.withdrawn:
        if email not in registered:
            applied.withdrawn += withdraw(session, event, email)
    for check_in in delivery.check_ins:
        applied.checked_in += check_in_registrant(session, event, check_in)
    if delivery.signal is not None and delivery.signal_at is not None:
        record = record_end_signal if delivery.signal == "ended" else record_start_signal
        applied.signal_changed = record(session, event, delivery.signal_at)
    return applied


def claim(session: Session, source: str, key: str) -> bool:
    """Note that delivery ``key`` from ``source`` is handled; False when it was already (the caller then does nothing)."""
    if len(key) > MAX_KEY or not (key.isascii() and key.isprintable()):
        key = "sha256:" + hashlib.sha256(key.encode(errors="replace")).hexdigest()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    inserted = session.execute(
        dialect.insert(INBOUND)
        .values(source=source, dedupe_key=key, received_at=dt.datetime.now(dt.UTC))
        .on_conflict_do_nothing(index_elements=["source", "dedupe_key"])
        .returning(INBOUND.c.id)
    )
    # RETURNING gives the new row's id, and nothing when the key was there already.
    return inserted.scalar() is not None


def withdraw(session: Session, event: Event, email: str) -> int:
    """Take ``email`` off the event's registrants unless they came: a cancelled ticket is nobody to thank or to miss."""
    subscriber_id = select(Subscriber.id).where(Subscriber.email == email).scalar_subquery()
    removed = session.execute(
        delete(EventRegistrant)
        .where(
            EventRegistrant.event_id == event.id,
            EventRegistrant.subscriber_id == subscriber_id,
            EventRegistrant.attendance != Attendance.YES,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(removed, "rowcount", 0) or 0)


def check_in_registrant(session: Session, event: Event, check_in: CheckIn) -> int:
    """Mark the registrant the platform knows as ``registrant_id`` as attended; return 1 when that changed anything.

    RegistrantNotYetKnown when nobody has that id yet: the registration may
    arrive after the check-in, and the check-in is not to be lost.
    """
    registrant = session.scalar(
        select(EventRegistrant).where(EventRegistrant.event_id == event.id, EventRegistrant.platform_id == check_in.registrant_id)
    )
    if registrant is None:
        raise RegistrantNotYetKnown(f"no registration '{check_in.registrant_id}' of the event '{event.slug}' is recorded yet")
    changed = registrant.attendance != Attendance.YES
    registrant.attendance = Attendance.YES
    if registrant.checked_in_at is None or check_in.checked_in_at < registrant.checked_in_at:
        registrant.checked_in_at = check_in.checked_in_at
        changed = True
    return int(changed)


def delivery_digest(raw_body: bytes) -> str:
    """A delivery's id when the platform gives none: the digest of exactly what it sent (its retries send the same)."""
    return "sha256:" + hashlib.sha256(raw_body).hexdigest()

"""What the console shows of one event: its people a page at a time, and the recap drafts made for it.

Read-only. Addresses are shown as they are, as the subscriber pages show
them to every signed-in role.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from publisher.audience.event_audiences import find_event
from publisher.db.engine import Database
from publisher.db.models import Attendance, Campaign, CampaignStatus, EventRegistrant, MailingList, Subscriber
from publisher.events.catalogue import check_slug

PAGE_SIZE = 50


@dataclass(frozen=True)
class Person:
    subscriber_id: int
    email: str
    first_name: str
    last_name: str
    registered_at: dt.datetime
    attendance: Attendance
    checked_in_at: dt.datetime | None


@dataclass(frozen=True)
class People:
    rows: list[Person]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class RecapDraft:
    campaign_id: int
    title: str
    status: CampaignStatus
    list_name: str


def people(db: Database, slug: str, page: int = 1, size: int = PAGE_SIZE) -> People:
    """The event's registrants in the order they registered, page ``page`` (from 1) of ``size``."""
    with db.transaction() as session:
        event = find_event(session, check_slug(slug))
        total = int(session.scalar(select(func.count()).where(EventRegistrant.event_id == event.id)) or 0)
        pages = max(1, -(-total // size))
        page = min(max(page, 1), pages)
        rows = session.execute(
            select(
                Subscriber.id,
                Subscriber.email,
                Subscriber.first_name,
                Subscriber.last_name,
                EventRegistrant.registered_at,
                EventRegistrant.attendance,
                EventRegistrant.checked_in_at,
            )
            .join(Subscriber, Subscriber.id == EventRegistrant.subscriber_id)
            .where(EventRegistrant.event_id == event.id)
            .order_by(EventRegistrant.registered_at, EventRegistrant.id)
            .limit(size)
            .offset((page - 1) * size)
        ).all()
        found = [
            Person(id_, email, first or "", last or "", registered, Attendance(attendance), checked)
            for id_, email, first, last, registered, attendance, checked in rows
        ]
    return People(found, page, pages, total)


def recap_drafts(db: Database, slug: str) -> list[RecapDraft]:
    """The campaigns made as this event's recaps, the oldest first."""
    with db.transaction() as session:
        event = find_event(session, check_slug(slug))
        rows = session.execute(
            select(Campaign.id, Campaign.title, Campaign.status, MailingList.name)
            .outerjoin(MailingList, MailingList.id == Campaign.list_id)
            .where(Campaign.recap_event_id == event.id)
            .order_by(Campaign.id)
        ).all()
    return [RecapDraft(id_, title, CampaignStatus(status), name or "") for id_, title, status, name in rows]

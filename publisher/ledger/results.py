"""A campaign's per-recipient results: deliveries over time, outcomes by provider, and every record for export.

Read-only, like ``report``: each figure is one GROUP BY, and the export
streams its rows rather than loading the campaign's records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, select

from publisher.audience.event_audiences import AUDIENCES, EventAudience, counted_audience
from publisher.audience.lists import find_list, list_names
from publisher.db.engine import Database
from publisher.db.models import Delivery, DeliveryState, Event, Subscriber, Subscription, SubscriptionStatus
from publisher.ledger.campaigns import audience_size

#: Records read per round trip while exporting.
EXPORT_CHUNK = 1000


@dataclass(frozen=True)
class Bucket:
    start: dt.datetime
    sent: int


@dataclass(frozen=True)
class RecipientRow:
    email: str
    state: str
    provider: str
    attempts: int
    sent_at: dt.datetime | None
    last_error: str


def deliveries_over_time(db: Database, campaign_id: int, buckets: int = 12) -> list[Bucket]:
    """Records sent, in ``buckets`` equal slices of time from the first send to the last (empty when none was sent)."""
    with db.reading() as session:
        first, last = session.execute(
            select(func.min(Delivery.sent_at), func.max(Delivery.sent_at)).where(
                Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.SENT
            )
        ).one()
        if first is None or last is None:
            return []
        span = max((last - first).total_seconds(), 1.0)
        width = dt.timedelta(seconds=span / buckets)
        counts = [0] * buckets
        times = session.scalars(
            select(Delivery.sent_at)
            .where(Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.SENT)
            .execution_options(yield_per=EXPORT_CHUNK)
        )
        for sent_at in times:
            if sent_at is not None:
                counts[min(buckets - 1, int((sent_at - first).total_seconds() / width.total_seconds()))] += 1
        return [Bucket(first + index * width, count) for index, count in enumerate(counts)]


def by_provider(db: Database, campaign_id: int) -> dict[str, dict[str, int]]:
    """Records by the provider that took them (or "none" yet) and by state."""
    with db.reading() as session:
        rows = session.execute(
            select(Delivery.provider, Delivery.state, func.count())
            .where(Delivery.campaign_id == campaign_id)
            .group_by(Delivery.provider, Delivery.state)
        ).all()
    table: dict[str, dict[str, int]] = {}
    for provider, state, count in rows:
        table.setdefault(provider or "none", {s.value: 0 for s in DeliveryState})[DeliveryState(state).value] = count
    return dict(sorted(table.items()))


def recipient_rows(db: Database, campaign_id: int) -> Iterator[RecipientRow]:
    """Every record of the campaign in ledger order, streamed."""
    with db.reading() as session:
        query = (
            select(Delivery.email, Delivery.state, Delivery.provider, Delivery.attempts, Delivery.sent_at, Delivery.last_error)
            .where(Delivery.campaign_id == campaign_id)
            .order_by(Delivery.id)
            .execution_options(yield_per=EXPORT_CHUNK)
        )
        for email, state, provider, attempts, sent_at, last_error in session.execute(query):
            yield RecipientRow(email, DeliveryState(state).value, provider or "", attempts, sent_at, last_error or "")


def audiences(db: Database) -> list[tuple[str, int]]:
    """Every newsletter list, then the two audiences of every event (newest first), with the recipients a send would have now."""
    with db.transaction() as session:
        events = session.scalars(select(Event).order_by(Event.starts_at.desc().nulls_last(), Event.id.desc())).all()
        listed = [(name, audience_size(session, find_list(session, name))) for name in list_names(session)]
        # Read only: an event audience's list row is made when a draft is saved or sent to it, not when it is offered.
        for event in events:
            listed += [
                (EventAudience(event.slug, audience).list_name, audience_size(session, counted_audience(session, event, audience)))
                for audience in AUDIENCES
            ]
        return listed


def audience_of(db: Database, list_name: str) -> int:
    with db.transaction() as session:
        return audience_size(session, find_list(session, list_name))


@dataclass(frozen=True)
class Member:
    email: str
    first_name: str
    last_name: str


def list_members(db: Database, list_name: str, prefix: str, limit: int = 10) -> list[Member]:
    """Confirmed subscribers of the list whose address starts with ``prefix``, in address order."""
    with db.transaction() as session:
        mailing_list = find_list(session, list_name)
        rows = session.execute(
            select(Subscriber.email, Subscriber.first_name, Subscriber.last_name)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(
                Subscription.list_id == mailing_list.id,
                Subscription.status == SubscriptionStatus.CONFIRMED,
                Subscriber.email.startswith(prefix.strip().lower(), autoescape=True),
            )
            .order_by(Subscriber.email)
            .limit(limit)
        ).all()
        return [Member(email, first or "", last or "") for email, first, last in rows]

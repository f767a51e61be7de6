"""Tracked campaigns for the tests: their deliveries, their pixel and click links on a served app, and what was recorded."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from publisher.core.links import signer_for
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, Delivery, DeliveryState, Engagement

#: A browser's user agent: nothing in it says machine.
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"


def deliveries(db: Database, campaign_id: int) -> list[int]:
    with db.transaction() as session:
        return list(session.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)))


def mark_sent(db: Database, campaign_id: int, at: dt.datetime) -> None:
    """Record every delivery of the campaign as sent at ``at``, as a worker does."""
    with db.transaction() as session:
        session.execute(update(Delivery).where(Delivery.campaign_id == campaign_id).values(state=DeliveryState.SENT, sent_at=at))


def tracked_links(db: Database, campaign_id: int) -> list[str]:
    with db.transaction() as session:
        return list(session.scalar(select(Campaign.tracked_links).where(Campaign.id == campaign_id)) or [])


def pixel(settings: Settings, base_url: str, delivery_id: int, campaign_id: int) -> str:
    return f"{base_url}/t/o/{signer_for(settings).track_token(delivery_id, campaign_id)}.gif"


def click(settings: Settings, base_url: str, number: int, delivery_id: int, campaign_id: int) -> str:
    return f"{base_url}/t/c/{number}.{signer_for(settings).track_token(delivery_id, campaign_id)}"


def engagements(db: Database, delivery_id: int | None = None) -> list[Engagement]:
    """The engagements recorded (of one delivery), oldest first."""
    with db.transaction() as session:
        query = select(Engagement).order_by(Engagement.occurred_at, Engagement.id)
        if delivery_id is not None:
            query = query.where(Engagement.delivery_id == delivery_id)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows

"""Issues ready to be resent to their non-openers: sent, complete, with the opens and clicks a test needs."""

from __future__ import annotations

from sqlalchemy import select, update

from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignStatus, Delivery, DeliveryState
from tests.support.audience import people
from tests.support.campaigns import publish

#: The example subscribers the shared recap is sent to.
ATTENDEES = 25


def complete(db: Database, campaign_id: int, *, tracking: bool = True) -> dict[str, int]:
    """Mark every record of the campaign sent and the campaign complete, as the workers leave it; return the delivery ids by address."""
    with db.transaction() as session:
        session.execute(update(Delivery).where(Delivery.campaign_id == campaign_id).values(state=DeliveryState.SENT, sent_at=utcnow()))
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(status=CampaignStatus.COMPLETE, completed_at=utcnow(), tracking=tracking)
        )
        rows = session.execute(select(Delivery.email, Delivery.id).where(Delivery.campaign_id == campaign_id))
        return {row[0]: row[1] for row in rows}


def sent_issue(settings: Settings, db: Database, *, tracking: bool = True) -> tuple[int, dict[str, int]]:
    """The shared recap sent to the 25 attendees, complete: its id and its delivery ids by address."""
    people(db)
    created = publish(settings, db)
    return created.id, complete(db, created.id, tracking=tracking)

"""Tracking data is kept NEWSLETTER_TRACKING_DAYS, then the workers' sweep deletes it.

Tracking data is our engagements and the providers' own open and click
events (``delivery_events`` of type opened or clicked): they say the same
thing about the same reader, so they age out together. A provider's
delivered, bounced or complained events stay: the ledger and the
suppressions are built on them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Delete, delete
from sqlalchemy.orm import Session

from publisher.core.clock import utcnow
from publisher.db.engine import Database
from publisher.db.models import DeliveryEvent, Engagement, EventType

#: The provider events that are tracking data.
TRACKING_EVENTS = (EventType.OPENED, EventType.CLICKED)


def prune(db: Database, days: int, now: dt.datetime | None = None) -> int:
    """Delete the opens and clicks, ours and the providers', that happened more than ``days`` days ago; return how many."""
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    with db.transaction() as session:
        engagements = _deleted(session, delete(Engagement).where(Engagement.occurred_at < cutoff))
        events = _deleted(session, delete(DeliveryEvent).where(DeliveryEvent.type.in_(TRACKING_EVENTS), DeliveryEvent.occurred_at < cutoff))
        return engagements + events


def _deleted(session: Session, statement: Delete) -> int:
    return int(getattr(session.execute(statement), "rowcount", 0) or 0)

"""Tracking data is kept NEWSLETTER_TRACKING_DAYS, then the workers' sweep deletes it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete

from publisher.core.clock import utcnow
from publisher.db.engine import Database
from publisher.db.models import Engagement


def prune(db: Database, days: int, now: dt.datetime | None = None) -> int:
    """Delete the opens and clicks that happened more than ``days`` days ago; return how many."""
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    with db.transaction() as session:
        return int(getattr(session.execute(delete(Engagement).where(Engagement.occurred_at < cutoff)), "rowcount", 0) or 0)

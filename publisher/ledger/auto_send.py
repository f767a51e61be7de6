"""Which approved drafts are due for their automatic send (``publisher.ledger.approval`` approves them).

Apart from the approval code because the workers' sweep asks every time:
this module loads no draft, renderer or lint, so a sweep with nothing due
costs one query and no memory.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from publisher.core.clock import utcnow
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignStatus


def due_approved(db: Database, now: dt.datetime | None = None) -> list[int]:
    """The approved drafts whose automatic send has come, oldest first."""
    now = now or utcnow()
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Campaign.id)
                .where(
                    Campaign.status == CampaignStatus.DRAFT,
                    Campaign.approved_at.is_not(None),
                    Campaign.auto_send_at <= now,
                )
                .order_by(Campaign.auto_send_at, Campaign.id)
            )
        )

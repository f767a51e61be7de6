"""The ledger's numbers for monitoring: a handful of grouped counts, cheap enough to read at every scrape.

Per-campaign numbers cover the campaigns worth watching and no others, so the
set of campaigns a scrape reports stays small: issues (not test sends, not
confirmation requests, not notices) that are sending or paused, or that
finished within ``WATCHED_FOR``. Campaigns are named by id only: titles and
addresses stay out of monitoring.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select, text
from sqlalchemy.orm import Session

from publisher.core.clock import utcnow
from publisher.db.engine import Database
from publisher.db.models import (
    DEAD_LETTERED_ROWS,
    IN_DOUBT_ROWS,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Delivery,
    DeliveryEvent,
    EventType,
)
from publisher.ledger.status import StateCounts, counts_by_state

#: How long a finished campaign is still reported after it completed.
WATCHED_FOR = dt.timedelta(hours=24)


@dataclass(frozen=True)
class CampaignGauges(StateCounts):
    id: int
    status: CampaignStatus
    provider: str
    #: Records per delivery state, every state present.
    counts: dict[str, int]
    #: Recipients with a hard bounce / a complaint reported by the provider's webhooks.
    bounces: int = 0
    complaints: int = 0

    @property
    def progress(self) -> float:
        """Finished records / all records (1.0 for a campaign with no records: nothing is left to do)."""
        return (self.total - self.open) / self.total if self.total else 1.0


@dataclass(frozen=True)
class LedgerGauges:
    campaigns: list[CampaignGauges]
    #: Watched campaigns whose status is sending and that have records pending or sending.
    sending: int
    #: Records in doubt, every campaign (``newsletter reconcile`` settles them).
    in_doubt: int
    #: Records on the dead-letter list, every campaign (``newsletter dlq``).
    dead_letters: int


def ledger_gauges(db: Database, now: dt.datetime | None = None) -> LedgerGauges:
    """Read the monitoring numbers in one read transaction."""
    since = (now or utcnow()) - WATCHED_FOR
    with db.reading() as session:
        watched = session.execute(
            select(Campaign.id, Campaign.status, Campaign.provider, Campaign.created_at)
            .where(
                Campaign.kind == CampaignKind.ISSUE,
                Campaign.is_test.is_(False),
                or_(Campaign.status.in_((CampaignStatus.SENDING, CampaignStatus.PAUSED)), Campaign.completed_at >= since),
            )
            .order_by(Campaign.id)
        ).all()
        ids = [row.id for row in watched]
        counts = counts_by_state(session, ids)
        events = _events(session, ids, min((row.created_at for row in watched), default=None))
        campaigns = [
            CampaignGauges(
                id=row.id,
                status=row.status,
                provider=row.provider,
                counts=counts[row.id],
                bounces=events.get((row.id, EventType.BOUNCED_HARD), 0),
                complaints=events.get((row.id, EventType.COMPLAINED), 0),
            )
            for row in watched
        ]
        in_doubt = _count_indexed(session, IN_DOUBT_ROWS, "ix_deliveries_in_doubt")
        dead = _count_indexed(session, DEAD_LETTERED_ROWS, "ix_deliveries_dead_lettered")
    return LedgerGauges(
        campaigns=campaigns,
        sending=sum(1 for c in campaigns if c.status == CampaignStatus.SENDING and c.open),
        in_doubt=in_doubt,
        dead_letters=dead,
    )


def _count_indexed(session: Session, rows: ColumnElement[bool], index: str) -> int:
    """Count the records a partial index holds, from that index alone.

    The predicate is the index's own, literally. SQLite is told the index by
    name: without statistics (nothing here runs ANALYZE) it would scan the
    whole (campaign_id, state) index instead.
    """
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite":
        return session.scalar(select(func.count()).select_from(Delivery).where(rows)) or 0
    # SQLAlchemy renders no table hint for SQLite; both names here are the module's own constants.
    predicate = rows.compile(dialect=dialect)
    return session.scalar(text(f"SELECT count(*) FROM deliveries INDEXED BY {index} WHERE {predicate}")) or 0  # noqa: S608


def _events(session: Session, ids: list[int], oldest: dt.datetime | None) -> dict[tuple[int, EventType], int]:
    """Recipients with a hard bounce or a complaint, per watched campaign and type."""
    if not ids or oldest is None:
        return {}
    # No event of a campaign is older than the campaign: the time bound keeps
    # the read to the recent hard bounces and complaints (indexed by type and time).
    rows = session.execute(
        select(Delivery.campaign_id, DeliveryEvent.type, func.count(func.distinct(DeliveryEvent.delivery_id)))
        .join(Delivery, Delivery.id == DeliveryEvent.delivery_id)
        .where(
            DeliveryEvent.type.in_((EventType.BOUNCED_HARD, EventType.COMPLAINED)),
            DeliveryEvent.created_at >= oldest,
            Delivery.campaign_id.in_(ids),
        )
        .group_by(Delivery.campaign_id, DeliveryEvent.type)
    ).all()
    return {(cid, EventType(kind)): count for cid, kind, count in rows}

"""Putting batches on the queue, and releasing work the ledger says is due.

Publishing commits the campaign first and enqueues afterwards, marking each
batch ``enqueued_at``. If the publisher dies in between, or a campaign is
scheduled for later, the batches stay un-enqueued in the database and
``release_due`` (run by the workers' periodic sweep) puts them on the queue:
a send a week away never sits in Redis as an ETA task.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update

from publisher.db.engine import Database
from publisher.db.models import Batch, Campaign, CampaignStatus, utcnow
from publisher.settings import Settings


@dataclass(frozen=True)
class QueuedBatch:
    batch_id: int
    priority: bool


def enqueue(settings: Settings, url: str, batches: list[QueuedBatch]) -> None:
    """Send one task per batch through Celery (the message carries only the batch id)."""
    from workers.celery_app import QUEUE_PRIORITY, QUEUE_SEND, configure
    from workers.tasks import send_batch

    app = configure(settings, url)
    with app.producer_or_acquire() as producer:
        for batch in batches:
            send_batch.apply_async(
                args=[batch.batch_id],
                queue=QUEUE_PRIORITY if batch.priority else QUEUE_SEND,
                producer=producer,
            )


def mark_enqueued(db: Database, batch_ids: list[int]) -> None:
    if not batch_ids:
        return
    with db.transaction() as session:
        session.execute(update(Batch).where(Batch.id.in_(batch_ids)).values(enqueued_at=utcnow()))


def release_due(db: Database, now: dt.datetime | None = None) -> list[QueuedBatch]:
    """Release scheduled campaigns that are due; return every batch not yet enqueued."""
    now = now or utcnow()
    with db.transaction() as session:
        session.execute(
            update(Campaign)
            .where(Campaign.status == CampaignStatus.SCHEDULED, Campaign.send_at <= now)
            .values(status=CampaignStatus.SENDING, released_at=now)
        )
        rows = session.execute(
            select(Batch.id, Campaign.is_test)
            .join(Campaign, Campaign.id == Batch.campaign_id)
            .where(Campaign.status == CampaignStatus.SENDING, Batch.enqueued_at.is_(None))
            .order_by(Batch.id)
        ).all()
    return [QueuedBatch(batch_id=row[0], priority=bool(row[1])) for row in rows]


def dispatch_due(settings: Settings, db: Database, url: str) -> int:
    """Enqueue every batch that is due and not on the queue yet; return how many."""
    due = release_due(db)
    if due:
        enqueue(settings, url, due)
        mark_enqueued(db, [batch.batch_id for batch in due])
    return len(due)

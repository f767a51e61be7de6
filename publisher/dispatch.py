"""Putting batches on the queue, and releasing work the ledger says is due.

Publishing commits the campaign first and enqueues afterwards, marking each
batch ``enqueued_at``. If the publisher dies in between, or a campaign is
scheduled for later, the batches stay un-enqueued in the database and
``release_due`` (run by the workers' periodic sweep) puts them on the queue:
a send a week away never sits in Redis as an ETA task.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import redis
from sqlalchemy import and_, or_, select, update

from publisher.broker import connect
from publisher.db.engine import Database
from publisher.db.models import OPEN_STATES, Batch, Campaign, CampaignKind, CampaignStatus, Delivery, DeliveryState, utcnow
from publisher.settings import Settings

#: Redis hash of the batches with a message on the queue (batch id → when it was put there).
QUEUED_KEY = "newsletter:queued"


@dataclass(frozen=True)
class QueuedBatch:
    batch_id: int
    priority: bool
    #: Only due if no message for it is on the queue (its open records may simply be waiting their turn).
    unless_queued: bool = False


def mark_queued(client: redis.Redis, batch_ids: list[int]) -> None:
    """Note that a message for each batch is on the queue (the task unmarks it when it starts)."""
    if batch_ids:
        now = str(time.time())
        client.hset(QUEUED_KEY, mapping=dict.fromkeys(map(str, batch_ids), now))


def unmark_queued(client: redis.Redis, batch_id: int) -> None:
    client.hdel(QUEUED_KEY, str(batch_id))


def enqueue(settings: Settings, url: str, batches: list[QueuedBatch]) -> None:
    """Send one task per batch through Celery (the message carries only the batch id)."""
    from workers.celery_app import QUEUE_PRIORITY, QUEUE_SEND, configure
    from workers.tasks import send_batch

    app = configure(settings, url)
    mark_queued(connect(url), [batch.batch_id for batch in batches])
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
        session.execute(update(Batch).where(Batch.id.in_(batch_ids)).values(enqueued_at=utcnow(), not_before=None))


def defer_batch(db: Database, batch_id: int, seconds: float) -> None:
    """Keep a long retry wait in the ledger; the sweep enqueues the batch when it is due."""
    with db.transaction() as session:
        session.execute(update(Batch).where(Batch.id == batch_id).values(not_before=utcnow() + dt.timedelta(seconds=seconds)))


def release_due(db: Database, lease: dt.timedelta, now: dt.datetime | None = None) -> list[QueuedBatch]:
    """Release due scheduled campaigns; return the batches of sending campaigns that need a task.

    That is a batch never enqueued, one whose deferred retry is due, one
    holding a record whose lease ran out (its worker died) and that was not
    enqueued again within a lease (the next claim resolves such records), or
    one with pending records enqueued more than a lease ago whose message is
    gone (a task that failed, a message lost with Redis): the caller drops
    those that still have a message on the queue.
    """
    now = now or utcnow()
    expired_lease = (
        select(Delivery.id)
        .where(Delivery.batch_id == Batch.id, Delivery.state == DeliveryState.SENDING, Delivery.lease_until < now)
        .exists()
    )
    waiting = select(Delivery.id).where(Delivery.batch_id == Batch.id, Delivery.state == DeliveryState.PENDING).exists()
    certain = or_(Batch.enqueued_at.is_(None), Batch.not_before <= now, and_(Batch.enqueued_at < now - lease, expired_lease))
    still_open = select(Delivery.id).where(Delivery.campaign_id == Campaign.id, Delivery.state.in_(OPEN_STATES)).exists()
    with db.transaction() as session:
        session.execute(
            update(Campaign)
            .where(Campaign.status == CampaignStatus.SCHEDULED, Campaign.send_at <= now)
            .values(status=CampaignStatus.SENDING, released_at=now)
        )
        # Backstop: a sending campaign with nothing open is complete.
        session.execute(
            update(Campaign)
            .where(Campaign.status == CampaignStatus.SENDING, ~still_open)
            .values(status=CampaignStatus.COMPLETE, completed_at=now)
        )
        rows = session.execute(
            # Test sends and confirmation requests go on the priority queue, so
            # a big issue never holds them back.
            select(Batch.id, or_(Campaign.is_test, Campaign.kind == CampaignKind.CONFIRMATION), certain)
            .join(Campaign, Campaign.id == Batch.campaign_id)
            .where(
                Campaign.status == CampaignStatus.SENDING,
                or_(certain, and_(Batch.enqueued_at < now - lease, Batch.not_before.is_(None), waiting)),
            )
            .order_by(Batch.id)
        ).all()
    return [QueuedBatch(batch_id=row[0], priority=bool(row[1]), unless_queued=not row[2]) for row in rows]


def dispatch_due(settings: Settings, db: Database, url: str) -> int:
    """Enqueue every batch that is due and not on the queue yet; return how many."""
    due = release_due(db, dt.timedelta(seconds=settings.lease_seconds))
    maybe = [batch for batch in due if batch.unless_queued]
    if maybe:
        on_queue = connect(url).hmget(QUEUED_KEY, [str(batch.batch_id) for batch in maybe])
        # A marker older than any message can wait (countdown + redelivery) outlived its message.
        fresh_after = time.time() - (settings.max_countdown + settings.visibility_timeout) * 2
        queued = {batch.batch_id for batch, mark in zip(maybe, on_queue, strict=True) if mark is not None and float(mark) > fresh_after}
        due = [batch for batch in due if batch.batch_id not in queued]
    if due:
        enqueue(settings, url, due)
        mark_enqueued(db, [batch.batch_id for batch in due])
    return len(due)

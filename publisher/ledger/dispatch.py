"""What the ledger says about enqueueing: which batches are due, which were enqueued, which wait.

Publishing commits the campaign first and enqueues afterwards, marking each
batch ``enqueued_at``. If the publisher dies in between, or a campaign is
scheduled for later, the batches stay un-enqueued in the database and
``release_due`` (run by the workers' periodic sweep through
``publisher.queue.dispatch_due``) finds them: a send a week away never sits
in Redis as an ETA task. The batches of a local-time send's time zone wait
for their release (``publisher.ledger.releases``) the same way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update

from publisher.core.clock import utcnow
from publisher.db.engine import Database
from publisher.db.models import (
    OPEN_STATES,
    Batch,
    Campaign,
    CampaignKind,
    CampaignRelease,
    CampaignStatus,
    Delivery,
    DeliveryState,
    ReleaseState,
)
from publisher.ledger import releases, states, subject_tests


@dataclass(frozen=True)
class QueuedBatch:
    batch_id: int
    priority: bool
    #: Only due if no message for it is on the queue (its open records may simply be waiting their turn).
    unless_queued: bool = False


def mark_enqueued(db: Database, batch_ids: list[int]) -> None:
    if not batch_ids:
        return
    with db.transaction() as session:
        session.execute(update(Batch).where(Batch.id.in_(batch_ids)).values(enqueued_at=utcnow(), not_before=None))


#: The kinds of campaign whose batches the sweep puts on the priority queue (as they were first enqueued).
PRIORITY_KINDS = (CampaignKind.CONFIRMATION, CampaignKind.WELCOME, CampaignKind.NOTICE)


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
    with db.transaction() as session:
        started = states.release_due(session, now)
        # A subject test's wait counts from when it really starts sending, however late that is.
        subject_tests.restart_waits(session, started, now)
        # The same transaction: a local-time campaign's first zone is released with the campaign.
        releases.release_due(session, now)
    complete_finished(db, now)
    return _due_batches(db, lease, now)


def complete_finished(db: Database, now: dt.datetime) -> None:
    """Backstop: complete every sending campaign with nothing open that no worker completed.

    Each is decided by ``states.complete_if_done`` under its row lock, one
    transaction per campaign, so the sweep never holds two campaign locks at
    once (a replay takes several).
    """
    still_open = select(Delivery.id).where(Delivery.campaign_id == Campaign.id, Delivery.state.in_(OPEN_STATES)).exists()
    with db.transaction() as session:
        finished = session.scalars(
            select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING, ~still_open).order_by(Campaign.id)
        ).all()
    for campaign_id in finished:
        with db.transaction() as session:
            states.complete_if_done(session, campaign_id, now)


def _due_batches(db: Database, lease: dt.timedelta, now: dt.datetime) -> list[QueuedBatch]:
    expired_lease = (
        select(Delivery.id)
        .where(Delivery.batch_id == Batch.id, Delivery.state == DeliveryState.SENDING, Delivery.lease_until < now)
        .exists()
    )
    waiting = select(Delivery.id).where(Delivery.batch_id == Batch.id, Delivery.state == DeliveryState.PENDING).exists()
    certain = or_(Batch.enqueued_at.is_(None), Batch.not_before <= now, and_(Batch.enqueued_at < now - lease, expired_lease))
    with db.transaction() as session:
        rows = session.execute(
            # Test sends, confirmation requests, welcome issues and notices go on
            # the priority queue, so a big issue never holds them back.
            select(Batch.id, or_(Campaign.is_test, Campaign.kind.in_(PRIORITY_KINDS)), certain)
            .join(Campaign, Campaign.id == Batch.campaign_id)
            .outerjoin(CampaignRelease, CampaignRelease.id == Batch.release_id)
            .where(
                Campaign.status == CampaignStatus.SENDING,
                # A batch of a time zone whose local time has not come waits for its release.
                or_(Batch.release_id.is_(None), CampaignRelease.state == ReleaseState.RELEASED),
                or_(certain, and_(Batch.enqueued_at < now - lease, Batch.not_before.is_(None), waiting)),
            )
            .order_by(Batch.id)
        ).all()
    return [QueuedBatch(batch_id=row[0], priority=bool(row[1]), unless_queued=not row[2]) for row in rows]

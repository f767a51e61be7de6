"""Ledger transitions for one batch: claim before the provider call, record after.

Each is one transaction for the whole batch (not one per recipient). A claim
moves pending records (and sending records whose lease has run out) to
``sending`` with a lease longer than any provider call, so a redelivered batch
never picks up records another worker is sending right now, and records
already sent are never claimed again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from publisher.audience.suppressions import suppress_address, suppressed_addresses
from publisher.core.clock import utcnow
from publisher.core.outcomes import SendResult
from publisher.db.engine import Database
from publisher.db.models import (
    Batch,
    Campaign,
    CampaignKind,
    CampaignRelease,
    CampaignStatus,
    Delivery,
    DeliveryState,
    ReleaseState,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from publisher.ledger import states
from publisher.ledger.result_changes import HeldRecord, RecordSummary, ResultChanges


@dataclass(frozen=True)
class CampaignSnapshot:
    id: int
    list_id: int | None
    provider: str
    is_test: bool
    subject: str
    html_template: str
    text_template: str
    nonce: str
    kind: CampaignKind = CampaignKind.ISSUE

    @property
    def has_subscriber_links(self) -> bool:
        """Whether its emails carry unsubscribe and view links: a notice to the console's people does not."""
        return self.kind is not CampaignKind.NOTICE


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    email: str
    message_id: str
    subscriber_id: int | None
    first_name: str
    last_name: str
    attributes: dict[str, str]
    attempts: int


@dataclass(frozen=True)
class Claim:
    campaign: CampaignSnapshot
    deliveries: list[ClaimedDelivery]
    #: Seconds until a record leased by another worker may be taken over.
    busy_for: float | None


def batch_provider(db: Database, batch_id: int) -> str | None:
    """The provider the batch's campaign sends through; None when the batch is gone."""
    with db.reading() as session:
        return session.scalar(select(Campaign.provider).join(Batch, Batch.campaign_id == Campaign.id).where(Batch.id == batch_id))


IN_DOUBT_REASON = "the worker was lost during the provider call: it may have been sent; see `newsletter reconcile`"


def claim_batch(db: Database, batch_id: int, lease: dt.timedelta, provider: str, *, idempotent: bool) -> Claim | None:
    """Claim the batch's open records for ``provider``; None when the campaign is not sending or the batch's release is not due.

    A record still ``sending`` after its lease belonged to a worker that died
    mid-call: the provider may or may not have accepted it. With an
    idempotent provider it is claimed again (the same idempotency key makes
    the provider answer without sending twice); otherwise it becomes
    ``in_doubt`` for the operator, never silently re-sent or dropped.
    """
    now = utcnow()
    with db.transaction() as session:
        campaign = session.scalar(
            select(Campaign)
            .join(Batch, Batch.campaign_id == Campaign.id)
            # A batch of a time zone whose local time has not come is not claimed, however it reached the queue.
            .outerjoin(CampaignRelease, CampaignRelease.id == Batch.release_id)
            .where(Batch.id == batch_id, or_(Batch.release_id.is_(None), CampaignRelease.state == ReleaseState.RELEASED))
        )
        if campaign is None or campaign.status != CampaignStatus.SENDING:
            return None
        _suppress_unsubscribed(session, batch_id, campaign)
        expired = and_(Delivery.state == DeliveryState.SENDING, Delivery.lease_until < now)
        if not idempotent:
            session.execute(
                update(Delivery)
                .where(Delivery.batch_id == batch_id, expired)
                .values(state=DeliveryState.IN_DOUBT, last_error=IN_DOUBT_REASON, lease_until=None, updated_at=now)
            )
        if idempotent:
            # Only the provider that held the claim can answer a repeated key
            # without sending twice: an expired claim of another provider
            # (say, before a failover) is in doubt.
            session.execute(
                update(Delivery)
                .where(Delivery.batch_id == batch_id, expired, Delivery.provider != provider)
                .values(state=DeliveryState.IN_DOUBT, last_error=IN_DOUBT_REASON, lease_until=None, updated_at=now)
            )
        claimable = or_(Delivery.state == DeliveryState.PENDING, expired)
        rows = session.execute(
            select(
                Delivery.id,
                Delivery.email,
                Delivery.message_id,
                Delivery.subscriber_id,
                Delivery.attempts,
                Subscriber.first_name,
                Subscriber.last_name,
                Subscriber.attributes,
            )
            .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.batch_id == batch_id, claimable)
            .order_by(Delivery.id)
            .with_for_update(of=Delivery)
        ).all()
        if rows:
            # One statement for the whole batch: the rows read above are
            # locked (SQLite's write lock, PostgreSQL's row locks) until commit.
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_([row.id for row in rows]))
                .values(
                    state=DeliveryState.SENDING, attempts=Delivery.attempts + 1, lease_until=now + lease, provider=provider, updated_at=now
                )
            )
        claimed = [
            ClaimedDelivery(
                id=row.id,
                email=row.email,
                message_id=row.message_id,
                subscriber_id=row.subscriber_id,
                first_name=row.first_name or "",
                last_name=row.last_name or "",
                attributes=dict(row.attributes or {}),
                attempts=row.attempts + 1,
            )
            for row in rows
        ]
        if not claimed:
            states.complete_if_done(session, campaign.id)
        busy_until = session.scalar(
            select(func.min(Delivery.lease_until)).where(
                Delivery.batch_id == batch_id, Delivery.state == DeliveryState.SENDING, Delivery.lease_until >= now
            )
        )
        busy_for = None if claimed or busy_until is None else max(1.0, (_aware(busy_until) - now).total_seconds())
        return Claim(campaign=_snapshot(campaign), deliveries=claimed, busy_for=busy_for)


def _suppress_unsubscribed(session: Session, batch_id: int, campaign: Campaign) -> None:
    # Someone who unsubscribed, or whose address was suppressed, after the
    # audience was frozen is skipped from the next batch on.
    pending = (Delivery.batch_id == batch_id, Delivery.state == DeliveryState.PENDING)
    session.execute(
        update(Delivery)
        .where(*pending, Delivery.email.in_(suppressed_addresses(campaign.list_id)))
        .values(state=DeliveryState.SUPPRESSED, last_error="on the suppression list", updated_at=utcnow())
    )
    if campaign.list_id is None:
        return
    # Correlated, so each of the batch's records is one index lookup, not a
    # scan of every subscription of the list per batch.
    left = (
        select(Subscription.id)
        .where(
            Subscription.list_id == campaign.list_id,
            Subscription.subscriber_id == Delivery.subscriber_id,
            Subscription.status == SubscriptionStatus.UNSUBSCRIBED,
        )
        .exists()
    )
    session.execute(
        update(Delivery)
        .where(*pending, left)
        .values(state=DeliveryState.SUPPRESSED, last_error="unsubscribed before sending", updated_at=utcnow())
    )


def record_results(
    db: Database, campaign_id: int, results: list[SendResult], max_attempts: int, *, idempotent: bool = False
) -> RecordSummary:
    """Write every result of one provider call in one transaction (a statement per kind of change, not per record)."""
    now = utcnow()
    with db.transaction() as session:
        cancelled = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id)) == CampaignStatus.CANCELLED
        # Only records still ``sending`` take a result: one whose lease ran out
        # meanwhile was taken over (or put in doubt) and is no longer ours.
        rows = session.execute(
            select(Delivery.id, Delivery.attempts, Delivery.email, Delivery.provider).where(
                Delivery.id.in_([r.delivery_id for r in results]), Delivery.state == DeliveryState.SENDING
            )
        )
        held = {row.id: HeldRecord(row.id, row.attempts, row.email, row.provider) for row in rows}
        changes = ResultChanges()
        for result in results:
            if (record := held.get(result.delivery_id)) is not None:
                changes.add(result, record, max_attempts, cancelled=cancelled, idempotent=idempotent)
        changes.write(session, now)
        for email, reason, provider in changes.to_suppress:
            suppress_address(session, email, f"provider: {reason}", f"provider:{provider}")
        states.complete_if_done(session, campaign_id)
    return changes.summary()


def renew_lease(db: Database, delivery_ids: list[int], lease: dt.timedelta) -> None:
    """Push the lease of records still being sent forward, before each provider call."""
    with db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids), Delivery.state == DeliveryState.SENDING)
            .values(lease_until=utcnow() + lease)
        )


def release_claim(db: Database, delivery_ids: list[int]) -> None:
    """Give claimed records back untouched (the call was never made); the attempt does not count."""
    with db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids), Delivery.state == DeliveryState.SENDING)
            .values(state=DeliveryState.PENDING, attempts=Delivery.attempts - 1, lease_until=None, updated_at=utcnow())
        )


def error_rate(db: Database, campaign_id: int) -> tuple[float, int]:
    """Failed share of the records finished (sent or failed) since the campaign was released or resumed.

    Counting from the last release means a resumed campaign is judged on
    what happens after the operator's fix, not paused again at once for the
    failures that paused it.
    """
    with db.reading() as session:
        since = session.scalar(select(Campaign.released_at).where(Campaign.id == campaign_id))
        query = (
            select(Delivery.state, func.count())
            .where(Delivery.campaign_id == campaign_id, Delivery.state.in_([DeliveryState.SENT, DeliveryState.FAILED]))
            .group_by(Delivery.state)
        )
        if since is not None:
            query = query.where(Delivery.updated_at >= since)
        rows = dict(session.execute(query).all())
    failed, sent = rows.get(DeliveryState.FAILED, 0), rows.get(DeliveryState.SENT, 0)
    finished = failed + sent
    return (failed / finished if finished else 0.0), finished


def pause_campaign(db: Database, campaign_id: int, reason: str) -> None:
    """Stop a sending campaign for an operator; its open records stay pending."""
    with db.transaction() as session:
        states.pause_sending(session, campaign_id, reason)


def pause_batch_campaign(db: Database, batch_id: int, reason: str) -> None:
    """Pause the campaign a batch belongs to."""
    with db.reading() as session:
        campaign_id = session.scalar(select(Batch.campaign_id).where(Batch.id == batch_id))
    if campaign_id is not None:
        pause_campaign(db, campaign_id, reason)


def _snapshot(campaign: Campaign) -> CampaignSnapshot:
    return CampaignSnapshot(
        id=campaign.id,
        list_id=campaign.list_id,
        provider=campaign.provider,
        is_test=campaign.is_test,
        subject=campaign.subject,
        html_template=campaign.html_template,
        text_template=campaign.text_template,
        nonce=campaign.placeholder_nonce,
        kind=CampaignKind(campaign.kind),
    )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

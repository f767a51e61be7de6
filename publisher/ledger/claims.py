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
from publisher.core.outcomes import Outcome, SendResult
from publisher.db.engine import Database
from publisher.db.models import (
    Batch,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Delivery,
    DeliveryState,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from publisher.ledger import states


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


@dataclass(frozen=True)
class RecordSummary:
    sent: int
    failed: int
    retrying: int
    #: Longest Retry-After a provider asked for among the retrying records.
    retry_after: float | None
    max_attempts_seen: int


def batch_provider(db: Database, batch_id: int) -> str | None:
    """The provider the batch's campaign sends through; None when the batch is gone."""
    with db.reading() as session:
        return session.scalar(select(Campaign.provider).join(Batch, Batch.campaign_id == Campaign.id).where(Batch.id == batch_id))


IN_DOUBT_REASON = "the worker was lost during the provider call: it may have been sent; see `newsletter reconcile`"


def claim_batch(db: Database, batch_id: int, lease: dt.timedelta, provider: str, *, idempotent: bool) -> Claim | None:
    """Claim the batch's open records for ``provider``; None when the campaign is not sending.

    A record still ``sending`` after its lease belonged to a worker that died
    mid-call: the provider may or may not have accepted it. With an
    idempotent provider it is claimed again (the same idempotency key makes
    the provider answer without sending twice); otherwise it becomes
    ``in_doubt`` for the operator, never silently re-sent or dropped.
    """
    now = utcnow()
    with db.transaction() as session:
        campaign = session.scalar(select(Campaign).join(Batch, Batch.campaign_id == Campaign.id).where(Batch.id == batch_id))
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
            select(Delivery, Subscriber.first_name, Subscriber.last_name, Subscriber.attributes)
            .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.batch_id == batch_id, claimable)
            .order_by(Delivery.id)
            .with_for_update(of=Delivery)
        ).all()
        claimed = []
        for delivery, first_name, last_name, attributes in rows:
            delivery.state = DeliveryState.SENDING
            delivery.attempts += 1
            delivery.lease_until = now + lease
            delivery.provider = provider
            claimed.append(
                ClaimedDelivery(
                    id=delivery.id,
                    email=delivery.email,
                    message_id=delivery.message_id,
                    subscriber_id=delivery.subscriber_id,
                    first_name=first_name or "",
                    last_name=last_name or "",
                    attributes=dict(attributes or {}),
                    attempts=delivery.attempts,
                )
            )
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
    """Write every result of one provider call in one transaction."""
    now = utcnow()
    sent = failed = retrying = 0
    retry_after: float | None = None
    max_seen = 0
    with db.transaction() as session:
        cancelled = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id)) == CampaignStatus.CANCELLED
        # Only records still ``sending`` take a result: one whose lease ran out
        # meanwhile was taken over (or put in doubt) and is no longer ours.
        by_id = {
            d.id: d
            for d in session.scalars(
                select(Delivery).where(Delivery.id.in_([r.delivery_id for r in results]), Delivery.state == DeliveryState.SENDING)
            )
        }
        for result in results:
            delivery = by_id.get(result.delivery_id)
            if delivery is None:
                continue
            max_seen = max(max_seen, delivery.attempts)
            delivery.lease_until = None
            if cancelled and result.outcome != Outcome.ACCEPTED:
                delivery.state = DeliveryState.CANCELLED
                delivery.last_error = f"campaign cancelled; last answer: {result.error}"
            elif result.maybe_sent and not idempotent:
                # Retrying could send it twice: the operator decides (newsletter reconcile).
                delivery.state = DeliveryState.IN_DOUBT
                delivery.last_error = f"{result.error}; it may have been sent: see `newsletter reconcile`"
            elif result.halt is not None:
                # Not the recipient's doing (quota, rejected credentials):
                # the attempt does not count and the record waits.
                delivery.state = DeliveryState.PENDING
                delivery.attempts = max(0, delivery.attempts - 1)
                delivery.last_error = result.error
                retrying += 1
            elif result.outcome == Outcome.ACCEPTED:
                delivery.state = DeliveryState.SENT
                delivery.provider_message_id = result.provider_message_id
                delivery.sent_at = now
                delivery.last_error = None
                sent += 1
            elif result.outcome == Outcome.PERMANENT:
                delivery.state = DeliveryState.FAILED
                delivery.last_error = result.error or "failed"
                failed += 1
                if result.suppress:
                    suppress_address(session, delivery.email, f"provider: {delivery.last_error}", f"provider:{delivery.provider}")
            elif delivery.attempts >= max_attempts:
                delivery.state = DeliveryState.FAILED
                delivery.last_error = f"{result.error or 'failed'} (gave up after {delivery.attempts} attempts)"
                delivery.dead_lettered_at = now
                failed += 1
            else:
                delivery.state = DeliveryState.PENDING
                delivery.last_error = result.error
                retrying += 1
                if result.retry_after is not None:
                    retry_after = max(retry_after or 0.0, result.retry_after)
        states.complete_if_done(session, campaign_id)
    return RecordSummary(sent=sent, failed=failed, retrying=retrying, retry_after=retry_after, max_attempts_seen=max_seen)


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

"""Operator control of campaigns: pause, resume, cancel, reconcile in-doubt records, dead letters.

Every change is one transaction on the ledger, with its audit entry when the
caller names who acts (``actor``): the entry exists exactly when the change
does. Work that must run again is
marked by clearing its batch's ``enqueued_at``; the caller then enqueues it
(``dispatch_due``) or leaves it to the workers' next sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from publisher.accounts import audit
from publisher.accounts.audit import Action
from publisher.accounts.roles import Actor
from publisher.core.clock import utcnow
from publisher.core.errors import NewsletterError, NotFoundError
from publisher.db.engine import Database
from publisher.db.models import OPEN_STATES, Batch, Campaign, CampaignStatus, Delivery, DeliveryState
from publisher.ledger import states, subject_tests
from publisher.ledger.announcements import campaign_sending
from publisher.ledger.states import Event

OPERATOR_PAUSE = "paused by an operator"


class ControlError(NewsletterError):
    """The campaign is not in a state that allows this action."""


@dataclass(frozen=True)
class DeadLetter:
    delivery_id: int
    campaign_id: int
    email: str
    attempts: int
    last_error: str | None


def _campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None:
        raise NotFoundError(f"no campaign with id {campaign_id}")
    return campaign


def _record(session: Session, actor: Actor | None, action: Action, campaign_id: int | None, detail: str = "") -> None:
    if actor is not None:
        audit.record(session, actor, action, campaign_id=campaign_id, detail=detail)


def pause(db: Database, campaign_id: int, actor: Actor | None = None) -> None:
    """Stop new provider calls for the campaign; calls already in flight finish."""
    with db.transaction() as session:
        campaign = _campaign(session, campaign_id)
        if not states.allows(campaign.status, Event.PAUSE):
            raise ControlError(f"campaign {campaign_id} is {campaign.status.value}: only a sending or scheduled campaign can be paused")
        states.pause(campaign, OPERATOR_PAUSE)
        _record(session, actor, Action.PAUSED, campaign_id)


def resume(db: Database, campaign_id: int, actor: Actor | None = None) -> None:
    """Continue a paused campaign: its batches with open records are enqueued again."""
    with db.transaction() as session:
        campaign = _campaign(session, campaign_id)
        if not states.allows(campaign.status, Event.RESUME):
            raise ControlError(f"campaign {campaign_id} is {campaign.status.value}, not paused")
        never_released = campaign.released_at is None
        now = utcnow()
        states.resume(campaign, now)
        if campaign.status is CampaignStatus.SENDING:
            # A pause restarts a subject test's wait: its recipients get a full wait of sending time before the decision.
            subject_tests.restart_waits(session, [campaign_id], now)
        if never_released and campaign.status is CampaignStatus.SENDING:
            # Scheduled, paused, and resumed after its send_at: it starts sending here, not in the sweep's release.
            campaign_sending(session, campaign_id)
        _requeue_open_batches(session, campaign_id)
        # Its last batches may have finished while it was paused.
        states.complete_if_done(session, campaign_id)
        _record(session, actor, Action.RESUMED, campaign_id)


def cancel(db: Database, campaign_id: int, actor: Actor | None = None) -> int:
    """Cancel every record not sent yet; return how many. Calls in flight still finish."""
    with db.transaction() as session:
        campaign = _campaign(session, campaign_id)
        if campaign.status is CampaignStatus.DRAFT:
            raise ControlError(f"campaign {campaign_id} is a draft: nothing of it was sent, so there is nothing to cancel")
        if not states.allows(campaign.status, Event.CANCEL):
            raise ControlError(f"campaign {campaign_id} is already {campaign.status.value}")
        states.cancel(campaign)
        result = session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.PENDING)
            .values(state=DeliveryState.CANCELLED, last_error="cancelled by an operator", updated_at=utcnow())
        )
        count = int(getattr(result, "rowcount", 0) or 0)
        _record(session, actor, Action.CANCELLED, campaign_id, f"{count} record(s) not sent")
        return count


def reconcile(db: Database, campaign_id: int, *, resend: bool, actor: Actor | None = None) -> int:
    """Settle the campaign's in-doubt records: send them again, or accept them as sent."""
    with db.transaction() as session:
        campaign = _campaign(session, campaign_id)
        in_doubt = (Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.IN_DOUBT)
        values: dict[str, object]
        if resend:
            values = {"state": DeliveryState.PENDING, "last_error": "in doubt: sent again by an operator"}
        else:
            values = {"state": DeliveryState.SENT, "last_error": "in doubt: marked sent by an operator", "sent_at": utcnow()}
        count = int(getattr(session.execute(update(Delivery).where(*in_doubt).values(**values, updated_at=utcnow())), "rowcount", 0) or 0)
        if campaign.status == CampaignStatus.CANCELLED and resend:
            raise ControlError(f"campaign {campaign_id} is cancelled: mark its in-doubt records sent, or leave them")
        if resend and count:
            states.reopen(campaign)
            _requeue_open_batches(session, campaign_id)
        states.complete_if_done(session, campaign_id)
        if count:
            verdict = "sent again" if resend else "marked sent"
            _record(session, actor, Action.RECONCILED, campaign_id, f"{count} in-doubt record(s) {verdict}")
        return count


def dead_letters(db: Database, campaign_id: int | None = None, limit: int = 200) -> tuple[list[DeadLetter], int]:
    """Records that failed after exhausting their retries (up to ``limit``), and how many there are."""
    with db.transaction() as session:
        query = select(Delivery).where(Delivery.dead_lettered_at.is_not(None))
        if campaign_id is not None:
            query = query.where(Delivery.campaign_id == campaign_id)
        total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = session.scalars(query.order_by(Delivery.id).limit(limit)).all()
        return [DeadLetter(d.id, d.campaign_id, d.email, d.attempts, d.last_error) for d in rows], total


def replay(db: Database, campaign_id: int | None = None, actor: Actor | None = None) -> int:
    """Put dead-lettered records back to pending with fresh attempts; return how many."""
    with db.transaction() as session:
        query = select(Delivery).where(Delivery.dead_lettered_at.is_not(None)).with_for_update()
        if campaign_id is not None:
            query = query.where(Delivery.campaign_id == campaign_id)
        records = session.scalars(query).all()
        campaign_ids = {record.campaign_id for record in records}
        for record in records:
            record.state = DeliveryState.PENDING
            record.attempts = 0
            record.dead_lettered_at = None
            record.last_error = f"replayed from the dead-letter list after: {record.last_error}"[:1000]
        # In id order, so two replays never wait on each other's campaign locks.
        for cid in sorted(campaign_ids):
            campaign = _campaign(session, cid)
            if campaign.status == CampaignStatus.CANCELLED:
                raise ControlError(f"campaign {cid} is cancelled: its dead letters cannot be replayed")
            states.reopen(campaign)
            _requeue_open_batches(session, cid)
        if records:
            _record(session, actor, Action.REPLAYED, campaign_id, f"{len(records)} dead-lettered record(s) replayed")
        return len(records)


def _requeue_open_batches(session: Session, campaign_id: int) -> None:
    open_batches = select(Delivery.batch_id).where(Delivery.campaign_id == campaign_id, Delivery.state.in_(OPEN_STATES)).distinct()
    session.execute(update(Batch).where(Batch.id.in_(open_batches)).values(enqueued_at=None, not_before=None))

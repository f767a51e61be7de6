"""The double opt-in email as a campaign: one recipient, one batch, one ledger record.

It is written in the caller's transaction and enqueued after the commit, as
``publish`` does, so the worker sends it through the normal provider with
the ledger, retries and suppression checks of any issue. If the enqueue
fails, the batch stays un-enqueued in the ledger and the workers' sweep
sends it. Its kind is ``confirmation``: the archive, the view page and the
audience of later issues only ever look at ``issue`` campaigns.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from kombu.exceptions import OperationalError
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from publisher.broker import redis_url
from publisher.campaigns import message_domain, new_message_id
from publisher.db.engine import Database
from publisher.db.models import Batch, Campaign, CampaignKind, CampaignStatus, Delivery, MailingList, Subscriber, utcnow
from publisher.dispatch import QueuedBatch, enqueue, mark_enqueued
from publisher.settings import Settings
from workers.rendering.confirmation import ConfirmationFrame, render_confirmation

log = logging.getLogger(__name__)

TITLE_LIMIT = 500


@dataclass(frozen=True)
class ConfirmationEmail:
    """What ``write_confirmation`` stored for one sign-up request."""

    #: The campaign of this one email: its confirm link names it, so the link tells which request it answers.
    campaign_id: int
    #: The batch to enqueue after the commit.
    batch_id: int


def write_confirmation(session: Session, settings: Settings, mailing_list: MailingList, subscriber: Subscriber) -> ConfirmationEmail:
    """Store a confirmation campaign for one pending subscriber (enqueue its batch after the commit)."""
    frame = ConfirmationFrame(list_name=mailing_list.name, description=mailing_list.description, postal_address=settings.postal_address)
    rendered = render_confirmation(frame)
    now = utcnow()
    campaign = Campaign(
        list_id=mailing_list.id,
        status=CampaignStatus.SENDING,
        kind=CampaignKind.CONFIRMATION,
        provider=settings.provider,
        is_test=False,
        title=frame.title[:TITLE_LIMIT],
        subject=frame.title[:TITLE_LIMIT],
        source=f"confirmation:{mailing_list.name}",
        content_digest=hashlib.sha256(rendered.html.encode()).hexdigest(),
        html_template=rendered.html,
        text_template=rendered.text,
        placeholder_nonce=rendered.nonce,
        released_at=now,
    )
    session.add(campaign)
    session.flush()
    batch = Batch(campaign_id=campaign.id, seq=0, created_at=now)
    session.add(batch)
    session.flush()
    session.add(
        Delivery(
            campaign_id=campaign.id,
            batch_id=batch.id,
            subscriber_id=subscriber.id,
            email=subscriber.email,
            message_id=new_message_id(message_domain(settings)),
        )
    )
    session.flush()
    return ConfirmationEmail(campaign.id, batch.id)


def enqueue_confirmation(settings: Settings, db: Database, batch_id: int) -> None:
    """Put the confirmation on the priority queue; on a broker failure leave it to the sweep."""
    try:
        enqueue(settings, redis_url(settings, start=False), [QueuedBatch(batch_id, priority=True)])
    except (OperationalError, RedisError, OSError):
        log.warning("confirmation batch %s could not be enqueued; the workers' sweep sends it", batch_id, exc_info=True)
        return
    mark_enqueued(db, [batch_id])

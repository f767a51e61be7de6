"""The double opt-in email as a campaign: one recipient, one batch, one ledger record.

It is written in the caller's transaction and enqueued after the commit
(``publisher.queue.enqueue_confirmation``), as ``publish`` does, so the worker sends it through the normal provider with
the ledger, retries and suppression checks of any issue. If the enqueue
fails, the batch stays un-enqueued in the ledger and the workers' sweep
sends it. Its kind is ``confirmation``: the archive, the view page and the
audience of later issues only ever look at ``issue`` campaigns.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from publisher.audience.signup import ConfirmationEmail
from publisher.content.rendering.confirmation import ConfirmationFrame, render_confirmation
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.models import Batch, Campaign, CampaignKind, Delivery, MailingList, Subscriber
from publisher.ledger.campaigns import message_domain, new_message_id
from publisher.ledger.states import initial_status

TITLE_LIMIT = 500


def write_confirmation(session: Session, settings: Settings, mailing_list: MailingList, subscriber: Subscriber) -> ConfirmationEmail:
    """Store a confirmation campaign for one pending subscriber (enqueue its batch after the commit)."""
    frame = ConfirmationFrame(
        list_name=mailing_list.name, description=mailing_list.description, postal_address=settings.postal_address, brand=settings.brand
    )
    rendered = render_confirmation(frame)
    now = utcnow()
    campaign = Campaign(
        list_id=mailing_list.id,
        status=initial_status(scheduled=False),
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

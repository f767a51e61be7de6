"""The double opt-in email as a campaign: one recipient, one batch, one ledger record.

It is written in the caller's transaction and enqueued after the commit
(``publisher.queue.enqueue_confirmation``), as ``publish`` does, so the worker sends it through the normal provider with
the ledger, retries and suppression checks of any issue. If the enqueue
fails, the batch stays un-enqueued in the ledger and the workers' sweep
sends it. Its kind is ``confirmation``: the archive, the view page and the
audience of later issues only ever look at ``issue`` campaigns.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from publisher.audience.signup import ConfirmationEmail
from publisher.content.rendering.confirmation import ConfirmationFrame, render_confirmation
from publisher.core.settings import Settings
from publisher.db.models import CampaignKind, MailingList, Subscriber
from publisher.ledger.one_batch import write_one_batch


def write_confirmation(session: Session, settings: Settings, mailing_list: MailingList, subscriber: Subscriber) -> ConfirmationEmail:
    """Store a confirmation campaign for one pending subscriber (enqueue its batch after the commit)."""
    frame = ConfirmationFrame(
        list_name=mailing_list.name, description=mailing_list.description, postal_address=settings.postal_address, brand=settings.brand
    )
    campaign_id, batch_id = write_one_batch(
        session,
        settings,
        render_confirmation(frame),
        [(subscriber.id, subscriber.email)],
        kind=CampaignKind.CONFIRMATION,
        title=frame.title,
        source=f"confirmation:{mailing_list.name}",
        list_id=mailing_list.id,
    )
    return ConfirmationEmail(campaign_id, batch_id)

"""A campaign of one batch, released at once: how an email that is not an issue (a confirmation, a notice) is stored.

The caller renders it (stage 1) and says to whom it goes; this writes the
campaign, its batch and one ledger record per recipient in the caller's
transaction. The workers' sweep (or the caller, after the commit) enqueues
the batch, and the workers send it like any issue: exactly once per person,
with the ledger, retries and suppression checks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy.orm import Session

from publisher.content.rendering.issue import RenderedIssue
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.models import Batch, Campaign, CampaignKind, Delivery
from publisher.ledger.campaigns import message_domain, new_message_id
from publisher.ledger.states import initial_status

TITLE_LIMIT = 500


def write_one_batch(
    session: Session,
    settings: Settings,
    rendered: RenderedIssue,
    recipients: Sequence[tuple[int | None, str]],
    *,
    kind: CampaignKind,
    title: str,
    source: str,
    list_id: int | None = None,
    created_by: str | None = None,
) -> tuple[int, int]:
    """Store the campaign, its batch and a ledger record per (subscriber id, address); return the campaign's and the batch's ids."""
    now = utcnow()
    campaign = Campaign(
        list_id=list_id,
        status=initial_status(scheduled=False),
        kind=kind,
        provider=settings.provider,
        is_test=False,
        title=title[:TITLE_LIMIT],
        subject=title[:TITLE_LIMIT],
        source=source,
        content_digest=hashlib.sha256(rendered.html.encode()).hexdigest(),
        html_template=rendered.html,
        text_template=rendered.text,
        placeholder_nonce=rendered.nonce,
        created_by=created_by,
        released_at=now,
    )
    session.add(campaign)
    session.flush()
    batch = Batch(campaign_id=campaign.id, seq=0, created_at=now)
    session.add(batch)
    session.flush()
    domain = message_domain(settings)
    session.add_all(
        Delivery(campaign_id=campaign.id, batch_id=batch.id, subscriber_id=subscriber_id, email=email, message_id=new_message_id(domain))
        for subscriber_id, email in recipients
    )
    session.flush()
    return campaign.id, batch.id

"""A notice to the console's people as a campaign: one batch, one ledger record per person.

Written in the caller's transaction, with whatever it announces, so the
notice exists exactly when that does; the workers' sweep enqueues its batch
(on the priority queue), and the workers send it through the normal provider,
with the ledger, retries and suppression checks of any email: exactly once
per person, whatever crashes. Its kind is ``notice``: it belongs to no list,
carries no unsubscribe link, and the archive, the view page and the audience
of later issues never look at it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy.orm import Session

from publisher.content.rendering.layout import RenderedIssue
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.models import Batch, Campaign, CampaignKind, Delivery
from publisher.ledger.campaigns import message_domain, new_message_id
from publisher.ledger.states import initial_status

TITLE_LIMIT = 500


def write_notice(
    session: Session, settings: Settings, title: str, rendered: RenderedIssue, recipients: Sequence[str], created_by: str
) -> int | None:
    """Store a notice to ``recipients`` (each once) and return its campaign id; None, and nothing written, for nobody."""
    addresses = list(dict.fromkeys(recipients))
    if not addresses:
        return None
    now = utcnow()
    campaign = Campaign(
        list_id=None,
        status=initial_status(scheduled=False),
        kind=CampaignKind.NOTICE,
        provider=settings.provider,
        is_test=False,
        title=title[:TITLE_LIMIT],
        subject=title[:TITLE_LIMIT],
        source="notice",
        content_digest=hashlib.sha256(rendered.html.encode()).hexdigest(),
        html_template=rendered.html,
        text_template=rendered.text,
        placeholder_nonce=rendered.nonce,
        created_by=created_by[:400],
        released_at=now,
    )
    session.add(campaign)
    session.flush()
    batch = Batch(campaign_id=campaign.id, seq=0, created_at=now)
    session.add(batch)
    session.flush()
    domain = message_domain(settings)
    session.add_all(
        Delivery(campaign_id=campaign.id, batch_id=batch.id, subscriber_id=None, email=address, message_id=new_message_id(domain))
        for address in addresses
    )
    session.flush()
    return campaign.id

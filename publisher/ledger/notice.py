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

from collections.abc import Sequence

from sqlalchemy.orm import Session

from publisher.content.rendering.issue import RenderedIssue
from publisher.core.settings import Settings
from publisher.db.models import CampaignKind
from publisher.ledger.one_batch import write_one_batch


def write_notice(
    session: Session, settings: Settings, title: str, rendered: RenderedIssue, recipients: Sequence[str], created_by: str
) -> int | None:
    """Store a notice to ``recipients`` (each once) and return its campaign id; None, and nothing written, for nobody."""
    addresses = list(dict.fromkeys(recipients))
    if not addresses:
        return None
    campaign_id, _batch_id = write_one_batch(
        session,
        settings,
        rendered,
        [(None, address) for address in addresses],
        kind=CampaignKind.NOTICE,
        title=title,
        source="notice",
        created_by=created_by[:400],
    )
    return campaign_id

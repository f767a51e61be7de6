"""A sender's approval of a draft the sweep sends by itself (an event's recap under the rule ``auto``).

Approving records who and when, under the campaign's row lock, with an
audit entry; the draft is then sent by the workers' sweep once its
``auto_send_at`` has come (``publisher.sending.send_due_approved``), never
by an ETA message in Redis. Editing the draft withdraws the approval
(``publisher.ledger.drafts.update_draft``), and so does an automatic send
the ledger refuses (nobody in the audience, say): the reason is kept with the
draft, and approving it again tries again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from publisher.accounts import audit
from publisher.accounts.audit import Action
from publisher.accounts.roles import Actor
from publisher.content.drafting import read_draft
from publisher.core.clock import utcnow
from publisher.core.errors import NewsletterError, NotFoundError
from publisher.db.engine import Database
from publisher.db.models import MAX_ID, Campaign, CampaignStatus
from publisher.ledger.drafts import DraftConflict, LintRefused, require_draft


class NothingToApprove(DraftConflict):
    """The campaign is not a draft the sweep sends by itself: there is nothing an approval would do."""


class EmptyDraft(NewsletterError):
    """The draft has no body yet: nothing a sender could approve."""


@dataclass(frozen=True)
class Approval:
    campaign_id: int
    approved_by: str
    approved_at: dt.datetime
    auto_send_at: dt.datetime
    #: False when it was approved already (by anyone): nothing changed.
    new: bool


def approve(db: Database, campaign_id: int, actor: Actor, now: dt.datetime | None = None) -> Approval:
    """Approve a draft for its automatic send; approving it again changes nothing.

    Refused: a campaign that is not a draft, or not sent automatically
    (``NothingToApprove``, a DraftConflict), a draft without a body
    (``EmptyDraft``), and one with lint errors (``LintRefused``), which the
    sweep could not send.
    """
    now = now or utcnow()
    if not 1 <= campaign_id <= MAX_ID:  # no row has it, and the database could not even compare it
        raise NotFoundError(f"no campaign with id {campaign_id}")
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id, with_for_update=True)
        if campaign is None or campaign.is_test:
            raise NotFoundError(f"no campaign with id {campaign_id}")
        require_draft(campaign.id, campaign.status, "approved")
        if campaign.auto_send_at is None:
            raise NothingToApprove(f"campaign {campaign_id} is not sent automatically: nothing waits for an approval; send it instead")
        if campaign.approved_at is not None and campaign.approved_by is not None:
            return Approval(campaign.id, campaign.approved_by, campaign.approved_at, campaign.auto_send_at, new=False)
        if not read_draft(campaign.recap_text or "", f"campaign {campaign_id}").body.strip():
            raise EmptyDraft(f"campaign {campaign_id} has no body yet: write or import the recap, then approve it")
        errors = [finding for finding in (campaign.lint or {}).get("findings", []) if finding.get("severity") == "error"]
        if errors:
            raise LintRefused(campaign.id, errors)
        campaign.approved_by, campaign.approved_at, campaign.pause_reason = actor.label[:400], now, None
        when = campaign.auto_send_at
        detail = f"sent automatically at {when.isoformat()}" if when > now else f"due since {when.isoformat()}: sent at the next sweep"
        audit.record(session, actor, Action.APPROVED, campaign_id=campaign.id, detail=detail)
        return Approval(campaign.id, campaign.approved_by, now, when, new=True)


def refuse_automatic_send(db: Database, campaign_id: int, actor: Actor, reason: str) -> None:
    """The automatic send was refused: withdraw the approval and keep why, so the draft waits for a new one."""
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id, with_for_update=True)
        if campaign is None or campaign.status is not CampaignStatus.DRAFT or campaign.approved_at is None:
            return
        campaign.approved_by = campaign.approved_at = None
        campaign.pause_reason = reason[:500]
        audit.record(session, actor, Action.APPROVAL_WITHDRAWN, campaign_id=campaign_id, detail=f"automatic send refused: {reason}")

"""Drafts: campaigns being written, with no audience until they are sent, once.

A draft keeps its recap text and the lint report of that text. Sending it
freezes its audience exactly as ``publisher.ledger.campaigns`` does for
``newsletter publish``, in the same transaction as the change of status and
under the campaign's row lock, so two people sending the same draft at once
send it once: the second finds it sent already.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.accounts import audit
from publisher.accounts.audit import Action
from publisher.accounts.roles import Actor
from publisher.audience.lists import find_list
from publisher.content.drafting import read_draft
from publisher.content.lint.report import LintReport
from publisher.content.recap import Recap
from publisher.content.rendering.layout import IssueFrame, issue_frame, render_issue
from publisher.core.clock import utcnow
from publisher.core.errors import NewsletterError, NotFoundError
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import MAX_ID, Campaign, CampaignStatus, MailingList
from publisher.ledger import states, subject_tests
from publisher.ledger.announcements import campaign_sending
from publisher.ledger.campaigns import (
    CampaignPlan,
    CreatedCampaign,
    audience_batches,
    create_campaign,
    has_audience,
    message_domain,
    registered_for,
    store_issue,
    with_tracking,
    write_batches,
    write_local_time,
    write_subject_test,
)
from publisher.ledger.subject_tests import SubjectTest


class DraftConflict(NewsletterError):
    """The campaign is not a draft (any more): it cannot be edited or sent again."""


class NotApproved(DraftConflict):
    """An automatic send found the draft without a sender's approval, or not due yet."""


class RecapListTaken(DraftConflict):
    """The list asked for is another audience of the same event, which has its own recap draft already."""


class LintRefused(NewsletterError):
    """The draft has lint errors and sending was not forced."""

    def __init__(self, campaign_id: int, findings: list[dict[str, str]]) -> None:
        super().__init__(
            f"campaign {campaign_id} has {len(findings)} lint error(s): fix them, or send with --force "
            + "; ".join(f"{f['check']}: {f['message']}" for f in findings[:5])
        )
        self.findings = findings


@dataclass(frozen=True)
class DraftContent:
    """What a draft holds: its recap, as read and as written, and where it goes."""

    recap: Recap
    recap_text: str
    list_name: str
    provider: str
    lint: LintReport


@dataclass(frozen=True)
class Draft:
    id: int
    status: CampaignStatus
    list_name: str | None
    provider: str
    #: None for a test copy, or a file published before ``publish`` kept the recap too.
    recap_text: str | None
    lint: dict[str, Any]
    created_by: str | None
    #: When the sweep sends it once approved (an event's recap under the rule auto); None for a draft sent by hand.
    auto_send_at: dt.datetime | None = None
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    #: Why its automatic send did not happen (it waits for a new approval).
    hold_reason: str | None = None
    #: The event whose recap it is.
    recap_event_id: int | None = None

    @property
    def recap(self) -> Recap:
        if self.recap_text is None:
            raise NotFoundError(f"campaign {self.id} has no stored recap")
        return read_draft(self.recap_text, f"campaign {self.id}")


def _campaign(session: Session, campaign_id: int, *, lock: bool = False) -> Campaign:
    """The campaign (not a test send), or NotFoundError."""
    # An id past the column's range would overflow the query's parameter: it names no campaign.
    campaign = session.get(Campaign, campaign_id, with_for_update=lock) if 0 < campaign_id <= MAX_ID else None
    if campaign is None or campaign.is_test:
        raise NotFoundError(f"no campaign with id {campaign_id}")
    return campaign


def _locked(session: Session, campaign_id: int) -> Campaign:
    return _campaign(session, campaign_id, lock=True)


def _frame(settings: Settings, mailing_list: MailingList, campaign_id: int) -> IssueFrame:
    return issue_frame(settings, mailing_list.name, campaign_id, registered_for(mailing_list))


def create_draft(settings: Settings, db: Database, content: DraftContent, actor: Actor, test: SubjectTest | None = None) -> int:
    """Store a new draft (its list must exist), with the subject test it is to carry if any; return its id."""
    with db.transaction() as session:
        return add_draft(session, settings, content, actor, test)


def add_draft(session: Session, settings: Settings, content: DraftContent, actor: Actor, test: SubjectTest | None = None) -> int:
    """``create_draft`` in the caller's transaction."""
    mailing_list = find_list(session, content.list_name)
    campaign = Campaign(
        list_id=mailing_list.id,
        status=states.initial_status(scheduled=False, draft=True),
        provider=content.provider,
        title=content.recap.meta.title[:500],
        subject=content.recap.meta.email_subject[:500],
        source="draft",
        content_digest=content.recap.digest,
        html_template="",
        text_template="",
        placeholder_nonce="",
        recap_text=content.recap_text,
        lint=content.lint.as_dict(),
        created_by=actor.label[:400],
        updated_at=utcnow(),
    )
    subject_tests.configure(campaign, test)
    session.add(campaign)
    session.flush()
    # Rendered once the draft has its id: it links to its own next-event calendar, which works once it is sent.
    store_issue(campaign, render_issue(content.recap, _frame(settings, mailing_list, campaign.id)))
    audit.record(session, actor, Action.CREATED, campaign_id=campaign.id, target=mailing_list.name)
    return campaign.id


def update_draft(settings: Settings, db: Database, campaign_id: int, content: DraftContent, actor: Actor) -> None:
    """Replace a draft's content, list and provider; a campaign sent already is a DraftConflict."""
    with db.transaction() as session:
        campaign = _locked(session, campaign_id)
        _require_draft(campaign, "edited")
        mailing_list = find_list(session, content.list_name)
        _require_free_recap_list(session, campaign, mailing_list)
        store_issue(campaign, render_issue(content.recap, _frame(settings, mailing_list, campaign.id)))
        campaign.list_id = mailing_list.id
        campaign.provider = content.provider
        campaign.title = content.recap.meta.title[:500]
        campaign.subject = content.recap.meta.email_subject[:500]
        campaign.content_digest = content.recap.digest
        campaign.recap_text = content.recap_text
        campaign.lint = content.lint.as_dict()
        campaign.updated_at = utcnow()
        audit.record(session, actor, Action.EDITED, campaign_id=campaign_id, target=mailing_list.name)
        if campaign.approved_at is not None:
            # The approval was for the content as it was: what goes out automatically must be what a sender saw.
            campaign.approved_by = campaign.approved_at = None
            detail = "edited after it was approved: approve it again for it to be sent automatically"
            audit.record(session, actor, Action.APPROVAL_WITHDRAWN, campaign_id=campaign_id, target=mailing_list.name, detail=detail)


def load_draft(db: Database, campaign_id: int) -> Draft:
    """A campaign with its recap text (any status: a sent draft is still read)."""
    with db.transaction() as session:
        campaign = _campaign(session, campaign_id)
        return Draft(
            id=campaign.id,
            status=campaign.status,
            list_name=campaign.mailing_list.name if campaign.mailing_list else None,
            provider=campaign.provider,
            recap_text=campaign.recap_text,
            lint=campaign.lint or {},
            created_by=campaign.created_by,
            auto_send_at=campaign.auto_send_at,
            approved_by=campaign.approved_by,
            approved_at=campaign.approved_at,
            hold_reason=campaign.pause_reason if campaign.status is CampaignStatus.DRAFT else None,
            recap_event_id=campaign.recap_event_id,
        )


class DraftsTest(enum.Enum):
    """A send order that leaves the draft's subject test as it is (the one it carries, or none)."""

    KEEP = "keep"


@dataclass(frozen=True)
class SendOrder:
    campaign_id: int
    #: Recipients per batch; None until ``publisher.sending`` sets the provider's (``Settings.batch_size_for``).
    batch_size: int | None = None
    send_at: dt.datetime | None = None
    #: Send at this local time (naive) in each recipient's time zone instead of at ``send_at``.
    local_time: dt.datetime | None = None
    force: bool = False
    #: Sent by the workers' sweep: only an approved draft whose ``auto_send_at`` has come.
    automatic: bool = False
    #: The subject test it is sent with: the draft's own (KEEP), or this one instead (None: none); checked
    #: again against the draft's subject in the send's transaction, so a test and its send are one change.
    subject_test: SubjectTest | DraftsTest | None = DraftsTest.KEEP


def send_draft(settings: Settings, db: Database, order: SendOrder, actor: Actor) -> CreatedCampaign:
    """Freeze the draft's audience and make it scheduled or sending; the caller enqueues the batches."""
    if order.batch_size is None:
        raise ValueError("a send order needs its batch size: publisher.sending sets the provider's")
    with db.transaction() as session:
        campaign = _locked(session, order.campaign_id)
        _require_draft(campaign, "sent")
        if order.automatic:
            _require_due_approval(campaign)
        errors = [finding for finding in (campaign.lint or {}).get("findings", []) if finding.get("severity") == "error"]
        if errors and not order.force:
            raise LintRefused(campaign.id, errors)
        mailing_list = session.get(MailingList, campaign.list_id) if campaign.list_id is not None else None
        if mailing_list is None or not has_audience(session, mailing_list):
            name = mailing_list.name if mailing_list else "?"
            raise NotFoundError(f"list '{name}' has no confirmed subscribers: nothing to send")
        # Rendered again: the postal address or the list may have changed since the draft was saved.
        issue = render_issue(read_draft(campaign.recap_text or "", f"campaign {campaign.id}"), _frame(settings, mailing_list, campaign.id))
        store_issue(campaign, with_tracking(settings, campaign, mailing_list, issue))
        if not isinstance(order.subject_test, DraftsTest):
            subject_tests.configure(campaign, _checked(campaign.subject, order.subject_test))
        tested = subject_tests.set_up(campaign) is not None
        if tested and order.local_time is not None:
            raise NewsletterError(f"campaign {campaign.id} carries a subject test, which goes at one time: not at a local time")
        if order.local_time is not None:
            # Announces campaign.sending itself when some zone goes at once.
            created = write_local_time(session, campaign, mailing_list, order.local_time, (order.batch_size, message_domain(settings)))
            when = f", at {order.local_time.isoformat()} local time"
        else:
            scheduled = order.send_at is not None and order.send_at > utcnow()
            campaign.send_at = order.send_at
            states.send(campaign, scheduled=scheduled)
            if tested:
                created = write_subject_test(session, settings, campaign, mailing_list, order.batch_size, scheduled=scheduled)
            else:
                batch_ids, recipients = write_batches(
                    session, campaign.id, audience_batches(session, mailing_list, order.batch_size), message_domain(settings)
                )
                created = CreatedCampaign(id=campaign.id, recipients=recipients, batch_ids=batch_ids, scheduled=scheduled, is_test=False)
            if not scheduled:
                campaign_sending(session, campaign.id)
            when = f", at {order.send_at.isoformat()}" if scheduled and order.send_at else ""
        action = Action.SENT if created.sent_now else Action.SCHEDULED
        detail = f"{created.recipients} recipient(s){when}"
        audit.record(
            session, actor, action, campaign_id=campaign.id, target=mailing_list.name, detail=detail + (", forced" if errors else "")
        )
        return created


def _checked(subject: str, test: SubjectTest | None) -> SubjectTest | None:
    """The test as set up against the subject the draft has now (variant 1); SubjectTestError naming what is wrong."""
    if test is None:
        return None
    return subject_tests.subject_test(subject, test.variants, share=test.share, wait=test.wait, metric=test.metric)


def send_test(
    settings: Settings, db: Database, campaign_id: int, addresses: tuple[str, ...], batch_size: int, actor: Actor
) -> CreatedCampaign:
    """Send test copies of a campaign's content to ``addresses``; the workers put "[TEST]" before the subject of every test send."""
    draft = load_draft(db, campaign_id)
    plan = CampaignPlan(
        recap=draft.recap,
        list_name=draft.list_name,
        provider=draft.provider,
        batch_size=batch_size,
        test_to=addresses,
        created_by=actor.label,
        calendar_of=campaign_id,
    )
    created = create_campaign(settings, db, plan)
    audit.log(db, actor, Action.TEST_SENT, campaign_id=campaign_id, target=", ".join(addresses)[:400], detail=f"test campaign {created.id}")
    return created


def require_draft(campaign_id: int, status: CampaignStatus, verb: str) -> None:
    """Raise DraftConflict unless the campaign is still a draft."""
    if status is not CampaignStatus.DRAFT:
        raise DraftConflict(f"campaign {campaign_id} is {status.value}: it was sent already and cannot be {verb} again")


def _require_draft(campaign: Campaign, verb: str) -> None:
    require_draft(campaign.id, campaign.status, verb)


def _require_free_recap_list(session: Session, campaign: Campaign, mailing_list: MailingList) -> None:
    """An event has one recap draft per list: moving one onto the list of its twin is refused, not a broken constraint.

    A recap draft may go to any other list and stays the event's recap (the
    mark that its recap was made), so moving it back is allowed too.
    """
    if campaign.recap_event_id is None or mailing_list.id == campaign.list_id:
        return
    twin = session.scalar(
        select(Campaign.id).where(
            Campaign.recap_event_id == campaign.recap_event_id, Campaign.list_id == mailing_list.id, Campaign.id != campaign.id
        )
    )
    if twin is not None:
        raise RecapListTaken(
            f"campaign {twin} is already the recap of this event for {mailing_list.name}: "
            f"choose another list for campaign {campaign.id}, or edit campaign {twin}"
        )


def _require_due_approval(campaign: Campaign) -> None:
    # Checked under the row lock: an edit that withdrew the approval a moment ago wins.
    if campaign.approved_at is None:
        raise NotApproved(f"campaign {campaign.id} is not approved: it waits for a sender's approval")
    if campaign.auto_send_at is None or campaign.auto_send_at > utcnow():
        raise NotApproved(f"campaign {campaign.id} is not due to be sent automatically yet")

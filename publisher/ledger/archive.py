"""Which issues are public: the web archive and its RSS feed show exactly these.

An issue is archived when its list is public, it is a real issue (not a test
send, not a confirmation request) and it has gone out: released, and sending
or complete. Paused, cancelled and scheduled campaigns stay out.

A campaign sent at a local time (``publisher.ledger.releases``) goes out zone
by zone over up to a day: it is archived once its last zone is released, and
dated then, so the archive never shows an issue to readers of a zone that
has not had it yet. A subject test's issue is archived once its winner is
decided (its remainder released), with the winning subject.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session

from publisher.db.models import MAX_ID, Campaign, CampaignKind, CampaignRelease, CampaignStatus, MailingList, ReleaseState
from publisher.ledger.subject_tests import winning_subject

ARCHIVED_STATUSES = (CampaignStatus.SENDING, CampaignStatus.COMPLETE)


@dataclass(frozen=True)
class ArchivedIssue:
    id: int
    title: str
    #: The subject everyone outside a subject test's share was sent: the winner's.
    subject: str
    list_name: str
    published_at: dt.datetime


def _archived() -> ColumnElement[bool]:
    return and_(
        MailingList.public.is_(True),
        Campaign.kind == CampaignKind.ISSUE,
        Campaign.is_test.is_(False),
        # A resend is the same issue again: the archive has it once, as first sent.
        Campaign.resend_of.is_(None),
        Campaign.released_at.is_not(None),
        Campaign.status.in_(ARCHIVED_STATUSES),
        ~exists().where(CampaignRelease.campaign_id == Campaign.id, CampaignRelease.state == ReleaseState.PENDING),
    )


def _published_at() -> ColumnElement[dt.datetime | None]:
    """When the issue went out to everyone: its last zone's release for a local-time send, else its own release."""
    last_zone = select(func.max(CampaignRelease.released_at)).where(CampaignRelease.campaign_id == Campaign.id).scalar_subquery()
    return func.coalesce(last_zone, Campaign.released_at)


def archived_issues(session: Session, limit: int | None = None) -> list[ArchivedIssue]:
    """The archived issues, newest first (only the columns a listing needs, not the HTML)."""
    published_at = _published_at().label("published_at")
    query = (
        select(Campaign.id, Campaign.title, Campaign.subject, Campaign.subject_variants, Campaign.ab_winner, MailingList.name, published_at)
        .join(MailingList, MailingList.id == Campaign.list_id)
        .where(_archived())
        .order_by(published_at.desc(), Campaign.id.desc())
        .limit(limit)
    )
    issues = []
    for campaign_id, title, subject, variants, winner, list_name, released_at in session.execute(query):
        assert released_at is not None  # _archived() requires it
        issues.append(ArchivedIssue(campaign_id, title, winning_subject(subject, variants, winner), list_name, released_at))
    return issues


def archived_campaign(session: Session, campaign_id: int) -> Campaign | None:
    """The campaign if it is in the archive, else None (whether it does not exist or is not public)."""
    if not 0 < campaign_id <= MAX_ID:
        return None
    query = select(Campaign).join(MailingList, MailingList.id == Campaign.list_id).where(Campaign.id == campaign_id, _archived())
    return session.scalar(query)

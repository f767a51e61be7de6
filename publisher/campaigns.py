"""Create a campaign: render the issue once, freeze the audience, cut it into batches.

Everything is written in one transaction, so a failure leaves no campaign
behind. The audience is the list's confirmed subscribers at this moment:
people who join later are not included.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from email.utils import parseaddr

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from publisher.content import Recap
from publisher.db.engine import Database
from publisher.db.models import (
    Batch,
    Campaign,
    CampaignStatus,
    Delivery,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from publisher.errors import ConfigurationError, NotFoundError
from publisher.settings import Settings
from workers.rendering.layout import IssueFrame, RenderedIssue, render_issue


@dataclass(frozen=True)
class CampaignPlan:
    recap: Recap
    list_name: str | None
    provider: str
    batch_size: int
    send_at: dt.datetime | None = None
    test_to: str | None = None


@dataclass(frozen=True)
class CreatedCampaign:
    id: int
    recipients: int
    batch_ids: list[int]
    scheduled: bool
    is_test: bool


def create_campaign(settings: Settings, db: Database, plan: CampaignPlan) -> CreatedCampaign:
    """Store the campaign, its rendered issue, its batches and one ledger record per recipient."""
    with db.transaction() as session:
        mailing_list = _find_list(session, plan.list_name) if plan.list_name else None
        audience = _test_audience(session, plan.test_to) if plan.test_to else _audience(session, mailing_list)
        if not audience:
            name = mailing_list.name if mailing_list else plan.list_name
            raise NotFoundError(f"list '{name}' has no confirmed subscribers: nothing to send")
        issue = render_issue(plan.recap, IssueFrame(list_name=_list_label(mailing_list), postal_address=settings.postal_address))
        scheduled = plan.send_at is not None and plan.send_at > utcnow()
        campaign = _new_campaign(plan, mailing_list, issue, scheduled)
        session.add(campaign)
        session.flush()
        batch_ids = _write_batches(session, campaign.id, audience, plan.batch_size, _message_domain(settings))
        return CreatedCampaign(
            id=campaign.id,
            recipients=len(audience),
            batch_ids=batch_ids,
            scheduled=scheduled,
            is_test=campaign.is_test,
        )


def _find_list(session: Session, name: str) -> MailingList:
    mailing_list = session.scalar(select(MailingList).where(MailingList.name == name))
    if mailing_list is None:
        known = ", ".join(session.scalars(select(MailingList.name).order_by(MailingList.name))) or "none yet"
        raise NotFoundError(f"no list named '{name}' (lists: {known}); import subscribers with --list {name} first")
    return mailing_list


def _audience(session: Session, mailing_list: MailingList | None) -> list[tuple[int | None, str]]:
    if mailing_list is None:
        return []
    rows = session.execute(
        select(Subscriber.id, Subscriber.email)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(Subscription.list_id == mailing_list.id, Subscription.status == SubscriptionStatus.CONFIRMED)
        .order_by(Subscriber.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def _test_audience(session: Session, address: str) -> list[tuple[int | None, str]]:
    subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == address))
    return [(subscriber_id, address)]


def _list_label(mailing_list: MailingList | None) -> str:
    return mailing_list.name if mailing_list else "test"


def _new_campaign(plan: CampaignPlan, mailing_list: MailingList | None, issue: RenderedIssue, scheduled: bool) -> Campaign:
    now = utcnow()
    return Campaign(
        list_id=mailing_list.id if mailing_list else None,
        status=CampaignStatus.SCHEDULED if scheduled else CampaignStatus.SENDING,
        provider=plan.provider,
        is_test=plan.test_to is not None,
        title=plan.recap.meta.title,
        subject=plan.recap.meta.email_subject,
        source=plan.recap.source,
        content_digest=plan.recap.digest,
        html_template=issue.html,
        text_template=issue.text,
        placeholder_nonce=issue.nonce,
        send_at=plan.send_at,
        released_at=None if scheduled else now,
    )


def _write_batches(session: Session, campaign_id: int, audience: list[tuple[int | None, str]], size: int, domain: str) -> list[int]:
    batch_ids: list[int] = []
    for seq, start in enumerate(range(0, len(audience), size)):
        batch = Batch(campaign_id=campaign_id, seq=seq)
        session.add(batch)
        session.flush()
        batch_ids.append(batch.id)
        session.execute(
            insert(Delivery),
            [
                {
                    "campaign_id": campaign_id,
                    "batch_id": batch.id,
                    "subscriber_id": subscriber_id,
                    "email": email,
                    "message_id": f"{uuid.uuid4().hex}@{domain}",
                }
                for subscriber_id, email in audience[start : start + size]
            ],
        )
    return batch_ids


def _message_domain(settings: Settings) -> str:
    address = parseaddr(settings.from_address)[1]
    if "@" not in address:
        raise ConfigurationError(f"set NEWSLETTER_FROM to an address with a domain (now {settings.from_address!r})")
    return address.rsplit("@", 1)[1]

"""Helpers for the subscriber page tests: an audience, campaigns written the way publish writes them, signed links."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlsplit

from publisher.audience.subscribers import import_subscribers
from publisher.content.recap import load_recap
from publisher.core.clock import utcnow
from publisher.core.links import LinkTarget, signer_for
from publisher.core.settings import Settings
from publisher.ledger.campaigns import CampaignPlan, create_campaign
from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.db.engine import Database
from publisher.db.models import (
    Batch,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryState,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from tests.conftest import EXAMPLES

CSV = EXAMPLES / "subscribers.csv"
RECAP = EXAMPLES / "recaps" / "modu-product-vs-tech.md"
#: Uses the merge tags *|FIRST_NAME|* and *|COMPANY|* in its body.
WORKSHOP = EXAMPLES / "recaps" / "modu-roadmap-workshop.md"
ZOE = "zoe.obrien@example.com"
RAJ = "raj.patel@example.org"


def people(db: Database, csv: Path = CSV, list_name: str = "attendees") -> dict[str, int]:
    """Import ``csv`` into ``list_name``; return subscriber ids by address."""
    import_subscribers(db, csv, list_name)
    with db.transaction() as session:
        return {email: sid for sid, email in session.execute(select(Subscriber.id, Subscriber.email))}


def list_id(db: Database, name: str) -> int:
    with db.transaction() as session:
        found = session.scalar(select(MailingList.id).where(MailingList.name == name))
    assert found is not None
    return found


def publish(settings: Settings, db: Database, list_name: str | None, recap: Path = RECAP, test_to: str | None = None) -> int:
    """Write a campaign exactly as `newsletter publish` does (nothing is enqueued)."""
    plan = CampaignPlan(recap=load_recap(recap), list_name=list_name, provider="outbox", batch_size=100, test_to=test_to)
    return create_campaign(settings, db, plan).id


def link(settings: Settings, base_url: str, purpose: str, target: LinkTarget) -> str:
    """The signed link the service would send, pointed at the served app instead of NEWSLETTER_PUBLIC_URL."""
    return on(base_url, signer_for(settings).url(purpose, target))


def on(base_url: str, url: str) -> str:
    """``url`` with its scheme and host replaced by the served app's."""
    parts = urlsplit(url)
    return base_url + parts.path + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def statuses(db: Database, subscriber_id: int) -> dict[str, SubscriptionStatus]:
    """The subscriber's subscription status by list name."""
    with db.transaction() as session:
        rows = session.execute(
            select(MailingList.name, Subscription.status)
            .join(Subscription, Subscription.list_id == MailingList.id)
            .where(Subscription.subscriber_id == subscriber_id)
        )
        return {name: SubscriptionStatus(status) for name, status in rows}


def sent_batch(session: Session, list_id: int, provider: str) -> Batch:
    """A completed campaign to ``list_id`` through ``provider`` and its one batch, for ledger records a test writes itself."""
    campaign = Campaign(
        list_id=list_id,
        status=CampaignStatus.COMPLETE,
        provider=provider,
        title="Issue 1",
        subject="Issue 1",
        source="issue-1.md",
        content_digest="0" * 64,
        html_template="<p>hi</p>",
        text_template="hi",
        placeholder_nonce="nonce",
    )
    session.add(campaign)
    session.flush()
    batch = Batch(campaign_id=campaign.id, seq=0)
    session.add(batch)
    session.flush()
    return batch


def sent_delivery(session: Session, batch: Batch, subscriber_id: int, email: str, provider: str, provider_message_id: str) -> Delivery:
    """A ledger record as the workers leave it once the provider accepted the message."""
    delivery = Delivery(
        campaign_id=batch.campaign_id,
        batch_id=batch.id,
        subscriber_id=subscriber_id,
        email=email,
        state=DeliveryState.SENT,
        provider=provider,
        message_id=f"{secrets.token_hex(16)}@modu.example",
        provider_message_id=provider_message_id,
        sent_at=utcnow(),
    )
    session.add(delivery)
    session.flush()
    return delivery

"""Campaigns for the tests: written the way ``newsletter publish`` writes them, and ledger records as the workers leave them."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from publisher.content.recap import load_recap
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Batch, Campaign, CampaignStatus, Delivery, DeliveryState, MailingList
from publisher.ledger.campaigns import CampaignPlan, CreatedCampaign, create_campaign
from tests.support.audience import people
from tests.support.cli import run_cli
from tests.support.recaps import RECAP
from workers.providers import provider_class


def publish(
    settings: Settings,
    db: Database,
    list_name: str | None = "attendees",
    recap: Path = RECAP,
    *,
    provider: str | None = None,
    test_to: str | None = None,
) -> CreatedCampaign:
    """Write a campaign as `newsletter publish` does, in the settings' batch size (nothing is enqueued).

    The campaign goes through ``provider``, or the settings' provider when none is named.
    """
    name = provider or settings.provider
    plan = CampaignPlan(
        recap=load_recap(recap),
        list_name=list_name,
        provider=name,
        batch_size=settings.batch_size_for(provider_class(name).max_batch_size),
        test_to=(test_to,) if test_to else (),
        recap_text=recap.read_text(encoding="utf-8"),
    )
    return create_campaign(settings, db, plan)


def publish_to_attendees(settings: Settings, db: Database, provider: str | None = None) -> CreatedCampaign:
    """Import the example subscribers into "attendees", then publish the shared recap to them."""
    people(db)
    return publish(settings, db, provider=provider)


def choose_welcome(db: Database, list_id: int, campaign_id: int | None) -> None:
    """Make ``campaign_id`` the list's welcome issue (None: no welcome issue), as `newsletter lists set --welcome` leaves it."""
    with db.transaction() as session:
        session.execute(update(MailingList).where(MailingList.id == list_id).values(welcome_campaign_id=campaign_id))


def publish_with_cli(env: dict[str, str], list_name: str = "attendees") -> int:
    """Run `newsletter publish` for the shared recap; return the new campaign's id."""
    result = run_cli(env, "publish", RECAP, "--list", list_name)
    assert result.returncode == 0, result.output
    return int(result.last_line.split()[1])


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

"""Drafts for the tests: saved as the console, the API and ``publish --draft`` save them."""

from __future__ import annotations

from sqlalchemy import func, select

from publisher.accounts.roles import CLI_ACTOR, Actor
from publisher.content.drafting import lint_draft, read_draft
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Batch, Campaign, Delivery
from publisher.ledger.drafts import DraftContent, create_draft
from tests.support.recaps import RECAP


def save_draft(settings: Settings, db: Database, text: str | None = None, list_name: str = "attendees", actor: Actor = CLI_ACTOR) -> int:
    """Save recap ``text`` (the shared recap when None) as a draft of ``list_name``; return its id."""
    text = RECAP.read_text(encoding="utf-8") if text is None else text
    recap = read_draft(text)
    return create_draft(settings, db, DraftContent(recap, text, list_name, settings.provider, lint_draft(settings, recap)), actor)


def deliveries_of(db: Database, campaign_id: int) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign_id)) or 0)


def batches_of(db: Database, campaign_id: int) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Batch).where(Batch.campaign_id == campaign_id)) or 0)


def campaign_count(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Campaign)) or 0)

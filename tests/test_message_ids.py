"""The Message-IDs a campaign's ledger records get: one per recipient, unguessable, in the form a header carries."""

from __future__ import annotations

import re

from sqlalchemy import select

from publisher.audience.subscribers import import_subscribers
from publisher.content.recap import load_recap
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Delivery
from publisher.ledger.campaigns import CampaignPlan, create_campaign, new_message_id, new_message_ids
from tests.support.paths import EXAMPLES

RECAP = EXAMPLES / "recaps" / "modu-product-vs-tech.md"
FORM = re.compile(r"[0-9a-f]{32}@bücher\.example")


def test_new_message_ids_have_the_form_of_new_message_id() -> None:
    ids = new_message_ids("bücher.example", 500)
    assert len(ids) == 500
    assert all(FORM.fullmatch(message_id) for message_id in [*ids, new_message_id("bücher.example")])


def test_new_message_ids_are_all_different() -> None:
    ids = new_message_ids("example.com", 2_000) + new_message_ids("example.com", 2_000)
    assert len(set(ids)) == len(ids)


def test_no_recipients_get_no_message_ids() -> None:
    assert new_message_ids("example.com", 0) == []


def test_each_ledger_record_of_a_campaign_has_its_own_message_id(settings: Settings, db: Database) -> None:
    import_subscribers(db, EXAMPLES / "subscribers.csv", "attendees")
    plan = CampaignPlan(recap=load_recap(RECAP), list_name="attendees", provider="outbox", batch_size=3)
    created = create_campaign(settings, db, plan)
    domain = settings.from_address.rsplit("@", 1)[1].rstrip(">")
    with db.transaction() as session:
        records = session.execute(select(Delivery.email, Delivery.message_id).where(Delivery.campaign_id == created.id)).all()
    assert len(records) == created.recipients > 3
    assert len({message_id for _, message_id in records}) == len(records)
    assert all(re.fullmatch(rf"[0-9a-f]{{32}}@{re.escape(domain)}", message_id) for _, message_id in records), records

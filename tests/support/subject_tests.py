"""Subject-line tests for the tests: an audience of N people, a campaign that tests subjects, its test share and its records."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select, update

from publisher.audience.subscribers import import_subscribers
from publisher.content.recap import load_recap
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Batch, CampaignRelease, Delivery
from publisher.ledger.campaigns import CampaignPlan, CreatedCampaign, create_campaign
from publisher.ledger.subject_test_decision import Decided, decide
from publisher.ledger.subject_tests import subject_test
from tests.support.recaps import RECAP
from tests.support.sweeps import send_batch

#: The shared recap's own subject: variant 1.
FIRST = load_recap(RECAP).meta.email_subject
OTHERS = ("Holborn, in five lessons", "What product and tech agreed on")


def audience(db: Database, tmp_path: Path, count: int, list_name: str = "attendees") -> list[str]:
    """Import ``count`` people into ``list_name``; return their addresses."""
    emails = [f"reader{n:05d}@example.com" for n in range(count)]
    csv = tmp_path / f"{list_name}-{count}.csv"
    csv.write_text("email,first_name\n" + "".join(f"{email},Reader\n" for email in emails), encoding="utf-8")
    report = import_subscribers(db, csv, list_name)
    assert not report.problems
    return emails


def publish_tested(
    settings: Settings,
    db: Database,
    variants: tuple[str, ...] = OTHERS[:1],
    *,
    share: int = 20,
    wait: dt.timedelta = dt.timedelta(hours=2),
    metric: str = "opens",
    batch_size: int = 10,
    send_at: dt.datetime | None = None,
) -> CreatedCampaign:
    """Write a campaign to "attendees" that tests ``variants`` against the recap's subject, as `newsletter publish` does."""
    plan = CampaignPlan(
        recap=load_recap(RECAP),
        list_name="attendees",
        provider=settings.provider,
        batch_size=batch_size,
        send_at=send_at,
        recap_text=RECAP.read_text(encoding="utf-8"),
        subject_test=subject_test(FIRST, variants, share=share, wait=wait, metric=metric),
    )
    return create_campaign(settings, db, plan)


def records(db: Database, campaign_id: int) -> list[tuple[int, str, int | None, int | None, str]]:
    """Every ledger record of the campaign: (id, address, variant, its batch's release, state)."""
    with db.reading() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.email, Delivery.variant, Batch.release_id, Delivery.state)
            .join(Batch, Batch.id == Delivery.batch_id)
            .where(Delivery.campaign_id == campaign_id)
            .order_by(Delivery.id)
        ).all()
    return [(row[0], row[1], row[2], row[3], str(row[4].value if hasattr(row[4], "value") else row[4])) for row in rows]


def share_batches(db: Database, campaign_id: int) -> list[int]:
    """The test share's batches (those held for the winner have a release), in order."""
    with db.reading() as session:
        query = select(Batch.id).where(Batch.campaign_id == campaign_id, Batch.release_id.is_(None)).order_by(Batch.id)
        return list(session.scalars(query))


def decide_when_due(db: Database, campaign_id: int) -> Decided | None:
    """Send the test's share as a worker would, let its wait pass (moved in the ledger, not waited for), and decide as the sweep does."""
    for batch_id in share_batches(db, campaign_id):
        send_batch(db, batch_id)
    with db.transaction() as session:
        session.execute(update(CampaignRelease).where(CampaignRelease.campaign_id == campaign_id).values(release_at=utcnow()))
    return decide(db, campaign_id)

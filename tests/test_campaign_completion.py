"""'Complete' is decided in one place, under the campaign's row lock: by the workers and by the sweep's backstop alike."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import Connection, select, update

from publisher.audience.subscribers import import_subscribers
from publisher.content.recap import load_recap
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Batch, Campaign, CampaignStatus, Delivery, DeliveryState
from publisher.ledger import control
from publisher.ledger.campaigns import CampaignPlan, CreatedCampaign, create_campaign
from publisher.ledger.dispatch import mark_enqueued, release_due
from tests.support.paths import EXAMPLES
from tests.support.waiting import Running, holding_lock, wait_until, waiting_on_locks

RECAP = EXAMPLES / "recaps" / "modu-product-vs-tech.md"
LEASE = dt.timedelta(minutes=5)


def publish(settings: Settings, db: Database) -> CreatedCampaign:
    import_subscribers(db, EXAMPLES / "subscribers.csv", "attendees")
    plan = CampaignPlan(recap=load_recap(RECAP), list_name="attendees", provider="outbox", batch_size=10)
    created = create_campaign(settings, db, plan)
    mark_enqueued(db, created.batch_ids)
    return created


def stuck_with_dead_letters(db: Database, campaign_id: int) -> None:
    """Leave the campaign ``sending`` with every record failed for good: nothing open, not yet complete."""
    with db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign_id)
            .values(state=DeliveryState.FAILED, last_error="gave up", dead_lettered_at=utcnow())
        )


def status_of(db: Database, campaign_id: int) -> tuple[CampaignStatus, dt.datetime | None]:
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.status, campaign.completed_at


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_sweep_completes_a_sending_campaign_with_nothing_open(settings: Settings, db: Database) -> None:
    campaign = publish(settings, db)
    stuck_with_dead_letters(db, campaign.id)
    later = utcnow() + dt.timedelta(minutes=1)

    assert release_due(db, LEASE, now=later) == []

    assert status_of(db, campaign.id) == (CampaignStatus.COMPLETE, later)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_sweep_leaves_a_paused_campaign_with_nothing_open_paused(settings: Settings, db: Database) -> None:
    campaign = publish(settings, db)
    stuck_with_dead_letters(db, campaign.id)
    control.pause(db, campaign.id)

    release_due(db, LEASE)

    assert status_of(db, campaign.id) == (CampaignStatus.PAUSED, None)


def holding_batch_lock(db: Database, batch_id: int) -> AbstractContextManager[Connection]:
    return holding_lock(db, select(Batch.id).where(Batch.id == batch_id).with_for_update())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_sweep_does_not_complete_a_campaign_whose_dead_letters_are_being_replayed(settings: Settings, db: Database) -> None:
    """The backstop decides under the campaign's row lock, after the replay that held it has committed.

    The old backstop was one unlocked UPDATE: it read the records from the
    snapshot its statement started with (all failed), waited for the
    replay's lock on the campaign row, then marked the campaign complete
    over the records the replay had just made pending, which no worker
    would then claim (a complete campaign is not sent).
    """
    campaign = publish(settings, db)
    stuck_with_dead_letters(db, campaign.id)

    # The replay locks the campaign, makes its records pending, then waits
    # here (re-enqueueing the batches) while the sweep starts.
    with holding_batch_lock(db, campaign.batch_ids[0]):
        replaying = Running(lambda: control.replay(db, campaign.id))
        wait_until(lambda: waiting_on_locks(db) == 1)
        sweeping = Running(lambda: release_due(db, LEASE))
        wait_until(lambda: waiting_on_locks(db) == 2)

    assert replaying.result() == campaign.recipients
    due = sweeping.result()
    assert status_of(db, campaign.id) == (CampaignStatus.SENDING, None)
    assert sorted(batch.batch_id for batch in due) == sorted(campaign.batch_ids)

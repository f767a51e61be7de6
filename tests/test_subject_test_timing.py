"""When a subject test is decided: a full wait after its test share starts sending, never while it is paused or cancelled."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
import redis
import time_machine
from sqlalchemy import select, update

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignRelease, ReleaseState
from publisher.ledger import control
from publisher.ledger.subject_test_decision import decide, decide_due
from tests.support.subject_tests import audience, drain, publish_tested, sweep

PUBLISHED = dt.datetime(2025, 1, 16, 9, 0, tzinfo=dt.UTC)
WAIT = dt.timedelta(hours=2)
SECOND = dt.timedelta(seconds=1)


def _winner(db: Database, campaign_id: int) -> int | None:
    with db.reading() as session:
        return session.scalar(select(Campaign.ab_winner).where(Campaign.id == campaign_id))


def _remainder(db: Database, campaign_id: int) -> CampaignRelease:
    with db.reading() as session:
        release = session.scalar(select(CampaignRelease).where(CampaignRelease.campaign_id == campaign_id))
        assert release is not None
        session.expunge(release)
        return release


def _send_test_share(settings: Settings, db: Database, redis_url: str, client: redis.Redis, moment: dt.datetime) -> None:
    """A sweep at ``moment`` enqueues what is due, and the workers send it then."""
    sweep(settings, redis_url, moment)
    with time_machine.travel(moment, tick=False):
        assert drain(db, client)


def _decided_exactly_a_wait_after(settings: Settings, db: Database, redis_url: str, campaign_id: int, start: dt.datetime) -> None:
    sweep(settings, redis_url, start + WAIT - SECOND)
    assert _winner(db, campaign_id) is None
    sweep(settings, redis_url, start + WAIT)
    assert _winner(db, campaign_id) == 1


def test_a_scheduled_test_released_late_waits_a_full_wait_from_its_release(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    audience(db, tmp_path, 40)
    with time_machine.travel(PUBLISHED - dt.timedelta(days=1), tick=False):
        created = publish_tested(settings, db, share=50, send_at=PUBLISHED)
    assert _remainder(db, created.id).release_at == PUBLISHED + WAIT
    # The workers were down at send_at and long after: the first sweep comes 3 hours late.
    late = PUBLISHED + dt.timedelta(hours=3)
    _send_test_share(settings, db, redis_url, redis_client, late)
    assert _remainder(db, created.id).release_at == late + WAIT
    _decided_exactly_a_wait_after(settings, db, redis_url, created.id, late)


def test_a_test_paused_before_its_send_at_and_resumed_later_waits_a_full_wait_from_the_resume(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    audience(db, tmp_path, 40)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_tested(settings, db, share=50, send_at=PUBLISHED + dt.timedelta(hours=1))
        control.pause(db, created.id)
    resumed = PUBLISHED + dt.timedelta(hours=5)
    with time_machine.travel(resumed, tick=False):
        control.resume(db, created.id)
    assert _remainder(db, created.id).release_at == resumed + WAIT
    _send_test_share(settings, db, redis_url, redis_client, resumed + SECOND)
    _decided_exactly_a_wait_after(settings, db, redis_url, created.id, resumed)


def test_a_pause_during_the_test_restarts_its_wait_at_the_resume(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    audience(db, tmp_path, 40)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_tested(settings, db, share=50)
    _send_test_share(settings, db, redis_url, redis_client, PUBLISHED + SECOND)
    # An hour into the wait, the campaign is paused for two hours.
    with time_machine.travel(PUBLISHED + dt.timedelta(hours=1), tick=False):
        control.pause(db, created.id)
    resumed = PUBLISHED + dt.timedelta(hours=3)
    with time_machine.travel(resumed, tick=False):
        control.resume(db, created.id)
    assert _remainder(db, created.id).release_at == resumed + WAIT
    _decided_exactly_a_wait_after(settings, db, redis_url, created.id, resumed)


def test_a_test_whose_workers_were_down_is_not_decided_before_any_of_it_was_sent(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    audience(db, tmp_path, 40)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_tested(settings, db, share=50)
    # No worker ran until three hours later: nothing of the test share was sent by its planned decision.
    back = PUBLISHED + dt.timedelta(hours=3)
    _send_test_share(settings, db, redis_url, redis_client, back)
    assert _winner(db, created.id) is None
    assert _remainder(db, created.id).release_at == back + WAIT
    _decided_exactly_a_wait_after(settings, db, redis_url, created.id, back)


@pytest.mark.parametrize("stop", [control.pause, control.cancel])
def test_a_paused_or_cancelled_campaigns_test_is_not_decided(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path, stop: object
) -> None:
    audience(db, tmp_path, 40)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_tested(settings, db, share=50)
    _send_test_share(settings, db, redis_url, redis_client, PUBLISHED + SECOND)
    stop(db, created.id)  # type: ignore[operator]
    assert decide(db, created.id, PUBLISHED + WAIT) is None
    assert _winner(db, created.id) is None and _remainder(db, created.id).state is ReleaseState.PENDING


def test_one_test_that_cannot_be_decided_does_not_keep_the_others_waiting(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    audience(db, tmp_path, 40)
    with time_machine.travel(PUBLISHED, tick=False):
        broken = publish_tested(settings, db, share=50)
        sound = publish_tested(settings, db, share=50)
    _send_test_share(settings, db, redis_url, redis_client, PUBLISHED + SECOND)
    # A row damaged by hand: five variants, more than a test can have, so its figures cannot be compared.
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == broken.id).values(subject_variants=["b", "c", "d", "e"]))
    with caplog.at_level(logging.ERROR):
        decided = decide_due(db, PUBLISHED + WAIT)
    assert [d.campaign_id for d in decided] == [sound.id]
    assert _winner(db, broken.id) is None and _winner(db, sound.id) == 1
    assert f"campaign {broken.id}" in caplog.text

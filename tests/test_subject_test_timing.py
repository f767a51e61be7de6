"""When a subject test is decided: a full wait after its test share starts sending, never while it is paused or cancelled."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import time_machine
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from publisher.accounts.roles import CLI_ACTOR
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignRelease, ReleaseState
from publisher.ledger import control, subject_test_decision
from publisher.ledger.campaigns import CreatedCampaign
from publisher.ledger.subject_test_decision import DecisionConflict, decide, decide_due, pick_winner, variant_results
from tests.support.subject_tests import audience, publish_tested, share_batches
from tests.support.sweeps import drain, send_batch, sweep

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


def _published(
    settings: Settings,
    db: Database,
    tmp_path: Path,
    moment: dt.datetime = PUBLISHED,
    *,
    send_at: dt.datetime | None = None,
    wait: dt.timedelta = WAIT,
) -> CreatedCampaign:
    """Forty people, and a campaign published to them at ``moment`` that tests two subjects on half of them."""
    audience(db, tmp_path, 40)
    with time_machine.travel(moment, tick=False):
        return publish_tested(settings, db, share=50, send_at=send_at, wait=wait)


def _decided_exactly_a_wait_after(settings: Settings, db: Database, redis_url: str, campaign_id: int, start: dt.datetime) -> None:
    """The test's wait starts (again) at ``start``: the decision is due a wait later, and the sweep takes it then, not a second sooner."""
    assert _remainder(db, campaign_id).release_at == start + WAIT
    sweep(settings, redis_url, start + WAIT - SECOND)
    assert _winner(db, campaign_id) is None
    sweep(settings, redis_url, start + WAIT)
    assert _winner(db, campaign_id) == 1


def test_a_scheduled_test_released_late_waits_a_full_wait_from_its_release(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    created = _published(settings, db, tmp_path, PUBLISHED - dt.timedelta(days=1), send_at=PUBLISHED)
    assert _remainder(db, created.id).release_at == PUBLISHED + WAIT
    # The workers were down at send_at and long after: the first sweep comes 3 hours late.
    late = PUBLISHED + dt.timedelta(hours=3)
    _send_test_share(settings, db, redis_url, redis_client, late)
    _decided_exactly_a_wait_after(settings, db, redis_url, created.id, late)


def test_a_test_paused_before_its_send_at_and_resumed_later_waits_a_full_wait_from_the_resume(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    created = _published(settings, db, tmp_path, send_at=PUBLISHED + dt.timedelta(hours=1))
    with time_machine.travel(PUBLISHED, tick=False):
        control.pause(db, created.id)
    resumed = PUBLISHED + dt.timedelta(hours=5)
    with time_machine.travel(resumed, tick=False):
        control.resume(db, created.id)
    _send_test_share(settings, db, redis_url, redis_client, resumed + SECOND)
    _decided_exactly_a_wait_after(settings, db, redis_url, created.id, resumed)


def test_a_pause_during_the_test_restarts_its_wait_at_the_resume(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    created = _published(settings, db, tmp_path)
    _send_test_share(settings, db, redis_url, redis_client, PUBLISHED + SECOND)
    # An hour into the wait, the campaign is paused for two hours.
    with time_machine.travel(PUBLISHED + dt.timedelta(hours=1), tick=False):
        control.pause(db, created.id)
    resumed = PUBLISHED + dt.timedelta(hours=3)
    with time_machine.travel(resumed, tick=False):
        control.resume(db, created.id)
    _decided_exactly_a_wait_after(settings, db, redis_url, created.id, resumed)


def test_a_test_whose_workers_were_down_is_not_decided_before_any_of_it_was_sent(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    created = _published(settings, db, tmp_path)
    # No worker ran until three hours later: nothing of the test share was sent by its planned decision.
    back = PUBLISHED + dt.timedelta(hours=3)
    _send_test_share(settings, db, redis_url, redis_client, back)
    assert _winner(db, created.id) is None
    _decided_exactly_a_wait_after(settings, db, redis_url, created.id, back)


@pytest.mark.parametrize("stop", [control.pause, control.cancel])
def test_a_paused_or_cancelled_campaigns_test_is_not_decided(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path, stop: object
) -> None:
    created = _published(settings, db, tmp_path)
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


def _unless_held(db: Database, campaign_id: int, *steps: Callable[[Database, int], object]) -> bool:
    """Take ``steps`` (pause, resume, cancel) on the campaign from other connections unless its row is held; whether they were taken."""
    with db.engine.connect() as other:
        try:
            other.execute(text("SELECT id FROM campaigns WHERE id = :id FOR UPDATE NOWAIT"), {"id": campaign_id})
        except OperationalError:
            return False  # held by the decision: each step would wait for it to commit
        other.rollback()
    for step in steps:
        step(db, campaign_id)
    return True


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite runs one writer at a time: no interleaving
def test_a_pause_and_resume_committed_while_the_decision_is_taken_are_never_overruled_by_it(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _published(settings, db, tmp_path)
    _send_test_share(settings, db, redis_url, redis_client, PUBLISHED + SECOND)
    due = PUBLISHED + WAIT
    interleaved: list[bool] = []

    def figures_meanwhile(session: Session, campaign: Campaign) -> list[tuple[int, int]]:
        # An operator pauses and resumes while the sweep is reading the test's figures.
        interleaved.append(_unless_held(db, created.id, control.pause, control.resume))
        return variant_results(session, campaign)

    monkeypatch.setattr(subject_test_decision, "variant_results", figures_meanwhile)
    with time_machine.travel(due, tick=False):
        decided = decide(db, created.id, due)
    assert len(interleaved) == 1
    if interleaved[0]:
        # The resume committed first: it restarted the wait, and the decision must not be written over it.
        assert decided is None and _winner(db, created.id) is None
        assert _remainder(db, created.id).release_at == due + WAIT
    else:
        # The decision held the campaign: the pause would have waited for it, and the resume then finds it decided.
        assert decided is not None and _winner(db, created.id) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_cancel_committed_while_a_winner_is_picked_is_never_overruled_by_the_pick(
    settings: Settings, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _published(settings, db, tmp_path)
    interleaved: list[bool] = []

    def figures_meanwhile(session: Session, campaign: Campaign) -> list[tuple[int, int]]:
        interleaved.append(_unless_held(db, created.id, control.cancel))
        return variant_results(session, campaign)

    monkeypatch.setattr(subject_test_decision, "variant_results", figures_meanwhile)
    with time_machine.travel(PUBLISHED + SECOND, tick=False):
        try:
            batches = pick_winner(db, created.id, 2, CLI_ACTOR)
        except DecisionConflict:
            batches = None
    assert len(interleaved) == 1
    if interleaved[0]:
        # Cancelled first: a cancelled campaign gets no winner and no batch to send.
        assert batches is None and _winner(db, created.id) is None
    else:
        assert batches and _winner(db, created.id) == 2


def test_a_test_share_still_being_sent_when_its_wait_is_over_is_decided_once_it_is_all_sent(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    created = _published(settings, db, tmp_path)
    first, *rest = share_batches(db, created.id)
    with time_machine.travel(PUBLISHED + SECOND, tick=False):
        send_batch(db, first)
    # The workers died with the rest of the test share still to send: the wait's end does not decide on a part of it.
    assert decide(db, created.id, PUBLISHED + WAIT) is None
    assert _winner(db, created.id) is None
    finished = PUBLISHED + WAIT + dt.timedelta(minutes=30)
    with time_machine.travel(finished, tick=False):
        for batch_id in rest:
            send_batch(db, batch_id)
    decided = decide(db, created.id, finished)
    assert decided is not None and _winner(db, created.id) == 1


@pytest.mark.parametrize(
    ("kept", "latest"),
    [(None, PUBLISHED + 2 * WAIT), (dt.timedelta(hours=3), PUBLISHED + dt.timedelta(hours=3))],
    ids=["one-more-wait", "before-its-opens-are-deleted"],
)
def test_a_test_share_never_all_sent_is_decided_on_what_was_at_the_latest(
    settings: Settings, db: Database, tmp_path: Path, kept: dt.timedelta | None, latest: dt.datetime
) -> None:
    created = _published(settings, db, tmp_path)
    with time_machine.travel(PUBLISHED + SECOND, tick=False):
        send_batch(db, share_batches(db, created.id)[0])
    assert decide_due(db, latest - SECOND, kept=kept) == []
    assert _winner(db, created.id) is None
    assert [d.campaign_id for d in decide_due(db, latest, kept=kept)] == [created.id]
    with db.reading() as session:
        results = session.scalar(select(Campaign.ab_results).where(Campaign.id == created.id))
    assert sum(trials for _, trials in results) == 10  # the one batch sent


def test_the_sweep_keeps_the_decision_within_the_days_opens_are_kept(
    settings: Settings, db: Database, redis_url: str, tmp_path: Path
) -> None:
    wait = dt.timedelta(hours=20)
    created = _published(settings, db, tmp_path, wait=wait)
    with time_machine.travel(PUBLISHED + SECOND, tick=False):
        send_batch(db, share_batches(db, created.id)[0])
    kept_a_day = settings.model_copy(update={"tracking_days": 1})
    # Opens are kept a day: the decision waits for the rest of the test share 4 hours at most, not 20.
    sweep(kept_a_day, redis_url, PUBLISHED + dt.timedelta(hours=24) - SECOND)
    assert _winner(db, created.id) is None
    sweep(kept_a_day, redis_url, PUBLISHED + dt.timedelta(hours=24))
    assert _winner(db, created.id) == 1

"""Deciding a subject test: by the sweep when the wait has passed, once, on human opens or clicks; or by hand before it."""

from __future__ import annotations

import collections
import datetime as dt
from pathlib import Path

import pytest
import redis
import time_machine
from sqlalchemy import select

from publisher.accounts.roles import CLI_ACTOR
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import AuditEntry, Batch, Campaign, CampaignRelease, EngagementKind, ReleaseState
from publisher.ledger import control
from publisher.ledger.report import campaign_report
from publisher.ledger.significance import compare
from publisher.ledger.status import campaign_progress
from publisher.ledger.subject_test_decision import Decision, DecisionConflict, decide, pick_winner
from publisher.ledger.subject_tests import SubjectTestError
from tests.support.engagements import PROXY, engage
from tests.support.subject_tests import OTHERS, audience, publish_tested, records
from tests.support.sweeps import drain, queued_batches, sweep

PUBLISHED = dt.datetime(2025, 1, 16, 9, 0, tzinfo=dt.UTC)
WAIT = dt.timedelta(hours=2)


def _sent_test(settings: Settings, db: Database, redis_url: str, client: redis.Redis, tmp_path: Path, **options: object) -> int:
    """40 people, half of them in a test of two subjects (10 each), the test sent; return the campaign."""
    audience(db, tmp_path, 40)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_tested(settings, db, share=50, **options)  # type: ignore[arg-type]
    sweep(settings, redis_url, PUBLISHED + dt.timedelta(seconds=1))
    assert sorted(drain(db, client)) == sorted(created.due_batch_ids)
    return created.id


def _by_variant(db: Database, campaign_id: int) -> dict[int, list[int]]:
    found: dict[int, list[int]] = collections.defaultdict(list)
    for delivery_id, _, variant, release, _ in records(db, campaign_id):
        if release is None:
            assert variant is not None
            found[variant].append(delivery_id)
    return found


def _campaign(db: Database, campaign_id: int) -> Campaign:
    with db.reading() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        session.expunge(campaign)
        return campaign


def test_the_sweep_decides_when_the_wait_has_passed_and_the_remainder_is_sent_the_winner(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    campaign_id = _sent_test(settings, db, redis_url, redis_client, tmp_path)
    variants = _by_variant(db, campaign_id)
    # Variant 2: all ten read it. Variant 1: one reader, and a privacy proxy that fetched every pixel (not a reader).
    engage(db, campaign_id, variants[2])
    engage(db, campaign_id, variants[1][:1])
    engage(db, campaign_id, variants[1], machine=True, reason=PROXY)

    sweep(settings, redis_url, PUBLISHED + WAIT - dt.timedelta(seconds=1))
    assert _campaign(db, campaign_id).ab_winner is None and queued_batches(redis_client) == []

    sweep(settings, redis_url, PUBLISHED + WAIT)
    campaign = _campaign(db, campaign_id)
    assert (campaign.ab_winner, campaign.ab_decision, campaign.ab_decided_by) == (2, Decision.SIGNIFICANT.value, "sweep")
    assert campaign.ab_decided_at == PUBLISHED + WAIT
    # 1/10 against 10/10 (tests/test_significance.py works it out): z = -4.045, p = 5.2e-5.
    assert campaign.ab_statistic == pytest.approx(-4.0451992, abs=1e-6) and campaign.ab_p_value == pytest.approx(5.2279e-5, rel=1e-3)
    assert campaign.ab_results == [[1, 10], [10, 10]]
    # The remainder's records carry the winner's number and were enqueued by the same sweep.
    remainder = [row for row in records(db, campaign_id) if row[3] is not None]
    assert len(remainder) == 20 and {row[2] for row in remainder} == {2}
    drain(db, redis_client)
    rows = records(db, campaign_id)
    assert {row[4] for row in rows} == {"sent"} and len({row[1] for row in rows}) == 40
    assert collections.Counter(row[2] for row in rows) == {1: 10, 2: 30}

    [progress] = campaign_progress(db, campaign_id)
    assert progress.subject_test is not None
    shown = progress.as_dict()["subject_test"]
    assert shown["test_recipients"] == 20 and shown["remainder_recipients"] == 20 and shown["winner"] == 2  # type: ignore[index]
    assert [(v["number"], v["recipients"], v["sent"]) for v in shown["variants"]] == [(1, 10, 10), (2, 10, 30)]  # type: ignore[index]
    report = campaign_report(db, campaign_id).as_dict()
    assert report["winner"] == 2 and report["p_value"] == pytest.approx(5.2279e-5, rel=1e-3)
    assert [(v["number"], v["sent"], v["engaged"], v["rate"]) for v in report["variants"]] == [(1, 10, 1, 0.1), (2, 10, 10, 1.0)]  # type: ignore[attr-defined]


def test_without_a_significant_difference_the_first_variant_is_sent_and_the_report_says_so(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    campaign_id = _sent_test(settings, db, redis_url, redis_client, tmp_path)
    variants = _by_variant(db, campaign_id)
    engage(db, campaign_id, variants[1][:5])
    engage(db, campaign_id, variants[2][:6])  # better, but 6/10 against 5/10 is no evidence (p = 0.65)
    sweep(settings, redis_url, PUBLISHED + WAIT)
    campaign = _campaign(db, campaign_id)
    assert (campaign.ab_winner, campaign.ab_decision) == (1, Decision.NOT_SIGNIFICANT.value)
    assert campaign.ab_p_value == pytest.approx(0.6530951, abs=1e-6)
    assert {row[2] for row in records(db, campaign_id) if row[3] is not None} == {1}
    report = campaign_report(db, campaign_id)
    assert report.subject_test is not None
    assert report.subject_test.verdict == "variant 1: no significant difference, so the first variant was sent"


def test_clicks_decide_a_test_on_clicks_and_an_open_is_no_click(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    campaign_id = _sent_test(settings, db, redis_url, redis_client, tmp_path, metric="clicks")
    variants = _by_variant(db, campaign_id)
    engage(db, campaign_id, variants[2])  # every reader of variant 2 opened it, but none clicked
    engage(db, campaign_id, variants[1], EngagementKind.CLICK)
    sweep(settings, redis_url, PUBLISHED + WAIT)
    campaign = _campaign(db, campaign_id)
    assert campaign.ab_results == [[10, 10], [0, 10]]
    assert campaign.ab_winner == 1 and campaign.ab_decision == Decision.SIGNIFICANT.value


def test_a_test_is_decided_once_whoever_tries(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    campaign_id = _sent_test(settings, db, redis_url, redis_client, tmp_path)
    first = decide(db, campaign_id, PUBLISHED + WAIT)
    assert first is not None and first.winner == 1
    assert decide(db, campaign_id, PUBLISHED + WAIT + dt.timedelta(minutes=1)) is None
    with pytest.raises(DecisionConflict, match=rf"campaign {campaign_id}'s winner was decided already: variant 1, with no significant"):
        pick_winner(db, campaign_id, 2, CLI_ACTOR)
    assert _campaign(db, campaign_id).ab_decided_at == PUBLISHED + WAIT


def test_a_paused_campaigns_test_waits_to_be_decided_until_it_is_resumed(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    campaign_id = _sent_test(settings, db, redis_url, redis_client, tmp_path)
    control.pause(db, campaign_id)
    sweep(settings, redis_url, PUBLISHED + WAIT)
    assert _campaign(db, campaign_id).ab_winner is None
    resumed = PUBLISHED + WAIT + dt.timedelta(hours=1)
    with time_machine.travel(resumed, tick=False):
        control.resume(db, campaign_id)
    # The pause restarted the wait (tests/test_subject_test_timing.py): a full one from the resume.
    sweep(settings, redis_url, resumed + WAIT)
    assert _campaign(db, campaign_id).ab_winner == 1


def test_a_winner_picked_by_hand_before_the_wait_is_sent_at_once(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    campaign_id = _sent_test(settings, db, redis_url, redis_client, tmp_path)
    with time_machine.travel(PUBLISHED + dt.timedelta(minutes=30), tick=False):
        due = pick_winner(db, campaign_id, 2, CLI_ACTOR)
    campaign = _campaign(db, campaign_id)
    assert (campaign.ab_winner, campaign.ab_decision, campaign.ab_decided_by) == (2, Decision.BY_HAND.value, "cli")
    with db.reading() as session:
        release = session.scalar(select(CampaignRelease).where(CampaignRelease.campaign_id == campaign_id))
        assert release is not None and release.state is ReleaseState.RELEASED
        held = session.scalars(select(Batch.id).where(Batch.release_id == release.id)).all()
        assert session.scalar(select(AuditEntry.detail).where(AuditEntry.action == "winner-picked")) == "variant 2"
    assert sorted(due) == sorted(held)  # the remainder's batches, due now
    assert {row[2] for row in records(db, campaign_id) if row[3] is not None} == {2}
    # The sweep after the wait has nothing left to decide.
    sweep(settings, redis_url, PUBLISHED + WAIT)
    assert _campaign(db, campaign_id).ab_decided_at == PUBLISHED + dt.timedelta(minutes=30)


@pytest.mark.parametrize(("number", "problem"), [(0, "has variants 1 to 2: there is no variant 0"), (3, "there is no variant 3")])
def test_picking_a_variant_the_test_does_not_have_is_refused(
    settings: Settings, db: Database, tmp_path: Path, number: int, problem: str
) -> None:
    audience(db, tmp_path, 10)
    created = publish_tested(settings, db, OTHERS[:1], share=50)
    with pytest.raises(SubjectTestError, match=problem):
        pick_winner(db, created.id, number, CLI_ACTOR)
    assert _campaign(db, created.id).ab_winner is None


def test_a_cancelled_campaigns_winner_cannot_be_picked(settings: Settings, db: Database, tmp_path: Path) -> None:
    audience(db, tmp_path, 10)
    created = publish_tested(settings, db, share=50)
    control.cancel(db, created.id)
    with pytest.raises(DecisionConflict, match="is cancelled"):
        pick_winner(db, created.id, 1, CLI_ACTOR)


def test_three_variants_are_decided_by_chi_squared(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    campaign_id = _sent_test(settings, db, redis_url, redis_client, tmp_path, variants=OTHERS)
    variants = _by_variant(db, campaign_id)
    assert {number: len(ids) for number, ids in variants.items()} == {1: 7, 2: 7, 3: 6}
    engage(db, campaign_id, variants[1][:1])
    engage(db, campaign_id, variants[3])
    sweep(settings, redis_url, PUBLISHED + WAIT)
    campaign = _campaign(db, campaign_id)
    expected = compare([(1, 7), (0, 7), (6, 6)])
    assert (campaign.ab_winner, campaign.ab_decision, campaign.ab_results) == (3, Decision.SIGNIFICANT.value, [[1, 7], [0, 7], [6, 6]])
    assert campaign.ab_statistic == pytest.approx(expected.statistic) and campaign.ab_p_value == pytest.approx(expected.p_value)
    report = campaign_report(db, campaign_id)
    assert report.subject_test is not None and report.subject_test.statistic_name == "chi-squared"

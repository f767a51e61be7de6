"""How `newsletter status` shows a subject test: its release, its decision time said as such, the test share and the remainder apart."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
import redis
import time_machine
from rich.console import Console

from publisher.accounts.roles import CLI_ACTOR
from publisher.cli.status_report import StatusReport, render
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.ledger import control
from publisher.ledger.status import CampaignProgress, campaign_progress
from publisher.ledger.subject_test_decision import pick_winner
from tests.support.subject_tests import audience, publish_tested, share_batches
from tests.support.sweeps import drain, send_batch, sweep

PUBLISHED = dt.datetime(2025, 1, 16, 9, 0, tzinfo=dt.UTC)
WAIT = dt.timedelta(hours=2)


def _progress(db: Database, campaign_id: int, moment: dt.datetime) -> CampaignProgress:
    with time_machine.travel(moment, tick=False):
        [progress] = campaign_progress(db, campaign_id)
    return progress


def _said(progress: CampaignProgress, columns: int) -> str:
    console = Console(file=io.StringIO(), width=columns, color_system=None)
    console.print(render(StatusReport(campaigns=[progress], queues={}), columns))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    return " ".join(output.split())


@pytest.mark.parametrize("columns", [60, 250])
def test_a_scheduled_test_shows_its_send_at_as_the_next_release_and_its_decision_after_it(
    settings: Settings, db: Database, tmp_path: Path, columns: int
) -> None:
    audience(db, tmp_path, 40)
    send_at = PUBLISHED + dt.timedelta(hours=1)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_tested(settings, db, share=50, send_at=send_at)
    progress = _progress(db, created.id, PUBLISHED)
    assert progress.next_release is not None
    assert (progress.next_release.release_at, progress.next_release.recipients, progress.next_release.decision) == (send_at, 20, False)
    said = _said(progress, columns)
    assert f"next release {send_at:%Y-%m-%d %H:%M} UTC: 20 recipient(s)" in said
    assert "next release 2025-01-16 11:00" not in said and "next release 2025-01-16 12:00" not in said
    assert "20 in the remainder wait for the winner: the subject-test decision comes 2h after the test starts sending" in said


@pytest.mark.parametrize("columns", [60, 250])
def test_a_sending_test_shows_its_decision_time_as_such_and_the_test_and_remainder_apart(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path, columns: int
) -> None:
    audience(db, tmp_path, 40)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_tested(settings, db, share=50)
    sweep(settings, redis_url, PUBLISHED)
    with time_machine.travel(PUBLISHED, tick=False):
        drain(db, redis_client)
    decide_at = PUBLISHED + WAIT
    progress = _progress(db, created.id, PUBLISHED)
    assert progress.next_release is not None and progress.next_release.decision
    said = _said(progress, columns)
    assert f"subject-test decision {decide_at:%Y-%m-%d %H:%M} UTC: 20 recipient(s) get the winner" in said
    assert "next release" not in said
    assert f"campaign {created.id} subject test: 20 in the test (50%: variant 1 10 of 10 sent, variant 2 10 of 10 sent)" in said
    assert f"20 in the remainder wait for the winner: the subject-test decision is due at {decide_at:%Y-%m-%d %H:%M} UTC" in said

    # Decided by hand, and the remainder sent: each variant's test figures stay its own.
    with time_machine.travel(PUBLISHED + dt.timedelta(minutes=30), tick=False):
        pick_winner(db, created.id, 2, CLI_ACTOR)
    sweep(settings, redis_url, PUBLISHED + dt.timedelta(minutes=30))
    with time_machine.travel(PUBLISHED + dt.timedelta(minutes=30), tick=False):
        drain(db, redis_client)
    progress = _progress(db, created.id, PUBLISHED + dt.timedelta(hours=1))
    assert progress.next_release is None and progress.subject_test is not None
    assert [(v.number, v.recipients, v.test_sent, v.sent) for v in progress.subject_test.variants] == [(1, 10, 10, 10), (2, 10, 10, 30)]
    assert progress.subject_test.remainder_sent == 20
    shown = progress.as_dict()["subject_test"]
    assert shown["remainder_sent"] == 20  # type: ignore[index]
    assert [(v["test_sent"], v["sent"]) for v in shown["variants"]] == [(10, 10), (10, 30)]  # type: ignore[index]
    said = _said(progress, columns)
    assert "(50%: variant 1 10 of 10 sent, variant 2 10 of 10 sent)" in said
    assert "20 in the remainder get variant 2 (picked by hand): 20 of 20 sent" in said


def test_a_paused_test_says_its_decision_comes_a_full_wait_after_the_resume(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    audience(db, tmp_path, 40)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_tested(settings, db, share=50)
        control.pause(db, created.id)
    progress = _progress(db, created.id, PUBLISHED)
    assert progress.next_release is None  # not known until it is resumed
    said = _said(progress, 250)
    assert "20 in the remainder wait for the winner: the subject-test decision comes 2h after the campaign is resumed" in said
    assert "subject-test decision 2025" not in said


def test_a_test_whose_wait_is_over_before_its_share_was_sent_says_the_decision_waits_for_it(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    audience(db, tmp_path, 40)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_tested(settings, db, share=50)
    with time_machine.travel(PUBLISHED, tick=False):
        send_batch(db, share_batches(db, created.id)[0])
    said = _said(_progress(db, created.id, PUBLISHED + WAIT + dt.timedelta(minutes=1)), 250)
    assert "(50%: variant 1 10 of 10 sent, variant 2 0 of 10 sent)" in said
    assert (
        "20 in the remainder wait for the winner: the subject-test decision was due at 2025-01-16 11:00 UTC and waits for the "
        "rest of the test share (10 of 20 still to send): it is taken once they are sent, by 2025-01-16 13:00 UTC at the latest"
    ) in said
    assert "subject-test decision 2025-01-16 11:00 UTC (overdue): 20 recipient(s) get the winner" in said
    on_time = _said(_progress(db, created.id, PUBLISHED + WAIT - dt.timedelta(seconds=1)), 250)
    assert "the subject-test decision is due at 2025-01-16 11:00 UTC" in on_time and "overdue" not in on_time

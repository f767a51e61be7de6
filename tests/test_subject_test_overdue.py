"""A subject test whose decision is overdue (its wait is over, part of its test share unsent) says so: `status`, `--json`, the API."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
import time_machine
from rich.console import Console
from sqlalchemy import update

from publisher.cli.status_report import StatusReport, render
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import CampaignRelease
from publisher.ledger.status import CampaignProgress, campaign_progress
from publisher.ledger.subject_test_decision import decide_due
from tests.support.api import Api, token
from tests.support.cli import run_cli
from tests.support.subject_tests import audience, publish_tested, share_batches
from tests.support.sweeps import send_batch
from tests.support.types import ServeWeb

PUBLISHED = dt.datetime(2025, 1, 16, 9, 0, tzinfo=dt.UTC)
WAIT = dt.timedelta(hours=2)
SECOND = dt.timedelta(seconds=1)
#: NEWSLETTER_TRACKING_DAYS of 1 with a wait of 20 hours: the rest of the share is waited for 4 hours, not 20.
LONG_WAIT = dt.timedelta(hours=20)
KEPT = [(None, WAIT, 2 * WAIT), (1, LONG_WAIT, dt.timedelta(hours=24))]
KEPT_IDS = ["one-more-wait", "within-the-days-opens-are-kept"]


def _half_sent(settings: Settings, db: Database, tmp_path: Path, wait: dt.timedelta) -> int:
    """A test of 20 recipients published at PUBLISHED, of which one batch of 10 was sent before the workers died."""
    audience(db, tmp_path, 40)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_tested(settings, db, share=50, wait=wait)
    with time_machine.travel(PUBLISHED + SECOND, tick=False):
        send_batch(db, share_batches(db, created.id)[0])
    return created.id


def _progress(db: Database, campaign_id: int, moment: dt.datetime, kept: dt.timedelta) -> CampaignProgress:
    with time_machine.travel(moment, tick=False):
        [progress] = campaign_progress(db, campaign_id, kept=kept)
    return progress


def _said(progress: CampaignProgress) -> str:
    console = Console(file=io.StringIO(), width=250, color_system=None)
    console.print(render(StatusReport(campaigns=[progress], queues={}), 250))
    return " ".join(console.file.getvalue().split())  # type: ignore[attr-defined]


def _overdue(shown: dict[str, Any]) -> tuple[object, dt.datetime | None]:
    by = shown["decide_by"]
    return shown["decision_overdue"], dt.datetime.fromisoformat(by) if by else None


@pytest.mark.parametrize(("days", "wait", "latest"), KEPT, ids=KEPT_IDS)
def test_status_json_flags_an_overdue_decision_and_says_by_when_it_is_taken(
    settings: Settings, db: Database, tmp_path: Path, days: int | None, wait: dt.timedelta, latest: dt.timedelta
) -> None:
    campaign_id = _half_sent(settings, db, tmp_path, wait)
    # As the sweep and the commands get it: NEWSLETTER_TRACKING_DAYS, its default unless given.
    kept = dt.timedelta(days=days) if days else settings.tracking_kept
    due = PUBLISHED + wait
    before = _progress(db, campaign_id, due - SECOND, kept).as_dict()
    assert _overdue(before["subject_test"]) == (False, None)  # type: ignore[arg-type]
    late = _progress(db, campaign_id, due + dt.timedelta(minutes=1), kept).as_dict()
    assert _overdue(late["subject_test"]) == (True, PUBLISHED + latest)  # type: ignore[arg-type]
    # The release time itself stays the decision's planned time, now in the past: the flag is what says it is late.
    assert late["next_release_at"] == due.isoformat()
    # A second before it the sweep still waits for the rest of the share; at it, it decides on what was sent.
    assert decide_due(db, PUBLISHED + latest - SECOND, kept=kept) == []
    assert [d.campaign_id for d in decide_due(db, PUBLISHED + latest, kept=kept)] == [campaign_id]
    after = _progress(db, campaign_id, PUBLISHED + latest, kept).as_dict()
    assert _overdue(after["subject_test"]) == (False, None)  # type: ignore[arg-type]


def test_an_overdue_test_none_of_whose_share_was_sent_says_its_wait_starts_again(settings: Settings, db: Database, tmp_path: Path) -> None:
    audience(db, tmp_path, 40)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_tested(settings, db, share=50)
    late = PUBLISHED + WAIT + dt.timedelta(minutes=1)
    progress = _progress(db, created.id, late, settings.tracking_kept)
    assert _overdue(progress.as_dict()["subject_test"]) == (True, None)  # type: ignore[arg-type]
    assert (
        "was due at 2025-01-16 11:00 UTC but none of the test share has been sent yet: the workers' next sweep gives the test "
        "a full 2h wait again"
    ) in _said(progress)
    # As said: the sweep decides nothing, and the test waits a full wait from that sweep, no longer overdue.
    assert decide_due(db, late, kept=settings.tracking_kept) == []
    again = _progress(db, created.id, late, settings.tracking_kept)
    assert _overdue(again.as_dict()["subject_test"]) == (False, None)  # type: ignore[arg-type]
    assert again.subject_test is not None and again.subject_test.decide_at == late + WAIT


def test_an_overdue_test_whose_share_is_all_sent_waits_only_for_the_next_sweep(settings: Settings, db: Database, tmp_path: Path) -> None:
    campaign_id = _half_sent(settings, db, tmp_path, WAIT)
    with time_machine.travel(PUBLISHED + 2 * SECOND, tick=False):
        for batch_id in share_batches(db, campaign_id)[1:]:
            send_batch(db, batch_id)
    late = PUBLISHED + WAIT + dt.timedelta(minutes=1)
    progress = _progress(db, campaign_id, late, settings.tracking_kept)
    assert _overdue(progress.as_dict()["subject_test"]) == (True, PUBLISHED + 2 * WAIT)  # type: ignore[arg-type]
    said = _said(progress)
    assert "none of the test share is left to send: the workers' next sweep takes it, on human opens" in said
    assert "still to send" not in said
    # As said: the very next sweep decides, well before `decide_by`.
    assert [d.campaign_id for d in decide_due(db, late, kept=settings.tracking_kept)] == [campaign_id]


def test_an_overdue_test_whose_latest_time_has_passed_says_the_next_sweep_takes_it(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    # A wait as long as NEWSLETTER_TRACKING_DAYS leaves no time for the rest of the share: the latest time is the due time.
    campaign_id = _half_sent(settings, db, tmp_path, dt.timedelta(days=1))
    kept, due = dt.timedelta(days=1), PUBLISHED + dt.timedelta(days=1)
    late = due + dt.timedelta(minutes=1)
    progress = _progress(db, campaign_id, late, kept)
    assert _overdue(progress.as_dict()["subject_test"]) == (True, due)  # type: ignore[arg-type]
    said = _said(progress)
    assert (
        "was due at 2025-01-17 09:00 UTC with 10 of 20 test records still to send: its latest time has passed, so the workers' "
        "next sweep takes it without waiting for them, on human opens"
    ) in said
    assert "at the latest" not in said
    assert [d.campaign_id for d in decide_due(db, late, kept=kept)] == [campaign_id]


@pytest.mark.parametrize(("days", "wait", "latest"), KEPT, ids=KEPT_IDS)
def test_the_api_flags_an_overdue_decision_and_says_by_when_it_is_taken(
    settings: Settings, db: Database, serve_web: ServeWeb, tmp_path: Path, days: int | None, wait: dt.timedelta, latest: dt.timedelta
) -> None:
    campaign_id = _half_sent(settings, db, tmp_path, wait)
    url = serve_web(settings.model_copy(update={"tracking_days": days}) if days else settings)
    api = Api(url, token(db))
    due = PUBLISHED + wait
    with time_machine.travel(due - dt.timedelta(minutes=1), tick=True):
        on_time = api.get(f"/campaigns/{campaign_id}").json()
    assert _overdue(on_time["ab_test"]) == (False, None)
    with time_machine.travel(due + dt.timedelta(minutes=1), tick=True):
        late = api.get(f"/campaigns/{campaign_id}").json()
        [listed] = [c for c in api.get("/campaigns").json()["items"] if c["id"] == campaign_id]
    assert _overdue(late["ab_test"]) == (True, PUBLISHED + latest)
    assert _overdue(listed["ab_test"]) == (True, PUBLISHED + latest)
    assert dt.datetime.fromisoformat(late["next_release_at"]) == due
    assert dt.datetime.fromisoformat(late["ab_test"]["decide_at"]) == due


def test_newsletter_status_says_an_overdue_decision_and_its_latest_time(
    settings: Settings, db: Database, env: dict[str, str], tmp_path: Path
) -> None:
    # The command runs in its own process, on the real clock: the wait's end is moved in the ledger instead.
    audience(db, tmp_path, 40)
    created = publish_tested(settings, db, share=50, wait=LONG_WAIT)
    send_batch(db, share_batches(db, created.id)[0])
    due = (utcnow() - dt.timedelta(minutes=10)).replace(second=0, microsecond=0)
    with db.transaction() as session:
        session.execute(update(CampaignRelease).where(CampaignRelease.campaign_id == created.id).values(release_at=due))
    latest = due + dt.timedelta(hours=4)  # the test started a wait before `due`; opens are kept a day
    kept_a_day = env | {"NEWSLETTER_TRACKING_DAYS": "1", "COLUMNS": "250"}
    shown = run_cli(kept_a_day, "status", str(created.id), "--json")
    assert shown.returncode == 0, shown.output
    assert _overdue(json.loads(shown.output)["campaigns"][0]["subject_test"]) == (True, latest)
    said = run_cli(kept_a_day, "status", str(created.id))
    assert said.returncode == 0, said.output
    assert (
        f"was due at {due:%Y-%m-%d %H:%M} UTC and waits for the rest of the test share (10 of 20 still to send): it is taken "
        f"once they are sent, by {latest:%Y-%m-%d %H:%M} UTC at the latest"
    ) in " ".join(said.output.split())

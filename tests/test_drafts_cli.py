"""Drafts on the command line: ``publish --draft`` saves, ``send`` sends once, ``status`` shows them, control commands refuse them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import redis
from sqlalchemy import update

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignStatus
from publisher.ledger.drafts import load_draft
from publisher.queue import QUEUE_SEND
from tests.support.audience import people
from tests.support.cli import CliResult, run_cli
from tests.support.drafts import campaign_count, deliveries_of, save_draft
from tests.support.recaps import RECAP, insecure_image_recap, write_recap

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
pytestmark = SQLITE_ONLY


def campaign_id(result: CliResult) -> int:
    assert result.returncode == 0, result.output
    word, number = result.last_line.split()
    assert word == "campaign"
    return int(number)


def draft_of(env: dict[str, str], recap: Path) -> int:
    return campaign_id(run_cli(env, "publish", recap, "--list", "attendees", "--draft"))


def test_publish_draft_saves_the_recap_as_written_with_its_lint_errors(
    env: dict[str, str], db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    people(db)
    recap = insecure_image_recap(tmp_path)
    result = run_cli(env, "publish", recap, "--list", "attendees", "--draft")
    draft = campaign_id(result)
    assert "lint error" in result.output and f"newsletter send {draft}" in result.output
    stored = load_draft(db, draft)
    assert stored.status is CampaignStatus.DRAFT
    assert stored.recap_text == recap.read_text(encoding="utf-8")
    assert stored.created_by == "cli" and stored.provider == "outbox"
    assert stored.lint["errors"] >= 1
    assert deliveries_of(db, draft) == 0
    assert redis_client.llen(QUEUE_SEND) == 0


def test_publish_draft_keeps_an_empty_body(env: dict[str, str], db: Database, tmp_path: Path) -> None:
    people(db)
    draft = draft_of(env, write_recap(tmp_path / "empty.md", "", "title: Not written yet"))
    assert any(finding["check"] == "body" for finding in load_draft(db, draft).lint["findings"])


@pytest.mark.parametrize(
    ("front_matter", "problem"),
    [("title: [unclosed", "not valid YAML"), ("title: Recap\nsponsor: Acme", "sponsor")],
    ids=["invalid-yaml", "unknown-key"],
)
def test_publish_draft_refuses_a_recap_it_cannot_read_and_writes_nothing(
    env: dict[str, str], db: Database, tmp_path: Path, front_matter: str, problem: str
) -> None:
    people(db)
    result = run_cli(env, "publish", write_recap(tmp_path / "bad.md", "Body.", front_matter), "--list", "attendees", "--draft")
    assert result.returncode == 2, result.output
    assert problem in result.output
    assert campaign_count(db) == 0


def test_publish_draft_refuses_options_that_belong_to_send(env: dict[str, str], db: Database) -> None:
    people(db)
    result = run_cli(env, "publish", RECAP, "--list", "attendees", "--draft", "--send-at", "2030-01-01T09:00:00")
    assert result.returncode == 2 and "--send-at" in result.output
    empty = run_cli(env, "publish", RECAP, "--list", "attendees", "--draft", "--send-at", "")
    assert empty.returncode == 2 and "--send-at" in empty.output
    assert campaign_count(db) == 0


@pytest.mark.parametrize(
    ("send_at", "reason"),
    [
        ("", "--send-at is empty: give an ISO 8601 time"),  # a script's unset variable: never read as now
        ("0001-01-01T00:00:00+14:00", "is not between 1970 and 2200"),  # no UTC time at all
        ("2500-01-01T09:00:00+00:00", "is not between 1970 and 2200"),
    ],
)
def test_publish_refuses_an_empty_or_unschedulable_send_at_and_sends_nothing(
    env: dict[str, str], db: Database, send_at: str, reason: str
) -> None:
    people(db)
    result = run_cli(env, "publish", RECAP, "--list", "attendees", "--send-at", send_at)
    assert result.returncode == 2 and reason in result.output, result.output
    assert campaign_count(db) == 0


def test_send_sends_a_draft_once(settings: Settings, env: dict[str, str], db: Database, redis_client: redis.Redis) -> None:
    audience = people(db)
    draft = save_draft(settings, db)
    sent = run_cli(env, "send", str(draft))
    assert campaign_id(sent) == draft
    assert f"campaign {draft}: {len(audience)} recipient(s)" in sent.output
    assert deliveries_of(db, draft) == len(audience)
    assert redis_client.llen(QUEUE_SEND) >= 1
    again = run_cli(env, "send", str(draft))
    assert again.returncode == 2 and "sent already" in again.output
    assert deliveries_of(db, draft) == len(audience)


def test_sending_a_sent_draft_again_is_a_conflict_even_when_its_provider_is_no_longer_configured(
    settings: Settings, env: dict[str, str], db: Database, redis_client: redis.Redis
) -> None:
    people(db)
    draft = save_draft(settings, db)
    assert campaign_id(run_cli(env, "send", str(draft))) == draft
    with db.transaction() as session:  # sent with a provider whose credentials were removed since
        session.execute(update(Campaign).where(Campaign.id == draft).values(provider="postmark"))
    again = run_cli(env, "send", str(draft))
    assert again.returncode == 2 and "sent already" in again.output, again.output


def test_send_refuses_lint_errors_with_the_findings_unless_forced(
    settings: Settings, env: dict[str, str], db: Database, tmp_path: Path
) -> None:
    people(db)
    draft = save_draft(settings, db, insecure_image_recap(tmp_path).read_text(encoding="utf-8"))
    refused = run_cli(env, "send", str(draft))
    assert refused.returncode == 2
    assert "lint error: images:" in refused.output and "--force" in refused.output
    assert load_draft(db, draft).status is CampaignStatus.DRAFT and deliveries_of(db, draft) == 0
    assert campaign_id(run_cli(env, "send", str(draft), "--force")) == draft
    assert load_draft(db, draft).status is CampaignStatus.SENDING


def test_send_at_schedules_a_draft(settings: Settings, env: dict[str, str], db: Database, redis_client: redis.Redis) -> None:
    people(db)
    draft = save_draft(settings, db)
    send_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
    result = run_cli(env, "send", str(draft), "--send-at", send_at.isoformat())
    assert campaign_id(result) == draft
    assert f"scheduled for {send_at.isoformat()}" in result.output
    assert load_draft(db, draft).status is CampaignStatus.SCHEDULED
    assert redis_client.llen(QUEUE_SEND) == 0


def test_send_of_an_unknown_campaign_or_a_bad_time_is_bad_input(settings: Settings, env: dict[str, str], db: Database) -> None:
    people(db)
    assert run_cli(env, "send", "999").returncode == 2
    draft = save_draft(settings, db)
    bad_time = run_cli(env, "send", str(draft), "--send-at", "next tuesday")
    assert bad_time.returncode == 2 and "ISO 8601" in bad_time.output
    for moment in ("0001-01-01T00:00:00+14:00", "2500-01-01T09:00:00+00:00"):  # the first has no UTC time at all
        out_of_range = run_cli(env, "send", str(draft), "--send-at", moment)
        assert out_of_range.returncode == 2 and "is not between 1970 and 2200" in out_of_range.output
    empty = run_cli(env, "send", str(draft), "--send-at", "")  # a script's unset variable: never read as now
    assert empty.returncode == 2 and "--send-at is empty: give an ISO 8601 time" in empty.output
    assert load_draft(db, draft).status is CampaignStatus.DRAFT


def test_a_draft_in_status_and_control_commands(settings: Settings, env: dict[str, str], db: Database) -> None:
    people(db)
    draft = save_draft(settings, db)
    shown = json.loads(run_cli(env, "status", "--json").output)
    assert [(c["id"], c["status"], c["total"]) for c in shown["campaigns"]] == [(draft, "draft", 0)]
    table = run_cli({**env, "COLUMNS": "200"}, "status")
    assert table.returncode == 0
    assert f"│ {draft}" in table.output and "│ draft " in table.output
    # A draft has nothing open: --wait returns at once rather than waiting for a send that may never come.
    assert run_cli(env, "status", str(draft), "--wait", "--timeout", "5").returncode == 0
    for command in ("pause", "cancel"):
        result = run_cli(env, command, str(draft))
        assert result.returncode == 2, (command, result.output)
        assert "draft" in result.output
    assert load_draft(db, draft).status is CampaignStatus.DRAFT

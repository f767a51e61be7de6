"""Subject-line tests from the command line, end to end: publish with variants, a real worker, status, pick-winner and report."""

from __future__ import annotations

import collections
import datetime as dt
import email
import email.policy
import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignRelease, Delivery, MailingList
from tests.support.cli import run_cli
from tests.support.engagements import engage
from tests.support.recaps import RECAP
from tests.support.subject_tests import FIRST, OTHERS, audience, records
from tests.support.types import StartWorker
from tests.support.waiting import wait_until

#: A worker sends a small campaign within seconds; this bounds a very busy machine.
BOUND = 120.0
#: Refusals come before anything is written, whatever the database: SQLite alone.
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _publish(env: dict[str, str], *options: str) -> int:
    result = run_cli(env, "publish", RECAP, "--list", "attendees", *options)
    assert result.returncode == 0, result.output
    return int(result.last_line.split()[1])


def _status(env: dict[str, str], campaign_id: int) -> dict[str, object]:
    result = run_cli(env, "status", str(campaign_id), "--json")
    assert result.returncode == 0, result.output
    return dict(json.loads(result.output)["campaigns"][0])


def _subjects_sent(settings: Settings) -> dict[str, list[str]]:
    """Every email in the outbox: the subjects each address was sent."""
    found: dict[str, list[str]] = collections.defaultdict(list)
    for path in settings.resolved_outbox_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found[str(message["To"]).rsplit("<", 1)[-1].rstrip(">")].append(str(message["Subject"]))
    return found


def _sent(db: Database, campaign_id: int) -> int:
    return sum(1 for row in records(db, campaign_id) if row[4] == "sent")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.timing
def test_publish_a_subject_test_send_the_test_then_the_winner_to_the_rest_each_once_with_one_subject(
    settings: Settings, db: Database, env: dict[str, str], start_worker: StartWorker, tmp_path: Path
) -> None:
    people = audience(db, tmp_path, 40)
    published = run_cli(env, "publish", RECAP, "--list", "attendees", "--subject-variant", OTHERS[0], "--subject-variant", OTHERS[1])
    assert published.returncode == 0, published.output
    campaign_id = int(published.last_line.split()[1])
    # `send` and `publish` report the whole audience; the test's share is said apart.
    assert f"campaign {campaign_id}: 40 recipient(s)" in published.output
    said = " ".join(published.output.split())
    assert "subject test: 8 recipient(s) in the test (variant 1: 3, variant 2: 3, variant 3: 2); 32 get the winner" in said
    assert "get the winner 2h after the test starts sending (at " in said

    start_worker(env)
    wait_until(lambda: _sent(db, campaign_id) == 8, timeout=BOUND)
    shown = _status(env, campaign_id)["subject_test"]
    assert isinstance(shown, dict)
    assert (shown["test_recipients"], shown["remainder_recipients"], shown["winner"]) == (8, 32, None)
    assert [(v["number"], v["sent"]) for v in shown["variants"]] == [(1, 3), (2, 3), (3, 2)]
    text = run_cli(env, "status", str(campaign_id))
    assert f"campaign {campaign_id} subject test: 8 in the test (20%:" in text.output.replace("\n", " ")

    # Readers of variant 3 open it; the wait then passes (moved in the ledger, not waited for).
    engage(db, campaign_id, [row[0] for row in records(db, campaign_id) if row[2] == 3])
    with db.transaction() as session:
        session.execute(
            update(CampaignRelease).where(CampaignRelease.campaign_id == campaign_id).values(release_at=utcnow() - dt.timedelta(seconds=1))
        )
    wait_until(lambda: _sent(db, campaign_id) == 40, timeout=BOUND)

    with db.reading() as session:
        winner = session.scalar(select(Campaign.ab_winner).where(Campaign.id == campaign_id))
        variants = dict(session.execute(select(Delivery.email, Delivery.variant).where(Delivery.campaign_id == campaign_id)).all())
    subjects = (FIRST, *OTHERS)
    sent = _subjects_sent(settings)
    assert sorted(sent) == sorted(people)
    for address in people:
        assert sent[address] == [subjects[variants[address] - 1]]  # one email, with its variant's subject
    assert collections.Counter(variants.values())[winner] == 32 + (3 if winner != 3 else 2)

    shown = _status(env, campaign_id)["subject_test"]
    assert isinstance(shown, dict) and shown["winner"] == winner
    report = run_cli(env, "report", str(campaign_id), "--json")
    figures = json.loads(report.output)
    assert figures["winner"] == winner and len(figures["variants"]) == 3
    assert [v["sent"] for v in figures["variants"]] == [3, 3, 2]
    assert [v["engaged"] for v in figures["variants"]] == [0, 0, 2]
    shown_text = run_cli(env, "report", str(campaign_id)).output
    assert "subject test, on unique human opens" in shown_text and "decision: variant" in shown_text


def test_pick_winner_decides_once_and_a_second_pick_is_refused(
    settings: Settings, db: Database, env: dict[str, str], tmp_path: Path
) -> None:
    audience(db, tmp_path, 10)
    campaign_id = _publish(env, "--subject-variant", OTHERS[0], "--test-share", "50", "--test-wait", "90s", "--test-metric", "clicks")
    with db.reading() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        assert (campaign.ab_share, campaign.ab_wait_seconds, campaign.ab_metric) == (50, 90, "clicks")
    picked = run_cli(env, "pick-winner", str(campaign_id), "2")
    assert picked.returncode == 0, picked.output
    assert picked.last_line == f"campaign {campaign_id}"
    again = run_cli(env, "pick-winner", str(campaign_id), "1")
    assert again.returncode == 2
    assert f"campaign {campaign_id}'s winner was decided already: variant 2, by hand (cli)" in again.output.replace("\n", " ")
    assert {row[2] for row in records(db, campaign_id) if row[3] is not None} == {2}


@SQLITE
@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("1",), "has variants 1 to 2: there is no variant 3"),
        (("99999",), "no campaign with id 99999"),
    ],
)
def test_pick_winner_refuses_what_the_campaign_does_not_have(
    db: Database, env: dict[str, str], tmp_path: Path, args: tuple[str, ...], problem: str
) -> None:
    audience(db, tmp_path, 10)
    campaign_id = _publish(env, "--subject-variant", OTHERS[0], "--test-share", "50")
    target = args[0] if args[0] != "1" else str(campaign_id)
    result = run_cli(env, "pick-winner", target, "3")
    assert result.returncode == 2 and problem in result.output.replace("\n", " ")


@SQLITE
def test_pick_winner_of_a_campaign_without_a_test_is_refused(db: Database, env: dict[str, str], tmp_path: Path) -> None:
    audience(db, tmp_path, 10)
    campaign_id = _publish(env)
    result = run_cli(env, "pick-winner", str(campaign_id), "1")
    assert result.returncode == 2 and "has no subject test" in result.output


@SQLITE
@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (("--test-share", "30"), "--test-share set up a subject test: give the subjects to test with --subject-variant"),
        (("--subject-variant", "a", "--test-wait", "2 hours"), "--test-wait: '2 hours' is not a duration"),
        (("--subject-variant", "a", "--test-wait", "30s"), "--test-wait: 30s is out of range"),
        (("--subject-variant", "a", "--test-wait", "9" * 40), "--test-wait:"),
        (("--subject-variant", "a", "--test-share", "0"), "--test-share"),
        (("--subject-variant", "a", "--test-share", "51"), "--test-share"),
        (("--subject-variant", "a", "--test-metric", "replies"), "--test-metric"),
        (("--subject-variant", "a\nBcc: x@example.com"), "--subject-variant #1 contains a line break (U+000A)"),
        (("--subject-variant", "a", "--subject-variant", "x" * 501), "--subject-variant #2 is 501 characters long: at most 500"),
        (("--subject-variant", "a", "--subject-variant", "b", "--subject-variant", "c", "--subject-variant", "d"), "at most 3 times"),
        (("--subject-variant", FIRST), "subject variant 2 is the same as variant 1"),
        (("--subject-variant", "a", "--draft"), "--subject-variant cannot be given with --draft"),
        (("--subject-variant", "a", "--send-at", "2030-01-01T09:00", "--local-time"), "cannot be given with --local-time"),
        (("--subject-variant", "a", "--test-share", "1"), "a test share of 1% of 10 recipient(s) is 0"),
    ],
)
def test_bad_subject_test_options_exit_2_naming_the_option_and_write_nothing(
    db: Database, env: dict[str, str], tmp_path: Path, options: tuple[str, ...], problem: str
) -> None:
    audience(db, tmp_path, 10)
    result = run_cli(env, "publish", RECAP, "--list", "attendees", *options)
    assert result.returncode == 2, result.output
    assert problem in " ".join(result.output.split())
    with db.reading() as session:
        assert session.scalar(select(Campaign.id)) is None


@SQLITE
def test_a_list_with_tracking_off_is_refused_a_subject_test(db: Database, env: dict[str, str], tmp_path: Path) -> None:
    audience(db, tmp_path, 10)
    with db.transaction() as session:
        session.execute(update(MailingList).values(tracking=False))
    result = run_cli(env, "publish", RECAP, "--list", "attendees", "--subject-variant", "a", "--test-share", "50")
    assert result.returncode == 2 and "list 'attendees' has off" in " ".join(result.output.split())
    off = run_cli({**env, "NEWSLETTER_TRACKING": "false"}, "publish", RECAP, "--list", "attendees", "--subject-variant", "a")
    assert off.returncode == 2 and "NEWSLETTER_TRACKING" in off.output


@SQLITE
def test_a_wait_longer_than_opens_are_kept_is_refused(db: Database, env: dict[str, str], tmp_path: Path) -> None:
    audience(db, tmp_path, 10)
    short = {**env, "NEWSLETTER_TRACKING_DAYS": "1"}
    result = run_cli(short, "publish", RECAP, "--list", "attendees", "--subject-variant", "a", "--test-share", "50", "--test-wait", "25h")
    assert result.returncode == 2, result.output
    said = " ".join(result.output.split())
    assert "--test-wait: the test wait, 25h, is longer than NEWSLETTER_TRACKING_DAYS (1 day)" in said
    with db.reading() as session:
        assert session.scalar(select(Campaign.id)) is None
    kept = run_cli(short, "publish", RECAP, "--list", "attendees", "--subject-variant", "a", "--test-share", "50", "--test-wait", "24h")
    assert kept.returncode == 0, kept.output

"""End to end: publish → Redis → a real Celery worker process → provider, with the ledger checked at each step."""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import func, select, update

from publisher.db.engine import open_database
from publisher.db.models import Campaign, Delivery
from publisher.queue import QUEUE_PRIORITY, QUEUE_SEND
from tests.fakes.server import CannedAnswer, FakeProviders
from tests.support.audience import CSV
from tests.support.cli import CliResult, run_cli
from tests.support.paths import FIXTURES
from tests.support.recaps import RECAP, insecure_image_recap, write_recap
from tests.support.types import StartWorker


def campaign_id(result: CliResult) -> int:
    assert result.returncode == 0, result.output
    word, number = result.last_line.split()
    assert word == "campaign"
    return int(number)


def status(env: dict[str, str], cid: int) -> dict[str, object]:
    result = run_cli(env, "status", str(cid), "--json")
    assert result.returncode == 0, result.output
    campaigns = json.loads(result.output)["campaigns"]
    assert isinstance(campaigns, list)
    return dict(campaigns[0])


def wait_done(env: dict[str, str], cid: int) -> dict[str, int]:
    result = run_cli(env, "status", str(cid), "--wait", "--timeout", "60")
    assert result.returncode == 0, result.output
    shown = status(env, cid)
    assert shown["status"] == "complete"
    counts = shown["deliveries"]
    assert isinstance(counts, dict)
    return counts


def test_publish_deliver_through_postmark_end_to_end(
    postmark_env: dict[str, str], fake_postmark: FakeProviders, redis_client: redis.Redis, start_worker: StartWorker
) -> None:
    env = {**postmark_env, "NEWSLETTER_BATCH_SIZE": "10"}
    assert run_cli(env, "subscribers", "import", CSV, "--list", "attendees").returncode == 0
    published = run_cli(env, "publish", RECAP, "--list", "attendees")
    cid = campaign_id(published)
    assert redis_client.llen(QUEUE_SEND) == 3  # 25 recipients in batches of 10: one task per batch
    assert status(env, cid)["deliveries"] == {
        "pending": 25, "sending": 0, "sent": 0, "failed": 0, "suppressed": 0, "in_doubt": 0, "cancelled": 0,
    }  # fmt: skip

    start_worker(env)
    counts = wait_done(env, cid)
    assert counts["sent"] == 25
    recipients = fake_postmark.recipients()
    assert len(recipients) == len(set(recipients)) == 25
    zoe = next(a.raw for a in fake_postmark.accepted if a.to == "zoe.obrien@example.com")
    assert "Hi Zoë," in zoe["HtmlBody"] and "Hi Zoë," in zoe["TextBody"]
    headers = {h["Name"]: h["Value"] for h in zoe["Headers"]}
    assert headers["List-Unsubscribe"].startswith("<http://localhost:8000/unsubscribe/")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert redis_client.llen(QUEUE_SEND) == 0


def test_audience_is_frozen_when_publishing(
    postmark_env: dict[str, str], fake_postmark: FakeProviders, tmp_path: Path, start_worker: StartWorker
) -> None:
    run_cli(postmark_env, "subscribers", "import", CSV, "--list", "attendees")
    cid = campaign_id(run_cli(postmark_env, "publish", RECAP, "--list", "attendees"))
    late = tmp_path / "late.csv"
    late.write_text("email,first_name,last_name\nlate.comer@example.com,Late,Comer\n", encoding="utf-8")
    assert run_cli(postmark_env, "subscribers", "import", str(late), "--list", "attendees").returncode == 0
    start_worker(postmark_env)
    assert wait_done(postmark_env, cid)["sent"] == 25
    assert not any("late.comer" in to for to in fake_postmark.recipients())


def test_same_recap_twice_is_two_campaigns(postmark_env: dict[str, str], redis_client: redis.Redis) -> None:
    run_cli(postmark_env, "subscribers", "import", CSV, "--list", "attendees")
    first = campaign_id(run_cli(postmark_env, "publish", RECAP, "--list", "attendees"))
    second = campaign_id(run_cli(postmark_env, "publish", RECAP, "--list", "attendees"))
    assert second == first + 1
    assert status(postmark_env, second)["total"] == 25


def test_test_send_goes_to_one_address_marked_as_test(
    postmark_env: dict[str, str], fake_postmark: FakeProviders, redis_client: redis.Redis, start_worker: StartWorker
) -> None:
    run_cli(postmark_env, "subscribers", "import", CSV, "--list", "attendees")
    cid = campaign_id(run_cli(postmark_env, "publish", RECAP, "--list", "attendees", "--test-to", "editor@modu.example"))
    assert redis_client.llen(QUEUE_PRIORITY) == 1
    start_worker(postmark_env)
    assert wait_done(postmark_env, cid)["sent"] == 1
    assert fake_postmark.recipients() == ["editor@modu.example"]
    assert fake_postmark.accepted[0].subject.startswith("[TEST] ")
    assert status(postmark_env, cid)["test"] is True


@pytest.mark.timing
def test_scheduled_send_waits_in_the_database_and_the_workers_release_it(
    postmark_env: dict[str, str], fake_postmark: FakeProviders, redis_client: redis.Redis, start_worker: StartWorker
) -> None:
    env = {**postmark_env, "NEWSLETTER_SWEEP_INTERVAL": "0.5"}
    run_cli(env, "subscribers", "import", CSV, "--list", "attendees")
    next_week = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    cid = campaign_id(run_cli(env, "publish", RECAP, "--list", "attendees", "--send-at", next_week))
    # A second campaign, due the moment the worker is up: once it is sent, a
    # sweep has run with the first one in the database, however slow the machine.
    witness = campaign_id(run_cli(env, "publish", RECAP, "--list", "attendees", "--send-at", next_week))
    assert redis_client.llen(QUEUE_SEND) == 0  # nothing waits in Redis as an ETA task
    assert status(env, cid)["status"] == "scheduled"
    start_worker(env)
    week_passes(env, witness)
    assert wait_done(env, witness)["sent"] == 25
    assert status(env, cid)["status"] == "scheduled"  # the sweeps did not release it early
    assert len(fake_postmark.recipients()) == 25
    week_passes(env, cid)
    assert wait_done(env, cid)["sent"] == 25
    assert status(env, cid)["status"] == "complete"
    assert len(fake_postmark.recipients()) == 50


def week_passes(env: dict[str, str], cid: int) -> None:
    """Move the campaign's send time to a moment ago, as if its week had passed."""
    database = open_database(env["NEWSLETTER_DATABASE_URL"])
    with database.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == cid).values(send_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    database.dispose()


def test_permanent_failures_are_recorded_and_the_campaign_still_completes(
    postmark_env: dict[str, str], fake_postmark: FakeProviders, start_worker: StartWorker
) -> None:
    fake_postmark.faults.reject["raj.patel@example.org"] = (406, "Recipient marked as inactive.")
    run_cli(postmark_env, "subscribers", "import", CSV, "--list", "attendees")
    cid = campaign_id(run_cli(postmark_env, "publish", RECAP, "--list", "attendees"))
    start_worker(postmark_env)
    counts = wait_done(postmark_env, cid)
    assert (counts["sent"], counts["failed"]) == (24, 1)
    database = open_database(postmark_env["NEWSLETTER_DATABASE_URL"])
    with database.transaction() as session:
        error = session.scalar(select(Delivery.last_error).where(Delivery.email == "raj.patel@example.org"))
    database.dispose()
    assert error is not None and "406" in error


@pytest.mark.timing
def test_transient_failures_are_retried_without_duplicates(
    postmark_env: dict[str, str], fake_postmark: FakeProviders, start_worker: StartWorker
) -> None:
    fake_postmark.faults.canned.append(CannedAnswer(503, "Service Unavailable", {"Retry-After": "1"}))
    run_cli(postmark_env, "subscribers", "import", CSV, "--list", "attendees")
    cid = campaign_id(run_cli(postmark_env, "publish", RECAP, "--list", "attendees"))
    start_worker(postmark_env)
    assert wait_done(postmark_env, cid)["sent"] == 25
    recipients = fake_postmark.recipients()
    assert len(recipients) == len(set(recipients)) == 25
    assert len(fake_postmark.calls_to("postmark")) == 2


def test_unreachable_redis_fails_clearly_and_writes_nothing(env: dict[str, str]) -> None:
    run_cli(env, "subscribers", "import", CSV, "--list", "attendees")
    broken = {**env, "NEWSLETTER_REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"}
    result = run_cli(broken, "publish", RECAP, "--list", "attendees")
    assert result.returncode == 3
    assert "cannot reach Redis at redis://:***@127.0.0.1:1/0" in result.output
    assert "hunter2" not in result.output
    database = open_database(env["NEWSLETTER_DATABASE_URL"])
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Campaign)) == 0
    database.dispose()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "command",
    [
        ["subscribers", "import", CSV, "--list", "attendees"],
        ["publish", RECAP, "--list", "attendees"],
        ["status"],
        ["report", "1"],
        ["lists", "show"],
        ["suppressions", "list", "--json"],
        ["dlq", "list"],
    ],
    ids=lambda command: "-".join(str(part) for part in command[:2]).replace(str(RECAP), "recap"),
)
def test_an_unreachable_database_fails_with_exit_3_and_one_line_with_the_password_masked(
    env: dict[str, str], redis_client: redis.Redis, command: list[str | Path]
) -> None:
    port = closed_port()
    url = f"postgresql+psycopg://newsletter:hunter2@127.0.0.1:{port}/newsletter"
    result = run_cli({**env, "NEWSLETTER_DATABASE_URL": url}, *command)
    assert result.returncode == 3, result.output
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith("lint ")]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: cannot reach the database at postgresql+psycopg://newsletter:***@127.0.0.1:{port}/newsletter (")
    assert lines[0].endswith("); nothing was written")
    assert "Connection refused" in lines[0]
    assert "hunter2" not in result.output
    assert redis_client.llen(QUEUE_SEND) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sqlite_database_in_a_place_that_cannot_hold_one_fails_with_exit_3(env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the database's directory should be", encoding="utf-8")
    url = f"sqlite:///{blocker / 'newsletter.db'}"
    result = run_cli({**env, "NEWSLETTER_DATABASE_URL": url}, "subscribers", "import", CSV, "--list", "attendees")
    assert result.returncode == 3, result.output
    assert result.output.startswith(f"error: cannot reach the database at {url} (")
    assert result.output.rstrip().endswith("); nothing was written")
    assert "Traceback" not in result.output


def test_bad_recap_is_refused_with_exit_2_and_nothing_enqueued(env: dict[str, str], redis_client: redis.Redis) -> None:
    run_cli(env, "subscribers", "import", CSV, "--list", "attendees")
    bad = FIXTURES / "recaps" / "unknown-key.md"
    result = run_cli(env, "publish", str(bad), "--list", "attendees")
    assert result.returncode == 2
    assert str(bad) in result.output and "unknown key 'sponsor'" in result.output
    assert redis_client.llen(QUEUE_SEND) == 0
    assert json.loads(run_cli(env, "status", "--json").output)["campaigns"] == []


def test_a_title_with_a_line_separator_is_refused_with_exit_2_naming_the_field(
    env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    run_cli(env, "subscribers", "import", CSV, "--list", "attendees")
    recap = write_recap(tmp_path / "separator.md", "body", 'title: "First\\Lsecond"')
    result = run_cli(env, "publish", str(recap), "--list", "attendees")
    assert result.returncode == 2, result.output
    assert "'title': must be a single line of text: it contains a line break (U+2028)" in result.output
    assert redis_client.llen(QUEUE_SEND) == 0
    assert json.loads(run_cli(env, "status", "--json").output)["campaigns"] == []


def test_a_recap_over_1_mib_is_refused_with_exit_2_and_nothing_enqueued(
    env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    run_cli(env, "subscribers", "import", CSV, "--list", "attendees")
    recap = tmp_path / "big.md"
    recap.write_bytes(b"---\ntitle: Big\n---\n" + b"A paragraph of the recap.\n\n" * 50_000)
    result = run_cli(env, "publish", str(recap), "--list", "attendees")
    assert result.returncode == 2, result.output
    assert f"error: {recap}: is larger than 1,048,576 bytes (1 MiB), the most a recap may be" in result.output
    assert redis_client.llen(QUEUE_SEND) == 0
    assert json.loads(run_cli(env, "status", "--json").output)["campaigns"] == []


def test_unknown_list_is_refused_with_exit_2(env: dict[str, str], redis_client: redis.Redis) -> None:
    result = run_cli(env, "publish", RECAP, "--list", "nobody")
    assert result.returncode == 2
    assert "no list named 'nobody'" in result.output
    assert redis_client.llen(QUEUE_SEND) == 0


def test_a_list_name_no_list_can_have_is_refused_with_exit_2_before_anything_is_checked(env: dict[str, str]) -> None:
    broken = {**env, "NEWSLETTER_REDIS_URL": "redis://127.0.0.1:1/0"}  # bad input is said first, even with Redis down
    result = run_cli(broken, "publish", RECAP, "--list", "x" * 101)
    assert result.returncode == 2, result.output
    assert "error: the list name is 101 characters long; at most 100 fit" in result.output


def test_status_of_an_unknown_campaign_exits_2(env: dict[str, str]) -> None:
    result = run_cli(env, "status", "999", "--wait", "--timeout", "1")
    assert result.returncode == 2
    assert "no campaign with id 999" in result.output


@pytest.mark.timing
def test_status_wait_times_out_with_exit_1_when_nobody_delivers(env: dict[str, str]) -> None:
    run_cli(env, "subscribers", "import", CSV, "--list", "attendees")
    cid = campaign_id(run_cli(env, "publish", RECAP, "--list", "attendees"))
    result = run_cli(env, "status", str(cid), "--wait", "--timeout", "1")
    assert result.returncode == 1
    assert "25 deliveries open" in result.output


def test_worker_refuses_to_start_without_provider_credentials(env: dict[str, str]) -> None:
    result = run_cli({**env, "NEWSLETTER_PROVIDER": "postmark"}, "worker", timeout=60)
    assert result.returncode == 3
    assert "NEWSLETTER_POSTMARK_API_KEY" in result.output


def test_status_shows_counts_and_queue_depth(env: dict[str, str], redis_client: redis.Redis) -> None:
    run_cli(env, "subscribers", "import", CSV, "--list", "attendees")
    cid = campaign_id(run_cli(env, "publish", RECAP, "--list", "attendees"))
    shown = run_cli(env, "status")
    assert shown.returncode == 0
    assert f"│ {cid}" in shown.output or f"┃ {cid}" in shown.output
    assert f"{QUEUE_SEND} 1" in shown.output


def test_publish_refuses_a_recap_with_lint_errors_unless_forced(env: dict[str, str], redis_client: redis.Redis, tmp_path: Path) -> None:
    run_cli(env, "subscribers", "import", CSV, "--list", "attendees")
    recap = insecure_image_recap(tmp_path)
    refused = run_cli(env, "publish", str(recap), "--list", "attendees")
    assert refused.returncode == 2
    assert "lint found" in refused.output and "--force" in refused.output
    assert redis_client.llen(QUEUE_SEND) == 0
    forced = run_cli(env, "publish", str(recap), "--list", "attendees", "--force")
    assert campaign_id(forced) >= 1
    assert redis_client.llen(QUEUE_SEND) == 1


def test_pause_and_resume_from_the_command_line_send_everyone_once(
    postmark_env: dict[str, str], fake_postmark: FakeProviders, start_worker: StartWorker
) -> None:
    env = {**postmark_env, "NEWSLETTER_BATCH_SIZE": "5", "NEWSLETTER_SWEEP_INTERVAL": "0.5"}
    run_cli(env, "subscribers", "import", CSV, "--list", "attendees")
    cid = campaign_id(run_cli(env, "publish", RECAP, "--list", "attendees"))
    assert run_cli(env, "pause", str(cid)).returncode == 0
    shown = run_cli(env, "status", str(cid))
    assert "paused by an operator" in shown.output
    start_worker(env)
    assert run_cli(env, "status", str(cid), "--wait", "--timeout", "2").returncode == 1
    assert fake_postmark.recipients() == []
    resumed = run_cli(env, "resume", str(cid))
    assert resumed.returncode == 0, resumed.output
    assert wait_done(env, cid)["sent"] == 25
    recipients = fake_postmark.recipients()
    assert len(recipients) == len(set(recipients)) == 25


def test_cancel_from_the_command_line(env: dict[str, str]) -> None:
    run_cli(env, "subscribers", "import", CSV, "--list", "attendees")
    cid = campaign_id(run_cli(env, "publish", RECAP, "--list", "attendees"))
    result = run_cli(env, "cancel", str(cid))
    assert result.returncode == 0 and "25 record(s) will not be sent" in result.output
    assert status(env, cid)["deliveries"]["cancelled"] == 25  # type: ignore[index]
    assert run_cli(env, "cancel", str(cid)).returncode == 2


def test_workers_export_prometheus_metrics(env: dict[str, str], start_worker: StartWorker, tmp_path: Path) -> None:
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**env, "NEWSLETTER_METRICS_PORT": str(port), "NEWSLETTER_OUTBOX_DIR": str(tmp_path / "outbox")}
    run_cli(env, "subscribers", "import", CSV, "--list", "attendees")
    cid = campaign_id(run_cli(env, "publish", RECAP, "--list", "attendees"))
    start_worker(env)
    assert wait_done(env, cid)["sent"] == 25
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        exposed = response.read().decode()
    assert 'newsletter_messages_total{outcome="sent",provider="outbox"} 25.0' in exposed
    assert 'newsletter_provider_call_seconds_count{provider="outbox"}' in exposed
    assert 'newsletter_provider_calls_total{provider="outbox",result="ok"} 1.0' in exposed


def test_workers_count_provider_calls_that_failed_apart_from_those_that_worked(
    postmark_env: dict[str, str], fake_postmark: FakeProviders, start_worker: StartWorker
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**postmark_env, "NEWSLETTER_METRICS_PORT": str(port)}
    fake_postmark.faults.canned.append(CannedAnswer(503, "Service Unavailable", {"Retry-After": "1"}))
    run_cli(env, "subscribers", "import", CSV, "--list", "attendees")
    cid = campaign_id(run_cli(env, "publish", RECAP, "--list", "attendees"))
    start_worker(env)
    assert wait_done(env, cid)["sent"] == 25
    exposed = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'newsletter_provider_calls_total{provider="postmark",result="error"} 1.0' in exposed
    assert 'newsletter_provider_calls_total{provider="postmark",result="ok"} 1.0' in exposed
    assert 'newsletter_provider_call_seconds_count{provider="postmark"} 2.0' in exposed


def test_ping_worker_says_whether_the_worker_takes_tasks(env: dict[str, str], start_worker: StartWorker) -> None:
    node = f"ping-{uuid.uuid4().hex[:8]}@%h"
    unanswered = run_cli(env, "ping-worker", "--name", node, "--timeout", "2")
    assert unanswered.returncode == 1
    assert "did not answer" in unanswered.output
    start_worker(env, "-n", node)
    answered = run_cli(env, "ping-worker", "--name", node)
    assert answered.returncode == 0, answered.output
    assert "is ready" in answered.output
    broken = run_cli({**env, "NEWSLETTER_REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"}, "ping-worker")
    assert broken.returncode == 3
    assert "hunter2" not in broken.output

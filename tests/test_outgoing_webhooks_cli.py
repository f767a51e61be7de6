"""`newsletter webhooks add|list|remove|enable` as a user runs them, and the whole path through a real worker.

Bad input is exit 2 with one line saying what would do, and writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from publisher.db.engine import open_database
from publisher.outgoing_webhooks.endpoints import list_endpoints
from publisher.queue import QUEUE_PRIORITY, WEBHOOKS_QUEUED_KEY
from tests.fakes.webhook_receiver import receiving
from tests.support.audience import CSV
from tests.support.cli import run_cli
from tests.support.recaps import RECAP
from tests.support.types import StartWorker
from tests.support.waiting import wait_until

LOOPBACK = {"NEWSLETTER_FETCH_ALLOW_LOOPBACK": "true"}
URL = "http://127.0.0.1:8080/hooks"


def _endpoints(env: dict[str, str]) -> list[dict[str, object]]:
    result = run_cli(env, "webhooks", "list", "--json")
    assert result.returncode == 0, result.output
    listed: list[dict[str, object]] = json.loads(result.output)
    return listed


def test_add_prints_the_endpoint_then_its_secret_last_and_list_never_shows_it(env: dict[str, str]) -> None:
    added = run_cli({**env, **LOOPBACK}, "webhooks", "add", URL, "--event", "delivery.bounced", "--event", "campaign.sending")

    assert added.returncode == 0, added.output
    lines = [line for line in added.output.splitlines() if line.strip()]
    assert lines[0] == "endpoint 1"
    secret = added.last_line
    assert secret.startswith("whsec_") and len(secret) > 40
    listed = run_cli(env, "webhooks", "list")
    assert listed.returncode == 0
    assert "campaign.sending" in listed.output and "enabled" in listed.output
    assert secret not in listed.output
    (shown,) = _endpoints(env)
    assert shown["event_types"] == ["campaign.sending", "delivery.bounced"]
    assert secret not in json.dumps(shown)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((URL, "--event", "campaign.sent"), "unknown event type 'campaign.sent': use one or more of campaign.sending, campaign.completed"),
        ((URL, "--event", "x" * 100_000), "unknown event type"),
        (("https://10.1.2.3/hooks", "--event", "campaign.sending"), "10.1.2.3 is a private address"),
        (("https://169.254.169.254/", "--event", "campaign.sending"), "a link-local address"),
        (("https://u:p@example.com/hooks", "--event", "campaign.sending"), "carries a user name or password"),
        (("https://example.com/" + "a" * 5000, "--event", "campaign.sending"), "at most 2,000"),
        (("https://example.com/\x1b[31m", "--event", "campaign.sending"), "a space or a control character"),
        (("javascript:alert(1)", "--event", "campaign.sending"), "not an https:// URL"),
        (("", "--event", "campaign.sending"), "give the endpoint's URL"),
    ],
)
def test_add_refuses_bad_input_with_exit_2_and_writes_nothing(env: dict[str, str], args: tuple[str, ...], message: str) -> None:
    result = run_cli({**env, **LOOPBACK}, "webhooks", "add", *args)

    assert result.returncode == 2, result.output
    assert message in result.output
    assert "\x1b[31m" not in result.output, "what was typed is never echoed raw to the terminal"
    assert _endpoints(env) == []


def test_add_refuses_loopback_unless_allowed(env: dict[str, str]) -> None:
    result = run_cli(env, "webhooks", "add", "https://127.0.0.1/hooks", "--event", "campaign.sending")

    assert result.returncode == 2
    assert "127.0.0.1 is a loopback address" in result.output
    assert _endpoints(env) == []


def test_add_without_an_event_is_a_usage_error(env: dict[str, str]) -> None:
    result = run_cli({**env, **LOOPBACK}, "webhooks", "add", URL)

    assert result.returncode == 2
    assert "--event" in result.output
    assert _endpoints(env) == []


@pytest.mark.parametrize("command", ["remove", "enable"])
@pytest.mark.parametrize("endpoint_id", ["0", "-1", "abc", "99999999999999999999", "1e3", "7"])
def test_remove_and_enable_refuse_ids_that_name_no_endpoint(env: dict[str, str], command: str, endpoint_id: str) -> None:
    result = run_cli(env, "webhooks", command, "--", endpoint_id)

    assert result.returncode == 2, result.output
    if endpoint_id == "7":
        assert "no webhook endpoint 7: see `newsletter webhooks list`" in result.output


def test_remove_then_enable_by_id(env: dict[str, str]) -> None:
    assert run_cli({**env, **LOOPBACK}, "webhooks", "add", URL, "--event", "campaign.completed").returncode == 0

    enabled = run_cli(env, "webhooks", "enable", "1")
    removed = run_cli(env, "webhooks", "remove", "1")

    assert (enabled.returncode, enabled.last_line) == (0, "endpoint 1 enabled")
    assert (removed.returncode, removed.last_line) == (0, "endpoint 1 removed")
    assert _endpoints(env) == []
    audit = run_cli(env, "audit", "--json")
    actions = [entry["action"] for entry in json.loads(audit.output)]
    assert actions[:3] == ["webhook-removed", "webhook-enabled", "webhook-added"]


def test_a_published_campaign_is_announced_through_a_real_worker(
    env: dict[str, str], redis_client: redis.Redis, start_worker: StartWorker, tmp_path: Path
) -> None:
    env = {**env, **LOOPBACK}
    with receiving() as receiver:
        added = run_cli(env, "webhooks", "add", receiver.url, "--event", "campaign.sending", "--event", "campaign.completed")
        assert added.returncode == 0, added.output
        receiver.secret = added.last_line
        assert run_cli(env, "subscribers", "import", CSV, "--list", "attendees").returncode == 0
        published = run_cli(env, "publish", RECAP, "--list", "attendees")
        assert published.returncode == 0, published.output
        campaign_id = int(published.last_line.split()[1])
        # The publish committed its campaign.sending message and put a delivery task on the queue at once.
        assert redis_client.exists(WEBHOOKS_QUEUED_KEY)
        assert redis_client.llen(QUEUE_PRIORITY) >= 1

        start_worker(env)
        wait_until(lambda: len(receiver.calls) >= 2)

    # Messages are not ordered (docs/outgoing-webhooks.md): a retry may overtake; both arrive.
    assert sorted(call.payload["type"] for call in receiver.calls) == ["campaign.completed", "campaign.sending"]
    assert all(call.verified for call in receiver.calls)
    assert {call.payload["data"]["campaign"]["id"] for call in receiver.calls} == {campaign_id}
    (completed,) = [call for call in receiver.calls if call.payload["type"] == "campaign.completed"]
    assert completed.payload["data"]["counts"]["sent"] == 25
    db = open_database(env["NEWSLETTER_DATABASE_URL"])
    try:
        (endpoint,) = list_endpoints(db)
    finally:
        db.dispose()
    assert (endpoint.waiting, endpoint.consecutive_failures) == (0, 0)

"""End to end: the List-Unsubscribe header of a delivered email, posted as RFC 8058 one-click, stops every later issue."""

from __future__ import annotations

import html
import re
import time
from collections import Counter
from collections.abc import Callable

import pytest
import requests
from publisher.core.settings import Settings
from sqlalchemy import select

from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignStatus, Delivery, DeliveryState
from tests.fakes.server import Accepted, FakeProviders
from tests.helpers import WorkerProcess, run_cli
from tests.web_helpers import CSV, RECAP, ZOE

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

StartWorker = Callable[..., WorkerProcess]


def publish(env: dict[str, str]) -> int:
    result = run_cli(env, "publish", str(RECAP), "--list", "attendees")
    assert result.returncode == 0, result.output
    return int(result.last_line.removeprefix("campaign "))


def wait_complete(db: Database, *campaign_ids: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with db.transaction() as session:
            done = set(
                session.scalars(select(Campaign.id).where(Campaign.id.in_(campaign_ids), Campaign.status == CampaignStatus.COMPLETE))
            )
        if done == set(campaign_ids):
            return
        assert time.monotonic() < deadline, f"campaigns {set(campaign_ids) - done} not complete after {timeout}s"
        time.sleep(0.2)


def deliveries(db: Database, campaign_id: int) -> dict[str, DeliveryState]:
    with db.transaction() as session:
        return {
            email: DeliveryState(state)
            for email, state in session.execute(select(Delivery.email, Delivery.state).where(Delivery.campaign_id == campaign_id))
        }


def headers(message: Accepted) -> dict[str, str]:
    return {header["Name"]: header["Value"] for header in message.raw["Headers"]}


def received(fake: FakeProviders, campaign_id: int) -> Counter[str]:
    return Counter(m.to for m in fake.accepted if headers(m)["X-Newsletter-Campaign"] == str(campaign_id))


def test_one_click_from_a_delivered_email_stops_later_issues_and_the_pending_one(
    settings: Settings,
    db: Database,
    postmark_env: dict[str, str],
    fake_postmark: FakeProviders,
    start_worker: StartWorker,
    serve_web: Callable[[Settings], str],
) -> None:
    # The app is served first so the workers can sign links that point at it.
    base_url = serve_web(settings)
    env = {**postmark_env, "NEWSLETTER_PUBLIC_URL": base_url}
    assert run_cli(env, "subscribers", "import", str(CSV), "--list", "attendees").returncode == 0
    first = publish(env)
    worker = start_worker(env)
    wait_complete(db, first)
    assert sum(received(fake_postmark, first).values()) == 25

    message = next(m for m in fake_postmark.accepted if m.to == ZOE)
    assert headers(message)["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_url = headers(message)["List-Unsubscribe"].strip("<>")
    assert unsubscribe_url.startswith(f"{base_url}/unsubscribe/")
    # The footer's "Manage preferences" link opens her preference page.
    found = re.search(r'href="([^"]+/preferences/[^"]+)"[^>]*>Manage preferences<', message.raw["HtmlBody"])
    assert found is not None
    preferences = requests.get(html.unescape(found.group(1)), timeout=5)
    assert preferences.status_code == 200 and "z***@example.com" in preferences.text

    # A second issue is published while no worker runs: her delivery is pending in a running campaign.
    worker.stop()
    running = publish(env)
    assert deliveries(db, running)[ZOE] == DeliveryState.PENDING

    # What a mailbox provider does for the "Unsubscribe" button: a bare POST, no cookies.
    response = requests.post(
        unsubscribe_url, data="List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=5
    )
    assert response.status_code == 200
    assert "You have been unsubscribed from attendees" in response.text

    later = publish(env)
    start_worker(env)
    wait_complete(db, running, later)

    # The running campaign skipped her; the later one never had her in its audience.
    pending_then = deliveries(db, running)
    assert pending_then.pop(ZOE) == DeliveryState.SUPPRESSED
    assert set(pending_then.values()) == {DeliveryState.SENT} and len(pending_then) == 24
    published_after = deliveries(db, later)
    assert ZOE not in published_after
    assert set(published_after.values()) == {DeliveryState.SENT} and len(published_after) == 24
    for campaign in (running, later):
        got = received(fake_postmark, campaign)
        assert ZOE not in got
        assert len(got) == 24 and set(got.values()) == {1}
    assert Counter(m.to for m in fake_postmark.accepted)[ZOE] == 1

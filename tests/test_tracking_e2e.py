"""End to end: a real worker sends a tracked issue through the fake Postmark; its pixel and links record opens and clicks."""

from __future__ import annotations

import base64
import datetime as dt
import html
import re

import pytest
import requests
import time_machine
from sqlalchemy import select

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignStatus, Delivery, EngagementKind
from publisher.tracking.classify import PREFETCH_OPEN_SECONDS
from publisher.tracking.figures import unique_figures
from tests.fakes.server import Accepted, FakeProviders
from tests.support.audience import CSV, RAJ, ZOE
from tests.support.campaigns import publish_with_cli
from tests.support.cli import run_cli
from tests.support.tracking import BROWSER, engagements, tracked_links
from tests.support.types import ServeWeb, StartWorker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def complete(db: Database, campaign_id: int) -> bool:
    with db.transaction() as session:
        return session.scalar(select(Campaign.status).where(Campaign.id == campaign_id)) == CampaignStatus.COMPLETE


def message(fake: FakeProviders, campaign_id: int, to: str) -> Accepted:
    return next(m for m in fake.accepted if m.to == to and {"Name": "X-Newsletter-Campaign", "Value": str(campaign_id)} in m.raw["Headers"])


def delivery_of(db: Database, campaign_id: int, email: str) -> Delivery:
    with db.transaction() as session:
        found = session.scalar(select(Delivery).where(Delivery.campaign_id == campaign_id, Delivery.email == email))
        assert found is not None
        session.expunge(found)
        return found


def test_a_delivered_issue_records_a_readers_open_and_click_and_a_prefetch_as_machine(
    settings: Settings,
    db: Database,
    postmark_env: dict[str, str],
    fake_postmark: FakeProviders,
    start_worker: StartWorker,
    serve_web: ServeWeb,
) -> None:
    base_url = serve_web(settings)
    env = {**postmark_env, "NEWSLETTER_PUBLIC_URL": base_url}
    assert run_cli(env, "subscribers", "import", str(CSV), "--list", "attendees").returncode == 0
    campaign_id = publish_with_cli(env)
    start_worker(env)
    wait_until(lambda: complete(db, campaign_id), timeout=60)
    links = tracked_links(db, campaign_id)
    assert links

    zoe = message(fake_postmark, campaign_id, ZOE)
    body = zoe.raw["HtmlBody"]
    [pixel] = re.findall(rf'<img src="({re.escape(base_url)}/t/o/[^"]+\.gif)" width="1" height="1" alt=""', body)
    clicks = [html.unescape(href) for href in re.findall(rf'href="({re.escape(base_url)}/t/c/[^"]+)"', body)]
    assert len({re.sub(r"/t/c/\d+\.", "/t/c/N.", url) for url in clicks}) == 1, "one token per email, in every link"
    token = re.sub(r".*/t/c/\d+\.", "", clicks[0])
    text_clicks = re.findall(rf"{re.escape(base_url)}/t/c/\d+\.([A-Za-z0-9_.\-]+)", zoe.raw["TextBody"])
    assert text_clicks and set(text_clicks) == {token}
    # Her own subscriber links are never rewritten.
    assert re.search(rf'href="{re.escape(base_url)}/unsubscribe/[^"]+"', body)
    assert re.search(rf'href="{re.escape(base_url)}/view/[^"]+"', body)

    delivery = delivery_of(db, campaign_id, ZOE)
    assert delivery.sent_at is not None
    # Two hours after sending she opens it and clicks a link.
    with time_machine.travel(delivery.sent_at + dt.timedelta(hours=2), tick=True):
        opened = requests.get(pixel, headers={"User-Agent": BROWSER}, timeout=10)
        clicked = requests.get(clicks[0], headers={"User-Agent": BROWSER}, allow_redirects=False, timeout=10)
    assert opened.status_code == 200 and opened.headers["Content-Type"] == "image/gif"
    number = int(re.search(r"/t/c/(\d+)\.", clicks[0]).group(1))  # type: ignore[union-attr]
    assert clicked.status_code == 302 and clicked.headers["Location"] == links[number]
    assert [(row.kind, row.machine, row.source) for row in engagements(db, delivery.id)] == [
        (EngagementKind.OPEN, False, "app"),
        (EngagementKind.CLICK, False, "app"),
    ]

    # Raj's mail client (a privacy proxy) fetches his pixel the moment the email lands.
    raj = delivery_of(db, campaign_id, RAJ)
    assert raj.sent_at is not None
    [raj_pixel] = re.findall(r'<img src="([^"]+/t/o/[^"]+\.gif)"', message(fake_postmark, campaign_id, RAJ).raw["HtmlBody"])
    with time_machine.travel(raj.sent_at + dt.timedelta(seconds=PREFETCH_OPEN_SECONDS // 2), tick=True):
        assert requests.get(raj_pixel, headers={"User-Agent": BROWSER}, timeout=10).status_code == 200
    [prefetch] = engagements(db, raj.id)
    assert prefetch.machine is True and prefetch.machine_reason is not None
    # Her token cannot be turned into his: a forged payload is a 404, recorded nowhere.
    raj_payload = base64.urlsafe_b64encode(f"[{raj.id},{campaign_id}]".encode()).decode().rstrip("=")
    forged = pixel.replace(pixel.split("/t/o/")[1].split(".")[0], raj_payload)
    assert forged != pixel
    assert requests.get(forged, timeout=10).status_code == 404
    with db.transaction() as session:
        figures = unique_figures(session, campaign_id)
    assert (figures.opened_human, figures.opened_machine, figures.clicked_human) == (1, 1, 1)


def test_a_list_with_tracking_off_gets_the_original_links_and_no_pixel(
    settings: Settings,
    db: Database,
    postmark_env: dict[str, str],
    fake_postmark: FakeProviders,
    start_worker: StartWorker,
    serve_web: ServeWeb,
) -> None:
    base_url = serve_web(settings)
    env = {**postmark_env, "NEWSLETTER_PUBLIC_URL": base_url}
    assert run_cli(env, "subscribers", "import", str(CSV), "--list", "attendees").returncode == 0
    assert run_cli(env, "lists", "set", "attendees", "--tracking", "off").returncode == 0
    campaign_id = publish_with_cli(env)
    start_worker(env)
    wait_until(lambda: complete(db, campaign_id), timeout=60)
    zoe = message(fake_postmark, campaign_id, ZOE)
    assert "/t/o/" not in zoe.raw["HtmlBody"] and "/t/c/" not in zoe.raw["HtmlBody"] + zoe.raw["TextBody"]
    assert 'href="https://www.modu.example/events/product-vs-tech"' in zoe.raw["HtmlBody"]
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.tracking is False and campaign.tracked_links is None

"""Tracking data over time and per person: kept NEWSLETTER_TRACKING_DAYS, exported, erased; switched per list (CLI, console)."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
import time_machine
from sqlalchemy import select

from publisher.accounts.audit import entries
from publisher.audience.privacy import erase, export
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Delivery, DeliveryEvent, Engagement, EngagementKind, EventType, MailingList, Role
from publisher.tracking.classify import Seen
from publisher.tracking.recording import Hit, record, target
from tests.support.audience import RAJ, ZOE, people
from tests.support.campaigns import publish
from tests.support.cli import run_cli
from tests.support.console_pages import console_as
from tests.support.tracking import BROWSER, engagements, mark_sent
from workers.sweeper import Sweeper

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SENT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def engage(db: Database, campaign_id: int, email: str, kind: EngagementKind, at: dt.datetime, url: str | None = None) -> None:
    with db.transaction() as session:
        delivery = session.scalar(select(Delivery.id).where(Delivery.campaign_id == campaign_id, Delivery.email == email))
        assert delivery is not None
        to = target(session, campaign_id, delivery)
        assert to is not None and record(session, to, Hit(Seen(kind, at, BROWSER), source="app", url=url))


@pytest.fixture
def campaign_id(settings: Settings, db: Database) -> int:
    people(db)
    created = publish(settings, db)
    mark_sent(db, created.id, SENT)
    return created.id


@SQLITE
def test_the_sweep_deletes_opens_and_clicks_older_than_the_tracking_days(
    settings: Settings, db: Database, redis_client: redis.Redis, redis_url: str, campaign_id: int
) -> None:
    kept_days = 30
    engage(db, campaign_id, ZOE, EngagementKind.OPEN, SENT + dt.timedelta(hours=1))
    engage(db, campaign_id, RAJ, EngagementKind.OPEN, SENT + dt.timedelta(days=10))
    configured = settings.model_copy(update={"tracking_days": kept_days})
    with time_machine.travel(SENT + dt.timedelta(days=kept_days, minutes=30), tick=False):
        Sweeper(configured, redis_url).sweep_once()
        assert len(engagements(db)) == 2, "each kept for the whole NEWSLETTER_TRACKING_DAYS"
    with time_machine.travel(SENT + dt.timedelta(days=kept_days, hours=2), tick=False):
        Sweeper(configured, redis_url).sweep_once()
    [left] = engagements(db)
    assert left.occurred_at == SENT + dt.timedelta(days=10)


def test_the_sweep_deletes_the_providers_opens_and_clicks_older_than_the_tracking_days(
    settings: Settings, db: Database, redis_client: redis.Redis, redis_url: str, campaign_id: int
) -> None:
    kept_days = 30
    old, recent = SENT + dt.timedelta(hours=1), SENT + dt.timedelta(days=10)
    with db.transaction() as session:
        delivery = session.scalar(select(Delivery.id).where(Delivery.campaign_id == campaign_id, Delivery.email == ZOE))
        assert delivery is not None
        for number, (kind, at) in enumerate(
            [(EventType.DELIVERED, old), (EventType.OPENED, old), (EventType.CLICKED, old), (EventType.OPENED, recent)]
        ):
            session.add(DeliveryEvent(delivery_id=delivery, provider="postmark", type=kind, dedupe_key=f"e{number}", occurred_at=at))
    with time_machine.travel(SENT + dt.timedelta(days=kept_days, hours=2), tick=False):
        Sweeper(settings.model_copy(update={"tracking_days": kept_days}), redis_url).sweep_once()
    with db.transaction() as session:
        left = session.execute(select(DeliveryEvent.type, DeliveryEvent.occurred_at).order_by(DeliveryEvent.id)).all()
    # The delivery itself is the ledger's, kept; the provider's open and click are tracking data, gone with ours.
    assert [tuple(row) for row in left] == [(EventType.DELIVERED, old), (EventType.OPENED, recent)]


def test_export_holds_a_persons_opens_and_clicks_and_erasure_deletes_them(settings: Settings, db: Database, campaign_id: int) -> None:
    later = SENT + dt.timedelta(hours=3)
    engage(db, campaign_id, ZOE, EngagementKind.OPEN, later)
    engage(db, campaign_id, ZOE, EngagementKind.CLICK, later + dt.timedelta(minutes=1), url="https://www.modu.example/events")
    engage(db, campaign_id, RAJ, EngagementKind.OPEN, SENT + dt.timedelta(seconds=5))
    exported = export(db, ZOE)
    assert exported is not None
    title = exported["deliveries"][0]["campaign_title"]  # type: ignore[index]
    assert exported["opens_and_clicks"] == [
        {"campaign_id": campaign_id, "campaign_title": title, "kind": "open", "occurred_at": later.isoformat(), "url": None,
         "source": "app", "verdict": "human", "machine_reason": None},
        {"campaign_id": campaign_id, "campaign_title": title, "kind": "click", "occurred_at": (later + dt.timedelta(minutes=1)).isoformat(),
         "url": "https://www.modu.example/events", "source": "app", "verdict": "human", "machine_reason": None},
    ]  # fmt: skip
    raj = export(db, RAJ)
    assert raj is not None and [item["verdict"] for item in raj["opens_and_clicks"]] == ["machine"]  # type: ignore[attr-defined]

    erased = erase(db, ZOE)
    assert erased.engagements == 2 and "2 open(s) and click(s) deleted" in erased.summary
    with db.transaction() as session:
        left = session.scalars(select(Engagement.delivery_id)).all()
        raj_delivery = session.scalar(select(Delivery.id).where(Delivery.email == RAJ, Delivery.campaign_id == campaign_id))
    assert left == [raj_delivery]


@SQLITE
def test_lists_set_tracking_switches_a_list_and_lists_show_says_so(env: dict[str, str], db: Database) -> None:
    people(db)
    off = run_cli(env, "lists", "set", "attendees", "--tracking", "off")
    assert off.returncode == 0, off.output
    assert "track no opens or clicks" in off.output
    with db.transaction() as session:
        assert session.scalar(select(MailingList.tracking).where(MailingList.name == "attendees")) is False
    assert "tracking off" in run_cli(env, "lists", "show").output
    on = run_cli(env, "lists", "set", "attendees", "--tracking", "ON")
    assert on.returncode == 0 and "track opens and clicks" in on.output
    assert "tracking on" in run_cli(env, "lists", "show").output
    globally_off = run_cli({**env, "NEWSLETTER_TRACKING": "off"}, "lists", "set", "attendees", "--tracking", "on")
    assert "NEWSLETTER_TRACKING is off" in globally_off.output


@SQLITE
def test_lists_set_tracking_refuses_anything_but_on_or_off(env: dict[str, str], db: Database) -> None:
    people(db)
    for value in ("yes", "", "on\x1b[2J", "o" * 5000):
        result = run_cli(env, "lists", "set", "attendees", "--tracking", value)
        assert result.returncode == 2, value
        assert "--tracking: give on or off" in result.output
        assert "\x1b[2J" not in result.output
    assert run_cli(env, "lists", "set", "nowhere", "--tracking", "off").returncode == 2
    with db.transaction() as session:
        assert session.scalar(select(MailingList.tracking).where(MailingList.name == "attendees")) is True


@SQLITE
def test_an_admin_switches_a_lists_tracking_in_the_console(db: Database, web_url: str) -> None:
    people(db)
    for role in (Role.VIEWER, Role.EDITOR, Role.SENDER):
        user = console_as(db, web_url, role)
        assert "Stop tracking" not in user.get("/console/lists").text
        assert user.post("/console/lists/tracking", {"list": "attendees", "tracking": "off"}).status_code == 403
    admin = console_as(db, web_url, Role.ADMIN)
    page = admin.get("/console/lists").text
    assert "Opens and clicks" in page and "Stop tracking" in page
    assert admin.post("/console/lists/tracking", {"list": "attendees", "tracking": "off"}, csrf=False).status_code == 403
    assert admin.post("/console/lists/tracking", {"list": "attendees", "tracking": "maybe"}).status_code == 400
    assert admin.post("/console/lists/tracking", {"list": "nowhere", "tracking": "off"}).status_code == 404
    assert admin.post("/console/lists/tracking", {"list": "attendees", "tracking": "off"}).status_code == 303
    with db.transaction() as session:
        assert session.scalar(select(MailingList.tracking).where(MailingList.name == "attendees")) is False
    assert "Track opens and clicks" in admin.get("/console/lists").text
    (entry,) = entries(db)
    assert (entry.action, entry.target, entry.detail) == ("list-changed", "list:attendees", "tracking off")

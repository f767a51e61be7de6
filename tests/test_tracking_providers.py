"""Providers' own opens and clicks, merged with the web app's: classified alike, never counted twice."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests
import time_machine
from pydantic import SecretStr
from sqlalchemy import select, update

from publisher.audience.privacy import export
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Delivery, DeliveryEvent, EngagementKind
from publisher.feedback.recording import record_events
from publisher.tracking import classify
from publisher.tracking.figures import unique_figures
from publisher.web.webhooks import mailgun, resend, sendgrid
from tests.support.audience import people
from tests.support.campaigns import publish
from tests.support.tracking import BROWSER, click, deliveries, engagements, mark_sent, pixel, tracked_links
from tests.support.types import ServeWeb

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SENT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
LATER = SENT + dt.timedelta(hours=2)
USER, PASSWORD = "postmark-hooks", "correct horse battery staple"
MIMECAST = "Mozilla/5.0 (compatible; Mimecast URL Protect)"


@pytest.fixture
def app(settings: Settings, serve_web: ServeWeb) -> str:
    configured = settings.model_copy(update={"postmark_webhook_username": USER, "postmark_webhook_password": SecretStr(PASSWORD)})
    return serve_web(configured)


def sent_campaign(settings: Settings, db: Database, *, tracking: bool = True) -> int:
    people(db)
    campaign_id = publish(settings.model_copy(update={"tracking": tracking}), db).id
    mark_sent(db, campaign_id, SENT)
    return campaign_id


def message_id(db: Database, delivery_id: int) -> str:
    with db.transaction() as session:
        found = session.scalar(select(Delivery.message_id).where(Delivery.id == delivery_id))
        assert found is not None
        return found


def postmark(app: str, record: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{app}/webhooks/postmark", json=record, auth=(USER, PASSWORD), timeout=10)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def postmark_event(db: Database, delivery_id: int, record_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "RecordType": record_type,
        "MessageID": "4a2b1c9e-0000-4000-8000-000000000001",
        "Recipient": "someone@example.com",
        "Metadata": {"message_id": message_id(db, delivery_id), "delivery_id": str(delivery_id)},
        "ReceivedAt": LATER.isoformat(),
        **fields,
    }


@SQLITE
def test_the_providers_open_and_the_pixel_of_one_delivery_count_once(settings: Settings, db: Database, app: str) -> None:
    campaign_id = sent_campaign(settings, db)
    both, provider_only = deliveries(db, campaign_id)[:2]
    with time_machine.travel(LATER, tick=True):
        assert requests.get(pixel(settings, app, both, campaign_id), headers={"User-Agent": BROWSER}, timeout=10).status_code == 200
    opened = postmark_event(db, both, "Open", FirstOpen=True, UserAgent=BROWSER)
    assert postmark(app, opened)["recorded"] == 1
    assert postmark(app, postmark_event(db, provider_only, "Open", UserAgent=classify.APPLE_PROXY_USER_AGENT))["recorded"] == 1
    # The same webhook delivered again is one event and no second engagement.
    assert postmark(app, opened)["duplicates"] == 1

    assert sorted((row.source, row.machine) for row in engagements(db, both)) == [("app", False), ("postmark", False)]
    [proxied] = engagements(db, provider_only)
    assert (proxied.source, proxied.kind, proxied.machine_reason) == ("postmark", EngagementKind.OPEN, classify.APPLE_PROXY)
    with db.transaction() as session:
        figures = unique_figures(session, campaign_id)
        assert session.scalar(select(DeliveryEvent.id).where(DeliveryEvent.delivery_id == both)) is not None
    assert (figures.opened_human, figures.opened_machine) == (1, 1)


@SQLITE
def test_a_provider_click_of_our_click_link_stands_for_its_stored_url(settings: Settings, db: Database, app: str) -> None:
    campaign_id = sent_campaign(settings, db)
    delivery, scanned = deliveries(db, campaign_id)[:2]
    links = tracked_links(db, campaign_id)
    ours = click(settings, settings.public_url, 1, delivery, campaign_id)
    postmark(app, postmark_event(db, delivery, "Click", OriginalLink=ours, UserAgent=BROWSER))
    postmark(app, postmark_event(db, scanned, "Click", OriginalLink=links[0], UserAgent=MIMECAST))
    [row] = engagements(db, delivery)
    assert (row.kind, row.link_index, row.url, row.machine) == (EngagementKind.CLICK, 1, links[1], False)
    [row] = engagements(db, scanned)
    assert (row.link_index, row.url, row.machine_reason) == (0, links[0], "a security scanner's user agent (mimecast)")
    assert not any("/t/c/" in (row.url or "") for row in engagements(db))
    # The stored event holds the stored URL too, never the token: events are exported and shown.
    token = ours.split("/t/c/1.")[1]
    forged = ours.replace("/t/c/1.", "/t/c/999.")
    an_hour_later = (LATER + dt.timedelta(hours=1)).isoformat()
    postmark(app, postmark_event(db, delivery, "Click", OriginalLink=forged, UserAgent=BROWSER, ReceivedAt=an_hour_later))
    with db.transaction() as session:
        stored = select(DeliveryEvent.detail).where(DeliveryEvent.delivery_id == delivery).order_by(DeliveryEvent.id)
        details = session.scalars(stored).all()
        email = session.scalar(select(Delivery.email).where(Delivery.id == delivery))
    assert details == [links[1], f"{settings.public_url}/t/c/999"]
    assert email is not None and token not in str(export(db, email)) and token not in "".join(details)


@SQLITE
def test_a_provider_event_dated_in_the_future_is_recorded_as_of_now(settings: Settings, db: Database, app: str) -> None:
    """Retention keys on the time: a webhook's clock far ahead must not keep its open past NEWSLETTER_TRACKING_DAYS."""
    campaign_id = sent_campaign(settings, db)
    delivery = deliveries(db, campaign_id)[0]
    ahead = postmark_event(db, delivery, "Open", UserAgent=BROWSER, ReceivedAt="2099-01-01T00:00:00Z")
    with time_machine.travel(LATER, tick=False):
        assert postmark(app, ahead)["recorded"] == 1
        assert postmark(app, ahead)["duplicates"] == 1, "still one event when delivered again"
    with db.transaction() as session:
        assert session.scalars(select(DeliveryEvent.occurred_at).where(DeliveryEvent.delivery_id == delivery)).all() == [LATER]
    assert [row.occurred_at for row in engagements(db, delivery)] == [LATER]


@SQLITE
def test_an_untracked_or_erased_delivery_gets_the_event_but_no_engagement(settings: Settings, db: Database, app: str) -> None:
    campaign_id = sent_campaign(settings, db, tracking=False)
    delivery = deliveries(db, campaign_id)[0]
    assert postmark(app, postmark_event(db, delivery, "Open", UserAgent=BROWSER))["recorded"] == 1
    tracked = publish(settings, db).id
    mark_sent(db, tracked, SENT)
    erased = deliveries(db, tracked)[0]
    with db.transaction() as session:
        session.execute(update(Delivery).where(Delivery.id == erased).values(email="erased:0123456789abcdef"))
    assert postmark(app, postmark_event(db, erased, "Open", UserAgent=BROWSER))["recorded"] == 1
    assert engagements(db) == []


@SQLITE
def test_sendgrids_machine_open_and_user_agent_are_read(settings: Settings, db: Database) -> None:
    campaign_id = sent_campaign(settings, db)
    flagged, clicked = deliveries(db, campaign_id)[:2]
    base = {"email": "someone@example.com", "timestamp": int(LATER.timestamp()), "sg_message_id": "abc.def"}
    events = [
        sendgrid.parse_event(0, {**base, "event": "open", "sg_machine_open": True, "useragent": BROWSER, "sg_event_id": "e1",
                                 "delivery_id": str(flagged), "message_id": message_id(db, flagged)}),
        sendgrid.parse_event(1, {**base, "event": "click", "url": "https://elsewhere.example/", "useragent": MIMECAST,
                                 "sg_event_id": "e2", "delivery_id": str(clicked), "message_id": message_id(db, clicked)}),
    ]  # fmt: skip
    assert [event.user_agent for event in events if event] == [BROWSER, MIMECAST]
    with db.transaction() as session:
        record_events(session, settings, [event for event in events if event])
    [open_row] = engagements(db, flagged)
    assert (open_row.source, open_row.machine_reason) == ("sendgrid", classify.PROVIDER_MACHINE_OPEN)
    [click_row] = engagements(db, clicked)
    assert (click_row.url, click_row.link_index, click_row.machine) == ("https://elsewhere.example/", None, True)


def test_mailgun_and_resend_parsers_read_the_user_agent() -> None:
    data = {
        "event": "opened",
        "id": "abc",
        "timestamp": LATER.timestamp(),
        "client-info": {"user-agent": BROWSER},
        "user-variables": {"delivery_id": "5", "message_id": "m@x"},
    }
    [event] = mailgun.parse_event(data)
    assert event.user_agent == BROWSER
    payload = {
        "type": "email.clicked",
        "created_at": LATER.isoformat(),
        "data": {"email_id": "re_1", "click": {"link": "https://x.example/", "userAgent": MIMECAST}},
    }
    clicked = resend.event_from(payload, "msg_1")
    assert clicked is not None and clicked.user_agent == MIMECAST and clicked.detail == "https://x.example/"

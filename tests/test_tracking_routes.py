"""The pixel and the click redirects on the real web app: what they answer, what they record, and what they refuse."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
import requests
import time_machine
from sqlalchemy import select

from publisher.audience.privacy import erase
from publisher.core.links import VIEW, LinkSigner, LinkTarget, signer_for
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Delivery, EngagementKind
from publisher.web.access_log import RedactTokens, redact_path
from publisher.web.routes.tracking import PIXEL
from tests.support.audience import ZOE, people
from tests.support.campaigns import publish
from tests.support.tracking import BROWSER, click, deliveries, engagements, mark_sent, pixel, tracked_links

SENT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
#: Long enough after sending that no timing rule applies: a reader.
LATER = SENT + dt.timedelta(hours=2)


@pytest.fixture
def campaign_id(settings: Settings, db: Database) -> int:
    people(db)
    created = publish(settings, db)
    mark_sent(db, created.id, SENT)
    return created.id


def get(url: str, **kwargs: object) -> requests.Response:
    return requests.get(url, headers={"User-Agent": BROWSER}, allow_redirects=False, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_the_pixel_is_a_transparent_gif_never_cached_and_records_an_open(
    settings: Settings, db: Database, web_url: str, campaign_id: int
) -> None:
    delivery = deliveries(db, campaign_id)[0]
    with time_machine.travel(LATER, tick=True):
        response = get(pixel(settings, web_url, delivery, campaign_id))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/gif" and response.content == PIXEL
    assert response.content[:6] == b"GIF89a" and response.content[6:10] == b"\x01\x00\x01\x00"
    assert "no-store" in response.headers["Cache-Control"]
    [row] = engagements(db, delivery)
    assert (row.kind, row.source, row.campaign_id, row.link_index, row.url) == (EngagementKind.OPEN, "app", campaign_id, None, None)
    assert row.machine is False and row.machine_reason is None
    assert LATER <= row.occurred_at < LATER + dt.timedelta(minutes=1)


def test_a_click_redirects_to_its_stored_url_and_records_the_click(
    settings: Settings, db: Database, web_url: str, campaign_id: int
) -> None:
    delivery = deliveries(db, campaign_id)[1]
    links = tracked_links(db, campaign_id)
    assert len(links) >= 2
    with time_machine.travel(LATER, tick=True):
        response = get(click(settings, web_url, 1, delivery, campaign_id))
    assert response.status_code == 302
    assert response.headers["Location"] == links[1]
    assert "no-store" in response.headers["Cache-Control"] and response.headers["Referrer-Policy"] == "no-referrer"
    [row] = engagements(db, delivery)
    assert (row.kind, row.link_index, row.url, row.machine) == (EngagementKind.CLICK, 1, links[1], False)


def test_head_answers_as_get_and_records_nothing(settings: Settings, db: Database, web_url: str, campaign_id: int) -> None:
    delivery = deliveries(db, campaign_id)[0]
    with time_machine.travel(LATER, tick=True):
        opened = requests.head(pixel(settings, web_url, delivery, campaign_id), timeout=10)
        clicked = requests.head(click(settings, web_url, 0, delivery, campaign_id), allow_redirects=False, timeout=10)
    assert opened.status_code == 200 and opened.headers["Content-Type"] == "image/gif"
    assert clicked.status_code == 302 and clicked.headers["Location"] == tracked_links(db, campaign_id)[0]
    assert engagements(db) == []


def test_forged_tampered_unknown_and_malformed_links_are_404_and_record_nothing(
    settings: Settings, db: Database, web_url: str, campaign_id: int
) -> None:
    delivery = deliveries(db, campaign_id)[0]
    links = tracked_links(db, campaign_id)
    signer = signer_for(settings)
    token = signer.track_token(delivery, campaign_id)
    payload, signature = token.split(".")
    other = signer.track_token(delivery, campaign_id + 1)
    bad_tokens = [
        f"{payload}.{signature[:-2]}AA" if not signature.endswith("AA") else f"{payload}.{signature[:-2]}BB",
        f"{other.split('.')[0]}.{signature}",
        signer.token(VIEW, LinkTarget(1, 1, campaign_id)),
        LinkSigner("another-deployment-key", settings.public_url).track_token(delivery, campaign_id),
        "x" * 5000,
        "%00%0d%0a",
        "..",
        "-",
    ]
    urls = [f"{web_url}/t/o/{bad}.gif" for bad in bad_tokens] + [f"{web_url}/t/c/0.{bad}" for bad in bad_tokens]
    urls += [
        f"{web_url}/t/c/{len(links)}.{token}",  # one past the campaign's links
        f"{web_url}/t/c/99999999.{token}",
        f"{web_url}/t/c/-1.{token}",
        f"{web_url}/t/c/{token}",  # no link number
        f"{web_url}/t/c/0.",
        f"{web_url}/t/o/{token}",  # no .gif
        f"{web_url}/t/c/0.{other}",  # a campaign that does not exist
        f"{web_url}/t/c/0.{signer.track_token(2**31, campaign_id)}",
    ]
    for url in urls:
        response = get(url)
        assert response.status_code == 404, url
        assert "Location" not in response.headers
        assert response.headers["Content-Type"].startswith("text/html"), url
    assert engagements(db) == []


def test_an_untracked_campaign_has_no_working_tracking_links(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    untracked = publish(settings.model_copy(update={"tracking": False}), db).id
    delivery = deliveries(db, untracked)[0]
    assert get(pixel(settings, web_url, delivery, untracked)).status_code == 404
    assert get(click(settings, web_url, 0, delivery, untracked)).status_code == 404
    assert engagements(db) == []


def test_an_erased_subscribers_link_still_leads_to_its_page_and_records_nothing(
    settings: Settings, db: Database, web_url: str, campaign_id: int
) -> None:
    with db.transaction() as session:
        delivery = session.scalar(select(Delivery.id).where(Delivery.campaign_id == campaign_id, Delivery.email == ZOE))
    assert delivery is not None
    erase(db, ZOE)
    with time_machine.travel(LATER, tick=True):
        clicked = get(click(settings, web_url, 0, delivery, campaign_id))
        opened = get(pixel(settings, web_url, delivery, campaign_id))
    assert clicked.status_code == 302 and clicked.headers["Location"] == tracked_links(db, campaign_id)[0]
    assert opened.status_code == 200
    assert engagements(db) == []


def test_the_view_page_shows_the_original_links_and_records_no_open(
    settings: Settings, db: Database, web_url: str, campaign_id: int
) -> None:
    with db.transaction() as session:
        subscriber = session.scalar(select(Delivery.subscriber_id).where(Delivery.campaign_id == campaign_id, Delivery.email == ZOE))
    view = signer_for(settings).url(VIEW, LinkTarget(subscriber, None, campaign_id)).replace(settings.public_url, web_url)
    page = get(view)
    assert page.status_code == 200
    assert "/t/c/" not in page.text and "/t/o/" not in page.text
    assert tracked_links(db, campaign_id)[0].replace("&", "&amp;") in page.text
    assert engagements(db) == []


def test_tracking_tokens_are_kept_out_of_the_access_log() -> None:
    assert redact_path("/t/c/3.WzEsMl0.c2lnbmF0dXJl") == "/t/c/[token]"
    assert redact_path("/t/o/WzEsMl0.c2lnbmF0dXJl.gif") == "/t/o/[token]"


def access_line(client: str, path: str) -> logging.LogRecord:
    line = '%s - "%s %s HTTP/%s" %d'
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, line, (client, "GET", path, "1.1", 302), None)


def test_the_access_log_never_keeps_the_address_of_an_open_or_a_click() -> None:
    for path in ("/t/c/3.WzEsMl0.c2lnbmF0dXJl", "/t/o/WzEsMl0.c2lnbmF0dXJl.gif", "/t/c/garbage?x=1"):
        line = access_line("203.0.113.9:51234", path)
        RedactTokens().filter(line)
        assert line.getMessage().startswith('- - "GET /t/') and "203.0.113.9" not in line.getMessage()
    other = access_line("203.0.113.9:51234", "/archive/")
    RedactTokens().filter(other)
    assert other.getMessage() == '203.0.113.9:51234 - "GET /archive/ HTTP/1.1" 302'


def test_hostile_requests_never_lead_elsewhere_never_fail_and_record_only_what_was_asked(
    settings: Settings, db: Database, web_url: str, campaign_id: int
) -> None:
    delivery = deliveries(db, campaign_id)[0]
    links = tracked_links(db, campaign_id)
    token = signer_for(settings).track_token(delivery, campaign_id)
    with time_machine.travel(LATER, tick=True):
        # What the request adds cannot choose where the link leads: not the query, not the Host header.
        for extra in ("?url=https://evil.example&next=//evil.example", "?" + "q=" * 8000):
            headers = {"User-Agent": BROWSER, "Host": "evil.example"}
            clicked = requests.get(f"{web_url}/t/c/0.{token}{extra}", headers=headers, allow_redirects=False, timeout=10)
            assert (clicked.status_code, clicked.headers["Location"]) == (302, links[0])
        # A user agent of markup or of 8 KB is read to classify the request, never stored.
        for agent in (f'{BROWSER} <script>alert("x")</script>', BROWSER + " x" * 4000):
            assert requests.get(f"{web_url}/t/o/{token}.gif", headers={"User-Agent": agent}, timeout=10).status_code == 200
    rows = engagements(db, delivery)
    assert [row.kind for row in rows] == [EngagementKind.CLICK] * 2 + [EngagementKind.OPEN] * 2
    assert all(row.url in (None, links[0]) for row in rows)
    assert not any("script" in str(value) for row in rows for value in vars(row).values())

    # Path tricks, a token one character too long, a body on a GET and another method: refused, nothing recorded.
    tricks = [
        f"{web_url}/t/c/0.{token}/..",
        f"{web_url}/t/c/0.{token}%2F..%2F..%2Fetc%2Fpasswd",
        f"{web_url}/t/c/0.{token}.gif",
        f"{web_url}/t/o/..%2F..%2Fetc%2Fpasswd.gif",
        f"{web_url}/t/o/{token}%00.gif",
        f"{web_url}/t/c/0.{'A' * 100}.{'B' * 100}",
        f"{web_url}/t/o/{'A' * 100}.{'B' * 100}.gif",
        f"{web_url}/t/c/0000000.{token}",
    ]
    for url in tricks:
        answer = get(url)
        assert answer.status_code == 404, url
        assert "Location" not in answer.headers
    oversized = requests.get(f"{web_url}/t/o/{token}.gif", data=b"x" * (settings.max_request_bytes + 1), timeout=10)
    assert oversized.status_code == 413
    for method in ("POST", "PUT", "DELETE"):
        assert requests.request(method, f"{web_url}/t/c/0.{token}", timeout=10, allow_redirects=False).status_code == 405
    assert len(engagements(db, delivery)) == 4

"""Human or machine: each rule, through the real web app, with time moved rather than waited for."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
import time_machine
from sqlalchemy import select

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, EngagementKind
from publisher.tracking import classify
from publisher.tracking.classify import CLICK_BURST_SECONDS, PREFETCH_OPEN_SECONDS, SCANNER_CLICK_SECONDS, Seen, machine_reason
from publisher.tracking.figures import unique_figures
from tests.support.audience import people
from tests.support.campaigns import publish
from tests.support.tracking import BROWSER, click, deliveries, engagements, mark_sent, pixel, tracked_links

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SENT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
MIMECAST = "Mozilla/5.0 (compatible; Mimecast URL Protect)"


@pytest.fixture
def campaign_id(settings: Settings, db: Database) -> int:
    people(db)
    created = publish(settings, db)
    mark_sent(db, created.id, SENT)
    return created.id


def at(seconds: float) -> time_machine.travel:
    return time_machine.travel(SENT + dt.timedelta(seconds=seconds), tick=False)


def fetch(url: str, agent: str | None = BROWSER) -> None:
    headers = {"User-Agent": agent} if agent is not None else {}
    response = requests.get(url, headers=headers, allow_redirects=False, timeout=10)
    assert response.status_code in (200, 302), url


def verdicts(db: Database, delivery: int) -> list[tuple[EngagementKind, str | None]]:
    return [(row.kind, row.machine_reason) for row in engagements(db, delivery)]


@SQLITE
def test_an_open_long_after_sending_from_a_mail_client_is_human(settings: Settings, db: Database, web_url: str, campaign_id: int) -> None:
    delivery = deliveries(db, campaign_id)[0]
    with at(PREFETCH_OPEN_SECONDS + 1):
        fetch(pixel(settings, web_url, delivery, campaign_id))
    assert verdicts(db, delivery) == [(EngagementKind.OPEN, None)]
    assert engagements(db, delivery)[0].machine is False


@SQLITE
def test_an_open_seconds_after_sending_is_a_proxy_prefetch(settings: Settings, db: Database, web_url: str, campaign_id: int) -> None:
    delivery = deliveries(db, campaign_id)[0]
    with at(PREFETCH_OPEN_SECONDS - 5):
        fetch(pixel(settings, web_url, delivery, campaign_id))
    [row] = engagements(db, delivery)
    assert row.machine is True and row.machine_reason is not None and "privacy proxy" in row.machine_reason


@SQLITE
def test_apple_privacy_proxys_user_agent_is_a_machine_whenever_it_comes(
    settings: Settings, db: Database, web_url: str, campaign_id: int
) -> None:
    delivery = deliveries(db, campaign_id)[0]
    with at(3 * 3600):
        fetch(pixel(settings, web_url, delivery, campaign_id), classify.APPLE_PROXY_USER_AGENT)
    assert verdicts(db, delivery) == [(EngagementKind.OPEN, classify.APPLE_PROXY)]


@SQLITE
def test_scanner_and_program_user_agents_are_machines_and_gmails_proxy_is_a_reader(
    settings: Settings, db: Database, web_url: str, campaign_id: int
) -> None:
    scanned, scripted, gmail, anonymous = deliveries(db, campaign_id)[:4]
    with at(3 * 3600):
        fetch(click(settings, web_url, 0, scanned, campaign_id), MIMECAST)
        fetch(pixel(settings, web_url, scripted, campaign_id), "python-requests/2.32")
        fetch(pixel(settings, web_url, anonymous, campaign_id), None)
    # Gmail fetches through its proxy when the message is opened, even a moment after it arrived.
    with at(5):
        fetch(pixel(settings, web_url, gmail, campaign_id), GMAIL)
    assert verdicts(db, scanned) == [(EngagementKind.CLICK, "a security scanner's user agent (mimecast)")]
    assert verdicts(db, scripted) == [(EngagementKind.OPEN, "a program's user agent (python)")]
    assert verdicts(db, gmail) == [(EngagementKind.OPEN, None)]
    # requests sends its own user agent unless told otherwise: an empty header stands for none.
    fetch(pixel(settings, web_url, anonymous, campaign_id), "")
    assert classify.NO_USER_AGENT in [reason for _, reason in verdicts(db, anonymous)]


@SQLITE
def test_a_click_seconds_after_sending_before_any_open_is_a_scanner(
    settings: Settings, db: Database, web_url: str, campaign_id: int
) -> None:
    early, prefetched, opened_first, late = deliveries(db, campaign_id)[:4]
    with at(SCANNER_CLICK_SECONDS - 20):
        fetch(click(settings, web_url, 0, early, campaign_id))
    with at(SCANNER_CLICK_SECONDS - 30):
        fetch(pixel(settings, web_url, prefetched, campaign_id))
        fetch(pixel(settings, web_url, opened_first, campaign_id), GMAIL)
    with at(SCANNER_CLICK_SECONDS - 10):
        fetch(click(settings, web_url, 0, prefetched, campaign_id))
        fetch(click(settings, web_url, 0, opened_first, campaign_id))
    with at(SCANNER_CLICK_SECONDS + 60):
        fetch(click(settings, web_url, 0, late, campaign_id))
    [row] = engagements(db, early)
    assert row.machine is True and row.machine_reason is not None and "before any open" in row.machine_reason
    # A machine's open (a proxy prefetching images on arrival) is no reader's: the scanner's click after it is still one.
    assert [(row.kind, row.machine) for row in engagements(db, prefetched)] == [(EngagementKind.OPEN, True), (EngagementKind.CLICK, True)]
    # After a reader's open (Gmail fetches when the message is opened) the click is the reader's.
    assert [row.machine for row in engagements(db, opened_first)] == [False, False]
    assert [row.machine for row in engagements(db, late)] == [False]


@SQLITE
def test_every_link_clicked_within_seconds_marks_the_whole_burst_machine(
    settings: Settings, db: Database, web_url: str, campaign_id: int
) -> None:
    scanned, reader = deliveries(db, campaign_id)[:2]
    links = tracked_links(db, campaign_id)
    start = 3 * 3600
    for number in range(len(links)):
        with at(start + number * (CLICK_BURST_SECONDS / len(links))):
            fetch(click(settings, web_url, number, scanned, campaign_id))
    rows = engagements(db, scanned)
    assert len(rows) == len(links) and all(row.machine for row in rows)
    assert {row.machine_reason for row in rows} == {classify.burst_reason(len(links))}
    # A reader who clicks every link but takes their time stays human.
    for number in range(len(links)):
        with at(start + number * (CLICK_BURST_SECONDS + 1)):
            fetch(click(settings, web_url, number, reader, campaign_id))
    assert not any(row.machine for row in engagements(db, reader))


def test_a_scanner_following_the_html_parts_links_makes_a_burst(settings: Settings, db: Database, web_url: str, campaign_id: int) -> None:
    """The seed issue's text part has image URLs the HTML part shows as images: they are no tracked links."""
    scanned = deliveries(db, campaign_id)[0]
    with db.transaction() as session:
        html = session.scalar(select(Campaign.html_template).where(Campaign.id == campaign_id)) or ""
    numbers = sorted({int(n) for n in re.findall(r"/t/c/(\d+)\.", html)})
    assert numbers and len(numbers) == len(tracked_links(db, campaign_id))
    for step, number in enumerate(numbers):
        with at(3 * 3600 + step * (CLICK_BURST_SECONDS / len(numbers))):
            fetch(click(settings, web_url, number, scanned, campaign_id))
    rows = engagements(db, scanned)
    assert len(rows) == len(numbers) and all(row.machine for row in rows)


@SQLITE
def test_a_click_counts_as_an_open_in_the_figures(settings: Settings, db: Database, web_url: str, campaign_id: int) -> None:
    clicked, opened, proxied = deliveries(db, campaign_id)[:3]
    with at(3 * 3600):
        fetch(click(settings, web_url, 0, clicked, campaign_id))
        fetch(pixel(settings, web_url, opened, campaign_id))
        fetch(pixel(settings, web_url, opened, campaign_id))
        fetch(pixel(settings, web_url, proxied, campaign_id), classify.APPLE_PROXY_USER_AGENT)
    with db.transaction() as session:
        figures = unique_figures(session, campaign_id)
    assert (figures.opened_human, figures.opened_machine, figures.clicked_human, figures.clicked_machine) == (2, 1, 1, 0)
    assert [row.kind for row in engagements(db, clicked)] == [EngagementKind.CLICK]


def test_sendgrids_machine_open_flag_and_an_unknown_user_agent() -> None:
    later = SENT + dt.timedelta(hours=1)
    flagged = Seen(EngagementKind.OPEN, later, None, provider_machine=True)
    assert machine_reason(flagged, SENT, opened_before=False) == classify.PROVIDER_MACHINE_OPEN
    # A provider that reports no user agent: only the timing rules apply.
    assert machine_reason(Seen(EngagementKind.OPEN, later, None), SENT, opened_before=False) is None
    # Not recorded as sent yet: it was sent a moment ago.
    assert machine_reason(Seen(EngagementKind.OPEN, later, BROWSER), None, opened_before=False) is not None

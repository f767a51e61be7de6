"""The console's schedule form sends at a local time in each subscriber's zone when its "Local time" box is checked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping

import pytest
import requests
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import select, update

from publisher.audience.lists import ListChange, update_list
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignRelease, CampaignStatus, Role, Subscriber
from tests.support.audience import people
from tests.support.chromium import SCREENSHOTS, console_browser
from tests.support.console import TIMEOUT, add_person, csrf_token, sign_in
from tests.support.console_drafts import draft_in_browser, save_draft

ADA = "ada@modu.example"  # sender
ATTENDEES = 25
#: In New York, and in Tokyo (the list's zone) for everyone else.
NEW_YORKERS = ("zoe.obrien@example.com", "raj.patel@example.org")


@pytest.fixture
def team(db: Database) -> Database:
    people(db)
    add_person(db, ADA, Role.SENDER)
    update_list(db, "attendees", ListChange(timezone="Asia/Tokyo"))
    with db.transaction() as session:
        session.execute(update(Subscriber).where(Subscriber.email.in_(NEW_YORKERS)).values(attributes={"timezone": "America/New_York"}))
    return db


def post(client: requests.Session, url: str, data: Mapping[str, object], page: str) -> requests.Response:
    return client.post(url, data={**data, "csrf_token": csrf_token(client, page)}, allow_redirects=False, timeout=TIMEOUT)


def releases(db: Database, campaign_id: int) -> dict[str, tuple[dt.datetime, int]]:
    with db.transaction() as session:
        rows = session.scalars(select(CampaignRelease).where(CampaignRelease.campaign_id == campaign_id)).all()
        return {row.zone: (row.release_at, row.recipients) for row in rows}


def test_a_local_time_schedule_makes_one_release_per_zone(team: Database, web_url: str) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    when = {"when": "schedule", "send_date": "2031-07-01", "send_time": "09:00", "time_zone": "Europe/Paris", "local_time": "yes"}
    confirm = post(ada, f"{page}/send", when, page)
    assert confirm.status_code == 200
    assert "Sent at <strong>2031-07-01 09:00</strong> local time" in confirm.text
    assert 'name="local_time" value="yes"' in confirm.text and 'name="send_at" value="2031-07-01T09:00:00"' in confirm.text
    answer = post(ada, f"{page}/send/confirm", {"recipients": str(ATTENDEES), "send_at": "2031-07-01T09:00:00", "local_time": "yes"}, page)
    assert answer.status_code == 303 and answer.headers["location"].endswith("?notice=scheduled")
    assert releases(team, cid) == {
        "Asia/Tokyo": (dt.datetime(2031, 7, 1, 0, 0, tzinfo=dt.UTC), ATTENDEES - 2),
        "America/New_York": (dt.datetime(2031, 7, 1, 13, 0, tzinfo=dt.UTC), 2),
    }
    with team.transaction() as session:
        assert session.scalar(select(Campaign.status).where(Campaign.id == cid)) is CampaignStatus.SCHEDULED
    shown = ada.get(page, timeout=TIMEOUT).text
    assert "Next release: <strong>2031-07-01 00:00 UTC</strong>, 23 recipients (Asia/Tokyo)" in shown


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("form", "status", "said"),
    [
        ({"send_date": "01/07/2031", "send_time": "09:00"}, 422, "Give a send date (YYYY-MM-DD) and a send time (HH:MM)."),
        ({"send_date": "9999-07-01", "send_time": "09:00"}, 422, "Give a send date between 1970 and 2200."),
        ({"send_date": "2031-07-01", "send_time": "<script>"}, 422, "Give a send date (YYYY-MM-DD)"),
        # Longer than the field takes: refused before the form is read.
        ({"send_date": "2" * 5_000, "send_time": "09:00"}, 400, ""),
    ],
)
def test_a_local_time_schedule_refuses_what_it_cannot_read_and_sends_nothing(
    team: Database, web_url: str, form: dict[str, str], status: int, said: str
) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    answer = post(ada, f"{page}/send", {"when": "schedule", "local_time": "yes", **form}, page)
    assert answer.status_code == status and said in answer.text
    assert "<script>" not in answer.text
    with team.transaction() as session:
        assert session.scalar(select(Campaign.status).where(Campaign.id == cid)) is CampaignStatus.DRAFT


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("send_time", ["09:00Z", "09:00+02:00", "09:00:00-05:00"])
def test_a_local_time_with_an_offset_is_refused_next_to_the_fields(team: Database, web_url: str, send_time: str) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    answer = post(ada, f"{page}/send", {"when": "schedule", "local_time": "yes", "send_date": "2031-07-01", "send_time": send_time}, page)
    assert answer.status_code == 422
    assert "has an offset, but Local time sends at that time in each subscriber&#39;s time zone" in answer.text
    assert "give it without one (e.g. 09:00)" in answer.text
    with team.transaction() as session:
        assert session.scalar(select(Campaign.status).where(Campaign.id == cid)) is CampaignStatus.DRAFT


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_local_time_past_in_every_subscribers_zone_is_refused_and_one_past_in_some_is_taken(team: Database, web_url: str) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    past = {"when": "schedule", "local_time": "yes", "send_date": "2025-01-06", "send_time": "09:00"}
    answer = post(ada, f"{page}/send", past, page)
    assert answer.status_code == 422
    assert "2025-01-06 09:00 has passed in every subscriber&#39;s time zone (the last, America/New_York" in answer.text
    with team.transaction() as session:
        assert session.scalar(select(Campaign.status).where(Campaign.id == cid)) is CampaignStatus.DRAFT
    # The present moment's UTC clock time has passed in Tokyo (UTC+9) and not yet come in New York (UTC-4 or -5).
    now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    some = {**past, "send_date": f"{now:%Y-%m-%d}", "send_time": f"{now:%H:%M}"}
    taken = post(ada, f"{page}/send", some, page)
    assert taken.status_code == 200 and "local time" in taken.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("send_at", "status"),
    [
        ("2031-07-01T09:00:00+02:00", 422),
        ("2031-07-01T09:00:00Z", 422),
        ("soon", 422),
        ("", 422),
        ("9999-12-31T09:00:00", 422),
        ("1" * 41, 400),  # longer than the field takes
    ],
)
def test_a_tampered_local_time_confirmation_is_refused_and_sends_nothing(team: Database, web_url: str, send_at: str, status: int) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    answer = post(ada, f"{page}/send/confirm", {"recipients": str(ATTENDEES), "send_at": send_at, "local_time": "yes"}, page)
    assert answer.status_code == status
    with team.transaction() as session:
        assert session.scalar(select(Campaign.status).where(Campaign.id == cid)) is CampaignStatus.DRAFT
        assert session.scalar(select(CampaignRelease.id)) is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_local_time_schedule_without_the_csrf_token_is_refused(team: Database, web_url: str) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    data = {"recipients": str(ATTENDEES), "send_at": "2031-07-01T09:00:00", "local_time": "yes"}
    answer = ada.post(f"{page}/send/confirm", data=data, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 403
    with team.transaction() as session:
        assert session.scalar(select(CampaignRelease.id)) is None


@pytest.fixture
def browser() -> Iterator[BrowserContext]:
    with console_browser() as context:
        yield context


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_local_time_box_schedules_in_a_real_browser(team: Database, web_url: str, browser: BrowserContext) -> None:
    cid, page = draft_in_browser(browser, web_url, ADA)
    page.get_by_label("Send date").fill("2031-07-01")
    page.get_by_label("Send time").fill("09:00")
    page.get_by_label("Local time").check()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("section[aria-labelledby='send-heading']").screenshot(path=str(SCREENSHOTS / "console-schedule-local-time.png"))
    page.get_by_role("button", name="Schedule").click()
    expect(page.get_by_text("local time: in each subscriber's own time zone")).to_be_visible()
    page.get_by_label("Number of recipients").fill(str(ATTENDEES))
    page.screenshot(path=str(SCREENSHOTS / "console-confirm-local-time.png"))
    page.get_by_role("button", name="Confirm send").click()
    page.wait_for_url(f"{web_url}/console/campaigns/{cid}?notice=scheduled")
    expect(page.locator(".next-release")).to_contain_text("2031-07-01 00:00 UTC, 23 recipients (Asia/Tokyo)")
    page.screenshot(path=str(SCREENSHOTS / "console-next-release.png"))
    assert set(releases(team, cid)) == {"Asia/Tokyo", "America/New_York"}

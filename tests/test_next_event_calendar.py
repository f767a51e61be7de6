"""GET /archive/{id}/next-event.ics: the next event of an issue that went out, as a calendar file, on the real web app."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from icalendar import Calendar
from sqlalchemy import update

from publisher.accounts.roles import CLI_ACTOR
from publisher.content.rendering.issue import RenderedIssue
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignKind, CampaignStatus
from publisher.ledger.drafts import SendOrder, send_draft, send_test
from publisher.web.issue import neutral_copy
from tests.support.audience import people
from tests.support.campaigns import publish
from tests.support.drafts import save_draft
from tests.support.recaps import WORKSHOP, write_recap
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PUBLIC_URL = "https://news.modu.example"
LONDON = ZoneInfo("Europe/London")
PARIS_EVENT = """title: Paris recap
next_event:
  name: "Roadmaps & Reality; a workshop, in Paris"
  starts_at: 2026-12-10T17:00:00Z
  ends_at: 2026-12-10T19:00:00Z
  timezone: Europe/Paris
  venue: "Station F, 5 Parvis Alan Turing, Paris"
  url: "https://example.com/register?event=7&src=email\""""


@pytest.fixture
def public_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_url": PUBLIC_URL})


@pytest.fixture
def base(public_settings: Settings, db: Database, serve_web: ServeWeb) -> str:
    people(db)
    return serve_web(public_settings)


def ics_url(base: str, campaign_id: int | str) -> str:
    return f"{base}/archive/{campaign_id}/next-event.ics"


def fetch(base: str, campaign_id: int | str) -> requests.Response:
    return requests.get(ics_url(base, campaign_id), timeout=10)


def parsed(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    [event] = Calendar.from_ical(response.content).events
    return event


def change(db: Database, campaign_id: int, **values: Any) -> None:
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(**values))


def test_a_sent_issue_serves_its_next_event_in_the_events_own_zone(public_settings: Settings, db: Database, base: str) -> None:
    campaign = publish(public_settings, db).id
    response = fetch(base, campaign)
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="next-event.ics"'
    event = parsed(response)
    assert str(event["summary"]) == "Modu Workshop: Roadmaps That Survive Contact With Reality"
    assert event.start == dt.datetime(2025, 2, 12, 14, 0, tzinfo=LONDON)
    assert event.end == dt.datetime(2025, 2, 12, 17, 30, tzinfo=LONDON)
    assert str(event["location"]) == "Modu, Holborn, London"
    assert str(event["url"]) == "https://www.modu.example/events/roadmap-workshop/register"
    raw = response.text
    assert "DTSTART;TZID=Europe/London:20250212T140000\r\n" in raw and "DTEND;TZID=Europe/London:20250212T173000\r\n" in raw
    [zone] = Calendar.from_ical(response.content).timezones
    assert zone.tz_name == "Europe/London"


def test_a_utc_time_is_written_on_the_events_clock_with_its_zone(
    public_settings: Settings, db: Database, base: str, tmp_path: Path
) -> None:
    recap = write_recap(tmp_path / "paris.md", "Body.", PARIS_EVENT)
    event = parsed(fetch(base, publish(public_settings, db, recap=recap).id))
    assert event.start == dt.datetime(2026, 12, 10, 18, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert event.start.tzinfo.key == "Europe/Paris" and event.end.astimezone(dt.UTC) == dt.datetime(2026, 12, 10, 19, 0, tzinfo=dt.UTC)
    # Commas, semicolons and quotes survive the file's escaping.
    assert str(event["summary"]) == "Roadmaps & Reality; a workshop, in Paris"
    assert str(event["location"]) == "Station F, 5 Parvis Alan Turing, Paris"
    assert str(event["url"]) == "https://example.com/register?event=7&src=email"


def test_the_uid_is_the_same_on_every_request_and_for_the_same_event_in_another_issue(
    public_settings: Settings, db: Database, base: str, tmp_path: Path
) -> None:
    first, second = publish(public_settings, db).id, publish(public_settings, db).id
    once, again = fetch(base, first), fetch(base, first)
    assert once.content == again.content  # DTSTAMP is when the issue went out: the file never changes
    uid = str(parsed(once)["uid"])
    assert uid.endswith("@news.modu.example") and uid == str(parsed(again)["uid"]) == str(parsed(fetch(base, second))["uid"])
    other = publish(public_settings, db, recap=write_recap(tmp_path / "paris.md", "Body.", PARIS_EVENT)).id
    assert str(parsed(fetch(base, other))["uid"]) != uid


def test_the_email_links_to_its_own_campaigns_calendar(public_settings: Settings, db: Database, base: str) -> None:
    campaign = publish(public_settings, db).id
    with db.transaction() as session:
        stored = session.get(Campaign, campaign)
        assert stored is not None
        issue = RenderedIssue(html=stored.html_template, text=stored.text_template, nonce=stored.placeholder_nonce)
        tracked = stored.tracked_links or []
    link = ics_url(PUBLIC_URL, campaign)
    # As the view page renders it (no tracking token): the link itself; in the email, a tracked link leading to it.
    html, text = issue.personalise(neutral_copy(unsubscribe_url="u", view_url="v"))
    assert f'href="{link}"' in html and f"(.ics): {link}\n" in text
    assert link in tracked
    assert fetch(base, campaign).status_code == 200


def test_a_draft_links_to_its_own_calendar_which_works_once_it_is_sent(public_settings: Settings, db: Database, base: str) -> None:
    draft = save_draft(public_settings, db)
    with db.transaction() as session:
        stored = session.get(Campaign, draft)
        assert stored is not None and f'href="{ics_url(PUBLIC_URL, draft)}"' in stored.html_template
    assert fetch(base, draft).status_code == 404
    # A test copy links where the draft will, not to itself.
    test_copy = send_test(public_settings, db, draft, ("editor@modu.example",), 10, CLI_ACTOR).id
    with db.transaction() as session:
        copy = session.get(Campaign, test_copy)
        assert copy is not None and f'href="{ics_url(PUBLIC_URL, draft)}"' in copy.html_template
    assert fetch(base, test_copy).status_code == 404
    send_draft(public_settings, db, SendOrder(campaign_id=draft, batch_size=10), CLI_ACTOR)
    assert parsed(fetch(base, draft))["summary"] == "Modu Workshop: Roadmaps That Survive Contact With Reality"


@pytest.mark.parametrize(
    "state",
    [
        {"status": CampaignStatus.SCHEDULED, "released_at": None},
        {"status": CampaignStatus.PAUSED, "released_at": None},  # paused before its time came
        {"status": CampaignStatus.CANCELLED, "released_at": None},
        {"kind": CampaignKind.CONFIRMATION},
        {"is_test": True},
        {"recap_text": None},  # published before recaps were kept
        {"recap_text": "---\ntitle: [unclosed\n---\nBody\n"},  # a recap that no longer reads
    ],
    ids=["scheduled", "paused-before-release", "cancelled-before-release", "confirmation", "test-copy", "no-recap", "unreadable-recap"],
)
def test_an_issue_that_has_not_gone_out_or_has_no_readable_recap_is_404(
    public_settings: Settings, db: Database, base: str, state: dict[str, Any]
) -> None:
    campaign = publish(public_settings, db).id
    change(db, campaign, **state)
    response = fetch(base, campaign)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "to add to a calendar" in response.text and "Traceback" not in response.text


@pytest.mark.parametrize("state", [CampaignStatus.COMPLETE, CampaignStatus.PAUSED, CampaignStatus.CANCELLED])
def test_an_issue_that_went_out_keeps_its_calendar_whatever_became_of_it_since(
    public_settings: Settings, db: Database, base: str, state: CampaignStatus
) -> None:
    campaign = publish(public_settings, db).id
    change(db, campaign, status=state)
    assert fetch(base, campaign).status_code == 200


def test_an_issue_without_a_next_event_is_404_saying_so(public_settings: Settings, db: Database, base: str) -> None:
    campaign = publish(public_settings, db, recap=WORKSHOP).id
    response = fetch(base, campaign)
    assert response.status_code == 404 and "This issue names no next event to add to a calendar." in response.text


def test_a_test_send_of_a_file_has_no_calendar_link(public_settings: Settings, db: Database, base: str) -> None:
    test_send = publish(public_settings, db, test_to="editor@modu.example").id
    with db.transaction() as session:
        stored = session.get(Campaign, test_send)
        assert stored is not None and ".ics" not in stored.html_template and "calendar.google.com" in stored.html_template


@pytest.mark.parametrize(
    "campaign",
    [
        "9999",
        "0",
        "-1",
        "99999999999999999999999",
        "abc",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "1%00",
        "1%0d%0aSet-Cookie:%20x=1",
        "9" * 5000,
    ],
)
def test_hostile_and_unknown_ids_are_404_and_never_reflected(public_settings: Settings, db: Database, base: str, campaign: str) -> None:
    publish(public_settings, db)
    response = fetch(base, campaign)
    assert response.status_code == 404, campaign
    assert "<script>" not in response.text and "Set-Cookie" not in response.headers and "Traceback" not in response.text


def test_an_oversized_body_is_413_and_a_malformed_one_is_ignored(public_settings: Settings, db: Database, base: str) -> None:
    campaign = publish(public_settings, db).id
    too_large = requests.get(ics_url(base, campaign), data=b"x" * (public_settings.max_request_bytes + 1), timeout=10)
    assert too_large.status_code == 413
    malformed = requests.get(ics_url(base, campaign), data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert malformed.status_code == 200 and malformed.content == fetch(base, campaign).content


def test_the_route_is_in_the_openapi_document(base: str) -> None:
    paths = requests.get(f"{base}/openapi.json", timeout=10).json()["paths"]
    assert set(paths["/archive/{campaign_id}/next-event.ics"]["get"]["responses"]) >= {"200", "404"}

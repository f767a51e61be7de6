"""Front matter the console form and the API do not edit (speakers, links, the next event, the event's times) survives their edits."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from publisher.content.drafting import extras_of, fields_of, merge, read_draft
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, Role
from tests.support.api import Api, token
from tests.support.audience import people
from tests.support.console import TIMEOUT, add_person, csrf_token, sign_in
from tests.support.drafts import save_draft

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

EVENT_RECAP = """---
title: Thank you for coming to Modu Meetup
event:
  name: Modu Meetup
  date: 2026-12-03
  venue: Station F
  starts_at: 2026-12-03T18:30:00+01:00
  ends_at: 2026-12-03T21:00:00+01:00
  timezone: Europe/Paris
speakers:
  - name: Ada Lovelace
    role: Speaker
    organisation: Analytical Engines
links:
  - title: Slides
    url: https://example.com/slides
next_event:
  name: Modu Meetup II
  starts_at: 2027-01-14T18:30:00+01:00
  ends_at: 2027-01-14T21:00:00+01:00
  timezone: Europe/Paris
---

Thank you for coming.
"""


def stored_recap(db: Database, campaign_id: int) -> str:
    with db.transaction() as session:
        text = session.scalar(select(Campaign.recap_text).where(Campaign.id == campaign_id))
    assert text is not None
    return text


def assert_extras_kept(text: str) -> None:
    meta = read_draft(text).meta
    assert [speaker.name for speaker in meta.speakers] == ["Ada Lovelace"]
    assert [link.title for link in meta.links] == ["Slides"]
    assert meta.next_event is not None and meta.next_event.name == "Modu Meetup II"
    assert meta.event is not None and meta.event.timezone == "Europe/Paris" and meta.event.starts_at is not None


def test_merging_changes_keeps_what_the_fields_do_not_name() -> None:
    recap = read_draft(EVENT_RECAP)
    changed = merge(recap, {"body": "Written at last.", "event": {"name": "Modu Meetup", "venue": "Station F, Paris"}})
    assert_extras_kept(changed)
    assert read_draft(changed).meta.event.venue == "Station F, Paris"  # type: ignore[union-attr]
    assert set(extras_of(recap)) == {"speakers", "links", "next_event", "event"}
    assert fields_of(recap)["speakers"] == [{"name": "Ada Lovelace", "role": "Speaker", "organisation": "Analytical Engines"}]


@SQLITE
def test_saving_the_console_form_of_an_event_recap_keeps_its_speakers_links_and_next_event(
    settings: Settings, db: Database, web_url: str
) -> None:
    people(db)
    draft = save_draft(settings, db, EVENT_RECAP)
    add_person(db, "ed@modu.example", Role.EDITOR)
    client = sign_in(web_url, "ed@modu.example")
    page = client.get(f"{web_url}/console/campaigns/{draft}/edit", timeout=TIMEOUT)
    assert "This draft also has speakers, links, the next event and the event&#39;s times" in page.text
    extra = html.unescape(re.search(r'name="extra" value="([^"]*)"', page.text)[1])  # type: ignore[index]
    form = {
        "title": "Thank you for coming to Modu Meetup",
        "event_name": "Modu Meetup",
        "venue": "Station F",
        "body": "Edited in the console.",
        "list": "attendees",
        "provider": "outbox",
        "extra": extra,
        "csrf_token": csrf_token(client, f"{web_url}/console/campaigns/{draft}/edit"),
        "action": "save",
    }
    saved = client.post(f"{web_url}/console/campaigns/{draft}/edit", data=form, allow_redirects=False, timeout=TIMEOUT)
    assert saved.status_code == 303, saved.text[:2000]
    text = stored_recap(db, draft)
    assert_extras_kept(text)
    assert "Edited in the console." in text


@SQLITE
def test_a_tampered_kept_details_field_is_refused_next_to_the_form(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    draft = save_draft(settings, db, EVENT_RECAP)
    add_person(db, "ed@modu.example", Role.EDITOR)
    client = sign_in(web_url, "ed@modu.example")
    before = stored_recap(db, draft)
    for extra, words in (("not json <script>", "could not be read"), ('{"speakers": [{"name": ""}]}', "speakers")):
        form = {"title": "T", "body": "B", "list": "attendees", "provider": "outbox", "extra": extra, "action": "save"}
        form["csrf_token"] = csrf_token(client, f"{web_url}/console/campaigns/{draft}/edit")
        answer = client.post(f"{web_url}/console/campaigns/{draft}/edit", data=form, allow_redirects=False, timeout=TIMEOUT)
        assert answer.status_code == 422, answer.status_code
        assert words in answer.text and "<script>" not in answer.text
    assert stored_recap(db, draft) == before


@SQLITE
def test_an_api_change_to_the_body_keeps_the_event_details(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    draft = save_draft(settings, db, EVENT_RECAP)
    api = Api(web_url, token(db))
    answer = api.patch(f"/campaigns/{draft}", json={"body": "Written through the API."})
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"]["next_event"]["name"] == "Modu Meetup II"
    assert_extras_kept(stored_recap(db, draft))


@SQLITE
def test_the_form_without_kept_details_is_as_before(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    add_person(db, "ed@modu.example", Role.EDITOR)
    client = sign_in(web_url, "ed@modu.example")
    page = client.get(f"{web_url}/console/campaigns/new", timeout=TIMEOUT)
    assert 'name="extra"' not in page.text


@SQLITE
def test_deeply_nested_or_oversized_kept_details_are_refused_never_a_500(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    draft = save_draft(settings, db, EVENT_RECAP)
    add_person(db, "ed@modu.example", Role.EDITOR)
    client = sign_in(web_url, "ed@modu.example")
    before = stored_recap(db, draft)
    hostile = {
        "[" * 3000: "could not be read",
        '{"speakers": ' * 3000: "could not be read",
        '{"links": ' + "[" * 40 + "]" * 40 + "}": "could not be read",  # within the size, past the depth
        '{"speakers": [{"name": "' + "x" * 150_000 + '"}]}': "at most",
    }
    for extra, words in hostile.items():
        form = {"title": "T", "body": "B", "list": "attendees", "provider": "outbox", "extra": extra, "action": "save"}
        token = csrf_token(client, f"{web_url}/console/campaigns/{draft}/edit")
        answer = client.post(f"{web_url}/console/campaigns/{draft}/edit", data={**form, "csrf_token": token}, timeout=TIMEOUT)
        assert answer.status_code == 422, (extra[:40], answer.status_code)
        assert words in answer.text, extra[:40]
        # The live preview says what waits, as for any field it cannot read (htmx swaps only a 2xx answer in).
        shown = client.post(f"{web_url}/console/campaigns/preview", data=form, headers={"X-CSRF-Token": token}, timeout=TIMEOUT)
        assert shown.status_code == 200 and "The preview waits" in shown.text and words in shown.text, (extra[:40], shown.status_code)
    assert stored_recap(db, draft) == before

"""The console's events: the list, one event's page (audiences, recap drafts, people) and `Import attendees`."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select, update

from publisher.accounts.audit import entries
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, Event, EventRegistrant, Role, Subscriber
from publisher.events.catalogue import EventFields, create_event, end_event
from publisher.events.csv_import import import_attendees
from tests.support.console_drafts import form_of
from tests.support.console_pages import console_as, csv_file
from tests.support.drafts import save_draft
from tests.support.paths import FIXTURES
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

LUMA = FIXTURES / "events" / "luma-guests.csv"
MEETUP = FIXTURES / "events" / "meetup-attendees.csv"
PARIS = dt.timezone(dt.timedelta(hours=2))


def _count(db: Database, model: type) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _luma(db: Database, settings: Settings, slug: str = "luma-night", name: str | None = "Luma night") -> None:
    import_attendees(db, settings, LUMA.read_bytes(), LUMA.name, slug, "luma", name)


def _upload(path_text: str, name: str = "export.csv") -> dict[str, tuple[str, bytes, str]]:
    return csv_file(path_text, name)


def test_the_events_page_lists_events_newest_first_with_their_counts(db: Database, settings: Settings, web_url: str) -> None:
    start = dt.datetime(2026, 9, 20, 18, 0, tzinfo=PARIS)
    create_event(db, "older", "manual", EventFields(name="Older talk", starts_at=start - dt.timedelta(days=30), timezone="UTC"))
    create_event(db, "newer", "manual", EventFields(name="Newer <b>talk</b>", starts_at=start, timezone="Europe/Paris"))
    _luma(db, settings, "newer", None)
    end_event(db, "newer")
    viewer = console_as(db, web_url, Role.VIEWER)
    page = viewer.get("/console/events")
    assert page.status_code == 200
    assert '<a href="/console/events" aria-current="page">Events</a>' in page.text
    assert page.text.index("Newer &lt;b&gt;talk&lt;/b&gt;") < page.text.index("Older talk")
    assert "2026-09-20 18:00 CEST" in page.text  # the start in the event's own zone
    row = page.text[page.text.index("/console/events/newer") :].split("</tr>")[0]
    assert re.findall(r'<td class="number">(\d+)', row) == ["5", "3", "2"]
    assert "Import attendees" not in page.text  # a viewer may only look


def test_an_events_page_shows_its_audiences_recap_drafts_and_people(db: Database, settings: Settings, web_url: str) -> None:
    _luma(db, settings)
    end_event(db, "luma-night")
    draft = save_draft(settings, db, list_name="event:luma-night:attended")
    with db.transaction() as session:
        event_id = session.scalar(select(Event.id).where(Event.slug == "luma-night"))
        session.execute(update(Campaign).where(Campaign.id == draft).values(recap_event_id=event_id))
    editor = console_as(db, web_url, Role.EDITOR)
    page = editor.get("/console/events/luma-night")
    assert page.status_code == 200
    assert "<h1>Luma night</h1>" in page.text
    assert '<th scope="row"><code>event:luma-night:attended</code></th>\n      <td class="number">3</td>' in page.text
    assert '<th scope="row"><code>event:luma-night:no-show</code></th>\n      <td class="number">2</td>' in page.text
    assert 'href="/console/campaigns/new?list=event%3Aluma-night%3Ano-show"' in page.text
    assert f'<a href="/console/campaigns/{draft}">' in page.text
    assert "ada.lovelace@example.com" in page.text and "2026-09-20 17:05 UTC" in page.text
    assert 'href="/console/attendees/import?event=luma-night"' in page.text
    prefilled = editor.get("/console/campaigns/new", list="event:luma-night:no-show")
    assert '<option value="event:luma-night:no-show" selected>event:luma-night:no-show (2 recipients)</option>' in prefilled.text
    assert editor.get("/console/events/nowhere").status_code == 404
    assert editor.get("/console/events/NOT%20A%20SLUG").status_code == 404


def test_the_people_of_an_event_come_a_page_at_a_time(db: Database, settings: Settings, web_url: str) -> None:
    rows = "".join(f"person{n:03}@example.com,{n % 2 == 0}\n".lower() for n in range(60))
    import_attendees(db, settings, ("email,attended\n" + rows).encode(), "many.csv", "big-day", "generic")
    viewer = console_as(db, web_url, Role.VIEWER)
    first = viewer.get("/console/events/big-day")
    assert "page 1 of 2" in first.text and first.text.count("@example.com</a>") == 50
    assert 'href="/console/events/big-day?page=2">Next page' in first.text
    second = viewer.get("/console/events/big-day", page="2")
    assert second.text.count("@example.com</a>") == 10 and "Previous page" in second.text
    assert viewer.get("/console/events/big-day", page="0").status_code == 400


def test_the_draft_form_offers_the_event_audiences_and_saves_a_draft_to_one(db: Database, settings: Settings, web_url: str) -> None:
    _luma(db, settings)
    editor = console_as(db, web_url, Role.EDITOR)
    form = editor.get("/console/campaigns/new").text
    assert '<option value="event:luma-night:attended"' in form and '<option value="event:luma-night:no-show"' in form
    assert "event:*" not in form
    answer = editor.post("/console/campaigns/new", form_of(list_name="event:luma-night:attended"))
    assert answer.status_code == 303, answer.text[:500]
    with db.transaction() as session:
        assert session.scalar(select(Campaign.list_id)) is not None


def test_import_attendees_shows_the_report_creates_the_event_and_is_audited(db: Database, web_url: str) -> None:
    editor = console_as(db, web_url, Role.EDITOR)
    form = editor.get("/console/attendees/import", event="luma-night")
    assert form.status_code == 200 and 'value="luma-night"' in form.text
    fields = {"event": "luma-night", "name": "", "format": "auto"}
    answer = editor.post("/console/attendees/import", fields, _upload(LUMA.read_text(encoding="utf-8-sig"), "guests.csv"))
    assert answer.status_code == 200, answer.text[:500]
    assert "guests.csv (luma export) into the new event" in answer.text
    assert "5 added, 0 updated, 0 unchanged, 2 skipped" in answer.text
    assert "<caption>Skipped rows</caption>" in answer.text
    assert "<tr><td>7</td><td>approval_status is &#39;declined&#39;: not a guest who is going</td></tr>" in answer.text
    again = editor.post("/console/attendees/import", fields, _upload(LUMA.read_text(encoding="utf-8-sig"), "guests.csv"))
    assert "0 added, 0 updated, 5 unchanged, 2 skipped" in again.text and "the new event" not in again.text
    assert _count(db, EventRegistrant) == 5
    actions = [(entry.action, entry.target) for entry in entries(db)]
    assert actions.count(("imported", "event:luma-night")) == 2 and actions.count(("event-created", "event:luma-night")) == 1


def test_an_unusable_file_or_field_is_refused_next_to_it_and_nothing_is_written(db: Database, web_url: str) -> None:
    editor = console_as(db, web_url, Role.EDITOR)
    for fields, files, where, problem in (
        ({"event": "meet", "format": "meetup"}, _upload("email\na@example.com\n"), "file", "carries no email addresses"),
        ({"event": "meet", "format": "auto"}, _upload(MEETUP.read_text()), "file", "looks like Meetup&#39;s attendee list"),
        (
            {"event": "latin", "format": "auto"},
            {"file": ("l.csv", "email\nzoë@example.com\n".encode("latin-1"), "text/csv")},
            "file",
            "is not UTF-8",
        ),
        ({"event": "x", "format": "eventbrite"}, _upload("email\na@example.com\n"), "file", "no &#39;order #&#39; column"),
        ({"event": "Bad Slug", "format": "auto"}, _upload("email\na@example.com\n"), "event", "is not valid"),
        ({"event": "ok", "name": "two\nlines", "format": "auto"}, _upload("email\na@example.com\n"), "name", "single line"),
        ({"event": "ok", "format": "excel"}, _upload("email\na@example.com\n"), "format", "Choose one of the formats"),
        ({"event": "ok", "format": "auto"}, None, "file", "choose a CSV file to import"),
    ):
        answer = editor.post("/console/attendees/import", fields, files)
        assert answer.status_code == 400, (fields, answer.text[:300])
        assert f'id="{where}-error"' in answer.text and problem in answer.text, (fields, where)
        assert "console-upload-" not in answer.text
    assert _count(db, Event) == _count(db, Subscriber) == 0
    assert entries(db) == []


def test_hostile_values_in_the_form_and_the_file_come_back_as_text(db: Database, web_url: str) -> None:
    editor = console_as(db, web_url, Role.EDITOR)
    hostile = "<script>alert(1)</script>"
    content = f"email,first_name\nmarkup@example.com,{hostile}\nesc@example.com,E\x1bvil\n"
    answer = editor.post("/console/attendees/import", {"event": "safe", "name": hostile, "format": "generic"}, _upload(content))
    assert answer.status_code == 200 and hostile not in answer.text
    assert "first_name must be a single line of text: it contains a control character (U+001B)" in answer.text
    for path in ("/console/events", "/console/events/safe"):
        page = editor.get(path).text
        assert hostile not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    refused = editor.post("/console/attendees/import", {"event": hostile, "format": "auto"}, _upload(content))
    assert refused.status_code == 400 and hostile not in refused.text


def test_only_editors_and_above_may_import_and_only_with_the_forms_token(db: Database, web_url: str) -> None:
    fields = {"event": "luma-night", "format": "auto"}
    viewer = console_as(db, web_url, Role.VIEWER)
    assert viewer.get("/console/attendees/import").status_code == 403
    assert viewer.post("/console/attendees/import", fields, _upload(LUMA.read_text(encoding="utf-8-sig"))).status_code == 403
    editor = console_as(db, web_url, Role.EDITOR)
    assert editor.post("/console/attendees/import", fields, _upload(LUMA.read_text(encoding="utf-8-sig")), csrf=False).status_code == 403
    assert _count(db, Event) == 0


def test_the_import_takes_files_up_to_the_import_limit(db: Database, settings: Settings, serve_web: ServeWeb) -> None:
    base = serve_web(settings.model_copy(update={"max_request_bytes": 4096, "max_import_bytes": 64_000}))
    editor = console_as(db, base, Role.EDITOR)
    rows = "".join(f"person{n}@example.com\n" for n in range(1000))  # about 23 kB
    answer = editor.post("/console/attendees/import", {"event": "big", "format": "generic"}, _upload("email\n" + rows))
    assert answer.status_code == 200 and "1000 added" in answer.text
    too_big = "email\n" + "".join(f"person{n}@example.com\n" for n in range(4000))  # about 95 kB
    assert editor.post("/console/attendees/import", {"event": "big", "format": "generic"}, _upload(too_big)).status_code == 413

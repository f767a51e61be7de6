"""Attendee CSV exports: each platform's export recognised by its columns, attendance read from its check-ins, bad rows reported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from publisher.audience.privacy import erase
from publisher.core.errors import ImportFileError
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Attendance, Event, EventRegistrant, MailingList, Subscriber, Subscription
from publisher.events.catalogue import EventFields, create_event, end_event, event_summary
from publisher.events.csv_import import AttendeeImport, import_attendees, read_export
from publisher.ledger.results import audience_of
from tests.support.cli import run_cli
from tests.support.paths import FIXTURES

EXPORTS = FIXTURES / "events"
EVENTBRITE = EXPORTS / "eventbrite-attendee-summary.csv"
LUMA = EXPORTS / "luma-guests.csv"
ZOOM = EXPORTS / "zoom-webinar-attendee-report.csv"
GENERIC = EXPORTS / "generic-attendees.csv"
REGISTRATIONS = EXPORTS / "generic-registrations.csv"
MEETUP = EXPORTS / "meetup-attendees.csv"


def _import(
    db: Database, settings: Settings, path: Path, slug: str = "autumn-meetup", kind: str = "auto", name: str | None = None
) -> AttendeeImport:
    return import_attendees(db, settings, path.read_bytes(), str(path), slug, kind, name)


def _count(db: Database, model: type) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _registrant(db: Database, email: str) -> EventRegistrant:
    with db.transaction() as session:
        row = session.scalars(
            select(EventRegistrant).join(Subscriber, Subscriber.id == EventRegistrant.subscriber_id).where(Subscriber.email == email)
        ).one()
        session.expunge(row)
        return row


@pytest.mark.parametrize(
    ("path", "kind", "source", "attended", "no_show", "skipped"),
    [
        (EVENTBRITE, "eventbrite", "eventbrite", 3, 2, [7, 8]),
        (LUMA, "luma", "luma", 3, 2, [7, 8]),
        (ZOOM, "zoom", "zoom", 3, 2, [19, 20]),
        (GENERIC, "generic", "manual", 2, 1, [6]),
    ],
)
def test_each_export_gives_its_registrants_and_after_the_end_its_two_audiences(
    db: Database, settings: Settings, path: Path, kind: str, source: str, attended: int, no_show: int, skipped: list[int]
) -> None:
    result = _import(db, settings, path)
    assert (result.format, result.created) == (kind, True)
    assert [problem.line for problem in result.report.problems] == skipped
    summary = event_summary(db, settings, "autumn-meetup")
    assert summary.source == source
    assert (summary.attended, summary.no_show) == (attended, 0)  # nobody has missed an event that has not ended
    assert audience_of(db, "event:autumn-meetup:no-show") == 0
    end_event(db, "autumn-meetup")
    summary = event_summary(db, settings, "autumn-meetup")
    assert (summary.attended, summary.no_show, summary.registered - summary.unknown) == (attended, no_show, attended + no_show)
    assert audience_of(db, "event:autumn-meetup:attended") == attended
    assert audience_of(db, "event:autumn-meetup:no-show") == no_show


def test_each_export_is_recognised_by_its_columns() -> None:
    found = {path.name: read_export(path.read_bytes(), path.name).format.name for path in (EVENTBRITE, LUMA, ZOOM, GENERIC, REGISTRATIONS)}
    assert found == {
        EVENTBRITE.name: "eventbrite",
        LUMA.name: "luma",
        ZOOM.name: "zoom",
        GENERIC.name: "generic",
        REGISTRATIONS.name: "generic",
    }


def test_attendance_and_its_times_come_from_the_check_in_columns(db: Database, settings: Settings) -> None:
    _import(db, settings, LUMA, "luma-night")
    ada = _registrant(db, "ada.lovelace@example.com")
    assert ada.attendance == Attendance.YES
    assert ada.checked_in_at == dt.datetime(2026, 9, 20, 17, 5, 42, tzinfo=dt.UTC)
    assert ada.registered_at == dt.datetime(2026, 9, 1, 10, 4, 11, tzinfo=dt.UTC)
    assert ada.platform_id == "gst-7Hq2kR1aZ"
    katherine = _registrant(db, "katherine.johnson@example.org")
    assert (katherine.attendance, katherine.checked_in_at) == (Attendance.NO, None)


def test_naive_times_are_read_in_the_events_time_zone_and_a_rejoin_keeps_the_first_join(db: Database, settings: Settings) -> None:
    start = dt.datetime(2026, 9, 20, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    fields = EventFields(name="Scaling Product Teams", starts_at=start, ends_at=start + dt.timedelta(hours=2), timezone="Europe/Paris")
    create_event(db, "scaling", "zoom", fields)
    result = _import(db, settings, ZOOM, "scaling")
    assert result.created is False
    hana = _registrant(db, "hana.sato@example.com")  # on two lines: she joined twice
    assert hana.attendance == Attendance.YES
    assert hana.checked_in_at == dt.datetime(2026, 9, 20, 16, 1, 10, tzinfo=dt.UTC)  # 18:01:10 in Paris
    assert _registrant(db, "kofi.mensah@example.com").attendance == Attendance.NO
    assert event_summary(db, settings, "scaling").registered == 5


def test_the_host_and_panelists_of_a_zoom_report_are_not_registrants(db: Database, settings: Settings) -> None:
    _import(db, settings, ZOOM)
    with db.transaction() as session:
        emails = set(session.scalars(select(Subscriber.email)))
    assert "host@modu.example" not in emails and "priya.raman@example.net" not in emails


def test_a_new_event_is_named_by_the_option_else_the_export_else_its_slug(db: Database, settings: Settings) -> None:
    _import(db, settings, EVENTBRITE, "from-export")
    _import(db, settings, LUMA, "from-slug")
    _import(db, settings, ZOOM, "from-option", name="Scaling teams, live")
    names = {slug: event_summary(db, settings, slug).name for slug in ("from-export", "from-slug", "from-option")}
    assert names == {"from-export": "Product vs Tech", "from-slug": "from-slug", "from-option": "Scaling teams, live"}
    create_event(db, "named", "manual", EventFields(name="Our own name"))
    _import(db, settings, EVENTBRITE, "named")
    assert event_summary(db, settings, "named").name == "Our own name"  # an export never renames an event
    _import(db, settings, EVENTBRITE, "named", name="A better name")
    assert event_summary(db, settings, "named").name == "A better name"


def test_generic_without_attended_records_attendance_as_unknown(db: Database, settings: Settings) -> None:
    result = _import(db, settings, REGISTRATIONS)
    assert [(p.line, p.reason) for p in result.report.problems] == [
        (5, "'not-an-address' is not a valid email address: An email address must have an @-sign.")
    ]
    end_event(db, "autumn-meetup")
    summary = event_summary(db, settings, "autumn-meetup")
    assert (summary.registered, summary.unknown, summary.attended, summary.no_show) == (3, 3, 0, 0)
    assert audience_of(db, "event:autumn-meetup:no-show") == 0


def test_generic_with_attended_reads_true_false_and_a_check_in_time(db: Database, settings: Settings) -> None:
    result = _import(db, settings, GENERIC)
    assert [(p.line, p.reason) for p in result.report.problems] == [(6, "attended is 'maybe': use true or false")]
    assert _registrant(db, "nora.berg@example.com").checked_in_at == dt.datetime(2026, 10, 8, 17, 2, tzinfo=dt.UTC)
    assert _registrant(db, "omar.said@example.com").attendance == Attendance.YES
    assert _registrant(db, "pia.lund@example.org").attendance == Attendance.NO
    assert _registrant(db, "quinn.ray@example.org").attendance == Attendance.UNKNOWN


def test_importing_the_same_file_again_changes_nothing(db: Database, settings: Settings) -> None:
    first = _import(db, settings, ZOOM)
    assert (first.report.added, first.report.updated, first.report.unchanged) == (5, 0, 0)
    again = _import(db, settings, ZOOM)
    assert (again.created, again.report.added, again.report.updated, again.report.unchanged) == (False, 0, 0, 5)
    assert again.summary == "0 added, 0 updated, 5 unchanged, 2 skipped"
    assert _count(db, EventRegistrant) == 5 and _count(db, Event) == 1


def test_a_later_export_with_check_ins_updates_the_registrants(db: Database, settings: Settings, tmp_path: Path) -> None:
    before = tmp_path / "before.csv"
    before.write_text("email,attended\nnora.berg@example.com,false\nomar.said@example.com,false\n")
    _import(db, settings, before)
    result = _import(db, settings, GENERIC)
    assert (result.report.added, result.report.updated, result.report.unchanged) == (2, 2, 0)
    assert _registrant(db, "nora.berg@example.com").attendance == Attendance.YES


def test_an_erased_address_is_reported_and_its_neighbours_are_recorded(db: Database, settings: Settings) -> None:
    erase(db, "bruno.costa@example.com")
    result = _import(db, settings, EVENTBRITE)
    assert (3, "address was erased on request; it is never recorded again") in [(p.line, p.reason) for p in result.report.problems]
    assert result.report.added == 4


@pytest.mark.parametrize("kind", ["meetup", "auto"])
def test_meetups_export_is_refused_for_want_of_addresses(db: Database, settings: Settings, kind: str) -> None:
    with pytest.raises(ImportFileError, match="Meetup's attendee export carries no email addresses"):
        _import(db, settings, MEETUP, kind=kind)
    assert _count(db, Event) == 0


@pytest.mark.parametrize(
    ("content", "kind", "message"),
    [
        ("name,company\nAda,Analytical\n", "auto", "line 1 has no 'email' column (found: name, company)"),
        ("Email,Company,Phone\nada@example.com,Analytical,\n", "auto", "not the header of an export this recognises"),
        ("email,first_name\nada@example.com,Ada\n", "eventbrite", "no 'order #' column, which Eventbrite's attendee summary"),
        ("email,first_name\nada@example.com,Ada\n", "zoom", "no 'Attendee Details' section"),
        ("email,email\nada@example.com,ada@example.com\n", "generic", "line 1 repeats a column name"),
        ("", "auto", "the file is empty"),
        ('email\n"never closed\n' + "x" * 200_000, "generic", ":2: a field is longer than"),
    ],
)
def test_a_file_unusable_as_a_whole_is_refused_and_nothing_is_written(
    db: Database, settings: Settings, tmp_path: Path, content: str, kind: str, message: str
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(content)
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _import(db, settings, path, kind=kind)
    assert _count(db, Event) == _count(db, Subscriber) == 0


def test_a_file_that_is_not_utf8_or_too_large_is_refused(db: Database, settings: Settings, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("email,first_name\nzoe@example.com,Zoë\n".encode("latin-1"))
    with pytest.raises(ImportFileError, match="line 2 is not UTF-8"):
        _import(db, settings, latin1)
    small = settings.model_copy(update={"max_import_bytes": 1024})
    big = tmp_path / "big.csv"
    big.write_text("email\n" + "".join(f"person{n}@example.com\n" for n in range(100)))
    with pytest.raises(ImportFileError, match="at most 1,024 are imported"):
        _import(db, small, big)
    assert _count(db, Event) == _count(db, Subscriber) == 0


def test_hostile_values_skip_their_row_or_stay_plain_text(db: Database, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "hostile.csv"
    rows = [
        "email,first_name,last_name",
        "esc@example.com,Ev\x1b[31mil,Doe",
        "nul@example.com,Nu\x00ll,Doe",
        'break@example.com,"Two\nLines",Doe',
        'formula@example.com,=HYPERLINK("https://evil.example"),+1-2',
        f"long@example.com,{'x' * 201},Doe",
        f"{'a' * 300}@example.com,Long,Address",
        "markup@example.com,<script>alert(1)</script>,Doe",
    ]
    path.write_text("\n".join(rows) + "\n")
    result = _import(db, settings, path, kind="generic")
    reasons = {p.line: p.reason for p in result.report.problems}
    assert reasons[2] == "first_name must be a single line of text: it contains a control character (U+001B)"
    assert reasons[3] == "first_name must be a single line of text: it contains a control character (U+0000)"
    assert reasons[4] == "first_name must be a single line of text: it contains a line break (U+000A)"
    assert reasons[7] == "first_name is longer than 200 characters"
    assert "is not a valid email address" in reasons[8]
    assert result.report.added == 2
    with db.transaction() as session:
        names = dict(session.execute(select(Subscriber.email, Subscriber.first_name)).all())
    assert names == {"formula@example.com": '=HYPERLINK("https://evil.example")', "markup@example.com": "<script>alert(1)</script>"}


def test_an_event_name_an_event_may_not_have_is_left_for_the_slug(db: Database, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "eventbrite.csv"
    path.write_text(EVENTBRITE.read_text().replace("Product vs Tech", "Product\x1b[2J vs Tech"))
    _import(db, settings, path, "cleared")
    assert event_summary(db, settings, "cleared").name == "cleared"


def test_only_a_consent_column_that_allows_it_joins_the_sign_up_list(db: Database, settings: Settings, tmp_path: Path) -> None:
    lists = settings.model_copy(update={"manual_signup_list": "event-news", "luma_signup_list": "event-news"})
    _import(db, lists, LUMA, "luma-night")  # Luma's export carries no consent: nobody joins
    assert _count(db, Subscription) == 0
    path = tmp_path / "consent.csv"
    path.write_text("email,consent\nyes@example.com,true\nno@example.com,false\nsilent@example.com,\n")
    result = _import(db, lists, path, "own-event")
    assert result.report.joined_list == 1
    with db.transaction() as session:
        joined = session.execute(
            select(Subscriber.email, Subscription.source)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .join(MailingList, MailingList.id == Subscription.list_id)
            .where(MailingList.name == "event-news")
        ).all()
    assert [tuple(row) for row in joined] == [("yes@example.com", "event:own-event (manual)")]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the command; the storage runs on both
def test_cli_reports_bad_rows_as_file_line_skipped_and_a_second_import_as_unchanged(env: dict[str, str]) -> None:
    result = run_cli(env, "events", "import", str(LUMA), "--event", "luma-night")
    assert result.returncode == 0, result.output
    assert f"{LUMA}:7: skipped: approval_status is 'declined': not a guest who is going" in result.output
    assert f"{LUMA}:8: skipped: checked_in_at 'sometime in the evening' is not a time" in result.output
    assert "event luma-night created (luma export)" in result.output
    assert result.last_line == "event luma-night: 5 added, 0 updated, 0 unchanged, 2 skipped"
    again = run_cli(env, "events", "import", str(LUMA), "--event", "luma-night")
    assert again.returncode == 0 and again.last_line == "event luma-night: 0 added, 0 updated, 5 unchanged, 2 skipped"
    assert "created" not in again.output
    shown = run_cli(env, "events", "show", "luma-night")
    assert "attended: 3" in shown.output and "source: luma" in shown.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the command; the storage runs on both
def test_cli_refuses_meetup_and_unusable_files_with_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    meetup = run_cli(env, "events", "import", str(MEETUP), "--event", "meetup", "--format", "meetup")
    assert meetup.returncode == 2 and "carries no email addresses" in meetup.output
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("email\nzoë@example.com\n".encode("latin-1"))
    assert run_cli(env, "events", "import", str(latin1), "--event", "x").returncode == 2
    big = tmp_path / "big.csv"
    big.write_text("email\n" + "".join(f"person{n}@example.com\n" for n in range(100)))
    oversized = run_cli({**env, "NEWSLETTER_MAX_IMPORT_BYTES": "1024"}, "events", "import", str(big), "--event", "x")
    assert oversized.returncode == 2 and "larger than 1,024 bytes" in oversized.output
    bad_slug = run_cli(env, "events", "import", str(LUMA), "--event", "Not A Slug\x1b")
    assert bad_slug.returncode == 2 and "is not valid" in bad_slug.output and "\x1b" not in bad_slug.output
    missing = run_cli(env, "events", "import", str(tmp_path / "nowhere.csv"), "--event", "x")
    assert missing.returncode == 2 and "cannot read file" in missing.output
    listed = run_cli(env, "events", "list", "--json")
    assert listed.output.strip() == "[]"


def test_a_time_out_of_range_skips_its_row_naming_the_column(db: Database, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    rows = [
        "email,first_name,registered_at,checked_in_at,attended",
        "early@example.com,Early,0001-01-01T00:00:00+05:00,,false",
        "late@example.com,Late,9999-12-31T23:59:59-05:00,,false",
        "epoch@example.com,Epoch,1969-12-31T23:59:59Z,,false",
        "came@example.com,Came,2026-10-01T09:00:00Z,2201-01-01T00:00:00Z,true",
        "fine@example.com,Fine,2026-10-01T09:00:00Z,,false",
    ]
    path.write_text("\n".join(rows) + "\n")
    result = _import(db, settings, path, kind="generic")
    reasons = {p.line: p.reason for p in result.report.problems}
    assert sorted(reasons) == [2, 3, 4, 5]
    assert reasons[2].startswith("registered_at '0001-01-01T00:00:00+05:00' is not between 1970 and 2200")
    assert reasons[5].startswith("checked_in_at '2201-01-01T00:00:00Z' is not between 1970 and 2200")
    assert result.report.added == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the command; the storage runs on both
def test_cli_reports_a_time_out_of_range_as_file_line_skipped(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    path.write_text("email,registered_at\nada@example.com,0001-01-01T00:00:00+05:00\ngrace@example.com,2026-10-01T09:00:00Z\n")
    result = run_cli(env, "events", "import", str(path), "--event", "times", "--format", "generic")
    assert result.returncode == 0, result.output
    assert f"{path}:2: skipped: registered_at '0001-01-01T00:00:00+05:00' is not between 1970 and 2200" in result.output
    assert result.last_line == "event times: 1 added, 0 updated, 0 unchanged, 1 skipped"

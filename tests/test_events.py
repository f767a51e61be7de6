"""Events and their two audiences: who registered, who came, and who is sent what."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import time_machine
from sqlalchemy import delete, func, select

from publisher.audience import event_audiences
from publisher.audience.event_audiences import SLUG
from publisher.audience.lists import ListNameError, find_list, leave_audience, list_names
from publisher.audience.subscriber_rows import rows_of_records
from publisher.audience.subscribers import import_rows
from publisher.audience.suppressions import suppress_address
from publisher.core.errors import NotFoundError
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Attendance, Campaign, ConsentEvent, EventRegistrant, Subscriber, Subscription, SubscriptionStatus
from publisher.events.catalogue import EventError, EventFields, end_event, event_summary, platform_slug, set_recap_rule
from publisher.ledger.campaigns import audience_batches, audience_size
from tests.support.audience import people, statuses
from tests.support.cli import assert_plain, run_cli
from tests.support.drafts import deliveries_of, save_draft
from tests.support.events import ENDS, MEETUP, make_event, register

ANN, BEN, CEM, DIA = "ann@example.com", "ben@example.com", "cem@example.com", "dia@example.com"
DURING = ENDS - dt.timedelta(hours=1)
AFTER = ENDS + dt.timedelta(hours=1)


def members(db: Database, name: str) -> set[str]:
    with db.transaction() as session:
        mailing_list = find_list(session, name)
        return {email for batch in audience_batches(session, mailing_list, 100) for _, email in batch}


def sizes(db: Database, slug: str) -> tuple[int, int]:
    with db.transaction() as session:
        attended, no_show = (audience_size(session, find_list(session, name)) for name in event_audiences.audience_names(slug))
    return attended, no_show


@pytest.fixture
def meetup(settings: Settings, db: Database) -> str:
    slug = make_event(db)
    register(settings, db, slug, (ANN, Attendance.YES), (BEN, Attendance.NO), (CEM, Attendance.NO), (DIA, Attendance.UNKNOWN))
    return slug


def test_before_the_end_only_those_who_checked_in_are_an_audience(db: Database, meetup: str) -> None:
    with time_machine.travel(DURING, tick=False):
        assert members(db, f"event:{meetup}:attended") == {ANN}
        assert members(db, f"event:{meetup}:no-show") == set()


def test_after_the_end_time_registrants_without_a_check_in_are_no_shows_and_unknowns_are_in_neither(db: Database, meetup: str) -> None:
    with time_machine.travel(AFTER, tick=False):
        assert members(db, f"event:{meetup}:attended") == {ANN}
        assert members(db, f"event:{meetup}:no-show") == {BEN, CEM}
        assert sizes(db, meetup) == (1, 2)


def test_ending_an_event_early_makes_its_no_shows(settings: Settings, db: Database, meetup: str) -> None:
    with time_machine.travel(DURING, tick=False):
        summary = end_event(db, meetup)
        assert summary.ended and summary.no_show == 2
        assert members(db, f"event:{meetup}:no-show") == {BEN, CEM}
        assert end_event(db, meetup).ended  # ending again changes nothing


def test_the_same_registrations_twice_change_nothing_and_attendance_never_goes_back(settings: Settings, db: Database, meetup: str) -> None:
    again = register(settings, db, meetup, (ANN, Attendance.YES), (BEN, Attendance.NO))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    vaguer = register(settings, db, meetup, (ANN, Attendance.UNKNOWN), (DIA, Attendance.NO), (BEN, Attendance.YES))
    assert (vaguer.updated, vaguer.unchanged) == (2, 1)
    with db.transaction() as session:
        rows = dict(
            session.execute(
                select(Subscriber.email, EventRegistrant.attendance).join(Subscriber, Subscriber.id == EventRegistrant.subscriber_id)
            ).all()
        )
    assert rows == {ANN: Attendance.YES, BEN: Attendance.YES, CEM: Attendance.NO, DIA: Attendance.NO}


def test_suppressed_and_erased_people_are_left_out_of_event_audiences(settings: Settings, db: Database, meetup: str) -> None:
    with db.transaction() as session:
        suppress_address(session, BEN, "hard bounce", "provider:postmark")
        session.execute(delete(Subscriber).where(Subscriber.email == CEM))  # erasure deletes the person
    with time_machine.travel(AFTER, tick=False):
        assert members(db, f"event:{meetup}:no-show") == set()
        assert event_summary(db, settings, meetup).registered == 3  # ANN, BEN (suppressed, still registered) and DIA


def test_leaving_an_event_audience_stops_every_event_email_but_no_newsletter(settings: Settings, db: Database) -> None:
    ids = people(db, list_name="attendees")
    anyone = next(iter(ids))
    make_event(db, "first")
    make_event(db, "second")
    register(settings, db, "first", (anyone, Attendance.YES))
    register(settings, db, "second", (anyone, Attendance.YES))
    with db.transaction() as session:
        first = find_list(session, "event:first:attended")
        assert leave_audience(session, ids[anyone], first.id)
        assert not leave_audience(session, ids[anyone], first.id)  # once is enough
    assert anyone not in members(db, "event:first:attended")
    assert anyone not in members(db, "event:second:attended")
    assert statuses(db, ids[anyone]) == {"attendees": SubscriptionStatus.CONFIRMED}
    with db.transaction() as session:
        assert anyone in {email for batch in audience_batches(session, find_list(session, "attendees"), 100) for _, email in batch}


def test_a_draft_to_an_event_audience_is_sent_to_its_members(settings: Settings, db: Database, meetup: str) -> None:
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.ledger.drafts import SendOrder, send_draft

    with time_machine.travel(AFTER, tick=False):
        draft = save_draft(settings, db, list_name=f"event:{meetup}:no-show")
        created = send_draft(settings, db, SendOrder(draft, batch_size=10), CLI_ACTOR)
    assert created.recipients == 2 == deliveries_of(db, draft)
    with db.transaction() as session:
        html, text = session.execute(select(Campaign.html_template, Campaign.text_template).where(Campaign.id == draft)).one()
    # The footer names the event they registered for, not a list they never joined.
    assert "because you registered for Modu Meetup." in html and "because you registered for Modu Meetup." in text
    assert "event:" not in html


def test_event_audiences_of_unknown_events_and_malformed_names_are_refused(db: Database) -> None:
    make_event(db)
    with db.transaction() as session:
        with pytest.raises(NotFoundError, match=r"no event 'nowhere'.*modu-meetup"):
            find_list(session, "event:nowhere:attended")
        with pytest.raises(ListNameError, match="event:<slug>:attended"):
            find_list(session, "event:modu-meetup:everyone")
        find_list(session, "event:modu-meetup:attended")
        assert list_names(session) == []  # event audiences are not newsletter lists


def test_names_starting_with_event_are_reserved_for_imports(db: Database) -> None:
    rows, problems = rows_of_records([{"email": ANN}])
    for name in ("event:modu-meetup:attended", "Event:anything", " event:x"):
        with pytest.raises(ListNameError, match="reserved for event audiences"):
            import_rows(db, rows, problems, name, "import:test")
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_registrants_join_the_sources_sign_up_list_only_with_consent_and_the_record_names_the_event(
    settings: Settings, db: Database
) -> None:
    joining = settings.model_copy(update={"zoom_signup_list": "newsletter"})
    register(joining, db, "zoom-81234567890", (ANN, Attendance.NO), source="zoom", consent=True)
    register(joining, db, "zoom-81234567890", (BEN, Attendance.NO), source="zoom", consent=False)
    register(settings, db, "zoom-81234567890", (CEM, Attendance.NO), source="zoom", consent=True)  # no list configured
    with db.transaction() as session:
        joined = session.execute(
            select(Subscriber.email, Subscription.source, ConsentEvent.source)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .join(ConsentEvent, ConsentEvent.subscription_id == Subscription.id)
        ).all()
    assert joined == [(ANN, "event:zoom-81234567890 (zoom)", "event:zoom-81234567890 (zoom)")]


def test_slugs_fields_and_rules_are_checked(db: Database) -> None:
    assert platform_slug("zoom", "81234567890") == "zoom-81234567890"
    assert platform_slug("generic", "conf-2026") == "generic-conf-2026"
    # Where cleaning loses something (case, other characters, length), a digest of the id keeps ids apart.
    assert re.fullmatch(r"luma-evt-abc-12-[0-9a-f]{10}", platform_slug("luma", "evt-AbC_12"))
    folded = ["Meetup.A", "meetup:a", "meetup_a", "a" * 99 + "1", "a" * 99 + "2"]
    slugs = [platform_slug("generic", platform_id) for platform_id in folded]
    assert len(set(slugs)) == len(folded)
    assert all(SLUG.fullmatch(slug) for slug in slugs)
    make_event(db)
    with pytest.raises(EventError, match="already an event"):
        make_event(db)
    for slug in ("", "UPPER", "a" * 61, "new\nline", "sp ace"):
        with pytest.raises(EventError, match="slug"):
            make_event(db, slug)
    bad = [
        (EventFields(name="Two\nlines"), "line break"),
        (EventFields(name="x", timezone="Mars/Olympus"), "unknown time zone"),
        (EventFields(name="x", starts_at=MEETUP.ends_at, ends_at=MEETUP.starts_at), "ends before it starts"),
        (EventFields(name="x", online_url="javascript:alert(1)"), "http"),
    ]
    for fields, message in bad:
        with pytest.raises(EventError, match=message):
            make_event(db, "other", fields)
    with pytest.raises(EventError, match="unknown recap rule"):
        set_recap_rule(db, "modu-meetup", "sometimes")  # type: ignore[arg-type]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the commands; storage runs on both above
def test_events_commands_create_list_set_end_and_show(env: dict[str, str]) -> None:
    created = run_cli(
        env, "events", "create", "meetup", "--name", "Modu Meetup", "--start", "2026-12-03T18:00:00+01:00",
        "--end", "2026-12-03T21:00:00+01:00", "--timezone", "Europe/Paris", "--venue", "Station F",
    )  # fmt: skip
    assert created.returncode == 0, created.output
    assert "event:meetup:attended" in created.output
    assert run_cli(env, "events", "set", "meetup", "--recap", "auto", "--auto-send-after", "3600").returncode == 0
    listed = run_cli(env, "events", "list", "--json")
    assert listed.returncode == 0, listed.output
    [event] = json.loads(listed.output)
    assert {key: event[key] for key in ("slug", "name", "source", "starts_at", "ends_at", "registered", "attended")} == {
        "slug": "meetup",
        "name": "Modu Meetup",
        "source": "manual",
        "starts_at": "2026-12-03T17:00:00+00:00",
        "ends_at": "2026-12-03T20:00:00+00:00",
        "registered": 0,
        "attended": 0,
    }
    assert event["recap"] == "auto" and event["auto_send_after"] == 3600
    ended = run_cli(env, "events", "end", "meetup")
    assert ended.returncode == 0, ended.output
    shown = run_cli(env, "events", "show", "meetup")
    assert "attended: 0" in shown.output.splitlines() and "no-show: 0" in shown.output.splitlines()
    assert "starts: 2026-12-03 18:00 CET" in shown.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the commands; storage runs on both above
def test_events_commands_refuse_bad_input_with_exit_2(env: dict[str, str]) -> None:
    base = ["--name", "x", "--start", "2026-12-03T18:00:00+01:00", "--end", "2026-12-03T21:00:00+01:00", "--timezone", "UTC"]
    cases = [
        (["events", "create", "Bad Slug", *base], "slug"),
        (["events", "create", "ok", *base[:2], "--start", "2026-12-03T18:00:00", *base[4:]], "UTC offset"),
        (["events", "create", "ok", "--name", "A\x1b[31mred", *base[2:]], "U+001B"),
        (["events", "create", "ok", *base, "--venue", "v", "--online-url", "https://x.example"], "not both"),
        (["events", "show", "missing"], "no event 'missing'"),
        (["events", "end", "x" * 500], "slug"),
        (["events", "create", "ok", *base[:2], "--start", "9" * 5000, *base[4:]], "ISO 8601"),
        (["events", "create", "ok", *base[:4], "--end", "2026-12-03T21:00:00" + " " * 5000, *base[6:]], "--end '2026-12-03T21:00:00 "),
    ]
    for args, message in cases:
        result = run_cli(env, *args)
        assert result.returncode == 2, (args, result.output)
        assert message in result.output, (args, result.output)
        assert_plain(result.output)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_unsubscribe_link_of_an_event_email_stops_event_emails_and_says_newsletters_stay(
    settings: Settings, db: Database, web_url: str
) -> None:
    import requests

    from publisher.core.links import UNSUBSCRIBE, LinkTarget
    from tests.support.web import link

    ids = people(db, list_name="attendees")
    anyone = next(iter(ids))
    make_event(db)
    register(settings, db, "modu-meetup", (anyone, Attendance.YES))
    with db.transaction() as session:
        audience_id = find_list(session, "event:modu-meetup:attended").id
    url = link(settings, web_url, UNSUBSCRIBE, LinkTarget(ids[anyone], audience_id, 1))
    asked = requests.get(url, timeout=10)
    assert asked.status_code == 200
    assert "registered for Modu Meetup" in asked.text and "newsletter subscriptions stay as they are" in asked.text
    assert anyone in members(db, "event:modu-meetup:attended")
    done = requests.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert done.status_code == 200 and "no more event emails" in done.text and "unchanged" in done.text
    assert anyone not in members(db, "event:modu-meetup:attended")
    assert statuses(db, ids[anyone]) == {"attendees": SubscriptionStatus.CONFIRMED}
    again = requests.get(url, timeout=10)
    assert "already stopped" in again.text


def test_a_persons_export_lists_their_registrations_and_erasure_removes_them(settings: Settings, db: Database, meetup: str) -> None:
    from publisher.audience.privacy import erase, export

    exported = export(db, ANN)
    assert exported is not None
    [registration] = exported["event_registrations"]  # type: ignore[misc]
    assert registration["event"] == meetup and registration["attendance"] == "yes"
    erase(db, ANN)
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(EventRegistrant)) == 3
    assert ANN not in members(db, f"event:{meetup}:attended")
    register(settings, db, meetup, (ANN, Attendance.YES))  # an erased address is never recorded again
    assert members(db, f"event:{meetup}:attended") == set()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the commands; storage runs on both above
def test_campaign_ids_out_of_range_are_refused_by_every_command_with_exit_2(env: dict[str, str]) -> None:
    huge = "99999999999999999999"
    for args in (["send", huge], ["status", huge], ["pause", huge], ["report", "0"], ["approve", huge], ["audit", "--campaign", huge]):
        result = run_cli(env, *args)
        assert result.returncode == 2, (args, result.output)
        assert "Traceback" not in result.output and "OverflowError" not in result.output, args


def test_the_automatic_send_delay_is_bounded_everywhere(settings: Settings, db: Database, env: dict[str, str]) -> None:
    from pydantic import ValidationError

    from publisher.core.settings import MAX_EVENT_DELAY

    make_event(db)
    with pytest.raises(EventError, match="at most 315360000 seconds"):
        set_recap_rule(db, "modu-meetup", "auto", auto_send_after=MAX_EVENT_DELAY + 1)
    set_recap_rule(db, "modu-meetup", "auto", auto_send_after=MAX_EVENT_DELAY)
    for hostile in ("315360001", "1000000000000", "99999999999999999999999"):
        result = run_cli(env, "events", "set", "modu-meetup", "--recap", "auto", "--auto-send-after", hostile)
        assert result.returncode == 2 and "--auto-send-after" in result.output and "Traceback" not in result.output, result.output
    assert event_summary(db, settings, "modu-meetup").auto_send_after == MAX_EVENT_DELAY
    for name in ("event_recap_delay", "event_auto_send_after"):
        with pytest.raises(ValidationError, match=name):
            Settings(**{name: MAX_EVENT_DELAY + 1})  # type: ignore[arg-type]


def test_event_times_outside_1970_to_2200_are_refused(db: Database, env: dict[str, str]) -> None:
    year_one = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    for fields, label in (
        (EventFields(name="x", starts_at=year_one), "start"),
        (EventFields(name="x", starts_at=MEETUP.starts_at, ends_at=dt.datetime(2201, 1, 1, tzinfo=dt.UTC)), "end"),
    ):
        with pytest.raises(EventError, match=f"the event {label} time is not between 1970 and 2200"):
            make_event(db, "far-off", fields)
    base = ["events", "create", "far-off", "--name", "x", "--timezone", "UTC"]
    for start, end, label in (
        ("0001-01-01T00:00:00+05:00", "2026-12-03T21:00:00+01:00", "start"),
        ("2026-12-03T18:00:00+01:00", "9999-12-31T23:59:00-05:00", "end"),
    ):
        result = run_cli(env, *base, "--start", start, "--end", end)
        assert result.returncode == 2 and f"the event {label} time is not between 1970 and 2200" in result.output, result.output
        assert "Traceback" not in result.output
    assert run_cli(env, "events", "show", "far-off").returncode == 2  # nothing was stored


def test_listing_the_audiences_for_the_draft_form_writes_nothing_and_counts_as_a_send_would(settings: Settings, db: Database) -> None:
    from publisher.audience.event_audiences import events_scope
    from publisher.db.models import MailingList
    from publisher.ledger.results import audiences

    make_event(db)
    register(settings, db, "modu-meetup", (ANN, Attendance.YES), (BEN, Attendance.YES), (CEM, Attendance.NO))
    with db.transaction() as session:
        suppress_address(session, BEN, "unsubscribed from event emails", "unsubscribe", events_scope(session).id)

    def event_rows() -> int:
        with db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(MailingList).where(MailingList.event_id.is_not(None))) or 0)

    with time_machine.travel(AFTER, tick=False):
        listed = dict(audiences(db))
        assert event_rows() == 0  # a read: the rows come when a draft is saved or sent to an audience
        assert (listed["event:modu-meetup:attended"], listed["event:modu-meetup:no-show"]) == (1, 1)
        assert sizes(db, "modu-meetup") == (1, 1)  # the same, counted on the rows
        assert event_rows() == 2
        assert dict(audiences(db)) == listed

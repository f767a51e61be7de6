"""When an event ends: two recap drafts after the delay, pre-filled from the event, and one notice to the editors, once.

Time is moved (time-machine), never waited for. Each test runs on SQLite and
PostgreSQL unless it says otherwise.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from email.message import EmailMessage
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from publisher.accounts.audit import entries
from publisher.accounts.roles import CLI_ACTOR
from publisher.content.drafting import read_draft
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Batch, Campaign, CampaignStatus, Event, Role
from publisher.events.catalogue import EventFields, create_event, end_event, set_recap_rule
from publisher.events.recaps import RecapMade, make_due_recaps, make_recap
from publisher.ledger.dispatch import release_due
from publisher.ledger.drafts import SendOrder, load_draft, send_draft
from tests.support.cli import run_cli
from tests.support.console import add_person
from tests.support.recap_events import CAME, ENDS, MISSED, event_row, notice_recipients, product_meetup, write_body, written
from tests.support.types import StartWorker
from tests.support.waiting import Running, holding_lock, wait_until, waiting_on_locks
from workers.delivery.batch import deliver_batch
from workers.runtime import build_context

DELAY = dt.timedelta(hours=2)
ATTENDED, NO_SHOW = "event:product-meetup:attended", "event:product-meetup:no-show"
EDITORS = ("eve@modu.example", "sam@modu.example", "ada@modu.example")


@pytest.fixture
def editors(db: Database) -> tuple[str, ...]:
    """An editor, a sender and an admin, who get the notice; and a viewer, who does not."""
    add_person(db, "vic@modu.example", Role.VIEWER)
    for address, role in zip(EDITORS, (Role.EDITOR, Role.SENDER, Role.ADMIN), strict=True):
        add_person(db, address, role)
    return EDITORS


def sweep_at(settings: Settings, db: Database, moment: dt.datetime) -> list[RecapMade]:
    with time_machine.travel(moment, tick=False):
        return make_due_recaps(settings, db)


# --- When -----------------------------------------------------------------------------------------


def test_the_drafts_wait_for_the_delay_after_the_end_time(settings: Settings, db: Database) -> None:
    slug = product_meetup(db, settings)
    assert sweep_at(settings, db, ENDS + DELAY - dt.timedelta(seconds=1)) == []
    before = written(db, slug)
    assert (before.drafts, before.notices, before.done) == ({}, [], False)
    assert [made.slug for made in sweep_at(settings, db, ENDS + DELAY)] == [slug]
    after = written(db, slug)
    assert set(after.drafts) == {ATTENDED, NO_SHOW} and after.done


def test_the_delay_counts_from_events_end_and_is_a_setting(settings: Settings, db: Database) -> None:
    slug = product_meetup(db, settings, ends_at=ENDS + dt.timedelta(days=30))
    ended = ENDS + dt.timedelta(minutes=5)
    end_event(db, slug, now=ended)
    quick = settings.model_copy(update={"event_recap_delay": 3.0})
    assert sweep_at(quick, db, ended + dt.timedelta(seconds=2)) == []
    assert len(sweep_at(quick, db, ended + dt.timedelta(seconds=3))) == 1
    assert set(written(db, slug).drafts) == {ATTENDED, NO_SHOW}


def test_an_event_that_has_not_ended_gets_nothing(settings: Settings, db: Database) -> None:
    slug = product_meetup(db, settings)
    assert sweep_at(settings, db, ENDS - dt.timedelta(minutes=1)) == []
    assert make_recap(settings, db, event_row(db, slug).id, ENDS) is None  # not due: no delay has passed
    assert not written(db, slug).done


# --- What -----------------------------------------------------------------------------------------


def test_the_drafts_are_prefilled_from_the_event_and_wait_for_a_body(settings: Settings, db: Database) -> None:
    slug = product_meetup(db, settings)
    fields = EventFields(
        name="Roadmap workshop",
        starts_at=dt.datetime(2027, 1, 14, 17, 0, tzinfo=dt.UTC),
        ends_at=dt.datetime(2027, 1, 14, 19, 0, tzinfo=dt.UTC),
        timezone="Europe/Paris",
        online_url="https://meet.example/roadmap",
    )
    create_event(db, "roadmap-workshop", "luma", fields)
    # An event already over is no "next" event, and neither is one that starts later than the soonest.
    create_event(db, "old-one", "manual", EventFields(name="Old", starts_at=ENDS - DELAY, ends_at=ENDS, timezone="UTC"))
    later = EventFields(name="Later", starts_at=dt.datetime(2027, 3, 1, tzinfo=dt.UTC), ends_at=dt.datetime(2027, 3, 2, tzinfo=dt.UTC))
    create_event(db, "later-one", "zoom", later)
    sweep_at(settings, db, ENDS + DELAY)
    drafts = written(db, slug).drafts
    thanks, missed = read_draft(drafts[ATTENDED].recap_text or ""), read_draft(drafts[NO_SHOW].recap_text or "")
    assert thanks.meta.title == thanks.meta.email_subject == "Thank you for coming to Product vs Tech"
    assert missed.meta.title == missed.meta.email_subject == "Here's what you missed at Product vs Tech"
    for recap in (thanks, missed):
        event = recap.meta.event
        assert event is not None
        assert (event.name, event.date, event.venue) == ("Product vs Tech", dt.date(2026, 12, 3), "Holborn, London")
        assert event.timezone == "Europe/London"
        assert (event.starts_at, event.ends_at) == (ENDS - dt.timedelta(hours=2, minutes=30), ENDS)
        assert str(event.url) == "https://events.example/product-vs-tech"
        assert [(s.name, s.role, s.organisation, s.photo and str(s.photo)) for s in recap.meta.speakers] == [
            ("Ada Lovelace", "Chief engineer", "Modu", "https://images.example/ada.jpg"),
            ("Grace Hopper", "Keynote", None, None),  # its javascript: photo left out, the speaker kept
        ]
        following = recap.meta.next_event
        assert following is not None
        assert (following.name, following.timezone, following.venue) == ("Roadmap workshop", "Europe/Paris", "Online")
        assert following.starts_at == fields.starts_at and following.starts_at.utcoffset() == dt.timedelta(hours=1)
        assert str(following.url) == "https://meet.example/roadmap"
        assert recap.body.strip() == ""
    for draft in drafts.values():
        assert (draft.status, draft.created_by) == (CampaignStatus.DRAFT, "event:product-meetup")
        assert (draft.auto_send_at, draft.approved_at) == (None, None)
        assert [f["check"] for f in (draft.lint or {})["findings"] if f["severity"] == "error"] == ["body"]
    ours = [(e.action, e.campaign_id, e.target) for e in reversed(entries(db)) if e.actor == "event:product-meetup"]
    assert ours == [("created", drafts[ATTENDED].id, ATTENDED), ("created", drafts[NO_SHOW].id, NO_SHOW)]


def test_without_a_following_event_or_speakers_the_recap_has_neither(settings: Settings, db: Database) -> None:
    slug = product_meetup(db, settings, speakers=[], venue=None, url=None)
    sweep_at(settings, db, ENDS + DELAY)
    recap = read_draft(written(db, slug).drafts[ATTENDED].recap_text or "")
    assert (recap.meta.speakers, recap.meta.next_event) == ([], None)
    assert recap.meta.event is not None and (recap.meta.event.venue, recap.meta.event.url) == (None, None)


def test_each_draft_goes_to_its_audience(settings: Settings, db: Database) -> None:
    slug = product_meetup(db, settings)
    sweep_at(settings, db, ENDS + DELAY)
    drafts = written(db, slug).drafts
    for draft in drafts.values():
        write_body(settings, db, draft.id)
    came = send_draft(settings, db, SendOrder(drafts[ATTENDED].id, 10), CLI_ACTOR)
    missed = send_draft(settings, db, SendOrder(drafts[NO_SHOW].id, 10), CLI_ACTOR)
    assert (came.recipients, missed.recipients) == (len(CAME), len(MISSED))


# --- The editors' notice --------------------------------------------------------------------------


def test_every_editor_gets_one_notice_with_a_link_to_each_draft(
    settings: Settings, db: Database, editors: tuple[str, ...], tmp_path: Path
) -> None:
    slug = product_meetup(db, settings)
    for _ in range(3):
        sweep_at(settings, db, ENDS + DELAY)
    after = written(db, slug)
    [notice] = after.notices
    assert notice_recipients(db) == sorted(editors)
    assert (notice.list_id, notice.is_test, notice.created_by) == (None, False, "event:product-meetup")
    with db.transaction() as session:
        [batch_id] = session.scalars(select(Batch.id).where(Batch.campaign_id == notice.id))
    assert [batch.priority for batch in release_due(db, dt.timedelta(minutes=5)) if batch.batch_id == batch_id] == [True]

    ctx = build_context(settings.model_copy(update={"outbox_dir": tmp_path / "outbox"}))
    try:
        assert deliver_batch(ctx, batch_id, max_countdown=60).sent == 3
        assert deliver_batch(ctx, batch_id, max_countdown=60).sent == 0  # delivered again: nobody gets it twice
    finally:
        ctx.close()
    messages = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default) for path in (tmp_path / "outbox").glob("*.eml")]
    assert sorted(str(message["To"]) for message in messages) == sorted(editors)
    for message in messages:
        assert isinstance(message, EmailMessage)
        assert message["Subject"] == "Recap drafts ready: Product vs Tech"
        assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for draft in after.drafts.values():
            url = f"{settings.public_url}/console/campaigns/{draft.id}"
            assert f'href="{url}"' in html and url in text
        assert "(2 people now)" in text and "(1 person now)" in text
        assert "on Thursday 3 December 2026 at 21:00 (Europe/London)" in text
        assert not re.search(r"unsubscribe|/view/", html + text, re.IGNORECASE)


def test_without_an_editor_there_is_no_notice(settings: Settings, db: Database) -> None:
    add_person(db, "vic@modu.example", Role.VIEWER)
    slug = product_meetup(db, settings)
    sweep_at(settings, db, ENDS + DELAY)
    after = written(db, slug)
    assert len(after.drafts) == 2 and after.notices == [] and after.done


# --- Rules ----------------------------------------------------------------------------------------


def test_the_rule_none_makes_nothing_but_marks_the_event_done(settings: Settings, db: Database, editors: tuple[str, ...]) -> None:
    slug = product_meetup(db, settings)
    set_recap_rule(db, slug, "none")
    [made] = sweep_at(settings, db, ENDS + DELAY)
    assert (made.rule, made.drafts, made.notice) == ("none", (), None)
    after = written(db, slug)
    assert (after.drafts, after.notices, after.done) == ({}, [], True)
    assert sweep_at(settings, db, ENDS + 2 * DELAY) == []


def test_the_sources_rule_applies_unless_the_event_has_its_own(settings: Settings, db: Database) -> None:
    quiet = settings.model_copy(update={"manual_recap": "none"})
    product_meetup(db, settings, slug="by-source")
    product_meetup(db, settings, slug="by-event")
    set_recap_rule(db, "by-event", "drafts")
    made = {recap.slug: recap.rule for recap in sweep_at(quiet, db, ENDS + DELAY)}
    assert made == {"by-source": "none", "by-event": "drafts"}
    assert len(written(db, "by-source").drafts) == 0 and len(written(db, "by-event").drafts) == 2


def test_the_rule_auto_gives_each_draft_its_send_time(settings: Settings, db: Database, editors: tuple[str, ...]) -> None:
    product_meetup(db, settings, slug="own-delay")
    set_recap_rule(db, "own-delay", "auto", auto_send_after=3 * 3600)
    product_meetup(db, settings, slug="default-delay")
    set_recap_rule(db, "default-delay", "auto")
    sweep_at(settings, db, ENDS + DELAY)
    for slug, after in (("own-delay", dt.timedelta(hours=3)), ("default-delay", dt.timedelta(seconds=settings.event_auto_send_after))):
        drafts = written(db, slug).drafts.values()
        assert [(d.status, d.auto_send_at, d.approved_at) for d in drafts] == [(CampaignStatus.DRAFT, ENDS + after, None)] * 2
    with db.transaction() as session:
        texts = session.scalars(select(Campaign.text_template).where(Campaign.kind == "notice")).all()
    assert len(texts) == 2
    assert any("sent automatically on Friday 4 December 2026 at 00:00 (Europe/London)" in text for text in texts)


# --- Once -----------------------------------------------------------------------------------------


def test_a_lost_done_mark_still_gives_no_second_pair(settings: Settings, db: Database, editors: tuple[str, ...]) -> None:
    """The unique constraint on (recap_event_id, list_id) is the backstop behind the lock and the mark."""
    slug = product_meetup(db, settings)
    sweep_at(settings, db, ENDS + DELAY)
    with db.transaction() as session:
        session.execute(update(Event).where(Event.slug == slug).values(recap_done_at=None))
    with pytest.raises(IntegrityError):
        make_recap(settings, db, event_row(db, slug).id, ENDS + DELAY)
    assert sweep_at(settings, db, ENDS + DELAY) == []  # logged and left: still nothing more
    after = written(db, slug)
    assert len(after.drafts) == 2 and len(after.notices) == 1 and len(notice_recipients(db)) == len(editors)


@contextmanager
def two_more_engines(database_url: str) -> Iterator[list[Database]]:
    """Two engines of their own on the test's database, as two workers' sweeps have."""
    from publisher.db.engine import open_database

    others = [open_database(database_url) for _ in range(2)]
    try:
        yield others
    finally:
        for other in others:
            other.dispose()


def assert_one_pair_made(db: Database, slug: str, results: list[list[object]]) -> None:
    """One sweep of two made the event's pair of drafts and its notice; the other found nothing left to do."""
    assert sorted(len(result) for result in results) == [0, 1]
    after = written(db, slug)
    assert len(after.drafts) == 2 and len(after.notices) == 1


def holding_event_lock(db: Database, slug: str) -> AbstractContextManager[Connection]:
    return holding_lock(db, select(Event.id).where(Event.slug == slug).with_for_update())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_sweeps_at_once_make_one_pair_and_one_notice(
    settings: Settings, db: Database, database_url: str, editors: tuple[str, ...]
) -> None:
    slug = product_meetup(db, settings)
    with two_more_engines(database_url) as others, time_machine.travel(ENDS + DELAY, tick=False):
        # Both sweeps find the event due, then queue for its row lock.
        with holding_event_lock(db, slug):
            sweeps = [Running(lambda other=other: make_due_recaps(settings, other)) for other in others]  # type: ignore[misc]
            wait_until(lambda: waiting_on_locks(db) == 2)
        results = [sweep.result() for sweep in sweeps]
    assert_one_pair_made(db, slug, results)
    assert notice_recipients(db) == sorted(editors)


class TwoSweeps:
    """Hooks on every engine that stage two sweeps on SQLite, and note in order what each did.

    The second sweep is held just before the transaction that makes the
    recap (it has found the event due); the first is then held inside its
    own, after it wrote the first draft (as ``tests/chaos/recap_hold.py``
    holds a worker). Released, the second meets the first's lock.
    """

    FIRST, SECOND = "first-sweep", "second-sweep"

    def __init__(self) -> None:
        import threading

        self.order: list[str] = []
        self.second_found_it_due = False
        self.second_held, self.release_second, self.second_asking = threading.Event(), threading.Event(), threading.Event()
        self.first_inside, self.release_first = threading.Event(), threading.Event()
        self._awaiting_lock = False

    def before(self, _connection: object, _cursor: object, statement: str, *_: object) -> None:
        import threading

        name = threading.current_thread().name
        if name == self.SECOND and "recap_done_at IS NULL" in statement:
            self.second_found_it_due = True
        elif name == self.SECOND and statement == "BEGIN IMMEDIATE" and self.second_found_it_due and not self.second_held.is_set():
            self.second_held.set()
            assert self.release_second.wait(60)
            self.order.append("the second asks for the lock")
            self._awaiting_lock = True
            self.second_asking.set()

    def after(self, _connection: object, _cursor: object, statement: str, *_: object) -> None:
        import threading

        name = threading.current_thread().name
        if name == self.SECOND and statement == "BEGIN IMMEDIATE" and self._awaiting_lock:
            self._awaiting_lock = False
            self.order.append("the second has the lock")
        elif name == self.FIRST and statement.lstrip().upper().startswith("INSERT INTO CAMPAIGNS") and not self.first_inside.is_set():
            self.first_inside.set()
            assert self.release_first.wait(60)

    def commit(self, _connection: object) -> None:
        import threading

        if threading.current_thread().name == self.FIRST and self.first_inside.is_set():
            self.order.append("the first commits")

    @contextmanager
    def installed(self) -> Iterator[TwoSweeps]:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        hooks = (("before_cursor_execute", self.before), ("after_cursor_execute", self.after), ("commit", self.commit))
        for name, hook in hooks:
            event.listen(Engine, name, hook)
        try:
            yield self
        finally:
            for name, hook in hooks:
                event.remove(Engine, name, hook)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_two_sweeps_at_once_on_sqlite_make_one_pair(
    settings: Settings, db: Database, database_url: str, editors: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    """Both sweeps find the event due; the second waits for the first's lock, then finds the event done."""
    import threading

    slug = product_meetup(db, settings)

    def sweep(name: str, other: Database) -> list[RecapMade]:
        threading.current_thread().name = name
        return make_due_recaps(settings, other)

    with two_more_engines(database_url) as others, time_machine.travel(ENDS + DELAY, tick=False), TwoSweeps().installed() as stage:
        second = Running(lambda: sweep(stage.SECOND, others[1]))
        assert stage.second_held.wait(60)  # it found the event due, and holds no lock
        first = Running(lambda: sweep(stage.FIRST, others[0]))
        assert stage.first_inside.wait(60)  # the first draft written, nothing committed
        stage.release_second.set()
        assert stage.second_asking.wait(60)
        stage.release_first.set()
        made_first, made_second = first.result(), second.result()
    assert [made.slug for made in made_first] == [slug] and made_second == []
    assert stage.order == ["the second asks for the lock", "the first commits", "the second has the lock"]
    assert "could not be made" not in caplog.text and "IntegrityError" not in caplog.text
    after = written(db, slug)
    assert len(after.drafts) == 2 and len(after.notices) == 1


# --- End to end: a real worker's own sweep --------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_events_end_then_a_workers_sweep_makes_the_drafts_and_mails_each_editor_once(
    settings: Settings, db: Database, env: dict[str, str], editors: tuple[str, ...], start_worker: StartWorker
) -> None:
    env = {**env, "NEWSLETTER_EVENT_RECAP_DELAY": "0", "NEWSLETTER_SWEEP_INTERVAL": "1"}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start, end = (now - dt.timedelta(hours=1)).isoformat(), (now + dt.timedelta(hours=1)).isoformat()
    created = run_cli(env, "events", "create", "launch-night", "--name", "Launch", "--start", start, "--end", end, "--timezone", "UTC")
    assert created.returncode == 0, created.output
    assert run_cli(env, "events", "end", "launch-night").returncode == 0
    start_worker(env)
    outbox = settings.resolved_outbox_dir
    wait_until(lambda: written(db, "launch-night").done and len(list(outbox.glob("*.eml"))) == len(editors))
    after = written(db, "launch-night")
    assert set(after.drafts) == {"event:launch-night:attended", "event:launch-night:no-show"}
    [notice] = after.notices
    wait_until(lambda: load_draft(db, notice.id).status is CampaignStatus.COMPLETE)
    messages = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default) for path in outbox.glob("*.eml")]
    assert sorted(str(message["To"]) for message in messages) == sorted(editors)
    assert {str(message["Subject"]) for message in messages} == {"Recap drafts ready: Launch"}


# --- One bad event ----------------------------------------------------------------------------------


# SQLite holds the integer as stored; PostgreSQL's column refuses it (which ``events set`` now does first).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_event_whose_recap_cannot_be_made_is_logged_and_the_others_still_get_theirs(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # A delay stored before it was bounded: its send time is past any date Python holds.
    bad = product_meetup(db, settings, slug="far-future", recap_rule="auto", auto_send_after=10**12)
    good = product_meetup(db, settings)
    made = sweep_at(settings, db, ENDS + DELAY)
    assert [recap.slug for recap in made] == [good]
    assert written(db, good).done and not written(db, bad).done
    assert f"the recap of event {event_row(db, bad).id} could not be made" in caplog.text


# --- A recap draft's list ---------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_moving_a_recap_draft_to_its_other_audience_is_refused_with_the_reason(settings: Settings, db: Database, web_url: str) -> None:
    from publisher.accounts.roles import Scope
    from tests.support.api import Api, assert_problem, token
    from tests.support.console import TIMEOUT, csrf_token, sign_in
    from tests.support.console_drafts import form_of

    slug = product_meetup(db, settings)
    sweep_at(settings, db, ENDS + DELAY)
    came, missed = written(db, slug).drafts[ATTENDED].id, written(db, slug).drafts[NO_SHOW].id
    expected = f"campaign {missed} is already the recap of this event for {NO_SHOW}"

    api = Api(web_url, token(db, "writer", (Scope.CAMPAIGNS_READ, Scope.CAMPAIGNS_WRITE)))
    problem = assert_problem(api.patch(f"/campaigns/{came}", json={"list": NO_SHOW}), 409)
    assert expected in problem["detail"]

    add_person(db, "eve@modu.example", Role.EDITOR)
    client = sign_in(web_url, "eve@modu.example")
    page = f"{web_url}/console/campaigns/{came}/edit"
    form = {**form_of(list_name=NO_SHOW), "csrf_token": csrf_token(client, page), "action": "save"}
    answer = client.post(page, data=form, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 422, answer.text[:2000]
    assert expected in answer.text
    assert written(db, slug).drafts[ATTENDED].id == came  # nothing changed
    moved = api.patch(f"/campaigns/{came}", json={"list": ATTENDED, "title": "Still the attended one"})
    assert moved.status_code == 200, moved.text

"""Applying a platform delivery (SQLite and PostgreSQL): once per delivery id, never losing what a concurrent one knew."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.engine import make_url

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Attendance, Event
from publisher.events.catalogue import EventError, EventFields, create_event
from publisher.events.platforms.delivery import CheckIn, Delivery, RegistrantNotYetKnown, apply_delivery
from publisher.events.registrants import Registration
from publisher.queue import enqueue_event_delivery
from tests.support.environment import environment_for
from tests.support.event_hooks import people, stored_event
from tests.support.tcp_proxy import REFUSE_ALL, refusing_proxy
from tests.support.types import StartWorker
from tests.support.waiting import wait_until, waiting_on_locks

CAME = dt.datetime(2026, 12, 4, 18, 5, tzinfo=dt.UTC)


def apply(db: Database, settings: Settings, delivery: Delivery) -> bool:
    with db.transaction() as session:
        return not apply_delivery(session, settings, delivery).duplicate


def person(email: str = "ada@example.com", **fields: object) -> Registration:
    return Registration(email=email, **{"attendance": Attendance.NO, **fields})  # type: ignore[arg-type]


def test_a_delivery_id_is_applied_once_however_long_or_odd(db: Database, settings: Settings) -> None:
    for key in ("msg_1", "x" * 500, "tab\tand\x00nul"):
        delivery = Delivery(source="generic", event_id="e1", dedupe_key=key, registrations=[person()])
        assert apply(db, settings, delivery) is True
        assert apply(db, settings, delivery) is False
    assert list(people(db, "generic-e1")) == ["ada@example.com"]


def test_the_same_person_twice_in_one_delivery_keeps_what_each_says(db: Database, settings: Settings) -> None:
    # One Eventbrite order, two tickets, one of them scanned.
    tickets = [person(platform_id="101"), person(platform_id="102", attendance=Attendance.YES, checked_in_at=CAME)]
    apply(db, settings, Delivery(source="eventbrite", event_id="7", registrations=tickets))
    ada = people(db, "eventbrite-7")["ada@example.com"]
    assert (ada.attendance, ada.checked_in_at, ada.platform_id) == (Attendance.YES, CAME, "101")


def test_withdrawing_keeps_those_who_came_and_check_ins_find_registrants_by_their_id(db: Database, settings: Settings) -> None:
    registrations = [
        person(platform_id="r-ada"),
        person("grace@example.com", platform_id="r-grace", attendance=Attendance.YES, checked_in_at=CAME),
    ]
    apply(db, settings, Delivery(source="zoom", event_id="5", registrations=registrations))
    apply(db, settings, Delivery(source="zoom", event_id="5", check_ins=[CheckIn(registrant_id="r-ada", checked_in_at=CAME)]))
    assert people(db, "zoom-5")["ada@example.com"].attendance == Attendance.YES
    apply(
        db,
        settings,
        Delivery(
            source="luma",
            event_id="e",
            registrations=[person("zoe@example.com"), person("grace@example.com", attendance=Attendance.YES, checked_in_at=CAME)],
        ),
    )
    apply(db, settings, Delivery(source="luma", event_id="e", withdrawn=["zoe@example.com", "grace@example.com", "stranger@example.com"]))
    assert list(people(db, "luma-e")) == ["grace@example.com"]


def test_platform_ids_that_clean_to_the_same_text_stay_different_events(db: Database, settings: Settings) -> None:
    ids = ["Meetup.A", "meetup:a", "a" * 90 + "1", "a" * 90 + "2"]
    for number, platform_id in enumerate(ids):
        fields, registrations = EventFields(name=f"Event {number}"), [person(f"p{number}@example.com")]
        delivery = Delivery(source="generic", event_id=platform_id, fields=fields, registrations=registrations)
        apply(db, settings, delivery)
        apply(db, settings, delivery.model_copy(update={"fields": EventFields(name=f"Event {number}, renamed")}))
    with db.transaction() as session:
        rows = session.execute(select(Event.platform_id, Event.slug, Event.name))
        stored = {platform_id: (slug, name) for platform_id, slug, name in rows}
    assert {platform_id: name for platform_id, (_, name) in stored.items()} == {
        platform_id: f"Event {number}, renamed" for number, platform_id in enumerate(ids)
    }
    for number, platform_id in enumerate(ids):
        assert list(people(db, stored[platform_id][0])) == [f"p{number}@example.com"]


def test_an_address_both_registered_and_withdrawn_in_one_delivery_stays_registered(db: Database, settings: Settings) -> None:
    apply(db, settings, Delivery(source="eventbrite", event_id="7", registrations=[person("grace@example.com")]))
    both = Delivery(
        source="eventbrite", event_id="7", registrations=[person(platform_id="2")], withdrawn=["ada@example.com", "grace@example.com"]
    )
    apply(db, settings, both)
    assert list(people(db, "eventbrite-7")) == ["ada@example.com"]


def test_a_check_in_that_arrives_before_its_registration_is_applied_when_tried_again(db: Database, settings: Settings) -> None:
    # Zoom: a guest without an address joins, known only by registrant_id, before registration_created is recorded.
    check_in = Delivery(source="zoom", event_id="5", dedupe_key="join-1", check_ins=[CheckIn(registrant_id="r-ada", checked_in_at=CAME)])
    with pytest.raises(RegistrantNotYetKnown, match="r-ada"):
        apply(db, settings, check_in)
    # Nothing was kept of it, not even the claim of its id: trying again is not taken for a duplicate.
    assert stored_event(db, "zoom-5") is None
    apply(db, settings, Delivery(source="zoom", event_id="5", dedupe_key="reg-1", registrations=[person(platform_id="r-ada")]))
    assert people(db, "zoom-5")["ada@example.com"].attendance == Attendance.NO
    assert apply(db, settings, check_in) is True
    ada = people(db, "zoom-5")["ada@example.com"]
    assert (ada.attendance, ada.checked_in_at) == (Attendance.YES, CAME)


def test_a_platform_never_writes_into_an_event_it_did_not_create(db: Database, settings: Settings) -> None:
    create_event(db, "zoom-99", "manual", EventFields(name="Made by hand"))
    with pytest.raises(EventError, match="not created by zoom"):
        apply(db, settings, Delivery(source="zoom", event_id="99", fields=EventFields(name="Hijack"), registrations=[person()]))
    event = stored_event(db, "zoom-99")
    assert event is not None and event.name == "Made by hand"
    assert people(db, "zoom-99") == {}


def test_a_delivery_that_loses_the_race_to_create_the_event_still_applies_its_details(db: Database, settings: Settings) -> None:
    apply(db, settings, Delivery(source="generic", event_id="c", registrations=[person()]))  # knows only the id
    apply(db, settings, Delivery(source="generic", event_id="c", fields=EventFields(name="Modu Conf")))
    event = stored_event(db, "generic-c")
    assert event is not None and event.name == "Modu Conf"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.timing
def test_a_check_in_that_waits_for_a_concurrent_registration_is_merged_not_lost(db: Database, settings: Settings) -> None:
    # Ada is a subscriber already (another event), so only the registration itself can collide.
    apply(db, settings, Delivery(source="eventbrite", event_id="7", registrations=[person()]))
    apply(db, settings, Delivery(source="eventbrite", event_id="8", registrations=[person("grace@example.com")]))
    first = db.sessions()
    first.begin()
    # The registration's transaction has added Ada but not committed yet ...
    apply_delivery(first, settings, Delivery(source="eventbrite", event_id="8", registrations=[person()]))
    errors: list[BaseException] = []

    def check_in() -> None:
        try:
            apply(
                db,
                settings,
                Delivery(source="eventbrite", event_id="8", registrations=[person(attendance=Attendance.YES, checked_in_at=CAME)]),
            )
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=check_in)
    thread.start()
    # ... so the check-in's insert waits for it.
    wait_until(lambda: waiting_on_locks(db) > 0)
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert errors == []
    ada = people(db, "eventbrite-8")["ada@example.com"]
    assert (ada.attendance, ada.checked_in_at) == (Attendance.YES, CAME)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.timing
def test_two_merges_of_the_same_registrant_at_once_keep_what_each_knew(db: Database, settings: Settings) -> None:
    apply(db, settings, Delivery(source="generic", event_id="m", registrations=[person(attendance=Attendance.UNKNOWN)]))
    first = db.sessions()
    first.begin()
    # The check-in's transaction has merged Ada (attendance yes) but not committed yet ...
    apply_delivery(
        first, settings, Delivery(source="generic", event_id="m", registrations=[person(attendance=Attendance.YES, checked_in_at=CAME)])
    )
    first.flush()
    errors: list[BaseException] = []

    def register_again() -> None:
        # ... while the platform reports her registration again, with check-ins counted (attendance no).
        try:
            apply(db, settings, Delivery(source="generic", event_id="m", registrations=[person(attendance=Attendance.NO)]))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=register_again)
    thread.start()
    wait_until(lambda: waiting_on_locks(db) > 0)
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert errors == []
    ada = people(db, "generic-m")["ada@example.com"]
    assert (ada.attendance, ada.checked_in_at) == (Attendance.YES, CAME)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_delivery_the_database_cannot_take_at_first_is_tried_again_not_dropped(
    db: Database, settings: Settings, redis_client: redis.Redis, start_worker: StartWorker
) -> None:
    # The platform has had its 200 already: a delivery lost here is lost for good.
    url = make_url(settings.resolved_database_url)
    with refusing_proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        worker = start_worker(environment_for(settings, NEWSLETTER_DATABASE_URL=proxied, NEWSLETTER_MAX_COUNTDOWN="1"))
        # The worker is up (it migrated at start); the database goes away until the task has failed once. The
        # worker's sweeper connects on its own schedule, so refusing "the next one" could hit the sweeper instead.
        proxy.refuse_next(REFUSE_ALL)
        delivery = Delivery(source="zoom", event_id="9", dedupe_key="reg-9", registrations=[person(platform_id="r-ada")])
        enqueue_event_delivery(settings, "zoom", delivery.message())
        wait_until(lambda: "zoom delivery not applied yet, tried again" in worker.log())
        assert "ada@example.com" not in people(db, "zoom-9")
        proxy.refuse_next(0)
        wait_until(lambda: "ada@example.com" in people(db, "zoom-9"))

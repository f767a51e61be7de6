"""Luma at /webhooks/events/luma/{key}: only the ids believed, the guest and event read again from a fake Luma API.

Luma's API is a real HTTP server on loopback (tests/fakes/events/luma.py)
that checks ``x-luma-api-key``. What the web app queued is applied with the
worker's own function, and one test runs a real worker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Attendance
from publisher.events.catalogue import platform_slug
from publisher.events.platforms import receive_message
from publisher.events.platforms.fetching import PlatformRefused
from tests.fakes.events.luma import API_KEY, LumaApi, start_fake_luma
from tests.fakes.server import FakeProviders
from tests.support.environment import environment_for
from tests.support.event_hooks import LUMA_KEY, apply_queued, people, post_keyed, queued, stored_event
from tests.support.types import ServeWeb, StartWorker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

EVENT = "evt-Xh1jDp4wqWZP3aN"
#: Luma ids are mixed case: lower-casing loses something, so the slug carries a digest of the id.
SLUG = platform_slug("luma", EVENT)


@pytest.fixture
def fake() -> Iterator[tuple[FakeProviders, LumaApi]]:
    server, api = start_fake_luma()
    api.add_event(EVENT, "Paris Product Meetup", start="2026-12-10T18:00:00.000Z", end="2026-12-10T21:00:00.000Z")
    yield server, api
    server.stop()


@pytest.fixture
def luma_settings(settings: Settings, fake: tuple[FakeProviders, LumaApi]) -> Settings:
    return settings.model_copy(
        update={"luma_webhook_key": SecretStr(LUMA_KEY), "luma_api_key": SecretStr(API_KEY), "luma_base_url": fake[0].base_url}
    )


@pytest.fixture
def hook_url(luma_settings: Settings, redis_client: redis.Redis, serve_web: ServeWeb) -> str:
    return serve_web(luma_settings)


def guest_webhook(kind: str, guest_id: str, **data: Any) -> dict[str, Any]:
    """What Luma posts: the guest (which the receiver does not believe) with its event."""
    guest = {"id": guest_id, "user_email": "someone@example.com", "approval_status": "approved", "event": {"id": EVENT, "name": "x"}}
    return {"type": kind, "data": {**guest, **data}}


def post(url: str, payload: dict[str, Any] | bytes, key: str = LUMA_KEY) -> Any:
    return post_keyed(url, "luma", payload, key)


def apply_queued_ignoring_refusals(client: redis.Redis, db: Database, settings: Settings) -> None:
    """Apply each queued delivery, as the worker does: one the API refuses is dropped."""
    for source, message in queued(client):
        try:
            receive_message(db, settings, source, message)
        except PlatformRefused:
            continue
    client.flushdb()


def test_an_approved_guest_is_a_registrant_and_the_event_is_read_from_the_api(
    hook_url: str, luma_settings: Settings, db: Database, redis_client: redis.Redis, fake: tuple[FakeProviders, LumaApi]
) -> None:
    server, api = fake
    api.add_guest(EVENT, "gst-ada", "ada@example.com", "Ada", "Lovelace")
    answer = post(hook_url, guest_webhook("guest.registered", "gst-ada"))
    assert (answer.status_code, answer.json()) == (200, {"queued": "guest.registered"})
    assert queued(redis_client) == [("luma", {"type": "guest.registered", "event_id": EVENT, "guest_id": "gst-ada"})]
    apply_queued(redis_client, db, luma_settings)
    event = stored_event(db, SLUG)
    assert event is not None
    assert (event.name, event.timezone, event.platform_id) == ("Paris Product Meetup", "Europe/Paris", EVENT)
    assert event.venue == "Station F, 5 Parvis Alan Turing, Paris"
    assert event.starts_at == dt.datetime(2026, 12, 10, 18, tzinfo=dt.UTC)
    ada = people(db, SLUG)["ada@example.com"]
    # Luma knows who checks in: an approved guest is "no" until they do.
    assert (ada.attendance, ada.platform_id, ada.first_name) == (Attendance.NO, "gst-ada", "Ada")
    calls = server.calls_to("luma")
    assert {call.headers["x-luma-api-key"] for call in calls} == {API_KEY}
    assert [(call.path, call.query) for call in calls] == [
        ("/v1/events/guests/get", {"event_id": [EVENT], "id": ["gst-ada"]}),
        ("/v1/events/get", {"event_id": [EVENT]}),
    ]


def test_a_check_in_makes_the_guest_attended(
    hook_url: str, luma_settings: Settings, db: Database, redis_client: redis.Redis, fake: tuple[FakeProviders, LumaApi]
) -> None:
    _, api = fake
    api.add_guest(EVENT, "gst-ada", "ada@example.com", "Ada")
    post(hook_url, guest_webhook("guest.registered", "gst-ada"))
    api.add_guest(EVENT, "gst-ada", "ada@example.com", "Ada", checked_in_at="2026-12-10T18:12:00.000Z")
    post(hook_url, guest_webhook("guest.updated", "gst-ada"))
    apply_queued(redis_client, db, luma_settings)
    ada = people(db, SLUG)["ada@example.com"]
    assert (ada.attendance, ada.checked_in_at) == (Attendance.YES, dt.datetime(2026, 12, 10, 18, 12, tzinfo=dt.UTC))


def test_only_approved_guests_count_and_a_declined_one_is_withdrawn_unless_they_came(
    hook_url: str, luma_settings: Settings, db: Database, redis_client: redis.Redis, fake: tuple[FakeProviders, LumaApi]
) -> None:
    _, api = fake
    api.add_guest(EVENT, "gst-wait", "wait@example.com", status="waitlist")
    api.add_guest(EVENT, "gst-pend", "pending@example.com", status="pending_approval")
    api.add_guest(EVENT, "gst-ada", "ada@example.com")
    api.add_guest(EVENT, "gst-grace", "grace@example.com", checked_in_at="2026-12-10T18:05:00.000Z")
    for guest in ("gst-wait", "gst-pend", "gst-ada", "gst-grace"):
        post(hook_url, guest_webhook("guest.registered", guest))
    apply_queued(redis_client, db, luma_settings)
    assert sorted(people(db, SLUG)) == ["ada@example.com", "grace@example.com"]
    api.add_guest(EVENT, "gst-ada", "ada@example.com", status="declined")
    api.add_guest(EVENT, "gst-grace", "grace@example.com", status="declined")
    post(hook_url, guest_webhook("guest.updated", "gst-ada"))
    post(hook_url, guest_webhook("guest.updated", "gst-grace"))
    apply_queued(redis_client, db, luma_settings)
    assert list(people(db, SLUG)) == ["grace@example.com"]


def test_what_the_body_says_about_the_guest_is_not_believed(
    hook_url: str, luma_settings: Settings, db: Database, redis_client: redis.Redis, fake: tuple[FakeProviders, LumaApi]
) -> None:
    _, api = fake
    api.add_guest(EVENT, "gst-eve", "eve@example.com", status="waitlist")
    lie = guest_webhook("guest.updated", "gst-eve", user_email="victim@example.com", event_tickets=[{"checked_in_at": "2026-12-10T18:00Z"}])
    post(hook_url, lie)
    post(hook_url, guest_webhook("guest.registered", "gst-nobody"))  # a guest Luma does not have
    deliveries = queued(redis_client)
    assert len(deliveries) == 2
    apply_queued_ignoring_refusals(redis_client, db, luma_settings)
    assert people(db, SLUG) == {}


def test_event_updated_reads_the_event_again(
    hook_url: str, luma_settings: Settings, db: Database, redis_client: redis.Redis, fake: tuple[FakeProviders, LumaApi]
) -> None:
    _, api = fake
    post(hook_url, {"type": "event.updated", "data": {"id": EVENT, "name": "ignored: read from the API"}})
    apply_queued(redis_client, db, luma_settings)
    api.add_event(EVENT, "Paris Product Meetup (room 2)", start="2026-12-10T19:00:00.000Z", end="2026-12-10T21:00:00.000Z")
    post(hook_url, {"type": "event.updated", "data": {"id": EVENT}})
    apply_queued(redis_client, db, luma_settings)
    event = stored_event(db, SLUG)
    assert event is not None
    assert (event.name, event.starts_at) == ("Paris Product Meetup (room 2)", dt.datetime(2026, 12, 10, 19, tzinfo=dt.UTC))


def test_the_same_delivery_twice_changes_nothing_the_second_time(
    hook_url: str, luma_settings: Settings, db: Database, redis_client: redis.Redis, fake: tuple[FakeProviders, LumaApi]
) -> None:
    _, api = fake
    api.add_guest(EVENT, "gst-ada", "ada@example.com", "Ada")
    post(hook_url, guest_webhook("guest.registered", "gst-ada"))
    post(hook_url, guest_webhook("guest.registered", "gst-ada"))
    first, second = apply_queued(redis_client, db, luma_settings)
    assert (first.report.added, second.report.added, second.report.unchanged) == (1, 0, 1)


def test_a_wrong_key_or_none_configured_is_401_and_queues_nothing(
    hook_url: str, settings: Settings, serve_web: ServeWeb, redis_client: redis.Redis
) -> None:
    for key in ("wrong", LUMA_KEY + "0", "%00"):
        assert post(hook_url, guest_webhook("guest.registered", "gst-ada"), key=key).status_code == 401
    unset = serve_web(settings)
    answer = post(unset, guest_webhook("guest.registered", "gst-ada"))
    assert answer.status_code == 401
    assert "NEWSLETTER_LUMA_WEBHOOK_KEY" in answer.json()["detail"]
    assert queued(redis_client) == []


def test_without_an_api_key_a_call_is_503_so_luma_delivers_it_again(
    luma_settings: Settings, serve_web: ServeWeb, redis_client: redis.Redis
) -> None:
    url = serve_web(luma_settings.model_copy(update={"luma_api_key": None}))
    answer = post(url, guest_webhook("guest.registered", "gst-ada"))
    assert answer.status_code == 503
    assert "NEWSLETTER_LUMA_API_KEY" in answer.json()["detail"]
    assert queued(redis_client) == []


def test_unknown_types_are_200_and_ignored_and_bad_ids_are_400(hook_url: str, redis_client: redis.Redis) -> None:
    for kind in ("calendar.person.subscribed", "ticket.registered", "event.canceled"):
        answer = post(hook_url, {"type": kind, "data": {}})
        assert (answer.status_code, answer.json()["ignored"]) == (200, True)
    bad_ids = (({"id": "../../v1/admin", "event": {"id": EVENT}}, "data.id"), ({"id": "gst-a", "event": {"id": 7.5}}, "data.event.id"))
    for data, where in bad_ids:
        answer = post(hook_url, {"type": "guest.registered", "data": data})
        assert answer.status_code == 400
        assert where in answer.json()["detail"]
    assert queued(redis_client) == []


@pytest.mark.timing
def test_a_real_worker_reads_the_guest_and_records_the_check_in(
    hook_url: str, luma_settings: Settings, db: Database, start_worker: StartWorker, fake: tuple[FakeProviders, LumaApi]
) -> None:
    _, api = fake
    api.add_guest(EVENT, "gst-ada", "ada@example.com", "Ada", checked_in_at="2026-12-10T18:12:00.000Z")
    start_worker(environment_for(luma_settings, NEWSLETTER_LUMA_API_KEY=API_KEY, NEWSLETTER_LUMA_BASE_URL=luma_settings.luma_base_url))
    assert post(hook_url, guest_webhook("guest.updated", "gst-ada")).status_code == 200
    wait_until(lambda: "ada@example.com" in people(db, SLUG))
    assert people(db, SLUG)["ada@example.com"].attendance == Attendance.YES

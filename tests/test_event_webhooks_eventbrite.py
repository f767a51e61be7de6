"""Eventbrite at /webhooks/events/eventbrite/{key}: the body believed for nothing, the objects read from a fake API.

Eventbrite's API is a real HTTP server on loopback (tests/fakes/events/eventbrite.py)
that checks the Bearer token. The web app queues only the ids of a checked
``api_url``; what it queued is applied with the worker's own function, and
one test runs a real worker.
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
from publisher.events.platforms import receive_message
from publisher.events.platforms.fetching import PlatformRefused, PlatformUnavailable
from tests.fakes.events.eventbrite import TOKEN, EventbriteApi, start_fake_eventbrite
from tests.fakes.server import CannedAnswer, FakeProviders
from tests.support.environment import environment_for
from tests.support.event_hooks import EVENTBRITE_KEY, apply_queued, people, post_keyed, queued, stored_event
from tests.support.types import ServeWeb, StartWorker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

EVENT = "717926867587"
SLUG = f"eventbrite-{EVENT}"
ORDER = "1234567890"


@pytest.fixture
def fake() -> Iterator[tuple[FakeProviders, EventbriteApi]]:
    server, api = start_fake_eventbrite()
    api.add_event(EVENT, "Product vs Tech", start="2026-12-04T18:30:00Z", end="2026-12-04T21:00:00Z", venue="Holborn Hall")
    yield server, api
    server.stop()


@pytest.fixture
def eventbrite_settings(settings: Settings, fake: tuple[FakeProviders, EventbriteApi]) -> Settings:
    return settings.model_copy(
        update={
            "eventbrite_webhook_key": SecretStr(EVENTBRITE_KEY),
            "eventbrite_token": SecretStr(TOKEN),
            "eventbrite_base_url": f"{fake[0].base_url}/v3/",
        }
    )


@pytest.fixture
def hook_url(eventbrite_settings: Settings, redis_client: redis.Redis, serve_web: ServeWeb) -> str:
    return serve_web(eventbrite_settings)


def webhook(action: str, api_url: str) -> dict[str, Any]:
    return {"api_url": api_url, "config": {"action": action, "user_id": "163054428874", "endpoint_url": "https://x", "webhook_id": "5491"}}


def order_placed(base: str, order: str = ORDER) -> dict[str, Any]:
    return webhook("order.placed", f"{base}/v3/orders/{order}/")


def attendee_call(action: str, base: str, attendee: str) -> dict[str, Any]:
    return webhook(action, f"{base}/v3/events/{EVENT}/attendees/{attendee}/")


def post(url: str, payload: dict[str, Any] | bytes, key: str = EVENTBRITE_KEY) -> Any:
    return post_keyed(url, "eventbrite", payload, key)


# --- orders, attendees, events ------------------------------------------------------------------


def test_an_order_registers_its_attendees_and_makes_the_event_from_the_api(
    hook_url: str, eventbrite_settings: Settings, db: Database, redis_client: redis.Redis, fake: tuple[FakeProviders, EventbriteApi]
) -> None:
    server, api = fake
    api.add_attendee("101", EVENT, ORDER, "ada@example.com", "Ada", "Lovelace")
    api.add_attendee("102", EVENT, ORDER, "grace@example.com", "Grace", "Hopper")
    answer = post(hook_url, order_placed(server.base_url))
    assert (answer.status_code, answer.json()) == (200, {"queued": "order.placed"})
    assert queued(redis_client) == [("eventbrite", {"action": "order.placed", "order_id": ORDER})]
    apply_queued(redis_client, db, eventbrite_settings)
    event = stored_event(db, SLUG)
    assert event is not None
    assert (event.name, event.venue, event.timezone) == ("Product vs Tech", "Holborn Hall, 1 Holborn, London WC1", "Europe/London")
    assert (event.starts_at, event.ends_at) == (
        dt.datetime(2026, 12, 4, 18, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 4, 21, tzinfo=dt.UTC),
    )
    assert event.url == f"https://www.eventbrite.co.uk/e/{EVENT}"
    found = people(db, SLUG)
    assert {email: (p.attendance, p.platform_id, p.first_name) for email, p in found.items()} == {
        "ada@example.com": (Attendance.NO, "101", "Ada"),
        "grace@example.com": (Attendance.NO, "102", "Grace"),
    }
    # Everything was read with the token, from the base URL only.
    calls = server.calls_to("eventbrite")
    assert {call.headers["authorization"] for call in calls} == {f"Bearer {TOKEN}"}
    assert [call.path for call in calls] == [f"/v3/orders/{ORDER}/", f"/v3/events/{EVENT}/"]
    assert calls[0].query == {"expand": ["attendees"]}


def test_a_check_in_marks_the_attendee_as_come_at_the_time_the_barcode_was_used(
    hook_url: str, eventbrite_settings: Settings, db: Database, redis_client: redis.Redis, fake: tuple[FakeProviders, EventbriteApi]
) -> None:
    server, api = fake
    api.add_attendee("101", EVENT, ORDER, "ada@example.com", "Ada", "Lovelace")
    post(hook_url, order_placed(server.base_url))
    api.add_attendee("101", EVENT, ORDER, "ada@example.com", "Ada", "Lovelace", checked_in_at="2026-12-04T18:41:07Z")
    assert post(hook_url, attendee_call("attendee.checked_in", server.base_url, "101")).status_code == 200
    apply_queued(redis_client, db, eventbrite_settings)
    ada = people(db, SLUG)["ada@example.com"]
    assert (ada.attendance, ada.checked_in_at) == (Attendance.YES, dt.datetime(2026, 12, 4, 18, 41, 7, tzinfo=dt.UTC))
    # The event was known already: a check-in reads the attendee and nothing else.
    assert server.calls_to("eventbrite")[-1].path == f"/v3/events/{EVENT}/attendees/101/"


def test_a_cancelled_ticket_withdraws_the_registrant_unless_another_ticket_is_theirs(
    hook_url: str, eventbrite_settings: Settings, db: Database, redis_client: redis.Redis, fake: tuple[FakeProviders, EventbriteApi]
) -> None:
    server, api = fake
    api.add_attendee("101", EVENT, ORDER, "ada@example.com", "Ada")
    api.add_attendee("201", EVENT, "2000000001", "grace@example.com", "Grace")
    api.add_attendee("202", EVENT, "2000000001", "grace@example.com", "Grace")  # two tickets, one person
    post(hook_url, order_placed(server.base_url))
    post(hook_url, order_placed(server.base_url, "2000000001"))
    apply_queued(redis_client, db, eventbrite_settings)
    api.add_attendee("101", EVENT, ORDER, "ada@example.com", "Ada", cancelled=True)
    api.add_attendee("201", EVENT, "2000000001", "grace@example.com", "Grace", cancelled=True)
    post(hook_url, attendee_call("attendee.updated", server.base_url, "101"))
    post(hook_url, attendee_call("attendee.updated", server.base_url, "201"))
    apply_queued(redis_client, db, eventbrite_settings)
    assert list(people(db, SLUG)) == ["grace@example.com"]


def test_an_order_with_a_refunded_and_an_active_ticket_for_one_address_keeps_the_person(
    hook_url: str, eventbrite_settings: Settings, db: Database, redis_client: redis.Redis, fake: tuple[FakeProviders, EventbriteApi]
) -> None:
    server, api = fake
    api.add_attendee("301", EVENT, ORDER, "ada@example.com", "Ada", cancelled=True)  # refunded
    api.add_attendee("302", EVENT, ORDER, "ada@example.com", "Ada")
    post(hook_url, order_placed(server.base_url))
    apply_queued(redis_client, db, eventbrite_settings)
    found = people(db, SLUG)
    assert {email: (p.attendance, p.platform_id) for email, p in found.items()} == {"ada@example.com": (Attendance.NO, "302")}


def test_event_updated_changes_the_name_times_and_venue(
    hook_url: str, eventbrite_settings: Settings, db: Database, redis_client: redis.Redis, fake: tuple[FakeProviders, EventbriteApi]
) -> None:
    server, api = fake
    post(hook_url, webhook("event.updated", f"{server.base_url}/v3/events/{EVENT}/"))
    api.add_event(EVENT, "Product vs Tech (moved)", start="2026-12-05T18:30:00Z", end="2026-12-05T20:00:00Z", timezone="Europe/Paris")
    post(hook_url, webhook("event.updated", f"{server.base_url}/v3/events/{EVENT}/"))
    apply_queued(redis_client, db, eventbrite_settings)
    event = stored_event(db, SLUG)
    assert event is not None
    assert (event.name, event.timezone, event.starts_at) == (
        "Product vs Tech (moved)",
        "Europe/Paris",
        dt.datetime(2026, 12, 5, 18, 30, tzinfo=dt.UTC),
    )


def test_the_same_order_delivered_twice_changes_nothing_the_second_time(
    hook_url: str, eventbrite_settings: Settings, db: Database, redis_client: redis.Redis, fake: tuple[FakeProviders, EventbriteApi]
) -> None:
    server, api = fake
    api.add_attendee("101", EVENT, ORDER, "ada@example.com", "Ada")
    post(hook_url, order_placed(server.base_url))
    post(hook_url, order_placed(server.base_url))
    first, second = apply_queued(redis_client, db, eventbrite_settings)
    assert (first.report.added, second.report.added, second.report.updated, second.report.unchanged) == (1, 0, 0, 1)
    assert len(people(db, SLUG)) == 1


def test_an_attendee_with_a_hostile_name_is_skipped_and_the_rest_of_the_order_recorded(
    hook_url: str, eventbrite_settings: Settings, db: Database, redis_client: redis.Redis, fake: tuple[FakeProviders, EventbriteApi]
) -> None:
    server, api = fake
    api.add_attendee("101", EVENT, ORDER, "ada@example.com", "Ada\r\nBcc: victim@example.com")
    api.add_attendee("102", EVENT, ORDER, "grace@example.com", "Grace")
    post(hook_url, order_placed(server.base_url))
    apply_queued(redis_client, db, eventbrite_settings)
    assert list(people(db, SLUG)) == ["grace@example.com"]


def test_api_failures_are_retried_or_dropped_by_what_they_are(
    eventbrite_settings: Settings, db: Database, fake: tuple[FakeProviders, EventbriteApi]
) -> None:
    server, api = fake
    api.add_attendee("101", EVENT, ORDER, "ada@example.com", "Ada")
    message = {"action": "order.placed", "order_id": ORDER}
    server.faults.canned.append(CannedAnswer(503, '{"error": "INTERNAL_ERROR"}', {"Retry-After": "7"}))
    with pytest.raises(PlatformUnavailable) as busy:
        receive_message(db, eventbrite_settings, "eventbrite", message)
    assert busy.value.retry_after == 7
    wrong_token = eventbrite_settings.model_copy(update={"eventbrite_token": SecretStr("not-the-token")})
    with pytest.raises(PlatformRefused, match="credentials"):
        receive_message(db, wrong_token, "eventbrite", message)
    with pytest.raises(PlatformRefused, match="404"):
        receive_message(db, eventbrite_settings, "eventbrite", {"action": "order.placed", "order_id": "999"})
    assert stored_event(db, SLUG) is None
    receive_message(db, eventbrite_settings, "eventbrite", message)
    assert list(people(db, SLUG)) == ["ada@example.com"]


# --- refusals -------------------------------------------------------------------------------------


def test_a_wrong_or_missing_key_is_401_and_queues_nothing(
    hook_url: str, redis_client: redis.Redis, fake: tuple[FakeProviders, EventbriteApi]
) -> None:
    server, _ = fake
    for key in ("wrong-key", EVENTBRITE_KEY[:-1], EVENTBRITE_KEY + "x", EVENTBRITE_KEY.upper()):
        answer = post(hook_url, order_placed(server.base_url), key=key)
        assert answer.status_code == 401, key
        assert answer.json()["detail"]
    assert post_keyed(hook_url, "eventbrite", order_placed(server.base_url), "").status_code in (404, 405)
    assert queued(redis_client) == []


def test_without_a_key_setting_every_call_is_401_naming_it(
    settings: Settings, redis_client: redis.Redis, serve_web: ServeWeb, fake: tuple[FakeProviders, EventbriteApi]
) -> None:
    url = serve_web(settings)
    answer = post(url, order_placed(fake[0].base_url))
    assert answer.status_code == 401
    assert "NEWSLETTER_EVENTBRITE_WEBHOOK_KEY" in answer.json()["detail"]
    assert queued(redis_client) == []


def test_without_a_token_a_call_is_503_so_eventbrite_delivers_it_again(
    eventbrite_settings: Settings, redis_client: redis.Redis, serve_web: ServeWeb, fake: tuple[FakeProviders, EventbriteApi]
) -> None:
    url = serve_web(eventbrite_settings.model_copy(update={"eventbrite_token": None}))
    answer = post(url, order_placed(fake[0].base_url))
    assert answer.status_code == 503
    assert "NEWSLETTER_EVENTBRITE_TOKEN" in answer.json()["detail"]
    assert queued(redis_client) == []


@pytest.mark.parametrize(
    "api_url",
    [
        "https://www.eventbriteapi.com.evil.example/v3/orders/1/",  # another host with the base's as its prefix
        "https://evil.example/v3/orders/1/",
        "http://www.eventbriteapi.com/v3/orders/1/",  # not https
        "https://www.eventbriteapi.com:8443/v3/orders/1/",
        "https://www.eventbriteapi.com@evil.example/v3/orders/1/",  # user information: the host is evil.example
        "https://x:y@www.eventbriteapi.com/v3/orders/1/",
        "https://www.eventbriteapi.com/v4/orders/1/",
        "https://www.eventbriteapi.com/v3/../admin/orders/1/",
        "https://www.eventbriteapi.com/v3/%2e%2e/orders/1/",
        "https://www.eventbriteapi.com/v3//orders/1/",
        "https://www.eventbriteapi.com\\@evil.example/v3/orders/1/",
        "https://www.eventbriteapi.com/v3/orders/1/\r\nX: y",
        "https://www.eventbriteapi.com/v3/users/me/",  # under the base, but not what order.placed points at
        "https://www.eventbriteapi.com/v3/orders/1/attendees/",
        "//www.eventbriteapi.com/v3/orders/1/",
        "/v3/orders/1/",
    ],
)
def test_an_api_url_outside_the_base_or_of_the_wrong_shape_is_400_and_nothing_is_read(
    api_url: str, settings: Settings, redis_client: redis.Redis, serve_web: ServeWeb
) -> None:
    url = serve_web(settings.model_copy(update={"eventbrite_webhook_key": SecretStr(EVENTBRITE_KEY), "eventbrite_token": SecretStr(TOKEN)}))
    answer = post(url, webhook("order.placed", api_url))
    assert answer.status_code == 400
    assert "api_url" in answer.json()["detail"]
    assert queued(redis_client) == []


def test_unknown_actions_are_200_and_ignored(hook_url: str, redis_client: redis.Redis, fake: tuple[FakeProviders, EventbriteApi]) -> None:
    for action in ("test", "order.refunded", "ticket_class.created"):
        answer = post(hook_url, webhook(action, f"{fake[0].base_url}/v3/orders/1/"))
        assert (answer.status_code, answer.json()["ignored"]) == (200, True)
    assert queued(redis_client) == []


# --- a real worker ------------------------------------------------------------------------------


@pytest.mark.timing
def test_a_real_worker_reads_the_order_and_records_its_attendees(
    hook_url: str, eventbrite_settings: Settings, db: Database, start_worker: StartWorker, fake: tuple[FakeProviders, EventbriteApi]
) -> None:
    server, api = fake
    api.add_attendee("101", EVENT, ORDER, "ada@example.com", "Ada", "Lovelace")
    env = environment_for(
        eventbrite_settings,
        NEWSLETTER_EVENTBRITE_TOKEN=TOKEN,
        NEWSLETTER_EVENTBRITE_BASE_URL=eventbrite_settings.eventbrite_base_url,
    )
    start_worker(env)
    assert post(hook_url, order_placed(server.base_url)).status_code == 200
    wait_until(lambda: "ada@example.com" in people(db, SLUG))
    event = stored_event(db, SLUG)
    assert event is not None and event.name == "Product vs Tech"

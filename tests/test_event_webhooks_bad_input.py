"""Every event-platform webhook, fed hostile values, wrong types, oversized and malformed bodies, while correctly authenticated.

tests/test_route_bad_input.py covers the console's and the API's routes;
these routes are read from the app's EVENT_HOOKS routers in the same way,
so a receiver added later must be listed here. Each call is signed (or
keyed) as its platform does it, so the bad input reaches the receiver
rather than stopping at the signature check:

- hostile values (markup, a right-to-left override, a header break, a NUL,
  very long text) and wrong types in every field: a 4xx or 200, never a 5xx,
  markup never echoed, and nothing stored with a control character;
- a body over the size limit: 413 before any receiver reads it;
- a body that is not a JSON object (not JSON, not UTF-8, an array, nested
  too deep, a number too long to read, empty) or not sent as JSON: a 4xx,
  never a 5xx, and nothing queued;
- hostile keys in the URL: 401, never a 5xx.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import redis
import requests
from fastapi.routing import APIRoute
from pydantic import SecretStr
from sqlalchemy import select

from publisher.core.settings import Settings
from publisher.core.text_rules import first_control_character
from publisher.db.engine import Database
from publisher.db.models import Event, Subscriber
from publisher.events.platforms import receive_message
from publisher.events.platforms.values import PLATFORM_ID
from publisher.web import app as web_app
from tests.support.event_hooks import (
    EVENTBRITE_KEY,
    EVENTS_SECRET,
    LUMA_KEY,
    ZOOM_SECRET,
    queued,
    standard_headers,
    zoom_headers,
)
from tests.support.types import ServeWeb

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SCRIPT = '<script>alert("x")</script>'
HOSTILE = f"{SCRIPT}\u202e\r\nBcc: victim@example.com\x00"
LONG = "x" * 100_000
LIMIT = 16_384
#: Keys whose values say what a call is: kept, so the call is read as that type.
KINDS = ("event", "type", "action")


def keyed(_: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Hook:
    path: str
    sign: Callable[[bytes], dict[str, str]]
    payloads: tuple[dict[str, Any], ...]


WEBINAR = {"id": 81234567890, "topic": "Webinar", "start_time": "2026-12-04T17:00:00Z", "duration": 60, "timezone": "Europe/London"}
REGISTRANT = {"id": "r1", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
PARTICIPANT = {"email": "ada@example.com", "join_time": "2026-12-04T17:01:00Z", "registrant_id": "r1"}
CONF = {"id": "c1", "name": "Conf", "venue": "Paris", "url": "https://x.example", "speakers": [{"name": "Zoe", "role": "CTO"}]}
PERSON = {"event_id": "c1", "email": "ada@example.com", "first_name": "Ada", "last_name": "L", "registrant_id": "r1"}
HOOKS = {
    "/webhooks/events/zoom": Hook(
        "/webhooks/events/zoom",
        zoom_headers,
        (
            {"event": "webinar.registration_created", "event_ts": 1, "payload": {"object": {**WEBINAR, "registrant": REGISTRANT}}},
            {"event": "webinar.participant_joined", "event_ts": 1, "payload": {"object": {**WEBINAR, "participant": PARTICIPANT}}},
            {"event": "webinar.ended", "event_ts": 1, "payload": {"object": {**WEBINAR, "end_time": "2026-12-04T18:00:00Z"}}},
            {"event": "endpoint.url_validation", "payload": {"plainToken": "abc"}},
        ),
    ),
    "/webhooks/events/eventbrite/{key}": Hook(
        f"/webhooks/events/eventbrite/{EVENTBRITE_KEY}",
        keyed,
        ({"api_url": "https://www.eventbriteapi.com/v3/orders/1/", "config": {"action": "order.placed", "webhook_id": "1"}},),
    ),
    "/webhooks/events/luma/{key}": Hook(
        f"/webhooks/events/luma/{LUMA_KEY}",
        keyed,
        (
            {"type": "guest.registered", "data": {"id": "gst-1", "user_email": "ada@example.com", "event": {"id": "evt-1"}}},
            {"type": "event.updated", "data": {"id": "evt-1", "name": "x"}},
        ),
    ),
    "/webhooks/events/generic": Hook(
        "/webhooks/events/generic",
        standard_headers,
        (
            {"type": "event.upserted", "data": CONF},
            {"type": "registrant.added", "data": PERSON},
            {"type": "attendee.checked_in", "data": {**PERSON, "checked_in_at": "2026-12-04T17:01:00Z"}},
            {"type": "event.ended", "data": {"event_id": "c1", "ended_at": "2026-12-04T18:00:00Z"}},
        ),
    ),
}


def replace_leaves(value: Any, new: Callable[[Any], Any], key: str = "") -> Any:
    """``value`` with every leaf but the call's type replaced by ``new(leaf)``."""
    if isinstance(value, dict):
        return {name: replace_leaves(item, new, name) for name, item in value.items()}
    if isinstance(value, list):
        return [replace_leaves(item, new, key) for item in value]
    return value if key in KINDS else new(value)


@pytest.fixture
def base(settings: Settings, serve_web: ServeWeb, redis_client: redis.Redis) -> str:
    return serve_web(
        settings.model_copy(
            update={
                "max_request_bytes": LIMIT,
                "zoom_webhook_secret": SecretStr(ZOOM_SECRET),
                "eventbrite_webhook_key": SecretStr(EVENTBRITE_KEY),
                "eventbrite_token": SecretStr("token"),
                "luma_webhook_key": SecretStr(LUMA_KEY),
                "luma_api_key": SecretStr("key"),
                "events_webhook_secret": SecretStr(EVENTS_SECRET),
            }
        )
    )


def call(base: str, hook: Hook, body: bytes, content_type: str | None = None) -> requests.Response:
    headers = hook.sign(body)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return requests.post(base + hook.path, data=body, headers=headers, timeout=10)


def test_every_event_webhook_route_is_covered() -> None:
    paths = {route.path for module in web_app.EVENT_HOOKS for route in module.router.routes if isinstance(route, APIRoute)}
    assert paths == set(HOOKS)


@SQLITE
def test_hostile_values_and_wrong_types_never_get_a_server_error_or_are_stored(
    base: str, settings: Settings, db: Database, redis_client: redis.Redis
) -> None:
    problems = []
    for hook in HOOKS.values():
        for payload in hook.payloads:
            for replace in (lambda _: HOSTILE, lambda _: LONG[:5000], lambda _: {"$ne": 1}, lambda _: [HOSTILE], lambda _: 10**30):
                answer = call(base, hook, json.dumps(replace_leaves(payload, replace)).encode())
                if answer.status_code >= 500 or SCRIPT in answer.text:
                    problems.append(f"{hook.path} {payload.get('type') or payload.get('event')}: {answer.status_code} {answer.text[:200]}")
    assert problems == []
    # What reaches the queue for Eventbrite and Luma is plain ids (a number is one), nothing hostile;
    # what Zoom and the generic calls got through stores nothing with a control character.
    for source, message in queued(redis_client):
        if source in ("eventbrite", "luma"):
            assert all(value is None or PLATFORM_ID.fullmatch(value) for value in message.values()), message
        else:
            receive_message(db, settings, source, message)
    with db.transaction() as session:
        stored = [*session.scalars(select(Event.name)), *session.scalars(select(Subscriber.first_name))]
    assert [text for text in stored if first_control_character(text)] == []


#: Valid ISO 8601 times no event can have: Python cannot even move the first two to UTC.
OUT_OF_RANGE = ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1969-12-31T23:59:59Z", "2201-01-01T00:00:00Z")


def time_fields(value: Any, where: str = "") -> list[str]:
    """Where ``value`` holds a time: every leaf that reads as one."""
    if isinstance(value, dict):
        return [found for name, item in value.items() for found in time_fields(item, f"{where}.{name}" if where else name)]
    if isinstance(value, str) and len(value) > 9 and value[4:5] == "-" and "T" in value:
        return [where]
    return []


def with_value(payload: dict[str, Any], where: str, value: Any) -> dict[str, Any]:
    head, _, rest = where.partition(".")
    return {**payload, head: with_value(payload[head], rest, value) if rest else value}


@SQLITE
def test_a_valid_time_out_of_range_in_any_time_field_is_refused_naming_it(
    base: str, settings: Settings, db: Database, redis_client: redis.Redis
) -> None:
    tried = []
    for hook in HOOKS.values():
        for payload in hook.payloads:
            for where in time_fields(payload):
                for moment in OUT_OF_RANGE:
                    answer = call(base, hook, json.dumps(with_value(payload, where, moment)).encode())
                    tried.append(where)
                    assert answer.status_code == 400, (hook.path, where, moment, answer.status_code, answer.text[:200])
                    assert where.split(".")[-1] in answer.json()["detail"]
                    assert "1970" in answer.json()["detail"]
    assert sorted(set(tried)) == [
        "data.checked_in_at",
        "data.ended_at",
        "payload.object.end_time",
        "payload.object.participant.join_time",
        "payload.object.start_time",
    ]
    assert queued(redis_client) == []


@SQLITE
@pytest.mark.parametrize("path", sorted(HOOKS))
def test_a_type_of_the_wrong_kind_is_ignored_or_refused_never_a_server_error(path: str, base: str, redis_client: redis.Redis) -> None:
    hook = HOOKS[path]
    for payload in hook.payloads:
        for strange in (HOSTILE, ["webinar.started"], {"a": 1}, 7, None, True, LONG[:5000]):
            changed = {key: strange if key in KINDS else value for key, value in payload.items()}
            if isinstance(payload.get("config"), dict):
                changed["config"] = {**payload["config"], "action": strange}
            answer = call(base, hook, json.dumps(changed).encode())
            assert answer.status_code in (200, 400), (strange, answer.status_code, answer.text[:200])
            assert SCRIPT not in answer.text
            if answer.status_code == 200:
                assert answer.json()["ignored"] is True
    assert queued(redis_client) == []


@SQLITE
@pytest.mark.parametrize("path", sorted(HOOKS))
def test_an_oversized_body_is_refused_with_413_before_any_receiver(path: str, base: str, redis_client: redis.Redis) -> None:
    hook = HOOKS[path]
    body = json.dumps({"type": "registrant.added", "event": "webinar.started", "padding": LONG}).encode()
    answer = call(base, hook, body)
    assert answer.status_code == 413
    assert answer.json() == {"detail": f"request body is larger than {LIMIT} bytes"}

    def chunks():  # type: ignore[no-untyped-def]
        yield body[:8000]
        yield body[8000:20000]

    streamed = requests.post(base + hook.path, data=chunks(), headers=hook.sign(body), timeout=10)
    assert streamed.status_code == 413
    assert queued(redis_client) == []


@SQLITE
@pytest.mark.parametrize("path", sorted(HOOKS))
def test_a_malformed_body_gets_a_client_error_never_a_server_error(path: str, base: str, redis_client: redis.Redis) -> None:
    hook = HOOKS[path]
    bodies = [b"", b"not json", b"\xff\xfe{}", b"[1, 2]", b'"text"', b"null", b"[" * 5000 + b"]" * 5000, b'{"n": ' + b"9" * 5000 + b"}"]
    for body in bodies:
        answer = call(base, hook, body)
        assert 400 <= answer.status_code < 500, (body[:20], answer.status_code, answer.text[:200])
        assert answer.json()["detail"]
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        answer = call(base, hook, json.dumps(hook.payloads[0]).encode(), content_type)
        assert answer.status_code == 415, content_type
    assert queued(redis_client) == []


@SQLITE
@pytest.mark.parametrize("platform", ["eventbrite", "luma"])
def test_hostile_keys_in_the_url_are_401_never_a_server_error(platform: str, base: str, redis_client: redis.Redis) -> None:
    body = json.dumps(HOOKS[f"/webhooks/events/{platform}/{{key}}"].payloads[0]).encode()
    for key in (quote(HOSTILE, safe=""), "x" * 4000, quote("ключ"), "%00", ".."):
        answer = requests.post(
            f"{base}/webhooks/events/{platform}/{key}", data=body, headers={"Content-Type": "application/json"}, timeout=10
        )
        assert answer.status_code in (401, 404), (key[:20], answer.status_code)
        assert SCRIPT not in answer.text
    assert queued(redis_client) == []

"""Zoom webinars at /webhooks/events/zoom: signed as Zoom signs, queued, applied as the worker applies them.

Calls carry ``x-zm-signature`` computed with the test's secret token exactly
as Zoom computes it. The web app runs on loopback; what it queued is read
off the real Redis queue and applied with the worker's own function, and
one test runs a real worker.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import pytest
import redis
import requests
import time_machine
from pydantic import SecretStr

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Attendance
from publisher.events.endings import settle_end_signals
from tests.support.environment import environment_for
from tests.support.event_hooks import ZOOM_SECRET, apply_queued, people, post_zoom, queued, stored_event, zoom_headers
from tests.support.types import ServeWeb, StartWorker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

WEBINAR = 81234567890
SLUG = f"zoom-{WEBINAR}"
STARTS = "2026-12-04T17:00:00Z"
QUIET = 600


def webinar(**extra: Any) -> dict[str, Any]:
    return {
        "uuid": "4444AAAiAAAAAiAiAiiAii==",
        "id": WEBINAR,
        "host_id": "z8yCxjabcdEFGHfp8uQ",
        "topic": "Product vs Tech: live",
        "type": 5,
        "start_time": STARTS,
        "duration": 60,
        "timezone": "Europe/London",
        **extra,
    }


def zoom_event(kind: str, event_ts: int = 1_796_403_600_000, **object_fields: Any) -> dict[str, Any]:
    return {"event": kind, "event_ts": event_ts, "payload": {"account_id": "AAAAAABBBB", "object": webinar(**object_fields)}}


def registered(
    email: str = "ada@example.com", first: str = "Ada", last: str = "Lovelace", registrant_id: str = "regAda1"
) -> dict[str, Any]:
    return zoom_event(
        "webinar.registration_created",
        registrant={"id": registrant_id, "email": email, "first_name": first, "last_name": last, "join_url": "https://zoom.us/w/1"},
    )


def joined(email: str = "ada@example.com", join_time: str = "2026-12-04T17:02:10Z", **participant: Any) -> dict[str, Any]:
    person = {"user_id": "16778240", "user_name": "Ada", "id": "iFxeBPYun6SAiWUzBcEkX", "join_time": join_time, "email": email}
    return zoom_event("webinar.participant_joined", participant={**person, **participant})


def at_ms(moment: str) -> int:
    return int(dt.datetime.fromisoformat(moment).timestamp() * 1000)


@pytest.fixture
def zoom_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"zoom_webhook_secret": SecretStr(ZOOM_SECRET), "event_end_quiet_seconds": QUIET})


@pytest.fixture
def zoom_url(zoom_settings: Settings, redis_client: redis.Redis, serve_web: ServeWeb) -> str:
    return serve_web(zoom_settings)


# --- the URL validation challenge -------------------------------------------------------


def test_url_validation_is_answered_with_the_hmac_of_the_plain_token(zoom_url: str, redis_client: redis.Redis) -> None:
    answer = post_zoom(zoom_url, {"event": "endpoint.url_validation", "event_ts": 1, "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}})
    assert answer.status_code == 200
    expected = hmac.new(ZOOM_SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert answer.json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    assert queued(redis_client) == []


def test_an_unsigned_url_validation_is_refused_so_the_challenge_signs_nothing(zoom_url: str) -> None:
    # Answering it would hand out the HMAC of a chosen value: a valid signature for a forged call.
    body = b'{"event":"endpoint.url_validation","payload":{"plainToken":"v0:1796403600:{}"}}'
    answer = requests.post(f"{zoom_url}/webhooks/events/zoom", data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert answer.status_code == 401
    assert "encryptedToken" not in answer.text
    forged = zoom_headers(body, secret="not-the-secret")
    assert requests.post(f"{zoom_url}/webhooks/events/zoom", data=body, headers=forged, timeout=10).status_code == 401


# --- registrations, check-ins --------------------------------------------------------------


def test_a_registration_makes_the_event_and_a_registrant_who_has_not_come_yet(
    zoom_url: str, zoom_settings: Settings, db: Database, redis_client: redis.Redis
) -> None:
    answer = post_zoom(zoom_url, registered())
    assert answer.status_code == 200
    assert answer.json() == {"queued": "webinar.registration_created"}
    apply_queued(redis_client, db, zoom_settings)
    event = stored_event(db, SLUG)
    assert event is not None
    assert (event.name, event.source, event.platform_id, event.timezone) == ("Product vs Tech: live", "zoom", str(WEBINAR), "Europe/London")
    assert event.starts_at == dt.datetime(2026, 12, 4, 17, tzinfo=dt.UTC)
    assert event.ends_at == dt.datetime(2026, 12, 4, 18, tzinfo=dt.UTC)
    ada = people(db, SLUG)["ada@example.com"]
    # Zoom knows who joins: a registrant is "no" until they do.
    assert (ada.attendance, ada.checked_in_at, ada.platform_id, ada.first_name) == (Attendance.NO, None, "regAda1", "Ada")


def test_a_participant_who_joins_attended_from_their_join_time(
    zoom_url: str, zoom_settings: Settings, db: Database, redis_client: redis.Redis
) -> None:
    post_zoom(zoom_url, registered())
    post_zoom(zoom_url, joined())
    post_zoom(zoom_url, joined(join_time="2026-12-04T17:20:00Z"))  # left and came back
    apply_queued(redis_client, db, zoom_settings)
    ada = people(db, SLUG)["ada@example.com"]
    assert (ada.attendance, ada.checked_in_at) == (Attendance.YES, dt.datetime(2026, 12, 4, 17, 2, 10, tzinfo=dt.UTC))


def test_a_guest_without_an_address_is_matched_by_registrant_id_and_the_host_is_ignored(
    zoom_url: str, zoom_settings: Settings, db: Database, redis_client: redis.Redis
) -> None:
    post_zoom(zoom_url, registered("grace@example.com", "Grace", "Hopper", registrant_id="regGrace"))
    assert post_zoom(zoom_url, joined(email="", registrant_id="regGrace")).json() == {"queued": "webinar.participant_joined"}
    nobody = post_zoom(zoom_url, joined(email=""))
    assert nobody.status_code == 200
    assert nobody.json()["ignored"] is True
    host = post_zoom(zoom_url, joined(email="host@modu.example", id="z8yCxjabcdEFGHfp8uQ"))
    assert host.json()["ignored"] is True
    apply_queued(redis_client, db, zoom_settings)
    found = people(db, SLUG)
    assert list(found) == ["grace@example.com"]
    assert found["grace@example.com"].attendance == Attendance.YES


def test_the_same_delivery_twice_changes_nothing_the_second_time(
    zoom_url: str, zoom_settings: Settings, db: Database, redis_client: redis.Redis
) -> None:
    body = registered()
    post_zoom(zoom_url, body)
    post_zoom(zoom_url, body)  # Zoom's retry: the same body, signed again
    first, second = apply_queued(redis_client, db, zoom_settings)
    assert (first.duplicate, first.report.added) == (False, 1)
    assert second.duplicate is True
    assert len(people(db, SLUG)) == 1


def test_unknown_events_are_200_and_ignored(zoom_url: str, redis_client: redis.Redis) -> None:
    for kind in ("webinar.participant_left", "meeting.started", "webinar.registration_cancelled"):
        answer = post_zoom(zoom_url, zoom_event(kind))
        assert answer.status_code == 200
        assert answer.json()["ignored"] is True
    assert queued(redis_client) == []


# --- refusals --------------------------------------------------------------------------------


def test_a_missing_or_wrong_signature_is_401_and_queues_nothing(zoom_url: str, redis_client: redis.Redis) -> None:
    body = b'{"event":"webinar.registration_created"}'
    url = f"{zoom_url}/webhooks/events/zoom"
    signed = zoom_headers(body)
    cases = [
        {"Content-Type": "application/json"},
        {**signed, "x-zm-signature": "v0=" + "0" * 64},
        {**signed, "x-zm-signature": signed["x-zm-signature"].upper()},
        zoom_headers(body, secret="someone-elses-secret"),
        {key: value for key, value in signed.items() if key != "x-zm-request-timestamp"},
        {**signed, "x-zm-request-timestamp": "yesterday"},
    ]
    for headers in cases:
        answer = requests.post(url, data=body, headers=headers, timeout=10)
        assert answer.status_code == 401, headers
        assert answer.json()["detail"]
    tampered = requests.post(url, data=body.replace(b"registration", b"Registration"), headers=signed, timeout=10)
    assert tampered.status_code == 401
    assert queued(redis_client) == []


def test_without_a_secret_token_every_call_is_401_naming_the_setting(web_url: str, redis_client: redis.Redis) -> None:
    answer = post_zoom(web_url, registered())
    assert answer.status_code == 401
    assert "NEWSLETTER_ZOOM_WEBHOOK_SECRET" in answer.json()["detail"]
    assert queued(redis_client) == []


def test_a_timestamp_more_than_five_minutes_off_is_refused(zoom_url: str, redis_client: redis.Redis) -> None:
    now = dt.datetime.now(dt.UTC)
    assert post_zoom(zoom_url, registered(), at=now - dt.timedelta(minutes=6)).status_code == 401
    assert post_zoom(zoom_url, registered(), at=now + dt.timedelta(minutes=6)).status_code == 401
    assert queued(redis_client) == []
    # The server's clock moves, not the test's patience: a call signed now is stale 6 minutes later.
    body = b'{"event":"webinar.participant_left","payload":{"object":{}}}'
    headers = zoom_headers(body)
    with time_machine.travel(now + dt.timedelta(minutes=6), tick=False):
        late = requests.post(f"{zoom_url}/webhooks/events/zoom", data=body, headers=headers, timeout=10)
    with time_machine.travel(now + dt.timedelta(minutes=4), tick=False):
        in_time = requests.post(f"{zoom_url}/webhooks/events/zoom", data=body, headers=headers, timeout=10)
    assert (late.status_code, in_time.status_code) == (401, 200)
    assert "x-zm-request-timestamp" in late.json()["detail"]


def test_hostile_values_are_refused_with_the_field_named(zoom_url: str, redis_client: redis.Redis) -> None:
    cases = {
        "payload.object.topic": zoom_event("webinar.started", topic="Launch\r\nBcc: victim@example.com"),
        "payload.object.registrant.first_name": registered(first="Ada\x1b[31m"),
        "payload.object.registrant.email": registered(email="not an address"),
        "payload.object.id": zoom_event("webinar.started", id={"$ne": 1}),
    }
    cases["payload.object.topic (long)"] = zoom_event("webinar.started", topic="x" * 5000)
    for where, payload in cases.items():
        answer = post_zoom(zoom_url, payload)
        assert answer.status_code == 400, where
        assert where.split(" ")[0] in answer.json()["detail"]
    assert queued(redis_client) == []


def test_an_unreachable_queue_is_503_so_zoom_delivers_again(zoom_settings: Settings, serve_web: ServeWeb, db: Database) -> None:
    url = serve_web(zoom_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    answer = post_zoom(url, registered())
    assert answer.status_code == 503
    assert answer.headers["Retry-After"].isdigit()
    assert "queue" in answer.json()["detail"]
    assert stored_event(db, SLUG) is None


# --- the end: de-duplicated, and only after a quiet period ---------------------------------


def test_ended_counts_only_after_the_quiet_period_without_a_new_start(
    zoom_url: str, zoom_settings: Settings, db: Database, redis_client: redis.Redis
) -> None:
    first_end = "2026-12-04T17:40:00+00:00"
    restart = "2026-12-04T17:45:00+00:00"
    last_end = "2026-12-04T18:10:00+00:00"
    post_zoom(zoom_url, zoom_event("webinar.started", at_ms("2026-12-04T17:00:00+00:00")))
    post_zoom(zoom_url, zoom_event("webinar.ended", at_ms(first_end), end_time=first_end))
    post_zoom(zoom_url, zoom_event("webinar.ended", at_ms(first_end), end_time=first_end))  # the same end, twice
    post_zoom(zoom_url, zoom_event("webinar.started", at_ms(restart)))  # the host came back
    apply_queued(redis_client, db, zoom_settings)
    event = stored_event(db, SLUG)
    assert event is not None and event.end_signal_at is None
    with db.transaction() as session:
        assert settle_end_signals(session, zoom_settings, dt.datetime.fromisoformat(first_end) + dt.timedelta(hours=1)) == []
    post_zoom(zoom_url, zoom_event("webinar.ended", at_ms(last_end), end_time=last_end))
    apply_queued(redis_client, db, zoom_settings)
    ended = dt.datetime.fromisoformat(last_end)
    with db.transaction() as session:
        assert settle_end_signals(session, zoom_settings, ended + dt.timedelta(seconds=QUIET - 1)) == []
    with db.transaction() as session:
        assert settle_end_signals(session, zoom_settings, ended + dt.timedelta(seconds=QUIET)) == [SLUG]
    event = stored_event(db, SLUG)
    assert event is not None and event.ended_at == ended


# --- a real worker ---------------------------------------------------------------------------


@pytest.mark.timing
def test_a_real_worker_records_registrations_and_check_ins(
    zoom_url: str, zoom_settings: Settings, db: Database, start_worker: StartWorker
) -> None:
    start_worker(environment_for(zoom_settings))
    assert post_zoom(zoom_url, registered()).status_code == 200
    assert post_zoom(zoom_url, registered("grace@example.com", "Grace", "Hopper", "regGrace")).status_code == 200
    assert post_zoom(zoom_url, joined()).status_code == 200

    def recorded() -> bool:
        found = people(db, SLUG)
        return len(found) == 2 and found["ada@example.com"].attendance == Attendance.YES

    wait_until(recorded)
    assert people(db, SLUG)["grace@example.com"].attendance == Attendance.NO

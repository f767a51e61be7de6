"""Any other platform at /webhooks/events/generic: Standard Webhooks calls, signed by the specification's own library.

What the web app queued is applied with the worker's own function; one test
runs a real worker. docs/events.md must publish exactly the JSON Schema the
models define.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import redis
import requests
import time_machine
from pydantic import SecretStr
from sqlalchemy import select

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Attendance, MailingList, Subscriber, Subscription
from publisher.events.endings import settle_end_signals
from publisher.events.platforms.generic import schema_markdown
from tests.support.environment import environment_for
from tests.support.event_hooks import EVENTS_SECRET, apply_queued, people, post_generic, queued, standard_headers, stored_event
from tests.support.paths import PROJECT
from tests.support.types import ServeWeb, StartWorker
from tests.support.waiting import wait_until

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SLUG = "generic-conf-2026"
OTHER_SECRET = "whsec_c29tZWJvZHktZWxzZXMtc2VjcmV0LTAxMjM0NTY3"


def upserted(**data: Any) -> dict[str, Any]:
    event = {
        "id": "conf-2026",
        "name": "Modu Conf 2026",
        "starts_at": "2026-12-04T09:00:00+01:00",
        "ends_at": "2026-12-04T18:00:00+01:00",
        "timezone": "Europe/Paris",
        "venue": "Station F, Paris",
        "url": "https://modu.example/conf",
        "speakers": [{"name": "Zoe Martin", "role": "CTO", "organisation": "Modu", "photo": "https://modu.example/zoe.jpg"}],
    }
    return {"type": "event.upserted", "timestamp": "2026-11-01T10:00:00Z", "data": {**event, **data}}


def registrant(email: str = "ada@example.com", **data: Any) -> dict[str, Any]:
    person = {"event_id": "conf-2026", "email": email, "first_name": "Ada", "last_name": "Lovelace", "registrant_id": "r-1"}
    return {"type": "registrant.added", "timestamp": "2026-11-02T10:00:00Z", "data": {**person, **data}}


def checked_in(email: str = "ada@example.com", at: str = "2026-12-04T09:12:00+01:00") -> dict[str, Any]:
    return {
        "type": "attendee.checked_in",
        "timestamp": "2026-12-04T08:12:05Z",
        "data": {"event_id": "conf-2026", "email": email, "checked_in_at": at},
    }


@pytest.fixture
def generic_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"events_webhook_secret": SecretStr(EVENTS_SECRET), "generic_signup_list": "newsletter", "event_end_quiet_seconds": 600}
    )


@pytest.fixture
def hook_url(generic_settings: Settings, redis_client: redis.Redis, serve_web: ServeWeb) -> str:
    return serve_web(generic_settings)


@SQLITE
def test_an_event_its_registrants_and_their_check_ins(
    hook_url: str, generic_settings: Settings, db: Database, redis_client: redis.Redis
) -> None:
    assert post_generic(hook_url, upserted()).json() == {"queued": "event.upserted"}
    post_generic(hook_url, registrant(attendance="no"))
    post_generic(hook_url, registrant("grace@example.com", first_name="Grace", registrant_id="r-2"))
    post_generic(hook_url, checked_in())
    apply_queued(redis_client, db, generic_settings)
    event = stored_event(db, SLUG)
    assert event is not None
    assert (event.name, event.source, event.timezone, event.venue) == ("Modu Conf 2026", "generic", "Europe/Paris", "Station F, Paris")
    assert event.starts_at == dt.datetime(2026, 12, 4, 8, tzinfo=dt.UTC)
    assert event.speakers == [{"name": "Zoe Martin", "role": "CTO", "organisation": "Modu", "photo": "https://modu.example/zoe.jpg"}]
    found = people(db, SLUG)
    assert (found["ada@example.com"].attendance, found["ada@example.com"].checked_in_at) == (
        Attendance.YES,
        dt.datetime(2026, 12, 4, 8, 12, tzinfo=dt.UTC),
    )
    # Without attendance "no" the platform is taken to report no check-ins.
    assert found["grace@example.com"].attendance == Attendance.UNKNOWN


@SQLITE
def test_consent_joins_the_sources_signup_list_with_a_record_naming_the_event(
    hook_url: str, generic_settings: Settings, db: Database, redis_client: redis.Redis
) -> None:
    post_generic(hook_url, registrant(consent=True))
    post_generic(hook_url, registrant("grace@example.com", consent=False))
    apply_queued(redis_client, db, generic_settings)
    with db.transaction() as session:
        rows = session.execute(
            select(Subscriber.email, Subscription.source)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .join(MailingList, MailingList.id == Subscription.list_id)
            .where(MailingList.name == "newsletter")
        ).all()
    assert [(email, source) for email, source in rows] == [("ada@example.com", f"event:{SLUG} (generic)")]


@SQLITE
def test_the_same_webhook_id_twice_is_applied_once(
    hook_url: str, generic_settings: Settings, db: Database, redis_client: redis.Redis
) -> None:
    post_generic(hook_url, registrant(), webhook_id="msg_same")
    post_generic(hook_url, registrant(), webhook_id="msg_same")
    post_generic(hook_url, checked_in(), webhook_id="msg_other")
    results = apply_queued(redis_client, db, generic_settings)
    assert [result.duplicate for result in results] == [False, True, False]
    assert people(db, SLUG)["ada@example.com"].attendance == Attendance.YES


@pytest.mark.postgres
def test_an_ended_signal_counts_after_the_quiet_period(
    generic_settings: Settings, db: Database, redis_client: redis.Redis, serve_web: ServeWeb
) -> None:
    url = serve_web(generic_settings)
    post_generic(url, upserted())
    post_generic(url, {"type": "event.ended", "data": {"event_id": "conf-2026", "ended_at": "2026-12-04T18:20:00+01:00"}})
    apply_queued(redis_client, db, generic_settings)
    ended = dt.datetime(2026, 12, 4, 17, 20, tzinfo=dt.UTC)
    with db.transaction() as session:
        assert settle_end_signals(session, generic_settings, ended + dt.timedelta(minutes=9)) == []
    with db.transaction() as session:
        assert settle_end_signals(session, generic_settings, ended + dt.timedelta(minutes=10)) == [SLUG]
    event = stored_event(db, SLUG)
    assert event is not None and event.ended_at == ended


@SQLITE
def test_bad_values_are_400_naming_the_field_and_queue_nothing(hook_url: str, redis_client: redis.Redis) -> None:
    cases = {
        "data.name": upserted(name="Conf\r\nBcc: victim@example.com"),
        "data.id": upserted(id="../other"),
        "data.timezone": upserted(timezone="Mars/Olympus"),
        "data.ends_at": upserted(ends_at="2026-12-04T18:00:00"),
        "data.url": upserted(url="javascript:alert(1)"),
        "data.speakers.0.name": upserted(speakers=[{"name": ""}]),
        "data.email": registrant(email="ada@"),
        "data.first_name": registrant(first_name="x" * 201),
        "data.attendance": registrant(attendance="yes"),
        "data.consent": registrant(consent="please"),
        "data.event_id": registrant(event_id=12),
    }
    for where, payload in cases.items():
        answer = post_generic(hook_url, payload)
        assert answer.status_code == 400, where
        assert answer.json()["detail"].startswith(where), answer.json()
    assert post_generic(hook_url, upserted(ends_at="2026-12-01T00:00:00Z")).json()["detail"] == "data: the event ends before it starts"
    assert queued(redis_client) == []


@SQLITE
def test_unknown_types_are_200_and_ignored(hook_url: str, redis_client: redis.Redis) -> None:
    for payload in ({"type": "ticket.sold", "data": {}}, {"type": "<script>", "data": {}}, {"data": {}}):
        answer = post_generic(hook_url, payload)
        assert (answer.status_code, answer.json()["ignored"]) == (200, True)
        assert "<script>" not in answer.text
    assert queued(redis_client) == []


@SQLITE
def test_a_bad_missing_or_stale_signature_is_401_and_queues_nothing(hook_url: str, redis_client: redis.Redis) -> None:
    body = b'{"type": "registrant.added", "data": {"event_id": "conf-2026", "email": "eve@example.com"}}'
    url = f"{hook_url}/webhooks/events/generic"
    signed = standard_headers(body, webhook_id="msg_1")
    now = dt.datetime.now(dt.UTC)
    cases = [
        {"Content-Type": "application/json"},
        standard_headers(body, secret=OTHER_SECRET),
        {**signed, "webhook-id": "msg_2"},  # the id is signed too
        {**signed, "webhook-signature": "v1,not-base64"},
        {**signed, "webhook-timestamp": "soon"},
        standard_headers(body, at=now - dt.timedelta(minutes=6)),
        standard_headers(body, at=now + dt.timedelta(minutes=6)),
    ]
    for headers in cases:
        answer = requests.post(url, data=body, headers=headers, timeout=10)
        assert answer.status_code == 401, headers
    assert requests.post(url, data=body + b" ", headers=signed, timeout=10).status_code == 401
    with time_machine.travel(now + dt.timedelta(minutes=6), tick=False):
        assert requests.post(url, data=body, headers=signed, timeout=10).status_code == 401
    assert queued(redis_client) == []
    # Several signatures while a secret is rotated: one that matches is enough.
    retired = standard_headers(body, secret=OTHER_SECRET, webhook_id="msg_1")["webhook-signature"]
    rotating = {**signed, "webhook-signature": f"{retired} {signed['webhook-signature']}"}
    assert requests.post(url, data=body, headers=rotating, timeout=10).status_code == 200


@SQLITE
def test_without_a_usable_secret_every_call_is_401_naming_the_setting(
    settings: Settings, serve_web: ServeWeb, redis_client: redis.Redis
) -> None:
    for secret in (None, "whsec_***not base64***"):
        update = {"events_webhook_secret": SecretStr(secret) if secret else None}
        answer = post_generic(serve_web(settings.model_copy(update=update)), registrant())
        assert answer.status_code == 401
        assert "NEWSLETTER_EVENTS_WEBHOOK_SECRET" in answer.json()["detail"]
    assert queued(redis_client) == []


def test_docs_publish_the_json_schema_of_each_type() -> None:
    docs = (PROJECT / "docs" / "events.md").read_text(encoding="utf-8")
    assert schema_markdown() in docs, "regenerate with: python -m publisher.events.platforms.generic"
    for kind in ("event.upserted", "registrant.added", "attendee.checked_in", "event.ended"):
        assert f"#### `{kind}`" in docs


@SQLITE
@pytest.mark.timing
def test_a_real_worker_applies_the_calls(hook_url: str, generic_settings: Settings, db: Database, start_worker: StartWorker) -> None:
    start_worker(environment_for(generic_settings))
    for payload in (upserted(), registrant(attendance="no"), checked_in()):
        assert post_generic(hook_url, payload).status_code == 200

    def applied() -> bool:
        # The worker runs two at a time: the calls may be applied in any order, and all of them count.
        event, ada = stored_event(db, SLUG), people(db, SLUG).get("ada@example.com")
        return event is not None and event.name == "Modu Conf 2026" and ada is not None and ada.attendance == Attendance.YES

    wait_until(applied)

"""Event-platform webhooks in tests: calls signed as each platform signs them, and what the web app put on the queue.

The receivers only verify, read and enqueue; :func:`apply_queued` takes the
messages off the real Redis queue, oldest first, and hands each to the same
domain function the worker calls (``receive_message``), so most tests need
no worker process. Each source also has an end-to-end test with a real one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

import redis
import requests
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Attendance, Event, EventRegistrant, Subscriber
from publisher.events.platforms import receive_message
from publisher.events.platforms.delivery import Applied
from publisher.queue import QUEUE_PRIORITY, TASK_EVENT_DELIVERY

TIMEOUT = 10
ZOOM_SECRET = "zoom-secret-token-0123456789"
EVENTS_SECRET = "whsec_" + base64.b64encode(b"events-webhook-signing-key-0123").decode()
EVENTBRITE_KEY = "eventbrite-path-key-0123456789"
LUMA_KEY = "luma-path-key-0123456789"


def as_body(payload: dict[str, Any] | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def zoom_headers(body: bytes, *, secret: str = ZOOM_SECRET, at: dt.datetime | None = None) -> dict[str, str]:
    """The headers Zoom sends: ``x-zm-signature`` = v0= hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    timestamp = str(int((at or dt.datetime.now(dt.UTC)).timestamp()))
    signature = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "x-zm-request-timestamp": timestamp, "x-zm-signature": f"v0={signature}"}


def post_zoom(base: str, payload: dict[str, Any] | bytes, **signing: Any) -> requests.Response:
    body = as_body(payload)
    return requests.post(f"{base}/webhooks/events/zoom", data=body, headers=zoom_headers(body, **signing), timeout=TIMEOUT)


def standard_headers(
    body: bytes, *, secret: str = EVENTS_SECRET, webhook_id: str | None = None, at: dt.datetime | None = None
) -> dict[str, str]:
    """The headers of a Standard Webhooks call, signed by the specification's own library."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    at = at or dt.datetime.now(dt.UTC)
    return {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
    }


def post_generic(base: str, payload: dict[str, Any] | bytes, **signing: Any) -> requests.Response:
    body = as_body(payload)
    return requests.post(f"{base}/webhooks/events/generic", data=body, headers=standard_headers(body, **signing), timeout=TIMEOUT)


def post_keyed(base: str, platform: str, payload: dict[str, Any] | bytes, key: str) -> requests.Response:
    """An Eventbrite or Luma call: unsigned, its secret in the URL."""
    return requests.post(
        f"{base}/webhooks/events/{platform}/{key}", data=as_body(payload), headers={"Content-Type": "application/json"}, timeout=TIMEOUT
    )


def queued(client: redis.Redis) -> list[tuple[str, dict[str, Any]]]:
    """The event deliveries waiting on the priority queue, oldest first: (source, message)."""
    found = []
    for raw in reversed(client.lrange(QUEUE_PRIORITY, 0, -1)):
        envelope = json.loads(raw)
        if envelope["headers"]["task"] != TASK_EVENT_DELIVERY:
            continue
        args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        found.append((args[0], args[1]))
    return found


def apply_queued(client: redis.Redis, db: Database, settings: Settings) -> list[Applied]:
    """Take every queued event delivery off the queue and apply it as the worker would."""
    deliveries = queued(client)
    client.delete(QUEUE_PRIORITY)
    return [receive_message(db, settings, source, message) for source, message in deliveries]


@dataclass(frozen=True)
class Person:
    attendance: Attendance
    checked_in_at: dt.datetime | None
    platform_id: str | None
    first_name: str


def people(db: Database, slug: str) -> dict[str, Person]:
    """The event's registrants by address."""
    with db.transaction() as session:
        rows = session.execute(
            select(Subscriber.email, EventRegistrant, Subscriber.first_name)
            .join(EventRegistrant, EventRegistrant.subscriber_id == Subscriber.id)
            .join(Event, Event.id == EventRegistrant.event_id)
            .where(Event.slug == slug)
        ).all()
        return {email: Person(row.attendance, row.checked_in_at, row.platform_id, first) for email, row, first in rows}


def stored_event(db: Database, slug: str) -> Event | None:
    """The event row, detached (None when there is none)."""
    with db.transaction() as session:
        event = session.scalar(select(Event).where(Event.slug == slug))
        if event is not None:
            session.expunge(event)
        return event

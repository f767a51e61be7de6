"""Write an event's messages, one per endpoint that asked for its type, in the transaction of the change.

Whatever changes state (a campaign starting or completing, a bounce or a
complaint recorded, a subscription confirmed or left) calls :func:`announce`
with its own session: the message commits with the change or not at all,
so an event is never lost to a process dying between the two, and never
sent for a change that was rolled back. The session is marked
(``ANNOUNCED``) so the process can put a delivery task on the queue once
it commits (``publisher.queue.deliver_webhooks_after_commit``); the
workers' sweep sends whatever that missed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.core.clock import utcnow
from publisher.db.models import WebhookEndpoint, WebhookMessage
from publisher.outgoing_webhooks.events import EVENT_TYPES

#: The session.info key set when a transaction wrote messages.
ANNOUNCED = "webhook_messages_written"
#: The session.info key of the endpoints read once per transaction: (id, event types).
_ENDPOINTS = "webhook_endpoints_read"


def announce(
    session: Session,
    event_type: str,
    data: dict[str, Any],
    now: dt.datetime | None = None,
    *,
    subscriber_id: int | None = None,
    delivery_id: int | None = None,
) -> int:
    """Write one message of ``event_type`` for each endpoint that asked for it; return how many.

    Disabled endpoints get theirs too: they are sent once it is enabled again.
    ``subscriber_id`` and ``delivery_id`` name the person and the ledger
    record the event is about, so that erasing the person deletes it.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    targets = [endpoint_id for endpoint_id, types in _endpoints(session) if event_type in types]
    if not targets:
        return 0
    now = now or utcnow()
    body = orjson.dumps({"type": event_type, "timestamp": _iso(now), "data": data}).decode()
    message_id = f"msg_{uuid.uuid4().hex}"
    session.add_all(
        WebhookMessage(
            endpoint_id=endpoint_id,
            message_id=message_id,
            event_type=event_type,
            payload=body,
            next_attempt_at=now,
            subscriber_id=subscriber_id,
            delivery_id=delivery_id,
        )
        for endpoint_id in targets
    )
    session.info[ANNOUNCED] = True
    return len(targets)


def wants(session: Session, event_type: str) -> bool:
    """Whether any endpoint asked for ``event_type``: asked before building an event's data, which costs queries.

    The endpoints are read once per transaction (and locked, see :func:`_endpoints`): asking again is free.
    """
    return any(event_type in types for _, types in _endpoints(session))


def iso(value: dt.datetime | None) -> str | None:
    """A time as payloads write it: UTC, ISO 8601, with a Z."""
    return None if value is None else _iso(value)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _endpoints(session: Session) -> list[tuple[int, list[str]]]:
    # Read once per transaction: a webhook batch of a thousand bounces asks a thousand times.
    # The rows are locked FOR KEY SHARE (PostgreSQL; the lock the foreign key
    # check of the insert would take anyway, taken at the read): an endpoint
    # removed meanwhile waits for this transaction to end, rather than commit
    # first and make its message's insert, and so the whole change, fail.
    # Updates of the endpoint (a failure counted, enabling it) are not held up.
    cached: list[tuple[int, list[str]]] | None = session.info.get(_ENDPOINTS)
    if cached is None:
        query = select(WebhookEndpoint.id, WebhookEndpoint.event_types).with_for_update(read=True, key_share=True)
        rows = session.execute(query).all()
        cached = [(row.id, list(row.event_types)) for row in rows]
        session.info[_ENDPOINTS] = cached
    return cached

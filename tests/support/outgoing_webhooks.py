"""Outgoing webhook endpoints for the tests: added the way `newsletter webhooks add` adds them, and their rows read back."""

from __future__ import annotations

from sqlalchemy import select

from publisher.core.fetching import FetchPolicy
from publisher.db.engine import Database
from publisher.db.models import WebhookEndpoint, WebhookMessage
from publisher.outgoing_webhooks.endpoints import add_endpoint
from publisher.outgoing_webhooks.events import EVENT_TYPES

LOOPBACK = FetchPolicy(timeout=10, max_bytes=1_000_000, allow_loopback=True)


def add(db: Database, url: str, events: tuple[str, ...] = EVENT_TYPES) -> tuple[int, str]:
    """Add an endpoint on loopback for ``events``; return its id and secret."""
    info, secret = add_endpoint(db, url, list(events), LOOPBACK, "cli")
    return info.id, secret


def messages(db: Database, endpoint_id: int | None = None) -> list[WebhookMessage]:
    with db.transaction() as session:
        query = select(WebhookMessage).order_by(WebhookMessage.id)
        if endpoint_id is not None:
            query = query.where(WebhookMessage.endpoint_id == endpoint_id)
        return list(session.scalars(query))


def endpoint(db: Database, endpoint_id: int) -> WebhookEndpoint:
    with db.transaction() as session:
        found = session.get(WebhookEndpoint, endpoint_id)
        assert found is not None
        return found

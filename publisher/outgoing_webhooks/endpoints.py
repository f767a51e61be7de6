"""Endpoints: add one (its URL checked, its secret made), list them, remove one, enable one again.

An endpoint's URL is checked as a fetched page's is
(:func:`publisher.core.fetching.check_destination`): http(s), no user name or
password, at most 2,000 characters, and a host whose every address is public
(loopback too under NEWSLETTER_FETCH_ALLOW_LOOPBACK). The workers check the
addresses again at every call: a name that resolves elsewhere later
(DNS rebinding) is refused then.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from publisher.core.clock import utcnow
from publisher.core.errors import NotFoundError
from publisher.core.fetching import FetchError, FetchPolicy, check_destination
from publisher.db.engine import Database
from publisher.db.models import MAX_ID, WebhookEndpoint, WebhookMessage
from publisher.outgoing_webhooks.announce import ANNOUNCED
from publisher.outgoing_webhooks.events import WebhookError, check_event_types

#: Random bytes in a new secret (Standard Webhooks: between 24 and 64).
SECRET_BYTES = 32
SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix of every secret, not one)
#: Endpoints one deployment may have: each event is written once per endpoint.
MAX_ENDPOINTS = 100


@dataclass(frozen=True)
class EndpointInfo:
    """What an operator sees of an endpoint: never its secret."""

    id: int
    url: str
    event_types: list[str]
    created_at: dt.datetime
    created_by: str
    consecutive_failures: int
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    last_success_at: dt.datetime | None
    last_failure_at: dt.datetime | None
    last_error: str | None
    #: Messages not answered yet (and not given up on).
    waiting: int = 0
    #: Messages given up on (still failing 5 days after they were written), until the retention deletes them.
    failed: int = 0

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    def as_dict(self) -> dict[str, object]:
        def when(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "url": self.url,
            "event_types": self.event_types,
            "enabled": self.enabled,
            "created_at": when(self.created_at),
            "created_by": self.created_by,
            "consecutive_failures": self.consecutive_failures,
            "disabled_at": when(self.disabled_at),
            "disabled_reason": self.disabled_reason,
            "last_success_at": when(self.last_success_at),
            "last_failure_at": when(self.last_failure_at),
            "last_error": self.last_error,
            "waiting": self.waiting,
            "failed": self.failed,
        }


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_endpoint_url(url: str, policy: FetchPolicy) -> str:
    """``url`` if calls may be sent there; WebhookError saying why not."""
    url = url.strip()
    if not url:
        raise WebhookError("give the endpoint's URL, such as https://hooks.example.com/newsletter")
    try:
        return check_destination(url, policy)
    except FetchError as exc:
        raise WebhookError(f"the endpoint URL is refused: {exc}") from None


def add_endpoint(db: Database, url: str, event_types: list[str], policy: FetchPolicy, created_by: str) -> tuple[EndpointInfo, str]:
    """Add an endpoint for ``event_types``; return it and its secret, which is shown this once."""
    types = check_event_types(event_types)
    url = check_endpoint_url(url, policy)
    secret = new_secret()
    with db.transaction() as session:
        if (session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0) >= MAX_ENDPOINTS:
            raise WebhookError(f"there are {MAX_ENDPOINTS} endpoints already: remove one first")
        endpoint = WebhookEndpoint(url=url, event_types=types, secret=secret, created_by=created_by[:400], consecutive_failures=0)
        session.add(endpoint)
        session.flush()
        return _info(endpoint, 0), secret


def list_endpoints(db: Database) -> list[EndpointInfo]:
    """Every endpoint, oldest first, with how many messages wait for it and how many were given up on."""
    with db.reading() as session:
        given_up = WebhookMessage.failed_at.is_not(None)
        counted = session.execute(
            select(WebhookMessage.endpoint_id, given_up.label("failed"), func.count())
            .where(WebhookMessage.delivered_at.is_(None))
            .group_by(WebhookMessage.endpoint_id, given_up)
        ).all()
        waiting = {endpoint_id: int(count) for endpoint_id, failed, count in counted if not failed}
        failed = {endpoint_id: int(count) for endpoint_id, failed, count in counted if failed}
        endpoints = session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()
        return [_info(endpoint, waiting.get(endpoint.id, 0), failed.get(endpoint.id, 0)) for endpoint in endpoints]


def remove_endpoint(db: Database, endpoint_id: int) -> EndpointInfo:
    """Remove an endpoint and the messages still waiting for it; NotFoundError for an unknown id."""
    with db.transaction() as session:
        endpoint = _find(session, endpoint_id)
        info = _info(endpoint, 0)
        # The messages go with it (ON DELETE CASCADE), said here too for SQLite without foreign keys.
        session.execute(delete(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint_id))
        session.delete(endpoint)
        return info


def enable_endpoint(db: Database, endpoint_id: int, now: dt.datetime | None = None) -> EndpointInfo:
    """Enable an endpoint again: its failures are forgotten and its waiting messages are due now."""
    now = now or utcnow()
    with db.transaction() as session:
        endpoint = _find(session, endpoint_id, key_share=True)
        endpoint.disabled_at = None
        endpoint.disabled_reason = None
        endpoint.consecutive_failures = 0
        waiting = session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.endpoint_id == endpoint_id, WebhookMessage.delivered_at.is_(None), WebhookMessage.failed_at.is_(None))
            .values(next_attempt_at=now)
        )
        if getattr(waiting, "rowcount", 0):
            session.info[ANNOUNCED] = True
        session.flush()
        return _info(endpoint, 0)


def _find(session: Session, endpoint_id: int, *, key_share: bool = False) -> WebhookEndpoint:
    # Removing takes FOR UPDATE, which waits for the transactions announcing to it (publisher.outgoing_webhooks.announce);
    # an update that keeps the row (key_share: FOR NO KEY UPDATE) does not.
    lock = {"key_share": True} if key_share else True
    endpoint = session.get(WebhookEndpoint, endpoint_id, with_for_update=lock) if 0 < endpoint_id <= MAX_ID else None
    if endpoint is None:
        raise NotFoundError(f"no webhook endpoint {endpoint_id}: see `newsletter webhooks list`")
    return endpoint


def _info(endpoint: WebhookEndpoint, waiting: int, failed: int = 0) -> EndpointInfo:
    return EndpointInfo(
        id=endpoint.id,
        url=endpoint.url,
        event_types=list(endpoint.event_types),
        created_at=endpoint.created_at,
        created_by=endpoint.created_by,
        consecutive_failures=endpoint.consecutive_failures,
        disabled_at=endpoint.disabled_at,
        disabled_reason=endpoint.disabled_reason,
        last_success_at=endpoint.last_success_at,
        last_failure_at=endpoint.last_failure_at,
        last_error=endpoint.last_error,
        waiting=waiting,
        failed=failed,
    )

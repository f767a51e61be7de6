"""Mailgun webhooks: HMAC-signed JSON, one event per call, each token accepted once.

A call is ``{"signature": {"timestamp", "token", "signature"}, "event-data": {…}}``.
``signature`` is hex HMAC-SHA256 of ``timestamp + token`` keyed with the
domain's HTTP webhook signing key (NEWSLETTER_MAILGUN_WEBHOOK_SIGNING_KEY).
The signature covers only the timestamp and token, not the event: to read the
signature the outer JSON has to be parsed, but event-data is not looked at
until the signature matched, the timestamp is within ``base.REPLAY_WINDOW``
and the token was never seen before (tokens are kept in Redis for
TOKEN_TTL, far longer than the window, so a captured call cannot be replayed).
A call that passed those checks but is then not recorded (no delivery
matches, or the database failed) gives its token back, so Mailgun's retry of
it is not refused as a replay.

Our send sets ``v:delivery_id`` and ``v:message_id`` (``workers/providers/mailgun.py``);
Mailgun returns them as ``user-variables``. ``message.headers.message-id`` is
the message's Message-ID as Mailgun reports it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from publisher.db.models import EventType
from publisher.feedback.recording import ProviderEvent
from publisher.web.deps import WebContext
from publisher.web.webhooks.base import (
    as_delivery_id,
    check_timestamp,
    malformed,
    parse_json,
    parse_time,
    register,
    text,
    unauthorized,
    user_agent,
)

NAME = "mailgun"
TOKEN_PREFIX = "newsletter:webhook:mailgun:token:"  # noqa: S105 (a Redis key prefix)
#: How long a used token is remembered: far longer than the replay window.
TOKEN_TTL_SECONDS = 24 * 3600

SIMPLE_EVENTS = {
    "delivered": EventType.DELIVERED,
    "complained": EventType.COMPLAINED,
    "unsubscribed": EventType.UNSUBSCRIBED,
    "opened": EventType.OPENED,
    "clicked": EventType.CLICKED,
}

#: Permanent failures whose reason says more than "bounced". Mailgun fails a
#: message permanently without trying when the address is on its own
#: suppression lists ("suppress-…"); "old" means it gave up after retrying
#: temporary failures, and "espblock" that the receiving provider blocked the
#: sender: neither proves the address dead, so they count as soft bounces.
PERMANENT_REASONS = {
    "suppress-complaint": EventType.COMPLAINED,
    "suppress-unsubscribe": EventType.UNSUBSCRIBED,
    "old": EventType.BOUNCED_SOFT,
    "espblock": EventType.BOUNCED_SOFT,
}


def _signature_block(payload: Any) -> tuple[str, str, str]:
    block = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(block, dict):
        raise unauthorized("missing signature: the body has no 'signature' object")
    parts = [block.get(name) for name in ("timestamp", "token", "signature")]
    values = [str(part) if isinstance(part, str | int) and not isinstance(part, bool) else "" for part in parts]
    if not all(values):
        raise unauthorized("missing signature: signature.timestamp, signature.token and signature.signature are required")
    return values[0], values[1], values[2]


def _token_key(token: str) -> str:
    return TOKEN_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def verify(payload: Any, ctx: WebContext) -> str:
    """401 unless the signature block is Mailgun's for our key and recent; return the token (not yet claimed)."""
    key = ctx.settings.mailgun_webhook_signing_key
    if key is None or not key.get_secret_value():
        raise unauthorized("webhook signing key is not configured: set NEWSLETTER_MAILGUN_WEBHOOK_SIGNING_KEY")
    timestamp, token, signature = _signature_block(payload)
    expected = hmac.new(key.get_secret_value().encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise unauthorized("signature does not match")
    check_timestamp(timestamp, what="signature.timestamp")
    return token


def claim_token(token: str, ctx: WebContext) -> None:
    """401 when ``token`` was accepted before; otherwise remember it for TOKEN_TTL_SECONDS."""
    if not ctx.redis.set(_token_key(token), b"1", nx=True, ex=TOKEN_TTL_SECONDS):
        raise unauthorized("token already used: this call was received before (replay refused)")


def release_token(headers: Mapping[str, str], raw_body: bytes, ctx: WebContext) -> None:
    """Give back the token of a verified call that was not recorded, so Mailgun may retry it."""
    _, token, _ = _signature_block(parse_json(raw_body))
    ctx.redis.delete(_token_key(token))


@register(NAME, on_failure=release_token)
def handle(headers: Mapping[str, str], raw_body: bytes, ctx: WebContext) -> list[ProviderEvent]:
    # Parsing the outer JSON is unavoidable: the signature is inside it.
    # Nothing in event-data is read before verify() has passed.
    payload = parse_json(raw_body)
    token = verify(payload, ctx)
    data = payload.get("event-data")
    if not isinstance(data, dict):
        raise malformed("the body has no 'event-data' object")
    events = parse_event(data)
    # Claimed last: a call refused above leaves its token unused.
    claim_token(token, ctx)
    return events


def parse_event(data: dict[str, Any]) -> list[ProviderEvent]:
    """Mailgun's event-data as our event; an empty list for events we do not act on (accepted, stored, …)."""
    name = data.get("event")
    if not isinstance(name, str) or not name:
        raise malformed("event-data has no 'event' name")
    status = data.get("delivery-status")
    status = status if isinstance(status, dict) else {}
    status_text = " ".join(
        str(part) for part in (status.get("code"), text(status.get("description")) or text(status.get("message"))) if part
    )
    reason = text(data.get("reason"))
    if name in SIMPLE_EVENTS:
        event_type = SIMPLE_EVENTS[name]
        detail = text(data.get("url")) if name == "clicked" else (status_text if name == "delivered" else "")
    elif name == "failed":
        severity = text(data.get("severity"))
        # Mailgun retries temporary failures and reports each attempt; if it
        # gives up, a permanent failure (reason "old") follows.
        permanent = severity == "permanent"
        event_type = PERMANENT_REASONS.get(reason, EventType.BOUNCED_HARD) if permanent else EventType.DEFERRED
        detail = " ".join(part for part in (f"{severity or 'unknown'} failure", f"({reason})" if reason else "", status_text) if part)
    else:
        return []
    occurred_at = parse_time(data.get("timestamp"))
    if occurred_at is None:
        raise malformed(f"event-data ({name}) has no readable timestamp")
    variables = data.get("user-variables")
    variables = variables if isinstance(variables, dict) else {}
    message_id = text(variables.get("message_id")) or None
    delivery_id = as_delivery_id(variables.get("delivery_id"))
    provider_message_id = _provider_message_id(data)
    if message_id is None and provider_message_id:
        # No message_id variable: the Message-ID header may be ours (we set it).
        message_id = provider_message_id.strip("<>")
    if not (message_id or delivery_id or provider_message_id):
        raise malformed(f"event-data ({name}) names no message: no user-variables.message_id or delivery_id, no message.headers.message-id")
    event_id = text(data.get("id"))
    return [
        ProviderEvent(
            provider=NAME,
            type=event_type,
            occurred_at=occurred_at,
            message_id=message_id,
            delivery_id=delivery_id,
            provider_message_id=provider_message_id,
            # Mailgun's event id is unique only within a day: with its
            # timestamp it is unique for good, and the same on a redelivery.
            event_id=f"{event_id}@{data.get('timestamp')}" if event_id else None,
            user_agent=_user_agent(data) if event_type in (EventType.OPENED, EventType.CLICKED) else None,
            detail=detail,
        )
    ]


def _provider_message_id(data: dict[str, Any]) -> str | None:
    """message.headers.message-id in the form the send stored it (Mailgun's API answers "<id>")."""
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    value = text(headers.get("message-id")) if isinstance(headers, dict) else ""
    if not value:
        return None
    return f"<{value.strip('<>')}>"


def _user_agent(data: dict[str, Any]) -> str | None:
    info = data.get("client-info")
    return user_agent(info.get("user-agent")) if isinstance(info, dict) else None

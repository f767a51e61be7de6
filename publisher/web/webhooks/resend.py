"""Resend events at /webhooks/resend, signed by Svix.

Every call carries ``svix-id``, ``svix-timestamp`` and ``svix-signature``:
``v1,<base64 HMAC-SHA256>`` of ``id.timestamp.body`` under the endpoint's
``whsec_`` secret (NEWSLETTER_RESEND_WEBHOOK_SECRET). The ``svix`` library
checks it, and refuses timestamps more than five minutes from our clock,
before the body is parsed. One event per call; ``svix-id`` stays the same
when Resend retries a call, so it is the event's id for de-duplication.

- email.delivered, email.opened, email.clicked (detail: the link):
  delivered, opened, clicked;
- email.bounced: bounced_hard when ``bounce.type`` is Permanent, otherwise
  (Transient, Undetermined, none given) bounced_soft;
- email.complained: complained;
- email.delivery_delayed: deferred;
- anything else (email.sent, email.failed, contact.*, domain.* …): ignored.

Events are matched by the ``delivery_id`` tag we send with every email,
checked against ``data.email_id`` (Resend's id, our provider message id).
Resend's documentation shows ``data.tags`` both as a list of ``{name, value}``
objects and as a ``{name: value}`` object; both are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from svix.webhooks import Webhook, WebhookVerificationError

from publisher.core.settings import Settings
from publisher.db.models import EventType
from publisher.feedback.recording import ProviderEvent
from publisher.web.deps import WebContext
from publisher.web.inbound import whsec_key
from publisher.web.webhooks.base import as_delivery_id, malformed, now, parse_json, parse_time, register, text, unauthorized, user_agent

PROVIDER = "resend"
SIGNATURE_HEADERS = ("svix-id", "svix-timestamp", "svix-signature")
EVENT_TYPES = {
    "email.delivered": EventType.DELIVERED,
    "email.complained": EventType.COMPLAINED,
    "email.opened": EventType.OPENED,
    "email.clicked": EventType.CLICKED,
    "email.delivery_delayed": EventType.DEFERRED,
}


@register(PROVIDER)
def handle(headers: Mapping[str, str], raw_body: bytes, ctx: WebContext) -> list[ProviderEvent]:
    svix_id = verify(headers, raw_body, ctx.settings)
    payload = parse_json(raw_body)
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise malformed("a Resend event is a JSON object with a string 'type'")
    event = event_from(payload, svix_id)
    return [event] if event is not None else []


def verify(headers: Mapping[str, str], raw_body: bytes, settings: Settings) -> str:
    """Check the Svix signature and timestamp of a call; return its ``svix-id``."""
    webhook = Webhook(_secret(settings))
    signed = {name: headers.get(name) or "" for name in SIGNATURE_HEADERS}
    missing = [name for name, value in signed.items() if not value]
    if missing:
        raise unauthorized(f"unsigned Resend webhook: missing {', '.join(missing)}")
    try:
        webhook.verify(raw_body, signed)
    except WebhookVerificationError as exc:
        raise unauthorized(f"Resend signature refused: {exc}") from exc
    except ValueError as exc:
        # A signature that is not "v1,<base64>", or a body that is not UTF-8 (so cannot be what was signed).
        raise unauthorized(f"Resend signature refused: unreadable svix-signature or body ({type(exc).__name__})") from exc
    return signed["svix-id"]


def _secret(settings: Settings) -> bytes:
    """The signing key: the base64 part of the ``whsec_`` secret, decoded strictly."""
    return whsec_key(settings.resend_webhook_secret, "NEWSLETTER_RESEND_WEBHOOK_SECRET", "Resend")


def event_from(payload: dict[str, Any], svix_id: str) -> ProviderEvent | None:
    """The normalised event of one verified Resend payload, or None for a kind we ignore."""
    kind = payload["type"]
    if kind != "email.bounced" and kind not in EVENT_TYPES:
        return None
    data = _data(payload)
    if kind == "email.bounced":
        given = data.get("bounce")
        bounce: dict[str, Any] = given if isinstance(given, dict) else {}
        event_type = EventType.BOUNCED_HARD if text(bounce.get("type")).lower() == "permanent" else EventType.BOUNCED_SOFT
        summary = "/".join(part for part in (text(bounce.get("type")), text(bounce.get("subType"))) if part)
        detail = ": ".join(part for part in (summary, text(bounce.get("message"))) if part)
    else:
        event_type = EVENT_TYPES[kind]
        click = data.get("click")
        detail = text(click.get("link")) if kind == "email.clicked" and isinstance(click, dict) else ""
    email_id = text(data.get("email_id")) or None
    delivery_id = as_delivery_id(_tag(data.get("tags"), "delivery_id"))
    if email_id is None and delivery_id is None:
        raise malformed(f"Resend {kind} event names no email: data.email_id and the delivery_id tag are both missing")
    return ProviderEvent(
        provider=PROVIDER,
        type=event_type,
        occurred_at=parse_time(payload.get("created_at")) or now(),
        delivery_id=delivery_id,
        provider_message_id=email_id,
        event_id=text(svix_id),
        detail=detail,
        user_agent=_user_agent(data, kind),
    )


def _data(payload: dict[str, Any]) -> dict[str, Any]:
    data = payload.get("data")
    if not isinstance(data, dict):
        raise malformed(f"Resend {payload['type']} event has no 'data' object")
    return data


def _tag(tags: object, name: str) -> object:
    """A tag's value from ``[{"name": …, "value": …}]`` or ``{name: value}``."""
    if isinstance(tags, dict):
        return tags.get(name)
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict) and tag.get("name") == name:
                return tag.get("value")
    return None


def _user_agent(data: dict[str, Any], kind: str) -> str | None:
    section = data.get({"email.opened": "open", "email.clicked": "click"}.get(kind, ""))
    return user_agent(section.get("userAgent")) if isinstance(section, dict) else None

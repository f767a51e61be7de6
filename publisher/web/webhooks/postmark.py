"""Postmark webhooks: HTTP basic auth, one JSON object per call.

Postmark signs nothing: the webhook URL carries credentials
(``https://USER:PASSWORD@host/webhooks/postmark``) and Postmark sends them as
basic auth. Both must equal NEWSLETTER_POSTMARK_WEBHOOK_USERNAME and
NEWSLETTER_POSTMARK_WEBHOOK_PASSWORD (compared in constant time) before the
body is read; when they are not configured every call is refused.

The send puts ``Metadata: {delivery_id, message_id}`` on each message
(``workers/providers/postmark.py``) and Postmark echoes it in every webhook;
``MessageID`` is Postmark's id for the message. Bounces and complaints carry
Postmark's bounce ``ID``, used to store a redelivered webhook once; other
records are de-duplicated on a digest of their content.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from typing import Any

from publisher.db.models import EventType
from publisher.feedback.recording import ProviderEvent
from publisher.web.deps import WebContext
from publisher.web.webhooks.base import (
    as_delivery_id,
    malformed,
    parse_json,
    parse_time,
    register,
    same_secret,
    text,
    unauthorized,
    user_agent,
)

NAME = "postmark"
CHALLENGE = {"WWW-Authenticate": 'Basic realm="newsletter webhooks", charset="UTF-8"'}

#: Bounce types that say the address will never take mail: suppress at once.
HARD_BOUNCES = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})
#: Bounce types that are not a failure to deliver (replies, tests, our own errors): not recorded.
NOT_BOUNCES = frozenset(
    {
        "AutoResponder",
        "AddressChange",
        "Subscribe",
        "OpenRelayTest",
        "ChallengeVerification",
        "Unconfirmed",
        "InboundError",
        "TemplateRenderingFailed",
    }
)
#: "Message delayed": the receiver may still take it; not a bounce.
DELAYED = frozenset({"Transient"})
# Everything else (SoftBounce, DnsError, SpamNotification, Blocked, Unknown,
# VirusNotification, SMTPApiError, DMARCPolicy, InboxFull, types Postmark adds
# later) is a soft bounce, counted towards the soft-bounce limit.


def verify(headers: Mapping[str, str], ctx: WebContext) -> None:
    """401 unless the call carries the configured basic-auth credentials."""
    settings = ctx.settings
    username, password = settings.postmark_webhook_username, settings.postmark_webhook_password
    if not username or password is None or not password.get_secret_value():
        raise unauthorized(
            "webhook credentials are not configured: set NEWSLETTER_POSTMARK_WEBHOOK_USERNAME and NEWSLETTER_POSTMARK_WEBHOOK_PASSWORD"
        )
    authorization = headers.get("authorization", "")
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise unauthorized(
            "missing basic-auth credentials: put them in the webhook URL, https://USER:PASSWORD@host/webhooks/postmark", CHALLENGE
        )
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise unauthorized("the Authorization header is not valid basic auth", CHALLENGE) from exc
    given_user, colon, given_password = decoded.partition(b":")
    # Both comparisons run whatever the first one says.
    user_ok = same_secret(given_user, username)
    password_ok = same_secret(given_password, password.get_secret_value())
    if not (colon and user_ok and password_ok):
        raise unauthorized("wrong webhook user name or password", CHALLENGE)


@register(NAME)
def handle(headers: Mapping[str, str], raw_body: bytes, ctx: WebContext) -> list[ProviderEvent]:
    verify(headers, ctx)
    record = parse_json(raw_body)
    if not isinstance(record, dict):
        raise malformed("Postmark posts one JSON object per call; this body is not an object")
    event = parse_record(record)
    return [] if event is None else [event]


def parse_record(record: dict[str, Any]) -> ProviderEvent | None:
    """One Postmark webhook record as an event; None for records we do not act on."""
    kind = record.get("RecordType")
    if not isinstance(kind, str) or not kind:
        raise malformed("missing RecordType")
    if kind == "Bounce":
        bounce_type = text(record.get("Type")) or "Unknown"
        if bounce_type in NOT_BOUNCES:
            return None
        if bounce_type in HARD_BOUNCES:
            event_type = EventType.BOUNCED_HARD
        elif bounce_type in DELAYED:
            event_type = EventType.DEFERRED
        elif bounce_type == "SpamComplaint":
            event_type = EventType.COMPLAINED
        elif bounce_type == "Unsubscribe":
            event_type = EventType.UNSUBSCRIBED
        else:
            event_type = EventType.BOUNCED_SOFT
        reason = text(record.get("Description")) or text(record.get("Details"))
        return _event(record, event_type, "BouncedAt", f"{bounce_type}: {reason}" if reason else bounce_type, event_id=_bounce_id(record))
    if kind == "SpamComplaint":
        return _event(record, EventType.COMPLAINED, "BouncedAt", text(record.get("Details")), event_id=_bounce_id(record))
    if kind == "Delivery":
        return _event(record, EventType.DELIVERED, "DeliveredAt", text(record.get("Details")))
    if kind == "Open":
        return _event(record, EventType.OPENED, "ReceivedAt", "first open" if record.get("FirstOpen") else "")
    if kind == "Click":
        return _event(record, EventType.CLICKED, "ReceivedAt", text(record.get("OriginalLink")))
    if kind == "SubscriptionChange":
        # A reactivation (SuppressSending false) never re-subscribes anyone;
        # a manual suppression names no message and cannot be matched.
        if record.get("SuppressSending") is not True or not _has_ids(record):
            return None
        reason = text(record.get("SuppressionReason"))
        origin = text(record.get("Origin"))
        detail = f"suppressed by Postmark: {reason or 'no reason'}" + (f" ({origin})" if origin else "")
        return _event(record, EventType.UNSUBSCRIBED, "ChangedAt", detail)
    return None


def _event(record: dict[str, Any], event_type: EventType, time_field: str, detail: str, event_id: str | None = None) -> ProviderEvent:
    metadata = record.get("Metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    message_id = text(metadata.get("message_id")) or None
    delivery_id = as_delivery_id(metadata.get("delivery_id"))
    provider_message_id = text(record.get("MessageID")) or None
    if not (message_id or delivery_id or provider_message_id):
        raise malformed(f"{record['RecordType']} record names no message: no Metadata.message_id, Metadata.delivery_id or MessageID")
    return ProviderEvent(
        provider=NAME,
        type=event_type,
        occurred_at=_time(record, time_field),
        message_id=message_id,
        delivery_id=delivery_id,
        provider_message_id=provider_message_id,
        event_id=event_id,
        detail=detail,
        user_agent=user_agent(record.get("UserAgent")) if event_type in (EventType.OPENED, EventType.CLICKED) else None,
    )


def _has_ids(record: dict[str, Any]) -> bool:
    metadata = record.get("Metadata")
    ids = [record.get("MessageID")]
    if isinstance(metadata, dict):
        ids += [metadata.get("message_id"), metadata.get("delivery_id")]
    return any(ids)


def _bounce_id(record: dict[str, Any]) -> str | None:
    value = record.get("ID")
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value):
        return f"bounce:{value}"
    return None


def _time(record: dict[str, Any], field: str) -> dt.datetime:
    moment = parse_time(record.get(field))
    if moment is None:
        raise malformed(f"{record['RecordType']} record has no readable {field}")
    return moment

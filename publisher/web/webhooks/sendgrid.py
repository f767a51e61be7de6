"""SendGrid's signed Event Webhook: ECDSA P-256 over timestamp + raw body, a JSON array of events.

SendGrid signs ``timestamp + body`` (the exact bytes it posts) with its
private key; the signature (base64 DER) and the timestamp (Unix seconds) come
in the headers X-Twilio-Email-Event-Webhook-Signature and
X-Twilio-Email-Event-Webhook-Timestamp. The public key shown when "Signed
Event Webhook" is turned on goes in NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY
(base64 DER SubjectPublicKeyInfo; a PEM block works too). The signature is
checked on the raw bytes before anything is parsed, then the timestamp must
be within ``base.REPLAY_WINDOW`` of our clock either way. Within the window a
replayed call is harmless: every event is stored once by its sg_event_id.

Our send puts ``custom_args {delivery_id, message_id}`` on each
personalization (``workers/providers/sendgrid.py``); SendGrid flattens them
onto every event. ``sg_message_id`` is X-Message-Id (what we stored as the
provider's id) followed by ``.filter…``: the part before the first dot is
compared with the ledger.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

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

log = logging.getLogger(__name__)

NAME = "sendgrid"
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"

#: Events recorded as they are.
SIMPLE_EVENTS = {
    "delivered": EventType.DELIVERED,
    "deferred": EventType.DEFERRED,
    "spamreport": EventType.COMPLAINED,
    "unsubscribe": EventType.UNSUBSCRIBED,
    "group_unsubscribe": EventType.UNSUBSCRIBED,
    "open": EventType.OPENED,
    "click": EventType.CLICKED,
}

#: "dropped" means SendGrid did not even try. Only the reasons that say the
#: address itself is dead (or opted out) at SendGrid are recorded; drops for
#: our own content or account ("Invalid SMTPAPI header", "Spam Content",
#: "Recipient List over Package Quota", …) say nothing about the address.
DROPPED_REASONS = {
    "bounced address": EventType.BOUNCED_HARD,
    "invalid": EventType.BOUNCED_HARD,
    "spam reporting address": EventType.COMPLAINED,
    "unsubscribed address": EventType.UNSUBSCRIBED,
}


class KeyProblem(Exception):
    pass


@functools.lru_cache(maxsize=4)
def load_public_key(configured: str) -> ec.EllipticCurvePublicKey:
    """The verification key from its setting: base64 DER SubjectPublicKeyInfo, or PEM."""
    text = configured.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode())
        else:
            key = load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise KeyProblem(f"is not a base64 DER public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyProblem("is not an ECDSA P-256 public key")
    return key


def verify(headers: Mapping[str, str], raw_body: bytes, ctx: WebContext) -> None:
    """401 unless SendGrid's signature over timestamp + raw body is valid and the timestamp is recent."""
    configured = ctx.settings.sendgrid_webhook_public_key
    if not configured or not configured.strip():
        raise unauthorized("webhook verification key is not configured: set NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY")
    try:
        key = load_public_key(configured)
    except KeyProblem as problem:
        log.error("NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY %s", problem)
        raise unauthorized(f"the configured NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY {problem}") from None
    signature_b64 = headers.get(SIGNATURE_HEADER, "").strip()
    timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    if not signature_b64 or not timestamp:
        raise unauthorized("missing signature: X-Twilio-Email-Event-Webhook-Signature and -Timestamp are required")
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise unauthorized("X-Twilio-Email-Event-Webhook-Signature is not base64") from exc
    try:
        key.verify(signature, timestamp.encode() + raw_body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as exc:
        raise unauthorized("signature does not match the body and timestamp") from exc
    check_timestamp(timestamp, what="X-Twilio-Email-Event-Webhook-Timestamp")


@register(NAME)
def handle(headers: Mapping[str, str], raw_body: bytes, ctx: WebContext) -> list[ProviderEvent]:
    verify(headers, raw_body, ctx)
    payload = parse_json(raw_body)
    if not isinstance(payload, list):
        raise malformed("SendGrid posts a JSON array of events; this body is not an array")
    events = []
    for index, item in enumerate(payload):
        if not isinstance(item, dict):
            raise malformed(f"event {index} is not a JSON object")
        event = parse_event(index, item)
        if event is not None:
            events.append(event)
    return events


def parse_event(index: int, item: dict[str, Any]) -> ProviderEvent | None:
    """One SendGrid event as ours; None for events we do not act on (processed, group_resubscribe, …)."""
    name = item.get("event")
    if not isinstance(name, str) or not name:
        raise malformed(f"event {index} has no 'event' name")
    reason = text(item.get("reason"))
    if name in SIMPLE_EVENTS:
        event_type = SIMPLE_EVENTS[name]
        if name == "click":
            detail = text(item.get("url"))
        elif name in ("delivered", "deferred"):
            detail = text(item.get("response")) or reason
        elif name == "group_unsubscribe":
            detail = f"unsubscribe group {item.get('asm_group_id')}"
        else:
            detail = ""
    elif name == "bounce":
        # "blocked" is a temporary refusal by the receiver; "bounce" (and the
        # older events without a type) is a permanent one.
        kind = text(item.get("type")) or "bounce"
        event_type = EventType.BOUNCED_SOFT if kind == "blocked" else EventType.BOUNCED_HARD
        status = text(item.get("status"))
        detail = " ".join(part for part in (kind + ":", status, reason) if part)
    elif name == "dropped":
        mapped = DROPPED_REASONS.get(reason.lower())
        if mapped is None:
            return None
        event_type, detail = mapped, f"dropped by SendGrid: {reason}"
    else:
        return None
    occurred_at = parse_time(item.get("timestamp"))
    if occurred_at is None:
        raise malformed(f"event {index} ({name}) has no readable timestamp")
    message_id = text(item.get("message_id")) or None
    delivery_id = as_delivery_id(item.get("delivery_id"))
    provider_message_id = text(item.get("sg_message_id")).split(".", 1)[0] or None
    if not (message_id or delivery_id or provider_message_id):
        raise malformed(f"event {index} ({name}) names no message: no message_id, delivery_id or sg_message_id")
    return ProviderEvent(
        provider=NAME,
        type=event_type,
        occurred_at=occurred_at,
        message_id=message_id,
        delivery_id=delivery_id,
        provider_message_id=provider_message_id,
        event_id=text(item.get("sg_event_id")) or None,
        detail=detail,
        user_agent=user_agent(item.get("useragent")) if event_type in (EventType.OPENED, EventType.CLICKED) else None,
        # SendGrid's own verdict on an open: Apple's privacy proxy fetched it.
        machine_open=item.get("sg_machine_open") is True,
    )

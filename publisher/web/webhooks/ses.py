"""Amazon SES events, published to an SNS topic that posts to /webhooks/ses.

The SNS envelope is verified first (``sns.py``); only then is its
``Message`` read. SubscriptionConfirmation messages are confirmed by visiting
their SubscribeURL; UnsubscribeConfirmation messages are only logged.

A notification's ``Message`` is one SES record: ``eventType`` with event
publishing through a configuration set (NEWSLETTER_SES_CONFIGURATION_SET),
``notificationType`` for the older notifications set on the identity. Only
event publishing carries our ``delivery_id`` email tag in ``mail.tags``; both
carry SES's ``mail.messageId``, the provider message id of the ledger.

- Bounce: bounced_hard when ``bounceType`` is Permanent, bounced_soft for
  Transient and Undetermined; one event per bounced recipient;
- Complaint: complained, one per complaining recipient;
- Delivery, Open, Click: delivered, opened, clicked;
- DeliveryDelay: deferred, one per delayed recipient;
- Send, Reject, Rendering Failure, Subscription and anything else: ignored.

Events are de-duplicated on the SNS ``MessageId`` (the same on every retry of
one notification) plus the recipient.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from publisher.db.models import EventType
from publisher.feedback.recording import ProviderEvent
from publisher.web.deps import WebContext
from publisher.web.webhooks import sns
from publisher.web.webhooks.base import JSON, as_delivery_id, malformed, now, parse_time, register, text, user_agent

log = logging.getLogger(__name__)

PROVIDER = "ses"
SIMPLE_TYPES = {"Delivery": EventType.DELIVERED, "Open": EventType.OPENED, "Click": EventType.CLICKED}


@register(PROVIDER, content_types=("text/plain", JSON))
def handle(headers: Mapping[str, str], raw_body: bytes, ctx: WebContext) -> list[ProviderEvent]:
    envelope = sns.verified_envelope(raw_body, ctx.settings)
    if envelope.type == sns.SUBSCRIPTION_CONFIRMATION:
        sns.confirm_subscription(envelope, ctx.settings)
        return []
    if envelope.type == sns.UNSUBSCRIBE_CONFIRMATION:
        log.info("SNS topic %s unsubscribed this endpoint", envelope.topic_arn)
        return []
    return events_from(_record(envelope.message), envelope)


def events_from(record: dict[str, Any], envelope: sns.Envelope) -> list[ProviderEvent]:
    """The normalised events of one SES record (an empty list for the kinds we ignore)."""
    kind = record.get("eventType") or record.get("notificationType")
    if kind == "Bounce":
        return _bounce(record, envelope)
    if kind == "Complaint":
        return _complaint(record, envelope)
    if kind == "DeliveryDelay":
        return _delay(record, envelope)
    if isinstance(kind, str) and kind in SIMPLE_TYPES:
        return [_simple(record, envelope, SIMPLE_TYPES[kind])]
    return []


def _bounce(record: dict[str, Any], envelope: sns.Envelope) -> list[ProviderEvent]:
    bounce = _section(record, "bounce")
    kind = EventType.BOUNCED_HARD if text(bounce.get("bounceType")) == "Permanent" else EventType.BOUNCED_SOFT
    summary = "/".join(part for part in (text(bounce.get("bounceType")), text(bounce.get("bounceSubType"))) if part) or "bounce"
    occurred_at = _time(bounce.get("timestamp"), envelope)
    events = []
    for recipient in _recipients(bounce, "bouncedRecipients"):
        reason = text(recipient.get("diagnosticCode")) or text(recipient.get("status"))
        detail = f"{summary}: {reason}" if reason else summary
        events.append(_event(record, envelope, kind, occurred_at, recipient, detail))
    return events


def _complaint(record: dict[str, Any], envelope: sns.Envelope) -> list[ProviderEvent]:
    complaint = _section(record, "complaint")
    detail = text(complaint.get("complaintFeedbackType"))
    occurred_at = _time(complaint.get("timestamp"), envelope)
    return [
        _event(record, envelope, EventType.COMPLAINED, occurred_at, recipient, detail)
        for recipient in _recipients(complaint, "complainedRecipients")
    ]


def _delay(record: dict[str, Any], envelope: sns.Envelope) -> list[ProviderEvent]:
    delay = _section(record, "deliveryDelay")
    occurred_at = _time(delay.get("timestamp"), envelope)
    events = []
    for recipient in _recipients(delay, "delayedRecipients"):
        reason = text(recipient.get("diagnosticCode")) or text(recipient.get("status"))
        delay_type = text(delay.get("delayType"))
        detail = f"{delay_type or 'delayed'}: {reason}" if reason else delay_type
        events.append(_event(record, envelope, EventType.DEFERRED, occurred_at, recipient, detail))
    return events


def _simple(record: dict[str, Any], envelope: sns.Envelope, kind: EventType) -> ProviderEvent:
    section = _section(record, {EventType.DELIVERED: "delivery", EventType.OPENED: "open", EventType.CLICKED: "click"}[kind])
    detail = text(section.get("smtpResponse")) if kind is EventType.DELIVERED else text(section.get("link"))
    event = _event(record, envelope, kind, _time(section.get("timestamp"), envelope), {}, detail)
    return event if kind is EventType.DELIVERED else replace(event, user_agent=user_agent(section.get("userAgent")))


def _event(
    record: dict[str, Any], envelope: sns.Envelope, kind: EventType, occurred_at: dt.datetime, recipient: dict[str, Any], detail: str
) -> ProviderEvent:
    mail = _section(record, "mail")
    ses_id = text(mail.get("messageId")) or None
    delivery_id = as_delivery_id(_tag(mail.get("tags"), "delivery_id"))
    if ses_id is None and delivery_id is None:
        raise malformed(f"SES {kind.value} record names no message: mail.messageId and the delivery_id tag are both missing")
    address = text(recipient.get("emailAddress"))
    # SNS resends a notification with the same MessageId: with the recipient it names one event.
    event_id = f"{text(envelope.message_id)}:{address}" if address else text(envelope.message_id)
    return ProviderEvent(
        provider=PROVIDER,
        type=kind,
        occurred_at=occurred_at,
        delivery_id=delivery_id,
        provider_message_id=ses_id,
        event_id=event_id,
        detail=detail,
    )


def _record(message: str) -> dict[str, Any]:
    try:
        record = json.loads(message)
    except json.JSONDecodeError as exc:
        raise malformed(f"SNS Message is not an SES record: {exc.msg} at char {exc.pos}") from exc
    except (ValueError, RecursionError) as exc:
        raise malformed(f"SNS Message is not an SES record: {str(exc)[:200]}") from exc
    if not isinstance(record, dict):
        raise malformed("SNS Message is not an SES record (a JSON object)")
    return record


def _section(record: dict[str, Any], name: str) -> dict[str, Any]:
    value = record.get(name)
    if not isinstance(value, dict):
        raise malformed(f"SES record lacks its {name!r} object")
    return value


def _recipients(section: dict[str, Any], field: str) -> list[dict[str, Any]]:
    """The recipient entries of a section; one empty entry when it lists none (one event still)."""
    entries = section.get(field)
    listed: list[dict[str, Any]] = [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []
    return listed or [{}]


def _tag(tags: object, name: str) -> object:
    """A tag's value: event publishing sends ``{"name": ["value"]}``."""
    if not isinstance(tags, dict):
        return None
    value = tags.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _time(value: object, envelope: sns.Envelope) -> dt.datetime:
    return parse_time(value) or sns.envelope_time(envelope) or now()

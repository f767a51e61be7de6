"""The event types an endpoint can ask for, and the one error of this package."""

from __future__ import annotations

from collections.abc import Iterable

from publisher.core.errors import NewsletterError

CAMPAIGN_SENDING = "campaign.sending"
CAMPAIGN_COMPLETED = "campaign.completed"
DELIVERY_BOUNCED = "delivery.bounced"
DELIVERY_COMPLAINED = "delivery.complained"
SUBSCRIBER_CONFIRMED = "subscriber.confirmed"
SUBSCRIBER_UNSUBSCRIBED = "subscriber.unsubscribed"

#: Every event type, in the order the documentation and the console list them.
EVENT_TYPES = (
    CAMPAIGN_SENDING,
    CAMPAIGN_COMPLETED,
    DELIVERY_BOUNCED,
    DELIVERY_COMPLAINED,
    SUBSCRIBER_CONFIRMED,
    SUBSCRIBER_UNSUBSCRIBED,
)


class WebhookError(NewsletterError):
    """An endpoint or an event type that cannot be used; the message says why and what would do."""


def check_event_types(given: Iterable[str]) -> list[str]:
    """The event types asked for, each once, in the order of ``EVENT_TYPES``; WebhookError for none or an unknown one."""
    chosen = [value.strip() for value in given]
    unknown = [value for value in chosen if value not in EVENT_TYPES]
    if unknown:
        shown = ", ".join(repr(value[:60]) for value in unknown[:5])
        raise WebhookError(f"unknown event type {shown}: use one or more of {', '.join(EVENT_TYPES)}")
    if not chosen:
        raise WebhookError(f"name at least one event type: {', '.join(EVENT_TYPES)}")
    return [value for value in EVENT_TYPES if value in chosen]

"""The event platforms' webhooks: what each payload means for events, registrants and end signals.

One module per platform reads its payload: ``zoom`` and ``generic`` (Standard
Webhooks) carry everything in the verified body; ``eventbrite`` and ``luma``
only name an object, which the worker reads from the platform's API. Each
ends in a ``delivery.Delivery``, applied by ``delivery.apply_delivery``.

The web app (``publisher.web.event_hooks``) verifies and reads a call, then
puts a message on the queue; the worker hands that message to
:func:`receive_message`, which is plain domain code a test can call directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Event
from publisher.events.platforms import eventbrite, luma
from publisher.events.platforms.delivery import Applied, Delivery, apply_delivery
from publisher.events.platforms.fetching import Fetch, http_fetch
from publisher.events.platforms.values import PayloadError

SOURCES = ("zoom", "eventbrite", "luma", "generic")


def receive_message(db: Database, settings: Settings, source: str, message: dict[str, Any], fetch: Fetch | None = None) -> Applied:
    """Apply one queued delivery in one transaction; the platform's API is read first where the message only names an object.

    Raises PayloadError (the message or what the API answered cannot be
    used), EventError (the event cannot hold it), PlatformUnavailable (try
    again later) or PlatformRefused (the API refused: no use trying again).
    """
    if source not in SOURCES:
        raise PayloadError("source", f"'{source[:20]}' is not an event platform")
    if source in ("eventbrite", "luma"):
        module = eventbrite if source == "eventbrite" else luma
        delivery = module.resolve(settings, message, fetch or http_fetch(settings.http_timeout), _known_events(db, source))
    else:
        try:
            delivery = Delivery.model_validate(message)
        except ValidationError as exc:
            raise PayloadError("message", f"is not a delivery: {str(exc)[:300]}") from None
        if delivery.source != source:
            raise PayloadError("message", f"is a {delivery.source} delivery, not {source}")
    with db.transaction() as session:
        return apply_delivery(session, settings, delivery)


def _known_events(db: Database, source: str) -> Callable[[str], bool]:
    def known(event_id: str) -> bool:
        with db.transaction() as session:
            return session.scalar(select(Event.id).where(Event.source == source, Event.platform_id == event_id)) is not None

    return known

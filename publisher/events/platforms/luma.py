"""Luma: a webhook whose signing is not documented, and the guest read again from Luma's API.

Luma posts ``{"type": …, "data": {…}}``; for ``guest.*`` the data is the guest
(``id``, ``user_email``, ``approval_status``, ``event_tickets[]``, ``event``),
for ``event.*`` the event. Its per-webhook secret and signature are not
documented, so the body is believed for nothing but two ids
(:func:`read_call`): the worker reads the guest and the event from Luma's API
(:func:`resolve`) at NEWSLETTER_LUMA_BASE_URL with NEWSLETTER_LUMA_API_KEY:

- ``GET /v1/events/guests/get?event_id=<evt-…>&id=<gst-…>``: the guest;
- ``GET /v1/events/get?event_id=<evt-…>``: the event (``name``, ``start_at``,
  ``end_at``, ``timezone``, ``geo_address_json.full_address``,
  ``meeting_url``, ``url``), read on ``event.updated`` and the first time a
  guest of an event arrives.

These are the paths of Luma's OpenAPI document (public-api.luma.com/openapi.json);
answers wrapped as ``{"guest": …}`` or ``{"event": …}``, as older versions
of the API gave them, are read too.

Only ``approved`` guests are registrants. Any other status (``pending_approval``,
``waitlist``, ``invited``, ``declined``, ``session``) is not a registration:
such a guest is withdrawn if they were one before (declined after approval),
unless they checked in. A check-in (``event_tickets[].checked_in_at``) makes
them ``yes``; Luma has check-in data, so an approved guest is ``no`` until
then. ``guest.updated`` fires on check-in. The event is ``luma-<event id>``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from publisher.core.settings import Settings
from publisher.db.models import Attendance
from publisher.events.catalogue import MAX_NAME, MAX_VENUE, EventFields
from publisher.events.platforms.delivery import Delivery
from publisher.events.platforms.fetching import Fetch, PlatformRefused
from publisher.events.platforms.values import (
    PayloadError,
    email_address,
    event_fields,
    identifier,
    instant,
    one_line,
    registration,
    web_url,
    zone,
)

log = logging.getLogger(__name__)

SOURCE = "luma"
GUEST_REGISTERED = "guest.registered"
GUEST_UPDATED = "guest.updated"
EVENT_UPDATED = "event.updated"
TYPES = (GUEST_REGISTERED, GUEST_UPDATED, EVENT_UPDATED)
APPROVED = "approved"
GUEST_PATH = "/v1/events/guests/get"
EVENT_PATH = "/v1/events/get"


@dataclass(frozen=True)
class Call:
    """What the worker is to read: the webhook's type, the event's id and, for a guest, the guest's."""

    type: str
    event_id: str
    guest_id: str | None = None

    def message(self) -> dict[str, Any]:
        return {"type": self.type, "event_id": self.event_id, "guest_id": self.guest_id}


def read_call(payload: dict[str, Any]) -> Call | None:
    """The ids a webhook body names; None for a type that changes nothing here. PayloadError when unusable."""
    kind = payload.get("type")
    if not isinstance(kind, str):
        raise PayloadError("type", "is missing: a Luma webhook names its type")
    if kind not in TYPES:
        return None
    data = payload.get("data")
    if not isinstance(data, dict):
        raise PayloadError("data", "must be a JSON object")
    if kind == EVENT_UPDATED:
        return Call(kind, identifier(_id(data), "data.id"))
    event = data.get("event")
    event_id = _id(event) if isinstance(event, dict) else data.get("event_id", data.get("event_api_id"))
    return Call(kind, identifier(event_id, "data.event.id"), identifier(_id(data), "data.id"))


def resolve(settings: Settings, message: dict[str, Any], fetch: Fetch, known_event: Callable[[str], bool]) -> Delivery:
    """Read the guest (and, when needed, the event) a queued call names from Luma's API, as a Delivery."""
    api = _Api(settings, fetch)
    kind = str(message.get("type"))
    event_id = identifier(message.get("event_id"), "event_id")
    delivery: dict[str, Any] = {"source": SOURCE, "event_id": event_id}
    if kind in (GUEST_REGISTERED, GUEST_UPDATED):
        guest = _unwrap(api.get(GUEST_PATH, event_id=event_id, id=identifier(message.get("guest_id"), "guest_id")), "guest")
        checked_in_at = _check_in(guest)
        if guest.get("approval_status") == APPROVED or checked_in_at is not None:
            delivery["registrations"] = [
                registration(
                    "guest",
                    email=guest.get("user_email"),
                    first_name=guest.get("user_first_name"),
                    last_name=guest.get("user_last_name"),
                    attendance=Attendance.NO,
                    registered_at=instant(guest.get("registered_at"), "guest.registered_at"),
                    checked_in_at=checked_in_at,
                    platform_id=identifier(_id(guest), "guest.id") if _id(guest) is not None else None,
                )
            ]
        else:
            delivery["withdrawn"] = [email_address(guest.get("user_email"), "guest.user_email")]
    elif kind != EVENT_UPDATED:
        raise PayloadError("type", f"'{kind[:40]}' is not a Luma webhook type this service reads")
    if kind == EVENT_UPDATED or not known_event(event_id):
        delivery["fields"] = _event_fields(_unwrap(api.get(EVENT_PATH, event_id=event_id), "event"))
    return Delivery.model_validate(delivery)


class _Api:
    def __init__(self, settings: Settings, fetch: Fetch) -> None:
        if settings.luma_api_key is None or not settings.luma_api_key.get_secret_value():
            raise PlatformRefused("set NEWSLETTER_LUMA_API_KEY: Luma guests are read again with it")
        self.base = settings.luma_base_url.rstrip("/")
        self.headers = {"x-luma-api-key": settings.luma_api_key.get_secret_value(), "Accept": "application/json"}
        self.fetch = fetch

    def get(self, path: str, **params: str) -> dict[str, Any]:
        return self.fetch(self.base + path, headers=self.headers, params=params)


def _id(value: dict[str, Any]) -> object:
    """An object's id: ``id`` now, ``api_id`` in older payloads."""
    return value.get("id", value.get("api_id"))


def _unwrap(answer: dict[str, Any], name: str) -> dict[str, Any]:
    inner = answer.get(name)
    return inner if isinstance(inner, dict) else answer


def _check_in(guest: dict[str, Any]) -> dt.datetime | None:
    """The earliest check-in of the guest's tickets, or None."""
    tickets = guest.get("event_tickets")
    times = [
        instant(ticket.get("checked_in_at"), f"guest.event_tickets[{index}].checked_in_at")
        for index, ticket in enumerate(tickets if isinstance(tickets, list) else [])
        if isinstance(ticket, dict)
    ]
    found = [moment for moment in times if moment is not None]
    return min(found) if found else None


def _event_fields(event: dict[str, Any]) -> EventFields:
    """What the event object says, checked; an unusable detail is left out (and logged) rather than costing the delivery."""
    try:
        place = event.get("geo_address_json")
        venue = None
        if isinstance(place, dict):
            venue = one_line(place.get("full_address") or place.get("address"), "event.geo_address_json.full_address", MAX_VENUE)
        fields = EventFields(
            name=one_line(event.get("name"), "event.name", MAX_NAME),
            starts_at=instant(event.get("start_at"), "event.start_at"),
            ends_at=instant(event.get("end_at"), "event.end_at"),
            timezone=zone(event.get("timezone")),
            venue=venue,
            online_url=web_url(event.get("meeting_url")),
            url=web_url(event.get("url")),
        )
        return event_fields(fields, "event")
    except PayloadError as exc:
        log.warning("luma event %s: details not used: %s", str(_id(event))[:40], exc)
        return EventFields()

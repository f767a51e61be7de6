"""Eventbrite: a webhook that only points at an object, and the object read from Eventbrite's API.

Eventbrite signs nothing. Its webhook body is ``{"api_url": …, "config":
{"action": …, "webhook_id": …, …}}``, so nothing in it is believed: the
receiver (``publisher.web.event_hooks.eventbrite``) accepts an ``api_url``
only under NEWSLETTER_EVENTBRITE_BASE_URL and only of the shape its action
points at, and keeps nothing of it but the ids (:func:`read_call`). The
worker then reads the objects at the base URL with NEWSLETTER_EVENTBRITE_TOKEN
(:func:`resolve`) and trusts only what that answers.

- ``order.placed`` → ``orders/<id>/?expand=attendees``: every attendee of the
  order (one per ticket; ``profile.email``, ``profile.first_name``,
  ``profile.last_name``, ``created``) registered;
- ``attendee.updated``, ``attendee.checked_in`` →
  ``events/<event id>/attendees/<id>/``: the attendee, ``checked_in`` with the
  time its barcode was used (``barcodes[].status == "used"``, ``changed``). A
  cancelled or refunded attendee is withdrawn, unless another ticket of the
  same order is still theirs;
- ``event.updated`` → ``events/<id>/?expand=venue``: name (``name.text``),
  start and end (``start.utc``, ``end.utc``, ``start.timezone``), venue
  (``venue.name``, ``venue.address.localized_address_display``) and page
  (``url``). The event is read this way too the first time one of its
  orders or attendees arrives.

Eventbrite has check-in data, so a registrant is ``no`` until checked in. It
has no "event ended" action: the event's end time decides. The event is
``eventbrite-<event id>``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from publisher.core.settings import Settings
from publisher.db.models import Attendance
from publisher.events.catalogue import MAX_NAME, MAX_VENUE, EventFields
from publisher.events.platforms.delivery import Delivery
from publisher.events.platforms.fetching import Fetch, PlatformRefused
from publisher.events.platforms.urls import UrlError, path_under
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
from publisher.events.registrants import Registration

log = logging.getLogger(__name__)

SOURCE = "eventbrite"
ORDER_PLACED = "order.placed"
ATTENDEE_UPDATED = "attendee.updated"
ATTENDEE_CHECKED_IN = "attendee.checked_in"
EVENT_UPDATED = "event.updated"
#: Each action, and the shape of the API path its ``api_url`` must have (after the base URL).
ACTIONS: dict[str, re.Pattern[str]] = {
    ORDER_PLACED: re.compile(r"orders/(?P<order_id>[0-9]{1,30})/?"),
    ATTENDEE_UPDATED: re.compile(r"events/(?P<event_id>[0-9]{1,30})/attendees/(?P<attendee_id>[0-9]{1,30})/?"),
    ATTENDEE_CHECKED_IN: re.compile(r"events/(?P<event_id>[0-9]{1,30})/attendees/(?P<attendee_id>[0-9]{1,30})/?"),
    EVENT_UPDATED: re.compile(r"events/(?P<event_id>[0-9]{1,30})/?"),
}
#: An attendee with one of these statuses holds no ticket any more.
GONE = frozenset({"not attending", "deleted", "refunded", "cancelled", "transferred"})


@dataclass(frozen=True)
class Call:
    """What the worker is to read: the action and the ids taken from a checked ``api_url``."""

    action: str
    ids: dict[str, str]

    def message(self) -> dict[str, Any]:
        return {"action": self.action, **self.ids}


def read_call(settings: Settings, payload: dict[str, Any]) -> Call | None:
    """The call a webhook body asks for; None for an action that changes nothing here. PayloadError when unusable."""
    config = payload.get("config")
    action = config.get("action") if isinstance(config, dict) else None
    if not isinstance(action, str):
        raise PayloadError("config.action", "is missing: an Eventbrite webhook names its action")
    if action not in ACTIONS:
        return None
    api_url = payload.get("api_url")
    if not isinstance(api_url, str):
        raise PayloadError("api_url", "is missing: an Eventbrite webhook points at the object that changed")
    try:
        rest = path_under(settings.eventbrite_base_url, api_url)
    except UrlError as exc:
        raise PayloadError("api_url", f"{exc}; only NEWSLETTER_EVENTBRITE_BASE_URL is read") from None
    shape = ACTIONS[action].fullmatch(rest)
    if shape is None:
        raise PayloadError("api_url", f"'{rest[:80]}' is not what a {action} webhook points at")
    return Call(action, shape.groupdict())


def resolve(settings: Settings, message: dict[str, Any], fetch: Fetch, known_event: Callable[[str], bool]) -> Delivery:
    """Read what a queued call points at from Eventbrite's API, as a Delivery.

    ``known_event(event id)`` says whether the event is stored already, so
    its details are read only the first time (and on ``event.updated``).
    """
    api = _Api(settings, fetch)
    action = str(message.get("action"))
    registrations: list[Registration] = []
    withdrawn: list[str] = []
    if action == ORDER_PLACED:
        order = api.get(f"orders/{_digits(message, 'order_id')}/", expand="attendees")
        event_id = identifier(order.get("event_id"), "order.event_id")
        attendees = order.get("attendees")
        for index, attendee in enumerate(attendees if isinstance(attendees, list) else []):
            try:
                _sort(attendee, f"order.attendees[{index}]", registrations, withdrawn)
            except PayloadError as exc:
                # One unusable ticket does not cost the order's others.
                log.warning("eventbrite order %s: attendee skipped: %s", message.get("order_id"), exc)
    elif action in (ATTENDEE_UPDATED, ATTENDEE_CHECKED_IN):
        event_id = _digits(message, "event_id")
        attendee = api.get(f"events/{event_id}/attendees/{_digits(message, 'attendee_id')}/")
        _sort(attendee, "attendee", registrations, withdrawn)
        if withdrawn and _holds_another_ticket(api, attendee, withdrawn[0]):
            withdrawn = []
    elif action == EVENT_UPDATED:
        event_id = _digits(message, "event_id")
    else:
        raise PayloadError("action", f"'{action[:40]}' is not an Eventbrite action this service reads")
    fields = EventFields()
    if action in (ORDER_PLACED, EVENT_UPDATED) or not known_event(event_id):
        fields = _event_fields(api.get(f"events/{event_id}/", expand="venue"))
    return Delivery(source=SOURCE, event_id=event_id, fields=fields, registrations=registrations, withdrawn=withdrawn)


class _Api:
    def __init__(self, settings: Settings, fetch: Fetch) -> None:
        if settings.eventbrite_token is None or not settings.eventbrite_token.get_secret_value():
            raise PlatformRefused("set NEWSLETTER_EVENTBRITE_TOKEN: Eventbrite objects are read with it")
        self.base = settings.eventbrite_base_url if settings.eventbrite_base_url.endswith("/") else settings.eventbrite_base_url + "/"
        self.headers = {"Authorization": f"Bearer {settings.eventbrite_token.get_secret_value()}", "Accept": "application/json"}
        self.fetch = fetch

    def get(self, path: str, **params: str) -> dict[str, Any]:
        return self.fetch(self.base + path, headers=self.headers, params=params or None)


def _sort(attendee: object, where: str, registrations: list[Registration], withdrawn: list[str]) -> None:
    """File one attendee as a registration, or as withdrawn when their ticket is gone."""
    if not isinstance(attendee, dict):
        raise PayloadError(where, "must be a JSON object")
    profile = attendee.get("profile")
    profile = profile if isinstance(profile, dict) else {}
    if _gone(attendee):
        withdrawn.append(email_address(profile.get("email"), f"{where}.profile.email"))
        return
    checked_in_at = None
    if attendee.get("checked_in") is True:
        checked_in_at = _check_in_time(attendee, where) or dt.datetime.now(dt.UTC)
    registrations.append(
        registration(
            f"{where}.profile",
            email=profile.get("email"),
            first_name=profile.get("first_name"),
            last_name=profile.get("last_name"),
            attendance=Attendance.NO,
            registered_at=instant(attendee.get("created"), f"{where}.created"),
            checked_in_at=checked_in_at,
            platform_id=identifier(attendee["id"], f"{where}.id") if attendee.get("id") is not None else None,
        )
    )


def _gone(attendee: dict[str, Any]) -> bool:
    status = attendee.get("status")
    return attendee.get("cancelled") is True or attendee.get("refunded") is True or (isinstance(status, str) and status.lower() in GONE)


def _check_in_time(attendee: dict[str, Any], where: str) -> dt.datetime | None:
    """When the attendee's barcode was scanned: the earliest used barcode, else the attendee's last change."""
    barcodes = attendee.get("barcodes")
    used = [
        instant(barcode.get("changed"), f"{where}.barcodes[{index}].changed")
        for index, barcode in enumerate(barcodes if isinstance(barcodes, list) else [])
        if isinstance(barcode, dict) and barcode.get("status") == "used"
    ]
    times = [moment for moment in used if moment is not None]
    return min(times) if times else instant(attendee.get("changed"), f"{where}.changed")


def _holds_another_ticket(api: _Api, attendee: dict[str, Any], email: str) -> bool:
    """Whether the cancelled attendee's order still has a ticket for the same person (one order, several tickets)."""
    order_id = attendee.get("order_id")
    if not isinstance(order_id, str | int) or isinstance(order_id, bool):
        return False
    order = api.get(f"orders/{identifier(order_id, 'attendee.order_id')}/", expand="attendees")
    others = order.get("attendees")
    for other in others if isinstance(others, list) else []:
        if not isinstance(other, dict) or other.get("id") == attendee.get("id") or _gone(other):
            continue
        profile = other.get("profile")
        try:
            if email_address(profile.get("email") if isinstance(profile, dict) else None, "order.attendees.profile.email") == email:
                return True
        except PayloadError:
            continue
    return False


def _event_fields(event: dict[str, Any]) -> EventFields:
    """What the event object says, checked; an unusable detail is left out (and logged) rather than costing the delivery."""
    try:
        name = event.get("name")
        start = _part(event, "start")
        end = _part(event, "end")
        fields = EventFields(
            name=one_line(name.get("text") if isinstance(name, dict) else name, "event.name.text", MAX_NAME),
            starts_at=instant(start.get("utc"), "event.start.utc"),
            ends_at=instant(end.get("utc"), "event.end.utc"),
            timezone=zone(start.get("timezone")),
            venue=None if event.get("online_event") is True else _venue(event.get("venue")),
            url=web_url(event.get("url")),
        )
        return event_fields(fields, "event")
    except PayloadError as exc:
        log.warning("eventbrite event %s: details not used: %s", str(event.get("id"))[:40], exc)
        return EventFields()


def _part(event: dict[str, Any], name: str) -> dict[str, Any]:
    value = event.get(name)
    return value if isinstance(value, dict) else {}


def _venue(venue: object) -> str | None:
    if not isinstance(venue, dict):
        return None
    address = venue.get("address")
    parts = [
        one_line(venue.get("name"), "event.venue.name", MAX_VENUE),
        one_line(address.get("localized_address_display"), "event.venue.address", MAX_VENUE) if isinstance(address, dict) else None,
    ]
    text = ", ".join(part for part in parts if part)
    return text[:MAX_VENUE] or None


def _digits(message: dict[str, Any], name: str) -> str:
    value = message.get(name)
    if not isinstance(value, str) or not value.isdigit():
        raise PayloadError(name, "is not an Eventbrite id")
    return value

"""Eventbrite's API v3 as the worker reads it, on a loopback server (tests/fakes/server.py).

- ``GET /v3/orders/{id}/`` (``expand=attendees`` adds ``attendees``),
- ``GET /v3/events/{event_id}/attendees/{id}/``,
- ``GET /v3/events/{id}/`` (``expand=venue`` adds ``venue``),

each with ``Authorization: Bearer <TOKEN>`` (401 ``INVALID_AUTH`` otherwise)
and 404 ``NOT_FOUND`` for an id it does not hold, in Eventbrite's error shape.
The objects have the fields of Eventbrite's documented examples.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.fakes.server import FakeProviders, Handler, Reply, Request, start_fake_providers

TOKEN = "eventbrite-test-token"
ORDER = re.compile(r"/v3/orders/(?P<order>[0-9]+)/")
ATTENDEE = re.compile(r"/v3/events/(?P<event>[0-9]+)/attendees/(?P<attendee>[0-9]+)/")
EVENT = re.compile(r"/v3/events/(?P<event>[0-9]+)/")


class EventbriteApi(Handler):
    name = "eventbrite"

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.venues: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.attendees: dict[str, dict[str, Any]] = {}

    def route(self, method: str, path: str) -> bool:
        return method == "GET" and path.startswith("/v3/")

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
        code = {401: "INVALID_AUTH", 404: "NOT_FOUND", 429: "HIT_RATE_LIMIT"}.get(status, "INTERNAL_ERROR")
        return Reply(status, {"status_code": status, "error": code, "error_description": message}, headers or {})

    def handle(self, request: Request, fake: FakeProviders) -> Reply:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return self.error(401, "The OAuth token you provided was invalid.")
        expand = {part for value in request.query.get("expand", []) for part in value.split(",")}
        if match := ORDER.fullmatch(request.path):
            order = self.orders.get(match["order"])
            if order is None:
                return self.error(404, "The order you requested does not exist.")
            answer = copy.deepcopy(order)
            if "attendees" in expand:
                answer["attendees"] = [copy.deepcopy(self.attendees[id_]) for id_ in order["attendee_ids"]]
            return Reply(200, answer)
        if match := ATTENDEE.fullmatch(request.path):
            attendee = self.attendees.get(match["attendee"])
            if attendee is None or attendee["event_id"] != match["event"]:
                return self.error(404, "The attendee you requested does not exist.")
            return Reply(200, copy.deepcopy(attendee))
        if match := EVENT.fullmatch(request.path):
            event = self.events.get(match["event"])
            if event is None:
                return self.error(404, "The event you requested does not exist.")
            answer = copy.deepcopy(event)
            if "venue" in expand and event.get("venue_id") in self.venues:
                answer["venue"] = copy.deepcopy(self.venues[event["venue_id"]])
            return Reply(200, answer)
        return self.error(404, f"no such endpoint: {request.path}")

    # --- the account's data ------------------------------------------------------

    def add_event(
        self, event_id: str, name: str, *, start: str, end: str, timezone: str = "Europe/London", venue: str | None = None
    ) -> None:
        venue_id = None
        if venue is not None:
            venue_id = str(900 + len(self.venues))
            self.venues[venue_id] = {
                "id": venue_id,
                "name": venue,
                "address": {"address_1": "1 Holborn", "city": "London", "localized_address_display": "1 Holborn, London WC1"},
            }
        self.events[event_id] = {
            "id": event_id,
            "name": {"text": name, "html": name},
            "url": f"https://www.eventbrite.co.uk/e/{event_id}",
            "start": {"timezone": timezone, "local": start[:19], "utc": start},
            "end": {"timezone": timezone, "local": end[:19], "utc": end},
            "online_event": venue is None,
            "status": "live",
            "venue_id": venue_id,
        }

    def add_attendee(
        self,
        attendee_id: str,
        event_id: str,
        order_id: str,
        email: str,
        first_name: str = "",
        last_name: str = "",
        *,
        checked_in_at: str | None = None,
        cancelled: bool = False,
    ) -> dict[str, Any]:
        attendee = {
            "id": attendee_id,
            "event_id": event_id,
            "order_id": order_id,
            "created": "2026-11-01T09:00:00Z",
            "changed": checked_in_at or "2026-11-01T09:00:00Z",
            "quantity": 1,
            "profile": {"first_name": first_name, "last_name": last_name, "email": email, "name": f"{first_name} {last_name}".strip()},
            "barcodes": [
                {
                    "status": "used" if checked_in_at else "unused",
                    "barcode": f"{order_id}{attendee_id}001",
                    "created": "2026-11-01T09:00:00Z",
                    "changed": checked_in_at or "2026-11-01T09:00:00Z",
                    "checkin_type": 0,
                }
            ],
            "checked_in": checked_in_at is not None,
            "cancelled": cancelled,
            "refunded": False,
            "status": "Not Attending" if cancelled else ("Checked In" if checked_in_at else "Attending"),
            "ticket_class_name": "General Admission",
        }
        self.attendees[attendee_id] = attendee
        order = self.orders.setdefault(
            order_id,
            {
                "id": order_id,
                "event_id": event_id,
                "status": "placed",
                "email": email,
                "created": "2026-11-01T09:00:00Z",
                "attendee_ids": [],
            },
        )
        if attendee_id not in order["attendee_ids"]:
            order["attendee_ids"].append(attendee_id)
        return attendee


def start_fake_eventbrite() -> tuple[FakeProviders, EventbriteApi]:
    api = EventbriteApi()
    return start_fake_providers(api), api

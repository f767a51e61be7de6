"""Luma's public API as the worker reads it, on a loopback server (tests/fakes/server.py).

- ``GET /v1/events/guests/get?event_id=…&id=…``: the guest;
- ``GET /v1/events/get?event_id=…``: the event,

each with ``x-luma-api-key: <API_KEY>`` (401 otherwise) and 404 for what it
does not hold. The objects have the fields of Luma's OpenAPI document.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes.server import FakeProviders, Handler, Reply, Request, start_fake_providers

API_KEY = "luma-test-api-key"


class LumaApi(Handler):
    name = "luma"

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.guests: dict[tuple[str, str], dict[str, Any]] = {}

    def route(self, method: str, path: str) -> bool:
        return method == "GET" and path in ("/v1/events/guests/get", "/v1/events/get")

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
        return Reply(status, {"message": message}, headers or {})

    def handle(self, request: Request, fake: FakeProviders) -> Reply:
        if request.headers.get("x-luma-api-key") != API_KEY:
            return self.error(401, "Invalid API key")
        event_id = (request.query.get("event_id") or [""])[0]
        if request.path == "/v1/events/get":
            event = self.events.get(event_id)
            return Reply(200, copy.deepcopy(event)) if event else self.error(404, "Event not found")
        guest = self.guests.get((event_id, (request.query.get("id") or [""])[0]))
        return Reply(200, copy.deepcopy(guest)) if guest else self.error(404, "Guest not found")

    def add_event(self, event_id: str, name: str, *, start: str, end: str, timezone: str = "Europe/Paris") -> dict[str, Any]:
        event = {
            "platform": "luma",
            "id": event_id,
            "name": name,
            "start_at": start,
            "end_at": end,
            "timezone": timezone,
            "geo_address_json": {"address": "Station F", "full_address": "Station F, 5 Parvis Alan Turing, Paris", "city": "Paris"},
            "meeting_url": None,
            "location_type": "offline",
            "url": f"https://luma.com/{event_id[-6:]}",
            "visibility": "public",
        }
        self.events[event_id] = event
        return event

    def add_guest(
        self,
        event_id: str,
        guest_id: str,
        email: str,
        first_name: str = "",
        last_name: str = "",
        *,
        status: str = "approved",
        checked_in_at: str | None = None,
    ) -> dict[str, Any]:
        guest = {
            "id": guest_id,
            "user_id": f"usr-{guest_id}",
            "user_email": email,
            "user_name": f"{first_name} {last_name}".strip() or None,
            "user_first_name": first_name or None,
            "user_last_name": last_name or None,
            "approval_status": status,
            "registered_at": "2026-11-02T10:00:00.000Z",
            "invited_at": None,
            "registration_answers": [],
            "event_tickets": [{"id": f"tkt-{guest_id}", "amount": 0, "currency": None, "checked_in_at": checked_in_at, "name": "Standard"}],
        }
        self.guests[(event_id, guest_id)] = guest
        return guest


def start_fake_luma() -> tuple[FakeProviders, LumaApi]:
    api = LumaApi()
    return start_fake_providers(api), api

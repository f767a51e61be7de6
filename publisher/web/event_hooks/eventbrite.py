"""Eventbrite at POST /webhooks/events/eventbrite/{NEWSLETTER_EVENTBRITE_WEBHOOK_KEY}.

Eventbrite signs nothing, so the secret last part of the URL is the only
proof a call comes from the webhook configured there (compared in constant
time; 401 without it, and while the setting is unset). Even then nothing in
the body is believed: its ``api_url`` must lie under
NEWSLETTER_EVENTBRITE_BASE_URL and have the shape its action points at
(``publisher.events.platforms.eventbrite.read_call``), and only the ids in it
are queued. The worker reads the objects from Eventbrite's API with
NEWSLETTER_EVENTBRITE_TOKEN; without that setting the call gets 503, so
Eventbrite delivers it again once it is set.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from publisher.core.settings import Settings
from publisher.events.platforms import eventbrite
from publisher.web.event_hooks import keyed
from publisher.web.event_hooks.receiving import BODY, RESPONSES, receive

router = APIRouter()


def _read(settings: Settings, payload: dict[str, Any]) -> keyed.Call | None:
    call = eventbrite.read_call(settings, payload)
    return None if call is None else (call.action, call.message())


def _action(payload: dict[str, Any]) -> object:
    config = payload.get("config")
    return config.get("action") if isinstance(config, dict) else None


PLATFORM = keyed.KeyedPlatform("Eventbrite", "eventbrite_webhook_key", "eventbrite_token", _read, _action)


@router.post(
    "/webhooks/events/eventbrite/{key}",
    summary="Receive an Eventbrite webhook",
    description="The last part of the URL is NEWSLETTER_EVENTBRITE_WEBHOOK_KEY; objects are read from Eventbrite's API (docs/events.md).",
    responses=RESPONSES,
    openapi_extra={"requestBody": BODY},
)
async def eventbrite_webhook(request: Request, key: str) -> JSONResponse:
    return await receive(request, eventbrite.SOURCE, partial(keyed.check, PLATFORM, key))

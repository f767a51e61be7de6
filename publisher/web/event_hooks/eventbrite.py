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

from collections.abc import Mapping
from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from publisher.events.platforms import eventbrite
from publisher.web.deps import WebContext
from publisher.web.event_hooks.receiving import (
    BODY,
    RESPONSES,
    Outcome,
    check_key,
    ignored,
    json_object,
    queued,
    receive,
    require_json,
    require_setting,
)

router = APIRouter()

PLATFORM = "Eventbrite"


@router.post(
    "/webhooks/events/eventbrite/{key}",
    summary="Receive an Eventbrite webhook",
    description="The last part of the URL is NEWSLETTER_EVENTBRITE_WEBHOOK_KEY; objects are read from Eventbrite's API (docs/events.md).",
    responses=RESPONSES,
    openapi_extra={"requestBody": BODY},
)
async def eventbrite_webhook(request: Request, key: str) -> JSONResponse:
    return await receive(request, eventbrite.SOURCE, partial(check, key))


def check(key: str, headers: Mapping[str, str], raw_body: bytes, context: WebContext) -> Outcome:
    settings = context.settings
    check_key(key, settings.eventbrite_webhook_key, "NEWSLETTER_EVENTBRITE_WEBHOOK_KEY", PLATFORM)
    require_json(headers, PLATFORM)
    payload = json_object(raw_body, PLATFORM)
    call = eventbrite.read_call(settings, payload)
    if call is None:
        config = payload.get("config")
        return ignored(config.get("action") if isinstance(config, dict) else None, PLATFORM)
    require_setting(settings.eventbrite_token, "NEWSLETTER_EVENTBRITE_TOKEN", PLATFORM)
    return queued(call.action, call.message())

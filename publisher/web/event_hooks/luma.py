"""Luma at POST /webhooks/events/luma/{NEWSLETTER_LUMA_WEBHOOK_KEY}.

Luma's webhook signature is not documented, so the secret last part of the
URL is what admits a call (compared in constant time; 401 without it, and
while the setting is unset), and the body is believed for nothing but the
ids of the guest and the event (``publisher.events.platforms.luma.read_call``).
The worker reads both again from Luma's API with NEWSLETTER_LUMA_API_KEY;
without that setting the call gets 503, so Luma delivers it again once it is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from publisher.events.platforms import luma
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

PLATFORM = "Luma"


@router.post(
    "/webhooks/events/luma/{key}",
    summary="Receive a Luma webhook",
    description="The last part of the URL is NEWSLETTER_LUMA_WEBHOOK_KEY; the guest is read again from Luma's API. See docs/events.md.",
    responses=RESPONSES,
    openapi_extra={"requestBody": BODY},
)
async def luma_webhook(request: Request, key: str) -> JSONResponse:
    return await receive(request, luma.SOURCE, partial(check, key))


def check(key: str, headers: Mapping[str, str], raw_body: bytes, context: WebContext) -> Outcome:
    settings = context.settings
    check_key(key, settings.luma_webhook_key, "NEWSLETTER_LUMA_WEBHOOK_KEY", PLATFORM)
    require_json(headers, PLATFORM)
    payload = json_object(raw_body, PLATFORM)
    call = luma.read_call(payload)
    if call is None:
        return ignored(payload.get("type"), PLATFORM)
    require_setting(settings.luma_api_key, "NEWSLETTER_LUMA_API_KEY", PLATFORM)
    return queued(call.type, call.message())

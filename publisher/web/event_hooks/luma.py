"""Luma at POST /webhooks/events/luma/{NEWSLETTER_LUMA_WEBHOOK_KEY}.

Luma's webhook signature is not documented, so the secret last part of the
URL is what admits a call (compared in constant time; 401 without it, and
while the setting is unset), and the body is believed for nothing but the
ids of the guest and the event (``publisher.events.platforms.luma.read_call``).
The worker reads both again from Luma's API with NEWSLETTER_LUMA_API_KEY;
without that setting the call gets 503, so Luma delivers it again once it is set.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from publisher.core.settings import Settings
from publisher.events.platforms import luma
from publisher.web.event_hooks import keyed
from publisher.web.event_hooks.receiving import BODY, RESPONSES, receive

router = APIRouter()


def _read(_settings: Settings, payload: dict[str, Any]) -> keyed.Call | None:
    call = luma.read_call(payload)
    return None if call is None else (call.type, call.message())


PLATFORM = keyed.KeyedPlatform("Luma", "luma_webhook_key", "luma_api_key", _read, lambda payload: payload.get("type"))


@router.post(
    "/webhooks/events/luma/{key}",
    summary="Receive a Luma webhook",
    description="The last part of the URL is NEWSLETTER_LUMA_WEBHOOK_KEY; the guest is read again from Luma's API. See docs/events.md.",
    responses=RESPONSES,
    openapi_extra={"requestBody": BODY},
)
async def luma_webhook(request: Request, key: str) -> JSONResponse:
    return await receive(request, luma.SOURCE, partial(keyed.check, PLATFORM, key))

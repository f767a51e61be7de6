"""Zoom webinars at POST /webhooks/events/zoom, signed with the app's secret token.

Every call carries ``x-zm-request-timestamp`` and ``x-zm-signature``: ``v0=``
and the hex HMAC-SHA256, keyed with NEWSLETTER_ZOOM_WEBHOOK_SECRET, of
``v0:{timestamp}:{raw body}``. It is checked, and a timestamp more than 5
minutes from our clock refused, before anything in the body is read: the
URL validation challenge included, since answering an unsigned challenge
would hand anyone the HMAC of a value they chose, which is a valid signature.

``endpoint.url_validation`` is answered at once with ``{"plainToken",
"encryptedToken": hex HMAC-SHA256(secret, plainToken)}``; the webinar events
(``publisher.events.platforms.zoom``) go to the queue.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from publisher.events.platforms import zoom
from publisher.web.deps import WebContext
from publisher.web.event_hooks.receiving import BODY, RESPONSES, Outcome, ignored, json_object, queued, receive, require_json
from publisher.web.inbound import check_timestamp, malformed, now, same_secret, unauthorized

router = APIRouter()

PLATFORM = "Zoom"
#: Zoom's own advice: refuse a call whose timestamp is more than 5 minutes from our clock.
WINDOW = dt.timedelta(minutes=5)
#: A timestamp this large is in milliseconds, not seconds.
MILLISECONDS = 10**11
MAX_PLAIN_TOKEN = 256


@router.post(
    "/webhooks/events/zoom",
    summary="Receive a Zoom webinar event",
    description="Signed by Zoom (x-zm-signature) and checked before anything is read; see docs/events.md.",
    responses=RESPONSES,
    openapi_extra={"requestBody": BODY},
)
async def zoom_webhook(request: Request) -> JSONResponse:
    return await receive(request, zoom.SOURCE, check)


def check(headers: Mapping[str, str], raw_body: bytes, context: WebContext) -> Outcome:
    secret = _secret(context)
    verify(headers, raw_body, secret)
    require_json(headers, PLATFORM)
    payload = json_object(raw_body, PLATFORM)
    kind = payload.get("event")
    if kind == zoom.URL_VALIDATION:
        return Outcome(_validation_answer(payload, secret))
    delivery = zoom.read(payload, raw_body, now())
    if delivery is None:
        return ignored(kind, PLATFORM)
    return queued(str(kind), delivery.message())


def verify(headers: Mapping[str, str], raw_body: bytes, secret: bytes) -> None:
    """401 unless the call is signed with ``secret`` within the last 5 minutes."""
    signature = headers.get("x-zm-signature") or ""
    timestamp = headers.get("x-zm-request-timestamp") or ""
    missing = [name for name, value in (("x-zm-signature", signature), ("x-zm-request-timestamp", timestamp)) if not value]
    if missing:
        raise unauthorized(f"unsigned Zoom webhook: missing {', '.join(missing)}")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 16:
        raise unauthorized("x-zm-request-timestamp is not a Unix time")
    seconds = int(timestamp) / 1000 if int(timestamp) > MILLISECONDS else int(timestamp)
    check_timestamp(seconds, window=WINDOW, what="x-zm-request-timestamp")
    expected = "v0=" + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + raw_body, hashlib.sha256).hexdigest()
    if not same_secret(signature.encode(errors="replace"), expected.encode()):
        raise unauthorized("Zoom signature refused: x-zm-signature does not match the body and timestamp")


def _secret(context: WebContext) -> bytes:
    configured = context.settings.zoom_webhook_secret
    secret = configured.get_secret_value() if configured is not None else ""
    if not secret:
        raise unauthorized("Zoom webhooks are not accepted: set NEWSLETTER_ZOOM_WEBHOOK_SECRET to the app's secret token")
    return secret.encode()


def _validation_answer(payload: dict[str, Any], secret: bytes) -> dict[str, Any]:
    body = payload.get("payload")
    plain = body.get("plainToken") if isinstance(body, dict) else None
    if not isinstance(plain, str) or not plain or len(plain) > MAX_PLAIN_TOKEN:
        raise malformed(f"payload.plainToken must be text of 1 to {MAX_PLAIN_TOKEN} characters")
    return {"plainToken": plain, "encryptedToken": hmac.new(secret, plain.encode(), hashlib.sha256).hexdigest()}

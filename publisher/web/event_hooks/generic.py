"""Any other platform at POST /webhooks/events/generic, signed per the Standard Webhooks specification.

Every call carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` of ``{id}.{timestamp}.{body}``
under the ``whsec_`` secret NEWSLETTER_EVENTS_WEBHOOK_SECRET; several
space-separated signatures while a secret is rotated). The ``standardwebhooks``
library checks it, and refuses timestamps more than 5 minutes from our
clock, before the body is read. ``webhook-id`` is the delivery's id: the
same id delivered twice is applied once. The four event types and their
JSON Schema: ``publisher.events.platforms.generic`` and docs/events.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from publisher.events.platforms import generic
from publisher.web.deps import WebContext
from publisher.web.event_hooks.receiving import BODY, RESPONSES, Outcome, ignored, json_object, queued, receive, require_json
from publisher.web.inbound import now, unauthorized, whsec_key

router = APIRouter()

PLATFORM = "Standard Webhooks"
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@router.post(
    "/webhooks/events/generic",
    summary="Receive an event platform's Standard Webhooks call",
    description="Signed per Standard Webhooks with NEWSLETTER_EVENTS_WEBHOOK_SECRET; types and schemas in docs/events.md.",
    responses=RESPONSES,
    openapi_extra={"requestBody": BODY},
)
async def generic_webhook(request: Request) -> JSONResponse:
    return await receive(request, generic.SOURCE, check)


def check(headers: Mapping[str, str], raw_body: bytes, context: WebContext) -> Outcome:
    webhook_id = verify(headers, raw_body, whsec_key(context.settings.events_webhook_secret, "NEWSLETTER_EVENTS_WEBHOOK_SECRET", PLATFORM))
    require_json(headers, PLATFORM)
    payload = json_object(raw_body, PLATFORM)
    delivery = generic.read(payload, webhook_id, now())
    if delivery is None:
        return ignored(payload.get("type"), PLATFORM)
    return queued(str(payload["type"]), delivery.message())


def verify(headers: Mapping[str, str], raw_body: bytes, key: bytes) -> str:
    """401 unless the call is signed with ``key`` within the last 5 minutes; return its ``webhook-id``."""
    signed = {name: headers.get(name) or "" for name in SIGNATURE_HEADERS}
    missing = [name for name, value in signed.items() if not value]
    if missing:
        raise unauthorized(f"unsigned webhook: missing {', '.join(missing)}")
    try:
        Webhook(key).verify(raw_body, signed, json_parse=False)
    except WebhookVerificationError as exc:
        raise unauthorized(f"Standard Webhooks signature refused: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise unauthorized(f"Standard Webhooks signature refused: unreadable headers ({type(exc).__name__})") from exc
    return signed["webhook-id"]

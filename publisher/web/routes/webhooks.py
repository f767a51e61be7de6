"""Provider webhooks at /webhooks/{provider}: verified first, then parsed and recorded.

Each provider has a module in ``publisher.web.webhooks`` that registers its
handler with ``base.register`` (see ``base.py`` for the contract); every
module there is imported below, so adding a provider is adding its module. The
route:

1. 404 for a provider with no handler, naming the ones there are;
2. reads the raw body (so the body limit applies: 413 above it);
3. 415 unless the content type is one the provider posts (JSON for most);
4. the handler verifies the signature before it parses anything (401, nothing
   changes) and turns the body into events (400 for a body it cannot read);
5. records the events in one transaction: 404 and nothing stored when every
   event is about a message we never sent, otherwise 200 with the report.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from publisher.feedback.recording import ProviderEvent, RecordReport, record_events
from publisher.web import webhooks
from publisher.web.deps import WebContext, web_context
from publisher.web.webhooks.base import HANDLERS, WebhookProvider, WebhookRejected

log = logging.getLogger(__name__)

router = APIRouter()


def load_providers() -> list[str]:
    """Import every module of ``publisher.web.webhooks``; return the names of the handlers they registered.

    A provider is whatever registers a handler: support modules (``base``,
    ``sns``) register none, so no list of exclusions has to be kept.
    """
    for module in pkgutil.iter_modules(webhooks.__path__):
        importlib.import_module(f"{webhooks.__name__}.{module.name}")
    return sorted(HANDLERS)


# Before the route is declared, so that its document lists the providers.
load_providers()


class _NothingMatched(Exception):
    """Raised inside the transaction so that it is rolled back."""

    def __init__(self, report: RecordReport) -> None:
        super().__init__("no delivery matches")
        self.report = report


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Events recorded: counts of recorded, duplicate and unknown events, suppressions and unsubscribes."},
    400: {"description": "The body is not what the provider sends (malformed JSON, missing fields)."},
    401: {"description": "Missing or wrong signature or credentials, a stale timestamp or a replayed token. Nothing changed."},
    404: {"description": "Unknown provider, or no event matches a delivery we sent. Nothing stored."},
    408: {"description": "The body did not arrive within NEWSLETTER_REQUEST_BODY_TIMEOUT; the connection is closed."},
    413: {"description": "Body larger than NEWSLETTER_MAX_REQUEST_BYTES."},
    415: {"description": "Content type other than the one the provider posts."},
}


#: The body is read raw (signatures cover its exact bytes); the document still says what is posted.
_BODY = {"required": True, "content": {"application/json": {"schema": {"description": "The provider's event payload, as it posts it."}}}}
Provider = Annotated[str, Path(description="The provider's name.", json_schema_extra={"enum": sorted(HANDLERS)})]


@router.post(
    "/webhooks/{provider}",
    summary="Receive a provider's event webhook",
    description="Verified (signature or credentials) before anything is parsed; see docs/webhooks.md.",
    responses=_RESPONSES,
    openapi_extra={"requestBody": _BODY},
)
async def receive_webhook(provider: Provider, request: Request) -> JSONResponse:
    webhook = HANDLERS.get(provider)
    if webhook is None:
        known = sorted(HANDLERS)
        return JSONResponse(
            {"detail": f"no webhook for provider {provider[:40]!r}; known providers: {', '.join(known)}", "providers": known},
            status_code=404,
        )
    raw_body = await request.body()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in webhook.content_types:
        wanted = " or ".join(webhook.content_types)
        got = media_type or "no content type"
        return JSONResponse({"detail": f"{provider} webhooks must be sent as {wanted}, not {got}"}, status_code=415)
    context = web_context(request)
    try:
        report = await run_in_threadpool(_handle, webhook, request.headers, raw_body, context)
    except WebhookRejected as rejected:
        if rejected.status >= 500 or rejected.status == 401:
            log.warning("%s webhook refused (%d): %s", provider, rejected.status, rejected.message)
        return JSONResponse({"detail": rejected.message}, status_code=rejected.status, headers=rejected.headers)
    except _NothingMatched as nothing:
        return JSONResponse({"detail": f"no delivery matches {', '.join(nothing.report.unknown)}"}, status_code=404)
    return JSONResponse(report.as_dict())


def _handle(webhook: WebhookProvider, headers: Headers, raw_body: bytes, context: WebContext) -> RecordReport:
    events: list[ProviderEvent] = webhook.handle(headers, raw_body, context)
    try:
        with context.db.transaction() as session:
            report = record_events(session, context.settings, events)
            if events and len(report.unknown) == len(events):
                raise _NothingMatched(report)
    except BaseException:
        if webhook.on_failure is not None:
            try:
                webhook.on_failure(headers, raw_body, context)
            except Exception:
                log.exception("%s webhook: undo after a failed call failed", webhook.name)
        raise
    return report

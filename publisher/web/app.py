"""The web application: ``newsletter serve`` runs it under uvicorn.

Subscriber-facing routes answer with small HTML pages; the webhooks answer
with JSON, and the HTTP API under /v1 with JSON and, for errors, RFC 9457
problems. Every error is a 4xx with a message that says what is wrong, never
a stack trace.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from publisher.core.branding import Brand
from publisher.core.settings import Settings
from publisher.sending import ProviderCheck
from publisher.web.access_log import redact_path
from publisher.web.api import campaigns as api_campaigns
from publisher.web.api import lists as api_lists
from publisher.web.api import problems
from publisher.web.api import sends as api_sends
from publisher.web.console import admin as console_admin
from publisher.web.console import admin_tokens as console_admin_tokens
from publisher.web.console import admin_users as console_admin_users
from publisher.web.console import admin_webhooks as console_admin_webhooks
from publisher.web.console import campaign_page, controls, draft_import, drafts, export, previews, sends, signin, winners
from publisher.web.console import campaigns as console_campaigns
from publisher.web.console import events as console_events
from publisher.web.console import events_import as console_events_import
from publisher.web.console import home as console_home
from publisher.web.console import lists as console_lists
from publisher.web.console import subscribers as console_subscribers
from publisher.web.console import suppressions as console_suppressions
from publisher.web.console.auth import SignInRequired, sign_in_location
from publisher.web.console.uploads import UPLOAD_PATHS
from publisher.web.deps import WebContext, web_context
from publisher.web.event_hooks import eventbrite as eventbrite_hook
from publisher.web.event_hooks import generic as generic_hook
from publisher.web.event_hooks import luma as luma_hook
from publisher.web.event_hooks import zoom as zoom_hook
from publisher.web.limits import BodySizeLimit, BodyTimeLimit
from publisher.web.metrics import serve_metrics
from publisher.web.readiness import readiness
from publisher.web.redirects import RelativeRedirects
from publisher.web.render import message_page
from publisher.web.routes import archive, calendar, pages, preferences, subscribe, tracking, view, webhooks
from templates import TEMPLATES_DIR

log = logging.getLogger(__name__)

#: The console's sign-in, front door and campaigns list.
CONSOLE_BASICS = (signin, console_home, console_campaigns)
#: The console's campaign pages; ``drafts``, ``draft_import`` and ``previews`` come before the
#: campaign page so that /campaigns/new and /campaigns/preview are not read as ids.
CAMPAIGN_PAGES = (drafts, draft_import, previews, sends, controls, winners, export, campaign_page)
#: The HTTP API, under ``/v1``.
API_ROUTES = (api_campaigns, api_sends, api_lists)
#: The console's events, lists, subscribers, suppressions and admin pages.
AUDIENCE_PAGES = (
    console_events,
    console_events_import,
    console_lists,
    console_subscribers,
    console_suppressions,
    console_admin,
    console_admin_users,
    console_admin_tokens,
    console_admin_webhooks,
)

#: The event platforms' webhooks, under /webhooks/events (apart from the providers').
EVENT_HOOKS = (zoom_hook, eventbrite_hook, luma_hook, generic_hook)

#: Routes whose callers are people with a browser, not programs.
HTML_PREFIXES = ("/unsubscribe", "/preferences", "/view", "/confirm", "/archive", "/console", "/t/")


def create_app(settings: Settings, provider_check: ProviderCheck, *, metrics_host: str | None = None) -> FastAPI:
    """The app; ``provider_check`` checks a provider before a draft is sent through it (``workers.providers.check_provider``).

    With ``metrics_host``, the app serves the cluster's Prometheus gauges on
    that host and NEWSLETTER_WEB_METRICS_PORT while it runs (``newsletter
    serve`` passes its own host); the public app has no /metrics.
    """
    context = WebContext.build(settings, provider_check)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        metrics = serve_metrics(settings, context.db, metrics_host) if metrics_host is not None else None
        try:
            yield
        finally:
            if metrics is not None:
                metrics.stop()
            context.close()

    app = FastAPI(
        title="Newsletter",
        summary="Subscriber links, sign-up, the public archive, provider webhooks and the HTTP API (/v1).",
        version="1.0",
        lifespan=lifespan,
    )
    app.state.context = context
    imports = ("POST", api_lists.IMPORT_PATH, max(settings.max_import_bytes, settings.max_request_bytes))
    uploads = [("POST", re.escape(path), max(settings.max_import_bytes, settings.max_request_bytes)) for path in UPLOAD_PATHS]
    app.add_middleware(BodySizeLimit, limit=settings.max_request_bytes, larger=[imports, *uploads])
    app.add_middleware(BodyTimeLimit, timeout=settings.request_body_timeout)
    app.add_middleware(RelativeRedirects)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.mount("/console/static", StaticFiles(directory=TEMPLATES_DIR / "static"), name="console-static")
    # The one place routers are gathered; the order is the order of /docs.
    for routes in (
        pages,
        preferences,
        view,
        tracking,
        archive,
        calendar,
        subscribe,
        *EVENT_HOOKS,
        webhooks,
        *CONSOLE_BASICS,
        *CAMPAIGN_PAGES,
        *AUDIENCE_PAGES,
    ):
        app.include_router(routes.router)
    for api in API_ROUTES:
        app.include_router(api.router, prefix=problems.PREFIX)
    problems.document(app)

    @app.get("/healthz", response_class=PlainTextResponse, summary="Liveness check")
    def healthz() -> str:
        return "ok"

    @app.get(
        "/readyz",
        summary="Readiness check",
        description="200 when the database and Redis answer and the schema is current; 503 naming the failed checks.",
        responses={503: {"description": "Not ready: `failed` names the checks that failed."}},
    )
    def readyz() -> JSONResponse:
        ready = readiness(settings, context.db)
        return JSONResponse(ready.as_dict(), status_code=200 if ready.ready else 503, headers={"Cache-Control": "no-store"})

    return app


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(sign_in_location(exc.next_path), status_code=303)


def _wants_html(request: Request) -> bool:
    return request.url.path.startswith(HTML_PREFIXES)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if problems.is_api(request.url.path):
        return problems.problem_response(exc)
    if _wants_html(request):
        return message_page(_title(exc.status_code), str(exc.detail), exc.status_code, brand=_brand(request))
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if problems.is_api(request.url.path):
        return problems.invalid_response([(".".join(str(part) for part in error["loc"]), error["msg"]) for error in exc.errors()])
    found = [f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()]
    if _wants_html(request):
        return message_page("That did not work", "; ".join(found), 400, brand=_brand(request))
    return JSONResponse({"detail": found}, status_code=422)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, redact_path(request.url.path))
    if problems.is_api(request.url.path):
        return problems.unexpected_response()
    if _wants_html(request):
        return message_page("Something went wrong", "Please try again in a few minutes.", 500, brand=_brand(request))
    return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)


def _brand(request: Request) -> Brand:
    return web_context(request).settings.brand


def _title(status_code: int) -> str:
    titles = {
        400: "This link is not valid",
        404: "Not found",
        408: "The request took too long",
        410: "This link has expired",
        413: "Too large",
        429: "Too many requests",
    }
    return titles.get(status_code, "That did not work")

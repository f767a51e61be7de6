"""Double opt-in: POST /subscribe and the signed confirm link.

POST /subscribe takes a browser form (urlencoded or multipart: an HTML page
answers) or JSON (JSON answers). Every valid request for a public list gets
the same answer, whatever the address's state (see ``publisher.audience.signup``).
Each client IP may post NEWSLETTER_SUBSCRIBE_IP_LIMIT sign-ups an hour; more
get 429 with Retry-After. The per-address limit answers as usual and sends
nothing. No accepted sign-up is answered sooner than
NEWSLETTER_SUBSCRIBE_ANSWER_SECONDS after it arrived, and its confirmation is
queued after the answer, on a thread of the app's own, so neither the answer
nor its timing (nor that of the next request) tells an address's state.

GET /confirm/{token} only shows a button: mail scanners fetch every link in a
message, so a GET must not confirm. The button posts to the same URL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from itsdangerous import BadSignature, SignatureExpired
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from publisher.audience.lists import ListNameError, check_list_name
from publisher.audience.signup import (
    Confirmation,
    InvalidSignup,
    SignupRequest,
    address_limit,
    confirm_subscription,
    confirmation_state,
    request_subscription,
)
from publisher.core.errors import NotFoundError
from publisher.core.links import CONFIRM, LinkTarget
from publisher.core.throttle import HourlyLimit
from publisher.db.models import MailingList
from publisher.ledger.confirmation import write_confirmation
from publisher.ledger.welcome import WelcomeIssues
from publisher.web.deps import Context, WebContext, client_ip, web_context
from publisher.web.render import message_page, page

log = logging.getLogger(__name__)

router = APIRouter(tags=["sign-up"])

JSON_TYPE = "application/json"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
FORM_FIELDS = ("email", "list", "first_name", "last_name")
NAME_DESCRIPTION = "Becomes the subscriber's when this request's confirm link is used, unless they are confirmed on a list already."

#: The one answer to every accepted sign-up: true whatever happened behind it.
ACCEPTED = "If this address can be subscribed, a confirmation link is on its way to it. The subscription starts when the link is confirmed."
CONFIRM_TITLES = {
    "pending": "Confirm your subscription",
    "confirmed": "Subscribed",
    "unsubscribed": "Subscription cancelled",
    "gone": "Nothing to confirm",
}
INVALID_LINK = "The link is incomplete or has been changed. Copy the whole link from the email, or sign up again."


class SubscribeBody(BaseModel):
    """A sign-up sent as JSON."""

    model_config = ConfigDict(extra="forbid", title="SubscribeBody")

    email: str = Field(max_length=320, description="The address to subscribe; a confirmation link is sent to it.")
    list_name: str = Field(alias="list", min_length=1, max_length=100, description="Name of a public list.")
    first_name: str | None = Field(None, max_length=200, description=NAME_DESCRIPTION)
    last_name: str | None = Field(None, max_length=200, description=NAME_DESCRIPTION)

    @field_validator("list_name")
    @classmethod
    def _possible_list_name(cls, value: str) -> str:
        # A name no list can have (a line break, an escape sequence, U+2028)
        # is refused as bad input before it reaches a query.
        try:
            check_list_name(value)
        except ListNameError as exc:
            raise PydanticCustomError("list_name", str(exc)) from None
        return value


class SubscribeAccepted(BaseModel):
    """The answer to every accepted sign-up, whether or not an email was sent."""

    status: Literal["pending_confirmation"] = "pending_confirmation"
    detail: str = ACCEPTED


_FORM_SCHEMA = {
    "type": "object",
    "required": ["email", "list"],
    "properties": {
        "email": {"type": "string", "maxLength": 320},
        "list": {"type": "string", "maxLength": 100},
        "first_name": {"type": "string", "maxLength": 200},
        "last_name": {"type": "string", "maxLength": 200},
    },
}
_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            JSON_TYPE: {"schema": SubscribeBody.model_json_schema(by_alias=True)},
            **{form: {"schema": _FORM_SCHEMA} for form in FORM_TYPES},
        },
    }
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Form sign-up accepted: an HTML page asking to check the inbox.", "content": {"text/html": {}}},
    202: {"description": "JSON sign-up accepted; the same answer for every address (nothing tells whether it was sent)."},
    400: {"description": "Malformed JSON; or, for a form, a missing or invalid field (HTML page)."},
    404: {"description": "No public list of that name."},
    408: {"description": "The body did not arrive within NEWSLETTER_REQUEST_BODY_TIMEOUT; the connection is closed."},
    413: {"description": "Body larger than NEWSLETTER_MAX_REQUEST_BYTES."},
    415: {"description": "Neither JSON nor a form."},
    422: {"description": "JSON with a missing or invalid field, or an invalid address, with the reason. Nothing was written."},
    429: {"description": "Too many sign-ups from this client IP this hour; Retry-After says when to try again."},
}


class _Refused(Exception):
    """A sign-up answered with an error before anything was written."""

    def __init__(self, status: int, problems: list[str], headers: dict[str, str] | None = None) -> None:
        super().__init__("; ".join(problems))
        self.status = status
        self.problems = problems
        self.headers = headers or {}


@router.get("/subscribe", response_class=HTMLResponse, summary="A small sign-up form for one public list")
def subscribe_form(ctx: Context, list_name: Annotated[str, Query(alias="list", max_length=100)] = "") -> HTMLResponse:
    mailing_list = None
    if _possible_list_name(list_name):
        with ctx.db.transaction() as session:
            mailing_list = session.scalar(select(MailingList).where(MailingList.name == list_name.strip()))
    if mailing_list is None or not mailing_list.public:
        return message_page("Not found", "There is no public list of that name to subscribe to.", 404, brand=ctx.settings.brand)
    title = f"Subscribe to {mailing_list.name}"
    return page(
        "subscribe.html.j2", brand=ctx.settings.brand, title=title, list_name=mailing_list.name, description=mailing_list.description
    )


def _possible_list_name(name: str) -> bool:
    try:
        check_list_name(name)
    except ListNameError:
        return False
    return True


@router.post(
    "/subscribe",
    status_code=202,
    response_model=SubscribeAccepted,
    summary="Sign up for a public list (double opt-in)",
    openapi_extra=_REQUEST_BODY,
    responses=_RESPONSES,
)
async def subscribe(request: Request) -> Response:
    started = time.monotonic()
    ctx = web_context(request)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != JSON_TYPE and media_type not in FORM_TYPES:
        got = media_type or "no content type"
        return JSONResponse({"detail": f"send the sign-up as {JSON_TYPE} or as a form ({' or '.join(FORM_TYPES)}), not {got}"}, 415)
    as_form = media_type in FORM_TYPES
    try:
        verdict = await run_in_threadpool(_ip_limit(ctx).hit, client_ip(request, ctx.settings) or "unknown")
        if not verdict.allowed:
            wait = f"too many sign-ups from your network this hour; try again in {verdict.retry_after // 60 + 1} minutes"
            raise _Refused(429, [wait], {"Retry-After": str(verdict.retry_after)})
        body = await (_form_body(request) if as_form else _json_body(request))
        signup = SignupRequest(
            email=body.email,
            list_name=body.list_name,
            source="form" if as_form else "api",
            first_name=body.first_name or "",
            last_name=body.last_name or "",
            ip=client_ip(request, ctx.settings),
            user_agent=request.headers.get("user-agent"),
        )
        result = await run_in_threadpool(
            request_subscription, ctx.db, ctx.settings, signup, address_limit(ctx.redis, ctx.settings), write_confirmation
        )
    except _Refused as refused:
        return _refusal(ctx, refused, as_form)
    except InvalidSignup as invalid:
        return _refusal(ctx, _Refused(422, [f"body.{invalid.field}: {invalid.reason}"]), as_form)
    except NotFoundError as missing:
        return _refusal(ctx, _Refused(404, [str(missing)]), as_form)
    log.info("sign-up to list %s: %s", signup.list_name, result.outcome.value)
    # Writing a sign-up takes longer than finding the address confirmed or
    # suppressed: answered at once, the time would tell which. So every
    # accepted sign-up is answered no sooner than the same delay, and the
    # confirmation is queued only after the answer has gone.
    remaining = started + ctx.settings.subscribe_answer_seconds - time.monotonic()
    if remaining < 0:
        log.warning("a sign-up took %.0f ms longer than NEWSLETTER_SUBSCRIBE_ANSWER_SECONDS; its timing may show", -remaining * 1000)
    await asyncio.sleep(max(0.0, remaining))
    if as_form:
        accepted = f"{ACCEPTED} It is for the {signup.list_name.strip()} list."
        response: Response = message_page("Check your inbox", accepted, 200, brand=ctx.settings.brand)
    else:
        response = JSONResponse(SubscribeAccepted().model_dump(), status_code=202)
    if result.batch_id is not None:
        response.background = BackgroundTask(_hand_over_confirmation, ctx, result.batch_id)
    return response


async def _hand_over_confirmation(ctx: WebContext, batch_id: int, what: str = "confirmation") -> None:
    # Runs once the answer has gone, and only hands the queuing to the app's
    # own thread: the request's call ends at once, and no request-serving
    # thread waits on Redis (see publisher.web.deps).
    ctx.queuer.submit(_enqueue_confirmation, ctx, batch_id, what)


def _enqueue_confirmation(ctx: WebContext, batch_id: int, what: str = "confirmation") -> None:
    try:
        ctx.enqueue_confirmation(ctx.settings, ctx.db, batch_id)
    except Exception:
        # The sign-up (or confirmation) is written and answered; the sweep enqueues the batch later.
        log.exception("could not enqueue %s batch %s; the sweep will", what, batch_id)


def _ip_limit(ctx: WebContext) -> HourlyLimit:
    return HourlyLimit(ctx.redis, ctx.settings.secret, "subscribe-ip", ctx.settings.subscribe_ip_limit)


async def _json_body(request: Request) -> SubscribeBody:
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # Malformed JSON, not UTF-8, nested too deep or a number too long to convert.
        raise _Refused(400, [f"the body is not valid JSON: {str(exc)[:200]}"]) from None
    return _validated(data, 422)


async def _form_body(request: Request) -> SubscribeBody:
    try:
        form = await request.form()
    except HTTPException as exc:
        # 413 and 408 (the body's size and time limits) stay what they are; anything else about the form is a 400.
        raise _Refused(exc.status_code if exc.status_code in (408, 413) else 400, [f"the form cannot be read: {exc.detail}"]) from None
    data: dict[str, str] = {}
    for name in FORM_FIELDS:
        value = form.get(name)
        if isinstance(value, UploadFile):
            raise _Refused(400, [f"body.{name}: must be a text field, not a file"])
        if value is not None:
            data[name] = value
    return _validated(data, 400)


def _validated(data: object, status: int) -> SubscribeBody:
    try:
        return SubscribeBody.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(['body', *(str(part) for part in error['loc'])])}: {error['msg']}" for error in exc.errors()]
        raise _Refused(status, problems) from None


def _refusal(ctx: WebContext, refused: _Refused, as_form: bool) -> Response:
    if not as_form:
        detail: str | list[str] = refused.problems if refused.status == 422 else "; ".join(refused.problems)
        return JSONResponse({"detail": detail}, status_code=refused.status, headers=refused.headers)
    # A person at a form gets a page; 422 is for programs.
    status = 400 if refused.status == 422 else refused.status
    titles = {400: "That did not work", 404: "Not found", 429: "Too many sign-ups"}
    problems = "; ".join(_readable(problem) for problem in refused.problems)
    response = message_page(titles.get(status, "That did not work"), problems, status, brand=ctx.settings.brand)
    response.headers.update(refused.headers)
    return response


def _readable(problem: str) -> str:
    # "body.email: …" reads as "email: …" on a page.
    return problem.removeprefix("body.")


def _verified(ctx: WebContext, token: str) -> LinkTarget:
    try:
        return ctx.signer.verify(CONFIRM, token)
    except SignatureExpired:
        days = ctx.settings.confirm_link_days
        raise HTTPException(410, f"Confirm links work for {days} days and this one is older. Sign up again to get a new one.") from None
    except BadSignature:
        # Not logged with the token: it is a capability.
        raise HTTPException(400, INVALID_LINK) from None


_CONFIRM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "A token this deployment did not sign as a confirm link (HTML page).", "content": {"text/html": {}}},
    410: {"description": "A confirm link older than NEWSLETTER_CONFIRM_LINK_DAYS (HTML page).", "content": {"text/html": {}}},
}


@router.get(
    "/confirm/{token}",
    response_class=HTMLResponse,
    summary="Ask before confirming a subscription (signed link)",
    responses=_CONFIRM_RESPONSES,
)
def confirm_page(token: str, ctx: Context) -> HTMLResponse:
    return _confirm_answer(ctx, confirmation_state(ctx.db, _verified(ctx, token)))


@router.post(
    "/confirm/{token}",
    response_class=HTMLResponse,
    summary="Confirm a pending subscription (signed link)",
    responses=_CONFIRM_RESPONSES,
)
def confirm(token: str, request: Request, ctx: Context) -> HTMLResponse:
    target = _verified(ctx, token)
    welcome = WelcomeIssues(ctx.settings)
    confirmation = confirm_subscription(ctx.db, target, client_ip(request, ctx.settings), request.headers.get("user-agent"), welcome)
    log.info("confirm link of subscriber %s on list %s: %s", target.subscriber_id, target.list_id, confirmation.state.value)
    answer = _confirm_answer(ctx, confirmation)
    if confirmation.welcome_batch_id is not None:
        # On the priority queue, from the app's own thread, like a confirmation email; the sweep sends it if that fails.
        answer.background = BackgroundTask(_hand_over_confirmation, ctx, confirmation.welcome_batch_id, "welcome")
    return answer


def _confirm_answer(ctx: WebContext, confirmation: Confirmation) -> HTMLResponse:
    titles = {
        "pending": "Confirm your subscription",
        "confirmed": "Subscribed",
        "unsubscribed": "Subscription cancelled",
        "gone": "Nothing to confirm",
    }
    state = confirmation.state.value
    return page("confirm.html.j2", brand=ctx.settings.brand, title=titles[state], state=state, list_name=confirmation.list_name)

"""The sequence every event-platform receiver follows, and the answers it gives.

1. the raw body is read (so the body limits apply: 413 above
   NEWSLETTER_MAX_REQUEST_BYTES, 408 for a body that does not arrive);
2. the receiver's ``check`` verifies the caller first (signature or secret
   key: 401 when missing or wrong, and when the platform's setting is not
   configured), then the content type (415) and the body (400 naming the
   field at fault);
3. what the call asks for is put on the queue (``newsletter.event_delivery``,
   handled by a worker); when the broker cannot be reached the answer is 503
   with Retry-After, so the platform delivers again;
4. 200 with what was queued, or with why nothing was (an event type that
   changes nothing here is ignored, not refused).

Nothing is written to the database here: the worker does that, so the answer
comes fast (Zoom allows 3 seconds) and a call whose message is lost is
delivered again by the platform.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError
from pydantic import SecretStr
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from publisher.events.platforms.values import PayloadError
from publisher.queue import enqueue_event_delivery
from publisher.web.deps import WebContext, web_context
from publisher.web.inbound import JSON, WebhookRejected, malformed, parse_json, same_secret, unauthorized

log = logging.getLogger(__name__)

_TYPE_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,60}")
#: Seconds a platform is asked to wait when the queue cannot be reached.
RETRY_AFTER = 60


@dataclass(frozen=True)
class Outcome:
    """What a verified call comes to: a message for the worker, or none, and the answer's body."""

    answer: dict[str, Any]
    message: dict[str, Any] | None = None


#: A receiver's own part: verify, then read the call (raising WebhookRejected to refuse it).
Check = Callable[[Mapping[str, str], bytes, WebContext], Outcome]

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Verified: queued for a worker, or ignored (an event type that changes nothing here)."},
    400: {"description": "The body is not what the platform sends (malformed JSON, a field that cannot be used); nothing queued."},
    401: {"description": "Missing or wrong signature or key, a stale timestamp, or the platform's setting not configured. Nothing queued."},
    408: {"description": "The body did not arrive within NEWSLETTER_REQUEST_BODY_TIMEOUT; the connection is closed."},
    413: {"description": "Body larger than NEWSLETTER_MAX_REQUEST_BYTES."},
    415: {"description": "Content type other than application/json."},
    503: {"description": "The queue (Redis) cannot be reached, or the platform's API credentials are not set; the platform retries."},
}
#: The body is read raw (signatures cover its exact bytes); the document still says what is posted.
BODY = {"required": True, "content": {JSON: {"schema": {"description": "The platform's webhook payload, as it posts it."}}}}


async def receive(request: Request, source: str, check: Check) -> JSONResponse:
    """Run ``check`` on the call, queue what it asks for, and answer."""
    raw_body = await request.body()
    context = web_context(request)
    try:
        outcome = await run_in_threadpool(_check_and_queue, source, check, request.headers, raw_body, context)
    except WebhookRejected as rejected:
        if rejected.status == 401 or rejected.status >= 500:
            log.warning("%s event webhook refused (%d): %s", source, rejected.status, rejected.message)
        return JSONResponse({"detail": rejected.message}, status_code=rejected.status, headers=rejected.headers)
    return JSONResponse(outcome.answer)


def _check_and_queue(source: str, check: Check, headers: Mapping[str, str], raw_body: bytes, context: WebContext) -> Outcome:
    try:
        outcome = check(headers, raw_body, context)
    except PayloadError as exc:
        raise malformed(str(exc)) from None
    if outcome.message is not None:
        try:
            enqueue_event_delivery(context.settings, source, outcome.message)
        except (OperationalError, RedisError, OSError) as exc:
            raise WebhookRejected(
                503, f"the queue cannot be reached ({type(exc).__name__}); deliver again later", {"Retry-After": str(RETRY_AFTER)}
            ) from exc
    return outcome


def require_json(headers: Mapping[str, str], platform: str) -> None:
    """415 unless the call is JSON (checked after the caller is verified, so a stranger learns nothing)."""
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != JSON:
        raise WebhookRejected(415, f"{platform} webhooks are sent as {JSON}, not {media_type[:60] or 'no content type'}")


def json_object(raw_body: bytes, platform: str) -> dict[str, Any]:
    """The body as a JSON object, or 400."""
    payload = parse_json(raw_body)
    if not isinstance(payload, dict):
        raise malformed(f"a {platform} webhook is a JSON object, not {type(payload).__name__}")
    return payload


def check_key(given: str, secret: SecretStr | None, variable: str, platform: str) -> None:
    """The secret last part of the URL, compared in constant time; 401 when wrong or when none is configured."""
    expected = secret.get_secret_value() if secret is not None else ""
    if not expected:
        raise unauthorized(f"{platform} webhooks are not accepted: set {variable} and use it as the last part of the URL")
    if not same_secret(given, expected):
        raise unauthorized(f"wrong key in the {platform} webhook URL")


def require_setting(value: SecretStr | None, variable: str, platform: str) -> None:
    """503 when the credentials the worker needs are not set: the platform retries, and the call is handled once they are."""
    if value is None or not value.get_secret_value():
        raise WebhookRejected(503, f"{platform} objects cannot be read: set {variable}", {"Retry-After": str(RETRY_AFTER)})


def ignored(kind: object, platform: str) -> Outcome:
    """200 for a type that changes nothing here; the type is named back only when it looks like one."""
    shown = kind if isinstance(kind, str) and _TYPE_NAME.fullmatch(kind) else "this type"
    return Outcome({"ignored": True, "detail": f"{platform} {shown} changes nothing here"})


def queued(what: str, message: dict[str, Any]) -> Outcome:
    return Outcome({"queued": what}, message)

"""What every provider's webhook module shares: the registry, the rejection, small helpers.

A provider module is ``publisher/web/webhooks/<name>.py``. It registers one
handler under the provider's name (the same name as ``Delivery.provider`` and
``workers/providers/<name>.py``)::

    from publisher.web.webhooks.base import WebhookRejected, register

    @register("postmark")
    def handle(headers: Headers, raw_body: bytes, ctx: WebContext) -> list[ProviderEvent]:
        ...  # 1. verify the signature (401 on failure), 2. parse, 3. normalise

The route ``POST /webhooks/{provider}`` (``publisher/web/routes/webhooks.py``)
imports every module of this package on start-up (no list to edit), looks the
handler up in :data:`HANDLERS`, checks the content type against the one the
handler declared, calls the handler with the request headers (a
case-insensitive mapping: look names up in lower case), the raw body bytes and
the shared :class:`WebContext`, and records the events it returns with
``publisher.feedback.recording.record_events`` in one transaction:

- a handler raises :class:`WebhookRejected` to refuse the call: 401 for a
  missing, wrong or replayed signature (and for credentials that are not
  configured), 400 for a body it cannot read. Nothing is stored then;
- a handler verifies the signature BEFORE parsing anything it does not need
  for the verification;
- an empty list is a valid answer (a call carrying only events we ignore):
  200 with nothing recorded;
- when every event returned matches no delivery we sent, the route answers
  404 and stores nothing; otherwise 200 with the RecordReport as JSON.

``ProviderEvent.provider`` must be the registered name.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from publisher.db.models import MAX_ID
from publisher.feedback.recording import ProviderEvent

if TYPE_CHECKING:
    from publisher.web.deps import WebContext

#: Default replay window for providers that sign a timestamp: a call whose
#: timestamp is further than this from our clock, either way, is refused.
REPLAY_WINDOW = dt.timedelta(minutes=10)

JSON = "application/json"


class WebhookRejected(Exception):
    """The call is refused with ``status`` and ``message``; nothing is stored."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        #: Extra response headers, e.g. WWW-Authenticate on a 401.
        self.headers = dict(headers or {})


class WebhookHandler(Protocol):
    """Verify, then parse one webhook call into normalised events."""

    def __call__(self, headers: Mapping[str, str], raw_body: bytes, ctx: WebContext) -> list[ProviderEvent]: ...


class WebhookUndo(Protocol):
    """Undo what a handler did outside the database (e.g. a replay token it
    claimed in Redis) when the call is not recorded after all: nothing matched,
    or the database failed. Called with the same arguments as the handler."""

    def __call__(self, headers: Mapping[str, str], raw_body: bytes, ctx: WebContext) -> None: ...


@dataclass(frozen=True)
class WebhookProvider:
    name: str
    handle: WebhookHandler
    #: Media types the route accepts for this provider (415 otherwise), compared
    #: without parameters such as ``charset``. SNS, for one, posts text/plain.
    content_types: tuple[str, ...] = (JSON,)
    #: Optional: called when the verified call ends up not recorded.
    on_failure: WebhookUndo | None = None


#: Provider name -> its registered webhook.
HANDLERS: dict[str, WebhookProvider] = {}


def register(
    name: str, *, content_types: tuple[str, ...] = (JSON,), on_failure: WebhookUndo | None = None
) -> Callable[[WebhookHandler], WebhookHandler]:
    """Decorator: make ``handle`` the webhook of provider ``name``."""

    def decorate(handle: WebhookHandler) -> WebhookHandler:
        if name in HANDLERS and HANDLERS[name].handle is not handle:
            raise RuntimeError(f"a webhook handler for {name!r} is already registered")
        HANDLERS[name] = WebhookProvider(name=name, handle=handle, content_types=content_types, on_failure=on_failure)
        return handle

    return decorate


# --- helpers -----------------------------------------------------------------


def unauthorized(message: str, headers: Mapping[str, str] | None = None) -> WebhookRejected:
    return WebhookRejected(401, message, headers)


def malformed(message: str) -> WebhookRejected:
    return WebhookRejected(400, message)


def parse_json(raw_body: bytes) -> Any:
    """The body as JSON, or 400 naming where it stops being JSON."""
    try:
        return json.loads(raw_body)
    except UnicodeDecodeError as exc:
        raise malformed(f"body is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise malformed(f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})") from exc
    except (ValueError, RecursionError) as exc:
        # Nested too deep, or an integer longer than Python converts (4300 digits).
        raise malformed(f"body is not JSON this service reads: {str(exc)[:200]}") from exc


def same_secret(given: str | bytes, expected: str | bytes) -> bool:
    """Constant-time comparison of two secrets (str is compared as UTF-8)."""
    left = given.encode() if isinstance(given, str) else given
    right = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(left, right)


def now() -> dt.datetime:
    """The current time, timezone-aware (UTC). Tests may patch this."""
    return dt.datetime.now(dt.UTC)


def check_timestamp(timestamp: str | int | float | None, *, window: dt.timedelta = REPLAY_WINDOW, what: str = "timestamp") -> dt.datetime:
    """A signed Unix timestamp as a datetime, or 401 when missing, unreadable or outside ``window``."""
    if timestamp is None or timestamp == "":
        raise unauthorized(f"missing {what}")
    try:
        seconds = float(timestamp)
        moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise unauthorized(f"{what} {str(timestamp)[:40]!r} is not a Unix time") from exc
    skew = now() - moment
    if skew > window:
        raise unauthorized(f"{what} is {int(skew.total_seconds())} s old; calls older than {int(window.total_seconds())} s are refused")
    if -skew > window:
        raise unauthorized(f"{what} is {int(-skew.total_seconds())} s in the future; the clock allows {int(window.total_seconds())} s")
    return moment


def parse_time(value: object) -> dt.datetime | None:
    """An ISO-8601 string or a Unix time as an aware datetime (UTC when no zone given); None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if isinstance(value, str) and value:
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return None


def as_delivery_id(value: object) -> int | None:
    """A delivery id from metadata (sent as a string or a number), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 < value <= MAX_ID:
        return value
    return None


def text(value: object) -> str:
    """A string field of a payload, stripped; "" for anything else. NULs are dropped (PostgreSQL refuses them)."""
    return value.replace("\x00", "").strip() if isinstance(value, str) else ""

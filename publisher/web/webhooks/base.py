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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from publisher.db.models import MAX_ID
from publisher.feedback.recording import ProviderEvent
from publisher.web.inbound import (
    JSON,
    REPLAY_WINDOW,
    WebhookRejected,
    check_timestamp,
    malformed,
    now,
    parse_json,
    parse_time,
    same_secret,
    text,
    unauthorized,
)

if TYPE_CHECKING:
    from publisher.web.deps import WebContext

# The refusal and the helpers every inbound webhook shares live in
# ``publisher.web.inbound``; provider modules keep importing them from here.
__all__ = [
    "HANDLERS",
    "JSON",
    "REPLAY_WINDOW",
    "WebhookHandler",
    "WebhookProvider",
    "WebhookRejected",
    "WebhookUndo",
    "as_delivery_id",
    "check_timestamp",
    "malformed",
    "now",
    "parse_json",
    "parse_time",
    "register",
    "same_secret",
    "text",
    "unauthorized",
]


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


def as_delivery_id(value: object) -> int | None:
    """A delivery id from metadata (sent as a string or a number), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 < value <= MAX_ID:
        return value
    return None


#: The longest user agent read from a provider's event; it is classified, never stored.
USER_AGENT_LIMIT = 1000


def user_agent(value: object) -> str | None:
    """The user agent a provider reports for an open or click; None when it reports none (not a string)."""
    if not isinstance(value, str):
        return None
    return value.replace("\x00", "")[:USER_AGENT_LIMIT]

"""What every webhook the app receives shares, the providers' and the event platforms' alike.

The refusal (:class:`WebhookRejected`, answered as ``{"detail": …}`` with its
status), reading a body as JSON (400 naming where it stops being JSON),
comparing secrets in constant time, and checking a signed timestamp against
our clock. ``publisher.web.webhooks.base`` (provider webhooks) and
``publisher.web.event_hooks`` (event platforms) both build on these.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

log = logging.getLogger(__name__)

#: Default replay window for callers that sign a timestamp: a call whose
#: timestamp is further than this from our clock, either way, is refused.
REPLAY_WINDOW = dt.timedelta(minutes=10)

JSON = "application/json"
#: The prefix of every Standard Webhooks (and Svix) signing secret; not a secret itself.
WHSEC_PREFIX = "whsec_"


class WebhookRejected(Exception):
    """The call is refused with ``status`` and ``message``; nothing is stored."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        #: Extra response headers, e.g. WWW-Authenticate on a 401.
        self.headers = dict(headers or {})


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


def text(value: object) -> str:
    """A string field of a payload, stripped; "" for anything else. NULs are dropped (PostgreSQL refuses them)."""
    return value.replace("\x00", "").strip() if isinstance(value, str) else ""


def whsec_key(configured: SecretStr | None, variable: str, platform: str) -> bytes:
    """The signing key of a Standard Webhooks ``whsec_<base64>`` secret, decoded strictly; 401 when unset or unusable."""
    secret = configured.get_secret_value().strip() if configured is not None else ""
    if not secret:
        raise unauthorized(f"{platform} webhooks are not accepted: set {variable} to the endpoint's signing secret")
    encoded = secret.removeprefix(WHSEC_PREFIX)
    try:
        # Secrets may come without their base64 padding.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        log.error("%s is not a whsec_<base64> secret", variable)
        raise unauthorized(f"{platform} webhooks cannot be verified: {variable} is not a whsec_ secret") from exc
    if not key:
        raise unauthorized(f"{platform} webhooks cannot be verified: {variable} is empty after whsec_")
    return key

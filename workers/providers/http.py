"""Shared plumbing of the HTTP providers: one requests.Session per process, timeouts always set, JSON by orjson.

A 500-message batch is about 10 MB of JSON; orjson writes it several times
faster than the standard library (which ``requests``' ``json=`` uses), straight
to UTF-8 bytes, and reads the answers faster too.
"""

from __future__ import annotations

import codecs
import datetime as dt
import email.utils
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

from publisher.core.errors import PermanentDeliveryError, TransientDeliveryError
from publisher.core.message import JsonText
from publisher.core.outcomes import trim
from publisher.core.signals import Halt, RateLimit

_local = threading.local()


def session() -> requests.Session:
    """The process's (and thread's) session, so connections to a provider are reused."""
    current: requests.Session | None = getattr(_local, "session", None)
    if current is None:
        current = requests.Session()
        current.headers["User-Agent"] = "newsletter/0.1"
        _local.session = current
    return current


def post(url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
    """POST and translate network failures into TransientDeliveryError."""
    return _request("POST", url, timeout=timeout, **kwargs)


def post_json(url: str, payload: Any, *, headers: dict[str, str], timeout: float, **kwargs: Any) -> requests.Response:
    """POST ``payload`` as a JSON body, like ``requests``' ``json=``."""
    return post(url, data=request_body(payload), headers={**headers, "Content-Type": "application/json"}, timeout=timeout, **kwargs)


def request_body(payload: Any) -> bytes | JsonArray:
    """``json_body(payload)``, or the same bytes sent piece by piece when the payload is a list of ``Encoded`` objects."""
    if isinstance(payload, list) and payload and all(isinstance(item, Encoded) for item in payload):
        return JsonArray([item.json for item in payload])
    return json_body(payload)


def json_body(payload: Any) -> bytes:
    """``payload`` as JSON in UTF-8.

    The few values orjson refuses and the standard library writes (a lone
    surrogate in a string, an integer beyond 64 bits) are written by the
    standard library, as they always were.
    """
    try:
        return orjson.dumps(payload, default=_fragment)
    except orjson.JSONEncodeError:
        return json.dumps(payload, default=_decoded).encode()


class Encoded:
    """JSON written before (``message_json``) that a payload carries as it is."""

    __slots__ = ("json",)

    def __init__(self, json: bytes) -> None:
        self.json = json


class JsonArray:
    """A JSON array of objects written before, sent as it is without being joined into one more copy.

    Its length is known, so the request has the Content-Length and the bytes
    ``json_body`` would give; it is sent in pieces of about ``PIECE`` bytes.
    """

    PIECE = 256 * 1024

    def __init__(self, items: list[bytes]) -> None:
        self.items = items
        self.length = 2 + sum(len(item) for item in items) + len(items) - 1

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        piece, size = [b"["], 1
        for index, item in enumerate(self.items):
            if index:
                piece.append(b",")
            piece.append(item)
            size += len(item) + 1
            if size >= self.PIECE:
                yield b"".join(piece)
                piece, size = [], 0
        piece.append(b"]")
        yield b"".join(piece)


def object_json(members: dict[str, Any], large: dict[str, Any]) -> bytes | None:
    """The JSON object of ``members`` then ``large``, as ``json_body`` writes their union; None when orjson refuses a value.

    For a payload to carry as ``Encoded``. Each of ``large`` (the bodies: a
    string, or a ``JsonText`` written before) is written alone, and copied once
    into a result of the exact size: orjson's own bytes keep the room it
    reserved while writing (four bytes for every character of a non-ASCII
    string, about 250 KB for a 32 KB message), and a batch keeps 500 of them.
    """
    parts: list[bytes] = []
    try:
        head = orjson.dumps(members, default=_fragment)
        for index, (name, value) in enumerate(large.items()):
            parts += (b"," if index or members else b"", orjson.dumps(name), b":")
            if isinstance(value, JsonText):
                parts += value.pieces
            else:
                parts.append(orjson.dumps(value, default=_fragment))
    except orjson.JSONEncodeError:
        return None
    return b"".join([head[:-1], *parts, b"}"])


def _fragment(value: Any) -> orjson.Fragment:
    if isinstance(value, Encoded):
        return orjson.Fragment(value.json)
    if isinstance(value, JsonText):
        return orjson.Fragment(bytes(value))
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _decoded(value: Any) -> Any:
    # The standard library writes a body orjson refused: what orjson wrote before is read back and written again.
    if isinstance(value, Encoded):
        return orjson.loads(value.json)
    if isinstance(value, JsonText):
        return value.text()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def read_json(response: requests.Response) -> Any:
    """The answer's JSON body; ValueError when it is not JSON (as ``response.json()`` raises).

    orjson reads UTF-8 without a byte order mark only: a leading BOM (legal
    before JSON) is dropped first, and an answer in another encoding is read
    by requests, so an accepted batch is never taken for an unreadable one.
    """
    content = response.content.removeprefix(codecs.BOM_UTF8)
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return response.json()


def get(url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
    """GET (for credential checks), translating network failures like ``post``."""
    return _request("GET", url, timeout=timeout, **kwargs)


def _request(method: str, url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
    try:
        return session().request(method, url, timeout=timeout, **kwargs)
    except requests.ReadTimeout as exc:
        # The request was sent; only the answer is missing.
        raise TransientDeliveryError(f"timed out after {timeout:g}s waiting for {_host(url)} to answer", maybe_sent=True) from exc
    except requests.Timeout as exc:
        raise TransientDeliveryError(f"timed out after {timeout:g}s calling {_host(url)}") from exc
    except requests.ConnectionError as exc:
        raise TransientDeliveryError(f"cannot connect to {_host(url)}: {type(exc).__name__}") from exc


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def retry_after(response: requests.Response) -> float | None:
    """Seconds to wait from a Retry-After header given in seconds or as an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def describe(response: requests.Response) -> str:
    """Status and a trimmed body, for the ledger's last_error."""
    return trim(f"HTTP {response.status_code}: {response.text}")


def rate_limit(response: requests.Response) -> RateLimit | None:
    """Parse X-RateLimit-* (SendGrid: reset is an epoch time) or ratelimit-* (Resend: reset in seconds)."""
    headers = response.headers
    for prefix in ("x-ratelimit-", "ratelimit-"):
        limit, remaining, reset = (headers.get(prefix + name) for name in ("limit", "remaining", "reset"))
        if limit is None and remaining is None and reset is None:
            continue
        return RateLimit(limit=_int(limit), remaining=_int(remaining), reset_after=_reset_after(reset))
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _reset_after(value: str | None) -> float | None:
    number = _int(value)
    if number is None:
        return None
    # A value this large is an epoch timestamp, not a number of seconds.
    if number > 1_000_000_000:
        return max(0.0, number - dt.datetime.now(dt.UTC).timestamp())
    return float(number)


def failure(response: requests.Response) -> TransientDeliveryError | PermanentDeliveryError:
    """The error for a non-success answer: 401/403 halt, 429 and 5xx retry, other 4xx are permanent."""
    if response.status_code in (401, 403):
        return PermanentDeliveryError(f"credentials rejected: {describe(response)}", halt=Halt.CREDENTIALS)
    if response.status_code == 429 or response.status_code >= 500:
        return TransientDeliveryError(describe(response), retry_after=retry_after(response), rate_limit=rate_limit(response))
    return PermanentDeliveryError(describe(response))

"""Reading an object from a platform's API (Eventbrite, Luma): one GET, bounded in time and size.

Failures are sorted by what the caller does next: :class:`PlatformUnavailable`
(no answer, a timeout, 429 or a 5xx) is worth trying again later;
:class:`PlatformRefused` (credentials refused, an object that does not exist,
an answer that is not a JSON object) will not get better by retrying.
Neither message ever holds the credentials sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from publisher.core.errors import NewsletterError

#: Largest answer read: an order with its attendees is a few kilobytes; this leaves room for big orders.
MAX_ANSWER_BYTES = 4 * 1024 * 1024


class PlatformUnavailable(NewsletterError):
    """The platform's API did not answer usefully this time; ``retry_after`` seconds when it said how long to wait."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PlatformRefused(NewsletterError):
    """The platform's API refused the request or answered something unusable; retrying will not help."""


class Fetch(Protocol):
    """GET ``url`` with ``headers`` and ``params``; the JSON object answered."""

    def __call__(self, url: str, *, headers: Mapping[str, str], params: Mapping[str, str] | None = None) -> dict[str, Any]: ...


def http_fetch(timeout: float) -> Fetch:
    """A :class:`Fetch` over HTTP with ``timeout`` seconds for connecting and for each read."""

    def fetch(url: str, *, headers: Mapping[str, str], params: Mapping[str, str] | None = None) -> dict[str, Any]:
        where = urlsplit(url).netloc
        try:
            with requests.get(url, headers=dict(headers), params=params, timeout=timeout, stream=True, allow_redirects=False) as answer:
                body = _read(answer, where)
        except requests.Timeout as exc:
            raise PlatformUnavailable(f"{where} did not answer within {timeout:g}s") from exc
        except requests.RequestException as exc:
            raise PlatformUnavailable(f"cannot reach {where}: {type(exc).__name__}") from exc
        status = answer.status_code
        if status == 429 or status >= 500:
            raise PlatformUnavailable(f"{where} answered HTTP {status}", _retry_after(answer))
        if status in (401, 403):
            raise PlatformRefused(f"{where} refused the credentials (HTTP {status})")
        if status != 200:
            raise PlatformRefused(f"{where} answered HTTP {status} for {urlsplit(url).path[:200]}")
        try:
            value = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise PlatformRefused(f"{where} answered something that is not JSON") from exc
        if not isinstance(value, dict):
            raise PlatformRefused(f"{where} answered JSON that is not an object")
        return value

    return fetch


def _read(answer: requests.Response, where: str) -> bytes:
    chunks = []
    size = 0
    for chunk in answer.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise PlatformRefused(f"{where} answered more than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(answer: requests.Response) -> float | None:
    value = answer.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None

"""Shared plumbing of the HTTP providers: one requests.Session per process, timeouts always set."""

from __future__ import annotations

import datetime as dt
import email.utils
import threading
from typing import Any
from urllib.parse import urlsplit

import requests

from publisher.errors import TransientDeliveryError
from workers.providers.base import trim

_local = threading.local()


def session() -> requests.Session:
    """The process's (and thread's) session, so connections to a provider are reused."""
    current: requests.Session | None = getattr(_local, "session", None)
    if current is None:
        current = requests.Session()
        current.headers["User-Agent"] = "newsletter/0.1"
        _local.session = current
    return current


class RetryableError(TransientDeliveryError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def post(url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
    """POST and translate network failures into TransientDeliveryError."""
    try:
        return session().post(url, timeout=timeout, **kwargs)
    except requests.Timeout as exc:
        raise RetryableError(f"timed out after {timeout:g}s calling {_host(url)}") from exc
    except requests.ConnectionError as exc:
        raise RetryableError(f"cannot connect to {_host(url)}: {type(exc).__name__}") from exc


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

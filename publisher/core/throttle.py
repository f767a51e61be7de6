"""Request counters in Redis over fixed windows: the sign-up limits per client IP and per address
(an hour), the HTTP API's limit per token (a minute).

A fixed window: one counter per key and window (a clock hour, a clock minute), raised with ``INCR`` and
given its expiry with ``EXPIRE`` in the same MULTI/EXEC, so a counter never
exists without an expiry and concurrent requests never lose a count. A fixed
window lets up to twice the limit through across the turn of a window; for a
limit meant to stop floods, not to meter, that is the price of one key and
an exact Retry-After.

Keys hold an HMAC of the counted value (keyed with the deployment's secret),
never the IP or the address itself, so a dump of Redis lists neither, and a
guessed address cannot be checked against it without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import redis

WINDOW_SECONDS = 3600
KEY_PREFIX = "newsletter:limit"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    #: Requests counted in this window, this one included.
    count: int
    #: Seconds until the window ends and the count starts again.
    retry_after: int


class WindowLimit:
    """At most ``limit`` hits per value per window of ``window_seconds`` (a clock hour unless told)."""

    def __init__(self, client: redis.Redis, secret: str, scope: str, limit: int, window_seconds: int = WINDOW_SECONDS) -> None:
        self._client = client
        self._key = hmac.new(secret.encode(), f"{KEY_PREFIX}:{scope}".encode(), hashlib.sha256).digest()
        self.scope = scope
        self.limit = limit
        self.window_seconds = window_seconds

    def key(self, value: str, window: int) -> str:
        digest = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{KEY_PREFIX}:{self.scope}:{digest}:{window}"

    def hit(self, value: str, now: float | None = None) -> Verdict:
        """Count one request for ``value`` and say whether it is within the limit."""
        now = time.time() if now is None else now
        length = self.window_seconds
        window = int(now // length)
        key = self.key(value, window)
        pipe = self._client.pipeline(transaction=True)
        pipe.incr(key)
        # A little longer than the window, so a slow clock elsewhere still finds it.
        pipe.expire(key, length + 60)
        count, _ = pipe.execute()
        retry_after = max(1, (window + 1) * length - int(now))
        return Verdict(allowed=int(count) <= self.limit, count=int(count), retry_after=retry_after)


#: The sign-up limits' name: a WindowLimit of the default hour.
HourlyLimit = WindowLimit

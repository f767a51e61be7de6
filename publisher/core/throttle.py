"""Fixed-window request counters in Redis: the sign-up limits per client IP and per address (hourly), the console's
sign-in limits (15 minutes) and the API's per-token limit (a minute).

A fixed window: one counter per key and window, raised with ``INCR`` and
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
_GIVE_BACK = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) end return 0"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    #: Requests counted in this window, this one included.
    count: int
    #: Seconds until the window ends and the count starts again.
    retry_after: int


class FixedWindowLimit:
    """At most ``limit`` hits per value per window of ``window_seconds``."""

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
        window = int(now // self.window_seconds)
        key = self.key(value, window)
        pipe = self._client.pipeline(transaction=True)
        pipe.incr(key)
        # A little longer than the window, so a slow clock elsewhere still finds it.
        pipe.expire(key, self.window_seconds + 60)
        count, _ = pipe.execute()
        return self._verdict(int(count), window, now, allowed=int(count) <= self.limit)

    def give_back(self, value: str, now: float) -> None:
        """Uncount one hit made at ``now`` (a sign-in that turned out right), unless its window has ended since."""
        # Only an existing counter is lowered: one that expired must not come back below zero.
        self._client.eval(_GIVE_BACK, 1, self.key(value, int(now // self.window_seconds)))

    def _verdict(self, count: int, window: int, now: float, *, allowed: bool) -> Verdict:
        retry_after = max(1, (window + 1) * self.window_seconds - int(now))
        return Verdict(allowed=allowed, count=count, retry_after=retry_after)


class HourlyLimit(FixedWindowLimit):
    """At most ``limit`` hits per value per clock hour."""

    def __init__(self, client: redis.Redis, secret: str, scope: str, limit: int) -> None:
        super().__init__(client, secret, scope, limit, WINDOW_SECONDS)

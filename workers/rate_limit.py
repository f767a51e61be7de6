"""A provider's rate limit, held across every worker and host, in Redis.

Virtual scheduling (the "leaky bucket as a meter", GCRA without burst): one
Redis key per provider and unit holds the earliest time the next unit may go
out. A caller reserves ``cost`` units atomically (a Lua script, using Redis's
own clock so hosts with skewed clocks agree) and is told how long to wait
before its call. Reservations never overlap, so the provider never sees more
than the configured rate, however many workers there are.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

PREFIX = "newsletter:rate"
#: Bookings are spaced this much wider than the rate alone asks: a worker
#: delayed a little past its slot (a busy CPU, a GC pause) then still cannot
#: push a one-second window over the configured rate.
HEADROOM = 1.05

#: KEYS[1]: the schedule key; ARGV[1]: milliseconds the reservation occupies;
#: ARGV[2]: the longest wait to accept, in milliseconds. Returns the wait in
#: milliseconds, or -1 (nothing reserved) when it would be longer.
_RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(next_free, now)
local wait = start - now
if wait > tonumber(ARGV[2]) then
  return -1
end
local after = start + tonumber(ARGV[1])
redis.call('SET', KEYS[1], after, 'PX', after - now + 1000)
return wait
"""


@dataclass(frozen=True)
class Reservation:
    #: Seconds to wait before making the call; None when the wait would exceed the limit asked for.
    wait: float | None


class RateLimiter:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._script = client.register_script(_RESERVE)

    def reserve(
        self,
        provider: str,
        *,
        requests_per_second: float | None,
        messages_per_second: float | None,
        messages: int,
        requests: int = 1,
        max_wait: float,
    ) -> Reservation:
        """Reserve ``requests`` calls carrying ``messages`` messages; both limits must allow it."""
        waits: list[float] = []
        for unit, rate, cost in (("requests", requests_per_second, requests), ("messages", messages_per_second, messages)):
            if not rate:
                continue
            occupied_ms = max(1, round(1000 * cost * HEADROOM / rate))
            wait_ms = int(self._script(keys=[f"{PREFIX}:{provider}:{unit}"], args=[occupied_ms, int(max_wait * 1000)]))
            if wait_ms < 0:
                return Reservation(wait=None)
            waits.append(wait_ms / 1000)
        return Reservation(wait=max(waits, default=0.0))

    def state(self, provider: str) -> dict[str, float]:
        """Seconds until each limited unit of ``provider`` is free again (for status)."""
        result: dict[str, float] = {}
        for unit in ("requests", "messages"):
            remaining = int(self._client.pttl(f"{PREFIX}:{provider}:{unit}"))
            if remaining > 0:
                result[unit] = max(0.0, (remaining - 1000) / 1000)
        return result

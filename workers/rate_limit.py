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

#: KEYS: one schedule key per limited unit (requests, messages); ARGV[1]: the
#: longest wait to accept, in milliseconds; ARGV[1 + i]: milliseconds the
#: reservation occupies on KEYS[i]. The call goes out when every unit is free,
#: so every unit is booked from that same moment; when the wait would be
#: longer than accepted, nothing is booked on any unit. Returns the wait in
#: milliseconds, or -1.
_RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local start = now
for i, key in ipairs(KEYS) do
  start = math.max(start, tonumber(redis.call('GET', key) or '0'))
end
local wait = start - now
if wait > tonumber(ARGV[1]) then
  return -1
end
for i, key in ipairs(KEYS) do
  local after = start + tonumber(ARGV[i + 1])
  redis.call('SET', key, after, 'PX', after - now + 1000)
end
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
        """Reserve ``requests`` calls carrying ``messages`` messages; both limits must allow it, or nothing is booked."""
        keys: list[str] = []
        occupied: list[int] = []
        for unit, rate, cost in (("requests", requests_per_second, requests), ("messages", messages_per_second, messages)):
            if rate:
                keys.append(f"{PREFIX}:{provider}:{unit}")
                occupied.append(max(1, round(1000 * cost * HEADROOM / rate)))
        if not keys:
            return Reservation(wait=0.0)
        wait_ms = int(self._script(keys=keys, args=[int(max_wait * 1000), *occupied]))
        return Reservation(wait=None if wait_ms < 0 else wait_ms / 1000)

    def state(self, provider: str) -> dict[str, float]:
        """Seconds until each limited unit of ``provider`` is free again (for status)."""
        result: dict[str, float] = {}
        for unit in ("requests", "messages"):
            remaining = int(self._client.pttl(f"{PREFIX}:{provider}:{unit}"))
            if remaining > 0:
                result[unit] = max(0.0, (remaining - 1000) / 1000)
        return result

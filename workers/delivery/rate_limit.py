"""A provider's rate limit, held across every worker and host, in Redis.

Virtual scheduling (the "leaky bucket as a meter", GCRA without burst): one
Redis key per provider and unit holds the earliest time the next unit may go
out. A caller reserves ``cost`` units atomically (a Lua script, using Redis's
own clock so hosts with skewed clocks agree) and is told how long to wait
before its call. Reservations never overlap, so calls are spread evenly at
the configured rate, however many workers there are.

A booking alone cannot promise what the provider sees: a worker that wakes
late (a busy CPU, a slow database write) sends in someone else's slot, and
two calls land together. So the moment before each single-request call is
checked too (:meth:`RateLimiter.admit`): a sliding log of the calls actually
started in the last window, which lets no call out while the window is full.
Calls that carry several requests (SES and SMTP send one request per message)
pace their own requests and rely on the booking alone.

A :class:`Clock` can stand in for Redis's clock and for the waiting, so tests
move time instead of sleeping; workers never pass one.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

import redis

PREFIX = "newsletter:rate"
#: Bookings are spaced this much wider than the rate alone asks: a worker
#: delayed a little past its slot (a busy CPU, a GC pause) then still cannot
#: push a one-second window over the configured rate.
HEADROOM = 1.05

#: KEYS: one schedule key per limited unit (requests, messages); ARGV[1]: the
#: longest wait to accept, in milliseconds; ARGV[1 + i]: milliseconds the
#: reservation occupies on KEYS[i]; ARGV[#KEYS + 2]: the time in ms, or empty
#: for Redis's own clock. The call goes out when every unit is free, so every
#: unit is booked from that same moment; when the wait would be longer than
#: accepted, nothing is booked on any unit. Returns the wait in milliseconds,
#: or -1.
_RESERVE = """
local now = tonumber(ARGV[#KEYS + 2])
if not now then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end
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


#: KEYS[1]: the provider's log of calls started (a sorted set: score the
#: start time in ms); ARGV[1]: the window in ms; ARGV[2]: the calls the window
#: holds; ARGV[3]: this call's id; ARGV[4]: the time in ms, or empty for
#: Redis's own clock. Returns 0 when the call was logged and may go now, else
#: the milliseconds until the oldest call in the window ages out (nothing
#: logged).
_ADMIT = """
local now = tonumber(ARGV[4])
if not now then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local started = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return tonumber(started[2]) + window - now
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


@dataclass(frozen=True)
class CallCost:
    """What one provider call takes from the provider's limits (a rate of None: no limit)."""

    requests_per_second: float | None
    messages_per_second: float | None
    messages: int
    requests: int = 1

    def limited(self) -> list[tuple[str, float, int]]:
        """(unit, rate, cost) of every unit with a limit."""
        units = (("requests", self.requests_per_second, self.requests), ("messages", self.messages_per_second, self.messages))
        return [(unit, rate, cost) for unit, rate, cost in units if rate]


@dataclass(frozen=True)
class Reservation:
    #: Seconds to wait before making the call; None when the wait would exceed the limit asked for.
    wait: float | None


class Clock(Protocol):
    """The time the limiter books and checks against, and its way of waiting."""

    def time(self) -> float:
        """Seconds since the epoch."""

    def sleep(self, seconds: float) -> None: ...


class RateLimiter:
    def __init__(self, client: redis.Redis, clock: Clock | None = None) -> None:
        self._client = client
        #: None: Redis's own clock (hosts with skewed clocks agree) and real waits.
        self._clock = clock
        self._script = client.register_script(_RESERVE)
        self._admit = client.register_script(_ADMIT)

    def reserve(self, provider: str, cost: CallCost, *, max_wait: float) -> Reservation:
        """Book the call on every limited unit; all must allow it within ``max_wait``, or nothing is booked."""
        keys: list[str] = []
        occupied: list[int] = []
        for unit, rate, units in cost.limited():
            keys.append(f"{PREFIX}:{provider}:{unit}")
            occupied.append(max(1, round(1000 * units * HEADROOM / rate)))
        if not keys:
            return Reservation(wait=0.0)
        wait_ms = int(self._script(keys=keys, args=[int(max_wait * 1000), *occupied, self._now_ms()]))
        return Reservation(wait=None if wait_ms < 0 else wait_ms / 1000)

    def admit(self, provider: str, requests_per_second: float, *, max_wait: float) -> bool:
        """Block until one request may start now without filling its window past the rate; False after ``max_wait`` seconds.

        Call it right before the call, after :meth:`reserve`'s wait: the
        booking spaces the calls, this holds the ones that woke up late.
        """
        # The window holds a whole number of calls (1.5/s: two calls per 1.33 s,
        # 0.5/s: one per 2 s), widened by the headroom: a call that takes a
        # little longer than the one before it to reach the provider still
        # arrives outside the window the provider counts.
        calls = math.ceil(requests_per_second)
        window_ms = math.ceil(1000 * calls / requests_per_second * HEADROOM)
        call_id = uuid.uuid4().hex
        key = f"{PREFIX}:{provider}:requests:log"
        deadline = self._monotonic() + max_wait
        while (wait_ms := int(self._admit(keys=[key], args=[window_ms, calls, call_id, self._now_ms()]))) > 0:
            if self._monotonic() + wait_ms / 1000 > deadline:
                return False
            self._sleep(wait_ms / 1000)
        return True

    def _now_ms(self) -> str:
        """The time for the scripts: empty, so they read Redis's clock, unless a clock was given."""
        return "" if self._clock is None else str(int(self._clock.time() * 1000))

    def _monotonic(self) -> float:
        return time.monotonic() if self._clock is None else self._clock.time()

    def _sleep(self, seconds: float) -> None:
        if self._clock is None:
            time.sleep(seconds)
        else:
            self._clock.sleep(seconds)

    def state(self, provider: str) -> dict[str, float]:
        """Seconds until each limited unit of ``provider`` is free again (for status)."""
        result: dict[str, float] = {}
        for unit in ("requests", "messages"):
            remaining = int(self._client.pttl(f"{PREFIX}:{provider}:{unit}"))
            if remaining > 0:
                result[unit] = max(0.0, (remaining - 1000) / 1000)
        return result

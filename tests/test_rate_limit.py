"""The shared rate limit: bookings spaced at the rate, and the check at the moment of the call that holds late callers.

The limiter runs on a clock the test moves (it books and checks against that
time in Redis, and its waits move it on), so every wait and every window is
exact however busy the machine is.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from workers.delivery.rate_limit import CallCost, RateLimiter

RATE = 10.0

LOG = "newsletter:rate:{}:requests:log"

pytestmark = pytest.mark.timing


class Clock:
    """Time that moves only when the test moves it, or when the limiter waits on it."""

    def __init__(self) -> None:
        self.now = time.time()
        self.slept: list[float] = []
        #: Called at each wait, before the time moves on: what the test checks while a caller is held.
        self.while_waiting: Callable[[], None] = lambda: None

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.while_waiting()
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter(redis_client: redis.Redis, clock: Clock) -> RateLimiter:
    return RateLimiter(redis_client, clock)


def busiest_window(times: list[float], width: float) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + width) for start in ordered)


def test_callers_that_wake_late_are_held_to_the_rate(limiter: RateLimiter, clock: Clock) -> None:
    """Twenty calls booked at 10/s; the first five go out 0.4 s after their slot, as from a worker on a busy CPU.

    On the bookings alone they land among the punctual calls' slots, and one
    second sees thirteen or more calls. Checked at the call, no second holds
    more than ten.
    """
    booked = clock.time()
    slots = []
    for index in range(20):
        wait = limiter.reserve("late", CallCost(RATE, None, 1), max_wait=10).wait
        assert wait is not None
        slots.append(booked + wait + (0.4 if index < 5 else 0.0))
    assert busiest_window(slots, 1.0) >= 13  # what the bookings alone would let through
    started = []
    for due in sorted(slots):  # one caller after another, in the order they wake up
        clock.now = max(clock.now, due)
        assert limiter.admit("late", RATE, max_wait=10)
        started.append(clock.time())
    assert busiest_window(started, 1.0) <= RATE
    assert clock.slept  # some callers were held back


def test_a_fractional_rate_holds_whole_calls_over_a_longer_window(limiter: RateLimiter, clock: Clock) -> None:
    first = clock.time()
    assert limiter.admit("odd", 1.5, max_wait=5) and limiter.admit("odd", 1.5, max_wait=5)  # two calls per 1.33 s
    assert clock.time() == first  # neither waited
    assert limiter.admit("odd", 1.5, max_wait=5)
    # The third waits for the first to leave the window (1.33 s, +5 %).
    assert 1.4 <= clock.time() - first <= 1.401


def test_a_call_held_back_takes_no_room_and_gives_up_after_its_longest_wait(
    limiter: RateLimiter, clock: Clock, redis_client: redis.Redis
) -> None:
    assert limiter.admit("held", 1, max_wait=5)
    assert not limiter.admit("held", 1, max_wait=0.2)  # the window is full for another second
    assert clock.slept == []  # refused at once: waiting could not have helped in time
    assert redis_client.zcard(LOG.format("held")) == 1
    logged_while_waiting: list[int] = []
    clock.while_waiting = lambda: logged_while_waiting.append(redis_client.zcard(LOG.format("held")))
    assert limiter.admit("held", 1, max_wait=5)
    assert clock.slept == [1.05]  # held until the first call left the window (1 s, +5 %)
    assert logged_while_waiting == [1]  # the waiting call took no room
    assert redis_client.zcard(LOG.format("held")) == 1  # the first call aged out as the second went


def test_rate_limiter_spaces_reservations(limiter: RateLimiter) -> None:
    waits = [limiter.reserve("p", CallCost(5, None, 1), max_wait=5).wait for _ in range(5)]
    # 5/s with 5 % headroom: 0.21 s apart.
    assert waits == [0.0, 0.21, 0.42, 0.63, 0.84]
    assert limiter.reserve("p", CallCost(5, None, 1), max_wait=0.5).wait is None
    message_waits = [limiter.reserve("m", CallCost(None, 100, 50), max_wait=5).wait for _ in range(3)]
    assert message_waits == [0.0, 0.525, 1.05]


def test_refused_reservation_books_neither_limit(limiter: RateLimiter, redis_client: redis.Redis) -> None:
    """With both limits set, a booking one limit refuses must not take a slot of the other."""

    def book(max_wait: float) -> float | None:
        return limiter.reserve("both", CallCost(1000, 10, 10), max_wait=max_wait).wait

    assert book(5) == 0.0
    # The message limit is booked 1.05 s ahead: a caller that will not wait is refused...
    assert book(0.1) is None
    assert book(0.1) is None
    # ...and the refusals left the request schedule as it was: the next call
    # waits only for the messages, both units booked from the same moment.
    assert book(5) == 1.05
    request_free_at = int(redis_client.get("newsletter:rate:both:requests") or 0)
    message_free_at = int(redis_client.get("newsletter:rate:both:messages") or 0)
    assert message_free_at - request_free_at == 1050 - 1  # 10 messages at 10/s vs 1 request at 1000/s, +5 %


def test_without_a_clock_the_limiter_books_on_redis_time(redis_client: redis.Redis) -> None:
    """Workers pass no clock: bookings are made on Redis's own clock, which every host shares."""
    limiter = RateLimiter(redis_client)
    sixty_messages = CallCost(None, 1, 60)  # 63 s of a 1/s limit, with the headroom
    assert limiter.reserve("redis", sixty_messages, max_wait=120).wait == 0.0
    seconds, microseconds = redis_client.time()
    free_at = int(redis_client.get("newsletter:rate:redis:messages") or 0)
    assert 60_000 < free_at - (seconds * 1000 + microseconds // 1000) <= 63_000
    second = limiter.reserve("redis", sixty_messages, max_wait=120).wait
    assert second is not None and 60 < second <= 63
    assert limiter.admit("redis", 1, max_wait=5)
    [(_, logged_at)] = redis_client.zrange(LOG.format("redis"), 0, -1, withscores=True)
    assert abs(logged_at - (seconds * 1000 + microseconds // 1000)) < 60_000

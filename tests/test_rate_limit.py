"""The shared rate limit: bookings spaced at the rate, and the check at the moment of the call that holds late callers."""

from __future__ import annotations

import threading
import time

import redis
from workers.delivery.rate_limit import CallCost, RateLimiter

RATE = 10.0


LOG = "newsletter:rate:{}:requests:log"


def busiest_window(times: list[float], width: float) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + width) for start in ordered)


def test_callers_that_wake_late_are_held_to_the_rate(redis_client: redis.Redis) -> None:
    """Twenty calls booked at 10/s; the first five go out 0.4 s after their slot, as from a worker on a busy CPU.

    On the bookings alone they land among the punctual calls' slots, and one
    second sees thirteen or more calls. Checked at the call, no second holds
    more than ten.
    """
    limiter = RateLimiter(redis_client)
    booked = time.monotonic()
    slots = []
    for index in range(20):
        wait = limiter.reserve("late", CallCost(RATE, None, 1), max_wait=10).wait
        assert wait is not None
        slots.append(booked + wait + (0.4 if index < 5 else 0.0))
    started = []
    for due in sorted(slots):  # one caller after another, in the order they wake up
        time.sleep(max(0.0, due - time.monotonic()))
        assert limiter.admit("late", RATE, max_wait=10)
        started.append(time.monotonic())
    # The log's window is 1.05 s of Redis's clock; the caller reads its own
    # clock a moment later. A window a little shorter absorbs that.
    assert busiest_window(started, 0.9) <= RATE


def test_a_fractional_rate_holds_whole_calls_over_a_longer_window(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    first = time.monotonic()
    assert limiter.admit("odd", 1.5, max_wait=5) and limiter.admit("odd", 1.5, max_wait=5)  # two calls per 1.33 s
    assert time.monotonic() - first < 0.2
    assert limiter.admit("odd", 1.5, max_wait=5)
    assert time.monotonic() - first >= 1.39  # the third waits for the first to leave the window (1.33 s, +5 %)


def test_a_call_held_back_takes_no_room_and_gives_up_after_its_longest_wait(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    assert limiter.admit("held", 1, max_wait=5)
    started = time.monotonic()
    assert not limiter.admit("held", 1, max_wait=0.2)  # the window is full for another second
    assert time.monotonic() - started < 0.2  # refused at once: waiting could not have helped in time
    assert redis_client.zcard(LOG.format("held")) == 1
    waiter = threading.Thread(target=limiter.admit, args=("held", 1), kwargs={"max_wait": 5})
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive() and redis_client.zcard(LOG.format("held")) == 1
    waiter.join()
    assert redis_client.zcard(LOG.format("held")) == 1  # the first call aged out as the second went


def test_rate_limiter_spaces_reservations(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    waits = [limiter.reserve("p", CallCost(5, None, 1), max_wait=5).wait for _ in range(5)]
    assert waits[0] == 0
    assert all(w is not None for w in waits)
    # 5/s with 5 % headroom: 0.21 s apart, less the time that passed between the calls.
    for wait, booked in zip(waits, [0.0, 0.21, 0.42, 0.63, 0.84], strict=True):
        assert booked - 0.05 <= (wait or 0) <= booked
    assert limiter.reserve("p", CallCost(5, None, 1), max_wait=0.5).wait is None
    message_waits = [limiter.reserve("m", CallCost(None, 100, 50), max_wait=5).wait for _ in range(3)]
    for wait, booked in zip(message_waits, [0.0, 0.525, 1.05], strict=True):
        assert booked - 0.05 <= (wait or 0) <= booked


def test_refused_reservation_books_neither_limit(redis_client: redis.Redis) -> None:
    """With both limits set, a booking one limit refuses must not take a slot of the other."""
    limiter = RateLimiter(redis_client)

    def book(max_wait: float) -> float | None:
        return limiter.reserve("both", CallCost(1000, 10, 10), max_wait=max_wait).wait

    assert book(5) == 0.0
    # The message limit is booked ~1.05 s ahead: a caller that will not wait is refused...
    assert book(0.1) is None
    assert book(0.1) is None
    # ...and the refusals left the request schedule as it was: the next call
    # waits only for the messages, both units booked from the same moment.
    assert 0.9 < (book(5) or 0) <= 1.05
    request_free_at = int(redis_client.get("newsletter:rate:both:requests") or 0)
    message_free_at = int(redis_client.get("newsletter:rate:both:messages") or 0)
    assert message_free_at - request_free_at == 1050 - 1  # 10 messages at 10/s vs 1 request at 1000/s, +5 %

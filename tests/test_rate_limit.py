"""The shared rate limit: bookings spaced at the rate, and the check at the moment of the call that holds late callers."""

from __future__ import annotations

import threading
import time

import redis

from workers.rate_limit import CallCost, RateLimiter

RATE = 10.0


def busiest_window(times: list[float], width: float) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + width) for start in ordered)


def test_callers_that_wake_late_are_held_to_the_rate(redis_client: redis.Redis) -> None:
    """The first five callers oversleep their booked slot by 0.4 s, as a worker on a busy CPU does.

    On the bookings alone they land among the punctual callers' slots, and
    one second sees fourteen calls. Checked at the call, no second holds more
    than ten.
    """
    limiter = RateLimiter(redis_client)
    started: list[float] = []
    lock = threading.Lock()

    def caller(late: bool) -> None:
        wait = limiter.reserve("late", CallCost(RATE, None, 1), max_wait=10).wait
        assert wait is not None
        time.sleep(wait + (0.4 if late else 0.0))
        limiter.admit("late", CallCost(RATE, None, 1))
        with lock:
            started.append(time.monotonic())

    threads = []
    for index in range(20):
        thread = threading.Thread(target=caller, args=(index < 5,))
        thread.start()
        threads.append(thread)
        time.sleep(0.002)  # book in order, so the first five hold the first slots
    for thread in threads:
        thread.join()
    assert len(started) == 20
    # The log's window is a second of Redis's clock; the callers read theirs a
    # few milliseconds after. A slightly shorter window absorbs that.
    assert busiest_window(started, 0.95) <= RATE


def test_a_rate_under_one_per_second_spreads_calls_over_more_than_a_second(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    assert limiter.admit("slow", CallCost(0.8, None, 1)) == 0.0
    waited = limiter.admit("slow", CallCost(0.8, None, 1))
    assert 1.1 <= waited <= 1.32  # one call per 1.25 s, +5 %


def test_a_call_bigger_than_a_second_of_messages_goes_alone(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    assert limiter.admit("big", CallCost(None, 10, 50)) == 0.0
    waited = limiter.admit("big", CallCost(None, 10, 1))
    assert 0.8 <= waited <= 1.06  # a window, less the moments between the calls


def test_every_limited_unit_must_have_room(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    for _ in range(3):  # three requests of one message each: the message limit has room to spare
        assert limiter.admit("requests", CallCost(3, 100, 1)) == 0.0
    waited = limiter.admit("requests", CallCost(3, 100, 1))
    assert 0.8 <= waited <= 1.06  # the request limit is full for the rest of that second
    assert limiter.admit("messages", CallCost(100, 100, 60)) == 0.0
    waited = limiter.admit("messages", CallCost(100, 100, 50))
    assert 0.8 <= waited <= 1.06  # now the message limit is the full one


def test_a_call_held_back_takes_no_room(redis_client: redis.Redis) -> None:
    """Only a call that goes out is logged: one waiting for room leaves the log as it was."""
    limiter = RateLimiter(redis_client)
    log = "newsletter:rate:held:requests:log"
    assert limiter.admit("held", CallCost(1, None, 1)) == 0.0
    waiter = threading.Thread(target=limiter.admit, args=("held", CallCost(1, None, 1)))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive() and redis_client.zcard(log) == 1
    waiter.join()
    assert redis_client.zcard(log) == 1  # the first call aged out as the second went


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

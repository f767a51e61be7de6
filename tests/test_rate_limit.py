"""The shared rate limit at the moment of the call: late wakers are held, odd rates and big calls are kept to."""

from __future__ import annotations

import threading
import time

import redis

from workers.rate_limit import RateLimiter

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
        wait = limiter.reserve("late", requests_per_second=RATE, messages_per_second=None, messages=1, max_wait=10).wait
        assert wait is not None
        time.sleep(wait + (0.4 if late else 0.0))
        limiter.admit("late", requests_per_second=RATE, messages_per_second=None, messages=1)
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
    assert limiter.admit("slow", requests_per_second=0.8, messages_per_second=None, messages=1) == 0.0
    waited = limiter.admit("slow", requests_per_second=0.8, messages_per_second=None, messages=1)
    assert 1.1 <= waited <= 1.32  # one call per 1.25 s, +5 %


def test_a_call_bigger_than_a_second_of_messages_goes_alone(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    assert limiter.admit("big", requests_per_second=None, messages_per_second=10, messages=50) == 0.0
    waited = limiter.admit("big", requests_per_second=None, messages_per_second=10, messages=1)
    assert 0.8 <= waited <= 1.06  # a window, less the moments between the calls


def test_every_limited_unit_must_have_room(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    for _ in range(3):  # three requests of one message each: the message limit has room to spare
        assert limiter.admit("requests", requests_per_second=3, messages_per_second=100, messages=1) == 0.0
    waited = limiter.admit("requests", requests_per_second=3, messages_per_second=100, messages=1)
    assert 0.8 <= waited <= 1.06  # the request limit is full for the rest of that second
    assert limiter.admit("messages", requests_per_second=100, messages_per_second=100, messages=60) == 0.0
    waited = limiter.admit("messages", requests_per_second=100, messages_per_second=100, messages=50)
    assert 0.8 <= waited <= 1.06  # now the message limit is the full one


def test_a_call_held_back_takes_no_room(redis_client: redis.Redis) -> None:
    """Only a call that goes out is logged: one waiting for room leaves the log as it was."""
    limiter = RateLimiter(redis_client)
    log = "newsletter:rate:held:requests:log"
    assert limiter.admit("held", requests_per_second=1, messages_per_second=None, messages=1) == 0.0
    limits = {"requests_per_second": 1, "messages_per_second": None, "messages": 1}
    waiter = threading.Thread(target=limiter.admit, args=("held",), kwargs=limits)
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive() and redis_client.zcard(log) == 1
    waiter.join()
    assert redis_client.zcard(log) == 1  # the first call aged out as the second went

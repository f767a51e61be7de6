"""Waiting for something another thread or process is bound to do."""

from __future__ import annotations

import time
from collections.abc import Callable

#: How long ``wait_until`` waits: only a broken test gets near it, however busy the machine.
WAIT_BOUND = 30.0


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_BOUND) -> None:
    """Poll until ``condition`` holds, something another thread or process is bound to do; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.01)

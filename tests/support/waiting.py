"""Waiting for something another thread or process is bound to do."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Select, text

from publisher.db.engine import Database

#: How long ``wait_until`` waits: only a broken test gets near it, however busy the machine.
WAIT_BOUND = 30.0


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_BOUND) -> None:
    """Poll until ``condition`` holds, something another thread or process is bound to do; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.01)


def waiting_on_locks(db: Database) -> int:
    """How many PostgreSQL sessions of the test's database wait for a lock another holds."""
    with db.engine.connect() as connection:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        return int(connection.execute(text(query)).scalar_one())


class Running:
    """A function run in a thread; its exception, if any, is raised again by ``result``."""

    def __init__(self, function: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = function()
            except BaseException as exc:  # handed to the test thread by result()
                self._error = exc

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def finished(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> Any:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the call never returned"
        if self._error is not None:
            raise self._error
        return self._value


@contextmanager
def holding_lock(db: Database, locking: Select[Any]) -> Iterator[Connection]:
    """Hold the row locks ``locking`` (a SELECT … FOR UPDATE) takes until the block ends, in a transaction then rolled back."""
    with db.engine.connect() as connection, connection.begin() as transaction:
        connection.execute(locking)
        yield connection
        transaction.rollback()

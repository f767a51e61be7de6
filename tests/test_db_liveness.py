"""A pooled PostgreSQL connection the server ended is replaced before use; a busy one is not pinged.

The server is real: ``pg_terminate_backend`` ends a worker's connection as a
restart would (the server sends its last error and closes the socket). Time
is moved (time-machine), not waited for, to make a connection idle.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import make_url, text
from time_machine import TimeMachineFixture

from publisher.db.engine import Database, open_database
from publisher.db.liveness import PING_AFTER_IDLE
from tests.support.waiting import wait_until


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    database = open_database(postgres_url)
    yield database
    database.dispose()


@pytest.fixture
def pings(pg: Database) -> Iterator[list[int]]:
    """One entry per ``SELECT 1`` ping sent on checkout."""
    sent: list[int] = []
    dialect = pg.engine.dialect
    real = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        sent.append(1)
        return real(dbapi_connection)

    dialect.do_ping = counted  # type: ignore[method-assign]
    yield sent
    dialect.do_ping = real  # type: ignore[method-assign]


def backend(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(text("SELECT pg_backend_pid()")))


def terminate_every_connection(postgres_url: str) -> set[int]:
    """End every other backend of the database, as a restart would, and wait until they are gone; return their pids."""
    plain = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with psycopg.connect(plain, autocommit=True) as admin:
        ended = {row[0] for row in admin.execute(f"SELECT pid, pg_terminate_backend(pid) {others}")}
        wait_until(lambda: admin.execute(f"SELECT count(*) {others}").fetchone() == (0,))
    return ended


def test_connections_the_server_ended_are_replaced_without_an_error_or_a_ping(pg: Database, pings: list[int], postgres_url: str) -> None:
    pooled = {backend(pg), backend(pg)}
    assert pooled <= terminate_every_connection(postgres_url)
    # Each would raise OperationalError had a dead connection been handed out.
    after = {backend(pg) for _ in range(4)}
    assert not after & pooled
    assert pings == []


def test_a_busy_connection_is_not_pinged_and_one_idle_for_long_is(pg: Database, pings: list[int], time_machine: TimeMachineFixture) -> None:
    time_machine.move_to(dt.datetime.now(dt.UTC))
    for _ in range(3):
        backend(pg)
    assert pings == []
    time_machine.shift(PING_AFTER_IDLE + 1)
    backend(pg)
    assert pings == [1]

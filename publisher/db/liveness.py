"""Checking a pooled PostgreSQL connection before use, without a round trip while it is busy.

SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` on every checkout: a
round trip for every transaction, two for each batch a worker delivers.
A connection the server ended (a restart, ``pg_terminate_backend``, an
idle timeout) has had its socket closed, with a last error message sent
first: the socket is readable while no query is in flight. That is seen
with a poll of zero timeout, no round trip. Only a connection idle for
longer than ``PING_AFTER_IDLE`` is still pinged, for a server that went
away without closing it (a host lost, a firewall that drops idle flows).
A connection found dead is replaced before the caller gets it, as with
``pool_pre_ping``.
"""

from __future__ import annotations

import select
import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

#: Seconds a connection may sit in the pool before its next checkout sends a ``SELECT 1``.
PING_AFTER_IDLE = 30.0
_IDLE_SINCE = "idle_since"


def check_on_checkout(engine: Engine) -> None:
    """Replace a pooled connection the server closed, and ping one that sat idle, each time one is checked out."""
    dialect = engine.dialect

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.time()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None:
            return  # a connection made just now
        if _closed_by_server(dbapi_connection):
            raise DisconnectionError("the server closed the connection")
        if time.time() - idle_since > PING_AFTER_IDLE:
            try:
                dialect.do_ping(dbapi_connection)
            except dialect.loaded_dbapi.Error as exc:
                raise DisconnectionError(f"the connection did not answer a ping: {exc}") from exc

    event.listen(engine.pool, "checkin", checkin)
    event.listen(engine.pool, "checkout", checkout)


def _closed_by_server(dbapi_connection: Any) -> bool:
    """Whether the server closed the connection, or said something unasked (which only an ending connection does here)."""
    if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
        return True
    try:
        socket = dbapi_connection.fileno()
    except Exception:  # a connection that cannot name its socket is no use either
        return True
    poller = select.poll()
    poller.register(socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))

"""The one clock: every "now" of the ledger, leases, deferrals and expiry is read here.

Tests move time with ``time-machine`` rather than sleeping, which works because
nothing keeps its own idea of the current time.
"""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)

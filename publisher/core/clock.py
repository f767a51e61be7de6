"""The one clock: every "now" of the ledger, leases, deferrals and expiry is read here.

Tests move time with ``time-machine`` rather than sleeping, which works because
nothing keeps its own idea of the current time.
"""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


#: The years a recorded time may fall in. A platform or an export writing
#: 0001-01-01 means "no time", and years near either end of Python's range
#: cannot even be moved to UTC (OverflowError), let alone stored.
FIRST_YEAR = 1970
LAST_YEAR = 2200
OUT_OF_RANGE = f"is not between {FIRST_YEAR} and {LAST_YEAR}"


def within_range(moment: dt.datetime) -> dt.datetime:
    """``moment`` (aware) in UTC; ValueError (OUT_OF_RANGE) when it is not in the years FIRST_YEAR to LAST_YEAR."""
    try:
        utc = moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(OUT_OF_RANGE) from None
    if not FIRST_YEAR <= utc.year <= LAST_YEAR:
        raise ValueError(OUT_OF_RANGE)
    return utc

"""IANA time zones: which names are accepted, and the UTC instant of a local time in one of them.

A name is accepted only if the zone database lists it
(``zoneinfo.available_timezones``): ``ZoneInfo`` alone would also open files
such as ``localtime`` or ``posixrules`` that are no zone anyone chose.

Local times are resolved with ``zoneinfo`` for their own date, so a send at
09:00 is at 09:00 on both sides of a daylight-saving change. A local time
that does not exist (the hour skipped when clocks go forward) is moved
forward by the gap: 02:30 on a night that jumps from 02:00 to 03:00 is
03:30. A local time that happens twice (the hour repeated when clocks go
back) is the first of the two. Both are ``zoneinfo``'s rules for ``fold=0``.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

#: The zone of lists created without one, and of the example in messages.
DEFAULT_ZONE = "UTC"
EXAMPLE_ZONE = "Europe/Paris"
#: Longer than any IANA name (the longest is about 32 characters); checked before any lookup.
MAX_ZONE_LENGTH = 64


#: Files some zone databases hold beside the zones (Debian's ``localtime`` is the machine's own).
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def _zone_names() -> frozenset[str]:
    names = zoneinfo.available_timezones() - _NOT_ZONES
    return frozenset(name for name in names if not name.startswith(("posix/", "right/")))


@functools.cache
def _folded() -> dict[str, str]:
    return {name.casefold(): name for name in _zone_names()}


def check_zone(name: str) -> str:
    """``name`` if it is an IANA time zone; ValueError saying what to give instead."""
    if name in _zone_names():
        return name
    shown = name[:MAX_ZONE_LENGTH]
    meant = _folded().get(name.casefold()) if len(name) <= MAX_ZONE_LENGTH else None
    hint = f"did you mean {meant}?" if meant else f"use an IANA name such as {EXAMPLE_ZONE}, America/New_York or UTC"
    raise ValueError(f"unknown time zone {shown!r}: {hint}")


def is_zone(name: object) -> bool:
    return isinstance(name, str) and name in _zone_names()


@functools.cache
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone called ``name`` (checked with ``check_zone`` first)."""
    return zoneinfo.ZoneInfo(check_zone(name))


def local_instant(local: dt.datetime, name: str) -> dt.datetime:
    """The UTC instant at which it is ``local`` (naive) in zone ``name``; see the module docstring for gaps and repeats."""
    if local.tzinfo is not None:
        raise ValueError("a local time has no offset")
    return local.replace(tzinfo=zone(name), fold=0).astimezone(dt.UTC)

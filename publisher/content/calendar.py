"""The next event of a recap as an iCalendar file (RFC 5545), for the issue's "add to calendar" link.

Times keep the event's own zone (``DTSTART;TZID=Europe/Paris:…``) with a
VTIMEZONE that defines it, so a calendar shows the event at the right hour
wherever its reader is, and moves it correctly if it is moved. The UID is
derived from the event itself (name, start, zone) under the site's host: the
same file every time, and the same entry in a calendar when two issues
announce the same event, rather than two.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from publisher.content.recap import NextEvent

PRODUCT = "-//newsletter//next event//EN"
MEDIA_TYPE = "text/calendar; charset=utf-8"
#: The zone's rules are written for a year either side of the event: enough
#: for any calendar to place it, and for one that moves it by a few months.
ZONE_MARGIN = dt.timedelta(days=366)


def event_uid(event: NextEvent, public_url: str) -> str:
    """A UID that names this event, and only it, on this site: ``<hash>@<host>``."""
    identity = "\0".join((event.name, _on_clock(event.starts_at, dt.UTC).isoformat(), event.timezone))
    host = urlsplit(public_url).hostname or "localhost"
    return f"next-event-{hashlib.sha256(identity.encode('utf-8')).hexdigest()[:32]}@{host}"


def next_event_ics(event: NextEvent, *, public_url: str, stamp: dt.datetime) -> bytes:
    """The event as a one-event calendar; ``stamp`` (DTSTAMP) is when the issue went out, so the file never changes."""
    zone = ZoneInfo(event.timezone)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    entry = Event()
    entry.add("uid", event_uid(event, public_url))
    entry.add("dtstamp", stamp.astimezone(dt.UTC) if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC))
    entry.add("dtstart", _on_clock(event.starts_at, zone))
    entry.add("dtend", _on_clock(event.ends_at, zone))
    entry.add("summary", event.name)
    if event.venue:
        entry.add("location", event.venue)
    if event.url:
        entry.add("url", str(event.url))
        entry.add("description", f"Register: {event.url}")
    calendar.add_component(entry)
    first, last = _on_clock(event.starts_at, zone).date(), _on_clock(event.ends_at, zone).date()
    calendar.add_missing_timezones(_shifted(first, -ZONE_MARGIN), _shifted(last, ZONE_MARGIN))
    return bytes(calendar.to_ical())


# A recap refuses times outside 1970-2200; these keep a value read before that
# bound, or built by code, from failing at the very ends of Python's calendar.


def _on_clock(value: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    try:
        return value.astimezone(zone)
    except OverflowError:
        return value


def _shifted(day: dt.date, delta: dt.timedelta) -> dt.date:
    try:
        return day + delta
    except OverflowError:
        return dt.date.min if delta < dt.timedelta(0) else dt.date.max

"""What the event sections of an issue show: times in the event's own zone, the photo grid, calendar links.

The layout gets plain values from here and escapes them itself; nothing
here writes markup. Times are shown where the event happens, with that
zone's abbreviation ("18:30–20:30 CET"), whatever zone they were written in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import quote
from zoneinfo import ZoneInfo

from publisher.content.recap import Event, NextEvent, Photo

GOOGLE_CALENDAR = "https://calendar.google.com/calendar/render"
#: The card's width inside the 32 px margins, and the photo cells' own padding either side.
INNER_WIDTH = 536
PHOTO_GUTTER = 6
#: How many photos go side by side, by how many there are: two, or three, never a lone last one where it can be avoided.
MOST_ACROSS = 3


@dataclass(frozen=True)
class When:
    """When an event is: its day, and the times on that day ("18:30–20:30 CET"), which the HTML keeps on one line."""

    day: str
    time: str = ""

    @property
    def text(self) -> str:
        return f"{self.day}, {self.time}" if self.time else self.day


@dataclass(frozen=True)
class EventCard:
    """The event an issue recaps: its name, when and where, each line ready to show."""

    name: str
    when: When | None
    venue: str
    url: str


@dataclass(frozen=True)
class NextEventCard:
    """The event to come: what the card shows and where its calendar links lead."""

    name: str
    when: When
    venue: str
    register_url: str
    google_url: str
    #: The campaign's .ics of this event; empty when no campaign exists yet (a preview of a file).
    ics_url: str


@dataclass(frozen=True)
class PhotoCell:
    url: str
    alt: str
    #: The size shown on a desktop client: the cell's width, the photo's proportions.
    width: int
    height: int


def event_card(event: Event | None) -> EventCard | None:
    if event is None:
        return None
    when = None
    if event.starts_at is not None:
        when = time_range(event.starts_at, event.ends_at, event.timezone)
    elif event.date is not None:
        when = When(f"{event.date:%A} {event.date.day} {event.date:%B %Y}")
    return EventCard(name=event.name, when=when, venue=event.venue or "", url=str(event.url) if event.url else "")


def next_event_card(event: NextEvent | None, ics_url: str | None) -> NextEventCard | None:
    if event is None:
        return None
    return NextEventCard(
        name=event.name,
        when=time_range(event.starts_at, event.ends_at, event.timezone),
        venue=event.venue or "",
        register_url=str(event.url) if event.url else "",
        google_url=google_calendar_url(event),
        ics_url=ics_url or "",
    )


def calendar_url(public_url: str, campaign_id: int) -> str:
    """Where the web app serves the next event of ``campaign_id`` as an .ics file."""
    return f"{public_url.rstrip('/')}/archive/{campaign_id}/next-event.ics"


def time_range(starts_at: dt.datetime, ends_at: dt.datetime | None, zone_name: str | None) -> When:
    """'Thursday 4 December 2026' and '18:30–20:30 CET': the times where the event is."""
    start, end = local_time(starts_at, zone_name), local_time(ends_at, zone_name) if ends_at else None
    day = _day(start)
    if end is None:
        return When(day, f"{start:%H:%M}{_zone(start)}")
    if end.date() != start.date():
        return When(f"{day}, {start:%H:%M}{_zone(start)} – {_day(end)}", f"{end:%H:%M}{_zone(end)}")
    if _zone(start) != _zone(end):
        # The clocks changed during the event: each time says which zone it is in.
        return When(day, f"{start:%H:%M}{_zone(start)}–{end:%H:%M}{_zone(end)}")
    return When(day, f"{start:%H:%M}–{end:%H:%M}{_zone(end)}")


def local_time(value: dt.datetime, zone_name: str | None) -> dt.datetime:
    """``value`` on the event's clock: converted when it has an offset, read as that zone's time when it has none."""
    if zone_name is None:
        return value
    zone = ZoneInfo(zone_name)
    if value.tzinfo is None:
        return value.replace(tzinfo=zone)
    try:
        return value.astimezone(zone)
    except OverflowError:  # at the very ends of the calendar: shown as written rather than not at all
        return value


def _day(value: dt.datetime) -> str:
    return f"{value:%A} {value.day} {value:%B %Y}"


def _zone(value: dt.datetime) -> str:
    abbreviation = value.tzname()
    if not abbreviation:
        return ""
    # Some zones have no letters, only an offset ("+03"): say what it is an offset from.
    return f" UTC{abbreviation}" if abbreviation[0] in "+-" else f" {abbreviation}"


def google_calendar_url(event: NextEvent) -> str:
    """A Google Calendar link that opens a new event filled in with this one (UTC times, shown in the event's zone)."""
    params = {
        "action": "TEMPLATE",
        "text": event.name,
        "dates": f"{_utc(event.starts_at)}/{_utc(event.ends_at)}",
        "ctz": event.timezone,
        "details": f"Register: {event.url}" if event.url else "",
        "location": event.venue or "",
    }
    # Every value percent-encoded, "/" included, but the one between the two dates, as Google's own links write it.
    query = "&".join(f"{key}={quote(value, safe='/' if key == 'dates' else '')}" for key, value in params.items() if value)
    return f"{GOOGLE_CALENDAR}?{query}"


def _utc(value: dt.datetime) -> str:
    try:
        value = value.astimezone(dt.UTC)
    except OverflowError:  # at the very ends of the calendar: the nearest time that exists
        value = dt.datetime.min if value.year == dt.MINYEAR else dt.datetime.max
    return value.strftime("%Y%m%dT%H%M%SZ")


def photo_rows(photos: list[Photo]) -> list[list[PhotoCell]]:
    """The photos in rows of two or three, each sized to its cell at the 600 px width."""
    if not photos:
        return []
    across = across_for(len(photos))
    width = (INNER_WIDTH + 2 * PHOTO_GUTTER) // across - 2 * PHOTO_GUTTER
    cells = [
        PhotoCell(
            url=str(photo.url),
            alt=photo.alt,
            # Never larger than the photo itself: a small image is not blown up.
            width=min(width, photo.width),
            height=max(1, round(min(width, photo.width) * photo.height / photo.width)),
        )
        for photo in photos
    ]
    return [cells[start : start + across] for start in range(0, len(cells), across)]


def across_for(count: int) -> int:
    """How many photos a row holds: one alone, two for two or four, three otherwise."""
    if count == 1:
        return 1
    return 2 if count in (2, 4) else MOST_ACROSS

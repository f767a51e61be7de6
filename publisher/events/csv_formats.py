"""The attendee exports of each platform: the columns that give each away, and how one of its rows reads.

The column names are the platforms' own (docs/events.md, "Attendee CSV
exports", says where each comes from); headers are compared lower-cased and
trimmed, as the subscriber import compares them. A row that cannot stand
for a registration raises RowSkipped with the reason, and only that row is
left out.

Times without an offset are read in the event's time zone: the platforms
write them in the organiser's zone, which the event carries. Dates written
with slashes are read month first, as the platforms' US-English exports
write them.
"""

from __future__ import annotations

import abc
import datetime as dt
import itertools
from dataclasses import dataclass
from typing import ClassVar
from zoneinfo import ZoneInfo

from publisher.audience.subscriber_rows import MAX_FIELD, UnsendableAddressError, sendable_email
from publisher.core.clock import within_range
from publisher.core.text_rules import refuse_control_characters
from publisher.db.models import Attendance

#: Values a platform writes for "no time" (Zoom writes ``--``).
EMPTY = frozenset({"", "--", "-", "n/a"})
TRUE = frozenset({"true", "yes", "y", "1"})
FALSE = frozenset({"false", "no", "n", "0"})
#: Written times the exports use, after ISO 8601 (which Luma and the generic format use).
TIME_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",  # Zoom: 08/02/2026 10:50:00 AM
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%y %H:%M",  # Eventbrite: 11/29/24 22:28
    "%m/%d/%y %I:%M %p",
    "%b %d, %Y %H:%M:%S",  # Zoom: Mar 22, 2025 19:13:27
    "%b %d, %Y %I:%M:%S %p",
    "%b %d, %Y %I:%M %p",
    "%m/%d/%Y",
)
MAX_ID = 100


class RowSkipped(ValueError):
    """This row stands for no registration that can be recorded; the message says why."""


@dataclass(frozen=True)
class Row:
    """One line of an export, read: what the registration says, its address already normalised."""

    email: str
    first_name: str = ""
    last_name: str = ""
    attendance: Attendance = Attendance.UNKNOWN
    registered_at: dt.datetime | None = None
    checked_in_at: dt.datetime | None = None
    platform_id: str | None = None
    consent: bool = False


class ExportFormat(abc.ABC):
    """One platform's attendee export: the columns that identify it and how one of its rows reads."""

    #: The --format name.
    name: ClassVar[str]
    #: The source an event created from this export gets.
    source: ClassVar[str]
    #: What the export is called at the platform, for messages.
    label: ClassVar[str]
    #: Lower-cased columns its header always has; the first is its address column.
    required: ClassVar[tuple[str, ...]]
    #: Alternative spellings some accounts' exports use, mapped to the names used here.
    aliases: ClassVar[dict[str, str]] = {}
    #: Whether the export opens with sections of its own before the table read here.
    sections: ClassVar[bool] = False

    def normalise(self, columns: list[str]) -> list[str]:
        return [self.aliases.get(column, column) for column in columns]

    def recognises(self, columns: set[str]) -> bool:
        return set(self.required) <= columns

    def starts_table(self, values: list[str]) -> bool:
        """Whether the table's header is the record after this one (a report with sections before its table)."""
        return False

    def ends_table(self, values: list[str]) -> bool:
        """Whether this record starts another section, after which nothing is read."""
        return False

    def event_name(self, preamble: list[list[str]], record: dict[str, str]) -> str | None:
        """The event's name, where the export carries it (before its table, or in a column of ``record``)."""
        return None

    @abc.abstractmethod
    def read(self, record: dict[str, str], zone: ZoneInfo) -> Row:
        """The registration on one row (its values by lower-cased column); RowSkipped when there is none."""


class Eventbrite(ExportFormat):
    """Eventbrite's Attendee Summary report (Reports → Attendee summary → Export CSV)."""

    name = "eventbrite"
    source = "eventbrite"
    label = "Eventbrite's attendee summary report"
    required = ("email", "order #", "attendee status")
    #: The en-GB export writes "Order no." and "Surname".
    aliases: ClassVar[dict[str, str]] = {"order no.": "order #", "surname": "last name"}
    #: Statuses of someone who holds a ticket; the rest (refunded, cancelled, transferred, deleted…) do not.
    registered = frozenset({"attending", "checked in", "checked-in"})

    def event_name(self, preamble: list[list[str]], record: dict[str, str]) -> str | None:
        return record.get("event name") or None

    def read(self, record: dict[str, str], zone: ZoneInfo) -> Row:
        status = record["attendee status"].strip()
        checked_in = status.lower() in ("checked in", "checked-in") or truth(record, "checked in") is True
        if status.lower() not in self.registered:
            raise RowSkipped(f"Attendee Status is '{status}': holds no ticket (refunded, cancelled or transferred)")
        return Row(
            email=address(record["email"]),
            first_name=person_name(record, "first name"),
            last_name=person_name(record, "last name"),
            attendance=Attendance.YES if checked_in else Attendance.NO,
            registered_at=when(record, "order date", zone),
            platform_id=identifier(record, "attendee #"),
        )


class Luma(ExportFormat):
    """Luma's guest list (Manage event → Guests → Download as CSV)."""

    name = "luma"
    source = "luma"
    label = "Luma's guest CSV"
    required = ("email", "approval_status", "checked_in_at")
    aliases: ClassVar[dict[str, str]] = {"guest_id": "api_id"}
    #: ``session``: approved for a session of a series.
    registered = frozenset({"approved", "session", ""})

    def read(self, record: dict[str, str], zone: ZoneInfo) -> Row:
        checked_in_at = when(record, "checked_in_at", zone)
        status = record["approval_status"].strip()
        if checked_in_at is None and status.lower() not in self.registered:
            raise RowSkipped(f"approval_status is '{status}': not a guest who is going")
        first, last = names(record, "first_name", "last_name", full="name")
        return Row(
            email=address(record["email"]),
            first_name=first,
            last_name=last,
            attendance=Attendance.YES if checked_in_at else Attendance.NO,
            registered_at=when(record, "created_at", zone),
            checked_in_at=checked_in_at,
            platform_id=identifier(record, "api_id"),
        )


class Zoom(ExportFormat):
    """Zoom's webinar Attendee report (Reports → Webinar → Attendee report → CSV): its "Attendee Details" section.

    The report opens with sections of its own (the webinar's topic and
    figures, the host, the panelists), each with its header; only the
    attendees' section is read. Someone who joined twice is on two lines.
    """

    name = "zoom"
    source = "zoom"
    label = "Zoom's webinar attendee report"
    required = ("email", "attended")
    sections = True

    def starts_table(self, values: list[str]) -> bool:
        return bool(values) and values[0].strip().lower() == "attendee details"

    def ends_table(self, values: list[str]) -> bool:
        # A section title ("Other Attended", "Panelist Details"): one value, in the first column.
        filled = [value for value in values if value.strip()]
        return len(filled) == 1 and bool(values[0].strip()) and values[0].strip().lower() not in TRUE | FALSE

    def event_name(self, preamble: list[list[str]], record: dict[str, str]) -> str | None:
        for header, values in itertools.pairwise(preamble):
            columns = [value.strip().lower() for value in header]
            if "topic" in columns and columns.index("topic") < len(values):
                return values[columns.index("topic")].strip() or None
        return None

    def read(self, record: dict[str, str], zone: ZoneInfo) -> Row:
        attended = truth(record, "attended")
        if attended is None:
            raise RowSkipped(f"Attended is '{record['attended'].strip()}': expected Yes or No")
        status = record.get("approval status", "").strip()
        if not attended and status.lower() not in ("", "approved"):
            raise RowSkipped(f"Approval Status is '{status}': not a registration")
        first, last = names(record, "first name", "last name", full="user name (original name)")
        return Row(
            email=address(record["email"]),
            first_name=first,
            last_name=last,
            attendance=Attendance.YES if attended else Attendance.NO,
            registered_at=when(record, "registration time", zone),
            checked_in_at=when(record, "join time", zone) if attended else None,
        )


class Generic(ExportFormat):
    """Any other source, in columns of our own: ``email``, optional names, ``attended``, times and ``consent``."""

    name = "generic"
    source = "manual"
    label = "the generic format"
    required = ("email",)
    columns = frozenset({"email", "first_name", "last_name", "attended", "checked_in_at", "registered_at", "consent"})

    def recognises(self, columns: set[str]) -> bool:
        # Only a file with nothing but these columns is taken for one when the format is not named:
        # another platform's export with an email column must not be read as if it had no attendance data.
        return "email" in columns and columns <= self.columns

    def read(self, record: dict[str, str], zone: ZoneInfo) -> Row:
        checked_in_at = when(record, "checked_in_at", zone)
        attended = truth(record, "attended") if record.get("attended", "").strip() else None
        if "attended" in record and record["attended"].strip() and attended is None:
            raise RowSkipped(f"attended is '{record['attended'].strip()}': use true or false")
        if attended is False and checked_in_at is not None:
            raise RowSkipped("attended is false but checked_in_at has a time")
        if attended is None and checked_in_at is not None:
            attended = True
        consent = truth(record, "consent") if record.get("consent", "").strip() else False
        if consent is None:
            raise RowSkipped(f"consent is '{record['consent'].strip()}': use true or false")
        attendance = Attendance.UNKNOWN if attended is None else Attendance.YES if attended else Attendance.NO
        return Row(
            email=address(record["email"]),
            first_name=person_name(record, "first_name"),
            last_name=person_name(record, "last_name"),
            attendance=attendance,
            registered_at=when(record, "registered_at", zone),
            checked_in_at=checked_in_at,
            consent=consent,
        )


FORMATS: dict[str, ExportFormat] = {kind.name: kind for kind in (Eventbrite(), Luma(), Zoom(), Generic())}
#: Meetup's attendee list: no address in it, so it cannot be imported. These columns give it away.
MEETUP_COLUMNS = frozenset({"rsvp", "rsvped on", "user id", "member id", "guests", "url of member profile"})
MEETUP_REFUSAL = (
    "Meetup's attendee export carries no email addresses, so its people cannot be recorded or mailed: "
    "export them from a platform that gives their addresses, or use --format generic with an email column"
)


def address(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise RowSkipped("email is empty")
    try:
        return sendable_email(value)
    except UnsendableAddressError as exc:
        raise RowSkipped(f"'{value}': {exc}") from None
    except ValueError as exc:
        raise RowSkipped(f"'{value}' is not a valid email address: {exc}") from None


def person_name(record: dict[str, str], column: str) -> str:
    """A name column's value: one line (it goes into the To header), at most the subscriber import's length."""
    value = record.get(column, "").strip()
    if len(value) > MAX_FIELD:
        raise RowSkipped(f"{column} is longer than {MAX_FIELD} characters")
    try:
        refuse_control_characters(value)
    except ValueError as exc:
        raise RowSkipped(f"{column} {exc}") from None
    return value


def names(record: dict[str, str], first_column: str, last_column: str, *, full: str) -> tuple[str, str]:
    """The first and last name; when both are empty, the ``full`` name column split at its first space."""
    first, last = person_name(record, first_column), person_name(record, last_column)
    if not first and not last:
        first, _, rest = person_name(record, full).partition(" ")
        last = rest.strip()
    return first, last


def identifier(record: dict[str, str], column: str) -> str | None:
    value = record.get(column, "").strip()
    if not value:
        return None
    if len(value) > MAX_ID:
        raise RowSkipped(f"{column} is longer than {MAX_ID} characters")
    try:
        refuse_control_characters(value)
    except ValueError as exc:
        raise RowSkipped(f"{column} {exc}") from None
    return value


def truth(record: dict[str, str], column: str) -> bool | None:
    """A yes/no column's value; None when it is neither (or absent)."""
    value = record.get(column, "").strip().lower()
    return True if value in TRUE else False if value in FALSE else None


def when(record: dict[str, str], column: str, zone: ZoneInfo) -> dt.datetime | None:
    """A time column's value as an aware UTC time (None when empty); RowSkipped naming the column when it is not a time
    between 1970 and 2200."""
    value = record.get(column, "").strip()
    if value.lower() in EMPTY:
        return None
    moment = parse_time(value)
    if moment is None:
        raise RowSkipped(f"{column} '{value[:60]}' is not a time (e.g. 2026-12-04T18:30:00+01:00)")
    try:
        return within_range(moment if moment.tzinfo is not None else moment.replace(tzinfo=zone))
    except ValueError as exc:
        raise RowSkipped(f"{column} '{value[:60]}' {exc}") from None


def parse_time(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        pass
    for pattern in TIME_FORMATS:
        try:
            return dt.datetime.strptime(value, pattern)
        except ValueError:
            continue
    return None

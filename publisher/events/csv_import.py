"""Import an event's people from a platform's attendee export: ``newsletter events import`` and the console's `Import attendees`.

The file is read whole before anything is written: a file that cannot be
used at all (not UTF-8, too large, no address column, an export this does
not recognise, Meetup's) raises ImportFileError and writes nothing. A row
that cannot be used is reported with its line and left out; the rest are
recorded in one transaction, with the event made first when its slug is
new. Recording is idempotent (``registrants``), so importing the same file
again changes nothing.

Someone on several lines (a Zoom attendee who joined twice, an Eventbrite
buyer of several tickets) is one registrant: attended if any line says so,
registered and checked in at the earliest time given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from sqlalchemy import select

from publisher.audience.csv_file import RowProblem, read_records
from publisher.core.errors import ImportFileError
from publisher.core.settings import Settings
from publisher.core.text_rules import first_control_character
from publisher.db.engine import Database
from publisher.db.models import Attendance, Event
from publisher.events.catalogue import MAX_NAME, EventFields, check_fields, check_slug, ensure_event, update_event
from publisher.events.csv_formats import FORMATS, MEETUP_COLUMNS, MEETUP_REFUSAL, ExportFormat, Row, RowSkipped
from publisher.events.registrants import Registration, RegistrationReport, record_registrations

#: What --format takes: a platform, ``generic``, or ``auto`` to tell by the header.
FORMAT_CHOICES = ("auto", "eventbrite", "luma", "zoom", "generic", "meetup")
_RANK = {Attendance.UNKNOWN: 0, Attendance.NO: 1, Attendance.YES: 2}


@dataclass(frozen=True)
class AttendeeExport:
    """A file read: its format, one registration per address, the rows left out, and the event's name if it carries one."""

    format: ExportFormat
    registrations: list[Registration]
    problems: list[RowProblem]
    event_name: str | None


@dataclass(frozen=True)
class AttendeeImport:
    slug: str
    format: str
    created: bool
    report: RegistrationReport

    @property
    def summary(self) -> str:
        report = self.report
        parts = [f"{report.added} added", f"{report.updated} updated", f"{report.unchanged} unchanged"]
        if report.joined_list:
            parts.append(f"{report.joined_list} joined the sign-up list")
        return ", ".join([*parts, f"{len(report.problems)} skipped"])


def import_attendees(
    db: Database, settings: Settings, data: bytes, name: str, slug: str, kind: str = "auto", event_name: str | None = None
) -> AttendeeImport:
    """Record the people of the export ``data`` (called ``name`` in messages) as registrants of the event ``slug``.

    The event is made when it does not exist yet: with ``event_name``, else
    the name the export carries, else the slug. ``event_name`` renames an
    existing event; an export's own name never does.
    """
    check_slug(slug)
    if event_name is not None:
        check_fields(EventFields(name=event_name))
    if len(data) > settings.max_import_bytes:
        raise ImportFileError(
            f"{name}: the file is {len(data):,} bytes; at most {settings.max_import_bytes:,} are imported (NEWSLETTER_MAX_IMPORT_BYTES)"
        )
    with db.transaction() as session:
        zone = session.scalar(select(Event.timezone).where(Event.slug == slug)) or "UTC"
    export = read_export(data, name, kind, ZoneInfo(zone))
    with db.transaction() as session:
        event = session.scalar(select(Event).where(Event.slug == slug))
        created = event is None
        if event is None:
            fields = EventFields(name=event_name or export.event_name or slug)
            event = ensure_event(session, slug, export.format.source, fields)
        elif event_name is not None:
            update_event(event, EventFields(name=event_name))
        report = record_registrations(session, settings, event, export.registrations)
    report.problems = sorted([*export.problems, *report.problems], key=lambda problem: problem.line)
    return AttendeeImport(slug, export.format.name, created, report)


def read_export(data: bytes, name: str, kind: str = "auto", zone: ZoneInfo | None = None) -> AttendeeExport:
    """Read the export; ImportFileError (naming ``name`` and the line) when it is unusable as a whole."""
    if kind == "meetup":
        raise ImportFileError(f"{name}: {MEETUP_REFUSAL}")
    if kind not in FORMAT_CHOICES:
        raise ImportFileError(f"unknown format '{kind[:20]}': use {', '.join(FORMAT_CHOICES[:-1])}")
    records = _filled(read_records(data, name))
    first = next(records, None)
    if first is None:
        raise ImportFileError(f"{name}: the file is empty; expected a header row with an 'email' column")
    export_format = _detect(name, *first) if kind == "auto" else FORMATS[kind]
    line, header, preamble = _find_header(name, export_format, first, records)
    columns = _columns(name, line, header, export_format)
    rows: dict[str, tuple[int, Row]] = {}
    problems: list[RowProblem] = []
    event_name = None
    for line, values in records:
        if export_format.ends_table(values):
            break
        record = _record(columns, values)
        if isinstance(record, str):
            problems.append(RowProblem(line, record))
            continue
        if event_name is None:
            event_name = _usable_name(export_format.event_name(preamble, record))
        try:
            row = export_format.read(record, zone or ZoneInfo("UTC"))
        except RowSkipped as exc:
            problems.append(RowProblem(line, str(exc)))
            continue
        earlier = rows.get(row.email)
        rows[row.email] = (line, row) if earlier is None else (earlier[0], _merged(earlier[1], row))
    registrations = [_registration(line, row) for line, row in rows.values()]
    return AttendeeExport(export_format, registrations, problems, event_name)


def _filled(records: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    """The records with something in them: blank lines (and rows of empty cells) are no rows."""
    return ((line, values) for line, values in records if any(value.strip() for value in values))


def _lower(values: list[str]) -> list[str]:
    return [value.strip().lower() for value in values]


def _detect(name: str, line: int, values: list[str]) -> ExportFormat:
    """The export whose header (or opening line) this is; ImportFileError saying what was found when none."""
    columns = _lower(values)
    if columns and columns[0] == "attendee report":
        return FORMATS["zoom"]
    # The generic format first: a file of only its columns is it, even with an ``attended`` column as Zoom's.
    for export_format in sorted(FORMATS.values(), key=lambda candidate: candidate.name != "generic"):
        if export_format.recognises(set(export_format.normalise(columns))):
            return export_format
    found = ", ".join(value for value in columns if value)[:300] or "nothing"
    if "email" not in columns:
        if MEETUP_COLUMNS & set(columns):
            raise ImportFileError(f"{name}: this looks like Meetup's attendee list. {MEETUP_REFUSAL}")
        raise ImportFileError(f"{name}: line {line} has no 'email' column (found: {found})")
    raise ImportFileError(
        f"{name}: line {line} is not the header of an export this recognises (found: {found}); "
        "name its format with --format eventbrite, luma, zoom or generic (docs/events.md lists their columns)"
    )


def _find_header(
    name: str, export_format: ExportFormat, first: tuple[int, list[str]], records: Iterator[tuple[int, list[str]]]
) -> tuple[int, list[str], list[list[str]]]:
    """The header's line and values, and the records before it (a report's own sections)."""
    line, values = first
    if not export_format.sections or export_format.recognises(set(export_format.normalise(_lower(values)))):
        return line, values, []
    preamble = [values]
    for line, values in records:
        if export_format.starts_table(preamble[-1]):
            return line, values, preamble
        preamble.append(values)
    raise ImportFileError(f"{name}: no 'Attendee Details' section with its header: is this {export_format.label}?")


def _columns(name: str, line: int, header: list[str], export_format: ExportFormat) -> list[str]:
    columns = export_format.normalise(_lower(header))
    while columns and not columns[-1]:
        columns.pop()  # Reports pad every line with empty cells to the widest section.
    named = [column for column in columns if column]
    found = ", ".join(named)[:300] or "nothing"
    for column in export_format.required:
        if column not in named:
            raise ImportFileError(f"{name}: line {line} has no '{column}' column, which {export_format.label} has (found: {found})")
    if len(set(named)) != len(named):
        raise ImportFileError(f"{name}: line {line} repeats a column name")
    return columns


def _record(columns: list[str], values: list[str]) -> dict[str, str] | str:
    """The row's values by column, or why the row does not fit the header."""
    fields = list(values)
    while len(fields) > len(columns) and not fields[-1].strip():
        fields.pop()  # the padding of a report's wider sections
    if len(fields) != len(columns):
        return f"has {len(fields)} fields, the header has {len(columns)}"
    return {column: value for column, value in zip(columns, fields, strict=True) if column}


def _usable_name(name: str | None) -> str | None:
    """An event name from the export, if it is one an event may have (else the slug names the event)."""
    if name is None or len(name) > MAX_NAME or first_control_character(name) is not None:
        return None
    return name.strip() or None


def _merged(earlier: Row, later: Row) -> Row:
    """Two lines for one address folded into one: what either knows, the earliest times, attended if either says so."""

    def earliest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
        return min(a, b) if a and b else a or b

    return replace(
        earlier,
        first_name=earlier.first_name or later.first_name,
        last_name=earlier.last_name or later.last_name,
        attendance=max(earlier.attendance, later.attendance, key=_RANK.__getitem__),
        registered_at=earliest(earlier.registered_at, later.registered_at),
        checked_in_at=earliest(earlier.checked_in_at, later.checked_in_at),
        platform_id=earlier.platform_id or later.platform_id,
        consent=earlier.consent or later.consent,
    )


def _registration(line: int, row: Row) -> Registration:
    return Registration(
        email=row.email,
        first_name=row.first_name,
        last_name=row.last_name,
        registered_at=row.registered_at,
        attendance=row.attendance,
        checked_in_at=row.checked_in_at,
        platform_id=row.platform_id,
        consent=row.consent,
        line=line,
    )

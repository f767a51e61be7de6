"""Read a CSV file of addresses: one header row with an ``email`` column, then a row per address.

Shared by the subscriber and the suppression imports (and, through
``read_records``, the event attendee import). The file as a whole
must be readable UTF-8 with a usable header, or ImportFileError says why and
nothing is imported; a bad row is reported with its line number and skipped.
Each caller parses its own columns.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from publisher.core.errors import ImportFileError


@dataclass(frozen=True)
class RowProblem:
    line: int
    reason: str


class AddressRow(Protocol):
    @property
    def email(self) -> str: ...


RowT = TypeVar("RowT", bound=AddressRow)


class _Records:
    """The CSV records of a text with the line each one starts on (a quoted field may span lines)."""

    def __init__(self, text: str) -> None:
        self._reader = csv.reader(io.StringIO(text, newline=""))
        #: The line the record being read starts on; after an error, the line of the bad record.
        self.start = 1

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        while True:
            self.start = self._reader.line_num + 1
            values = next(self._reader, None)
            if values is None:
                return
            yield self.start, values


def read_address_rows(path: Path, parse: Callable[[int, list[str], list[str]], RowT | RowProblem]) -> tuple[list[RowT], list[RowProblem]]:
    """Parse every row of ``path`` with ``parse(line, columns, values)``; a repeated address is a problem on its later line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read file ({exc.strerror})") from exc
    return read_address_data(data, str(path), parse)


def read_address_data(
    data: bytes, name: str, parse: Callable[[int, list[str], list[str]], RowT | RowProblem]
) -> tuple[list[RowT], list[RowProblem]]:
    """``read_address_rows`` for CSV already in memory (an upload); ``name`` says where it came from in errors."""
    return _parse_rows(name, read_records(data, name), parse)


def read_records(data: bytes, name: str) -> Iterator[tuple[int, list[str]]]:
    """The CSV records of ``data`` with the line each starts on, for a caller that finds its own header.

    ImportFileError when the file is not UTF-8, or when the reader gives up
    on it (a field over its limit, usually a quote never closed); it names
    the line, and nothing of the file is to be imported.
    """
    records = _Records(_decode(data, name))
    try:
        yield from records
    except csv.Error as exc:
        raise ImportFileError(f"{name}:{records.start}: {_csv_problem(exc)}") from exc


def _parse_rows(
    path: str, records: Iterator[tuple[int, list[str]]], parse: Callable[[int, list[str], list[str]], RowT | RowProblem]
) -> tuple[list[RowT], list[RowProblem]]:
    _, header = next(records, (1, None))
    if header is None:
        raise ImportFileError(f"{path}: the file is empty; expected a header row with an 'email' column")
    columns = [name.strip().lower() for name in header]
    if "email" not in columns:
        raise ImportFileError(f"{path}: line 1 has no 'email' column (found: {', '.join(columns) or 'nothing'})")
    if len(set(columns)) != len(columns):
        raise ImportFileError(f"{path}: line 1 repeats a column name")

    def parsed() -> Iterator[tuple[int, RowT | RowProblem]]:
        for start, values in records:
            if not any(value.strip() for value in values):
                continue
            if len(values) != len(columns):
                yield start, RowProblem(start, f"has {len(values)} fields, the header has {len(columns)}")
            else:
                yield start, parse(start, columns, values)

    return first_of_each_address(parsed())


def first_of_each_address(parsed: Iterable[tuple[int, RowT | RowProblem]]) -> tuple[list[RowT], list[RowProblem]]:
    """Split parsed rows (by line) into rows and problems; a repeated address is a problem on its later line."""
    rows: list[RowT] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for line, row in parsed:
        if isinstance(row, RowProblem):
            problems.append(row)
        elif row.email in seen:
            problems.append(RowProblem(line, f"{row.email} already appears on line {seen[row.email]}"))
        else:
            seen[row.email] = line
            rows.append(row)
    return rows, problems


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        limit = csv.field_size_limit()
        return f"a field is longer than {limit} characters, the most a CSV field may hold; is a quote left open on or before this line?"
    return f"not readable as CSV ({exc})"


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ImportFileError(f"{name}: line {line} is not UTF-8; save the file as UTF-8 and import again") from exc

"""Read a CSV file of addresses: one header row with an ``email`` column, then a row per address.

Shared by the subscriber and the suppression imports (and, through
``read_records``, the event attendee import). The file as a whole
must be readable UTF-8 with a usable header, or ImportFileError says why and
nothing is imported; a bad row is reported with its line number and skipped.
Each caller parses its own columns.

The file is decoded as it is read (``open_records``), so a caller can stream
a file of any size; the subscriber import does (``publisher.audience.subscribers``).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

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

    def __init__(self, text: Iterable[str]) -> None:
        # strict: a quote left open near the end of the file is an error, not
        # a last field that silently swallows every row after it.
        self._reader = csv.reader(text, strict=True)
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
    with open_file(path) as stream:
        return _parse_rows(str(path), open_records(stream, str(path)), parse)


def open_file(path: Path) -> BinaryIO:
    """``path`` opened for ``open_records``; ImportFileError when it cannot be."""
    try:
        return path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read file ({exc.strerror})") from exc


def read_records(data: bytes, name: str) -> Iterator[tuple[int, list[str]]]:
    """The CSV records of ``data`` with the line each starts on, for a caller that finds its own header.

    ImportFileError when the file is not UTF-8, or when the reader gives up
    on it (a field over its limit, usually a quote never closed); it names
    the line, and nothing of the file is to be imported.
    """
    return open_records(io.BytesIO(data), name)


def open_records(stream: BinaryIO, name: str) -> Iterator[tuple[int, list[str]]]:
    """``read_records`` for a binary stream, decoded as it is read: the file is never held whole.

    The stream must be seekable: when a byte is not UTF-8, it is read again
    from the start to find that byte's line. The stream stays open.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    records = _Records(text)
    try:
        yield from records
    except csv.Error as exc:
        raise ImportFileError(f"{name}:{records.start}: {_csv_problem(exc)}") from exc
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{name}: line {_undecodable_line(stream)} is not UTF-8; save the file as UTF-8 and import again") from exc
    finally:
        if not stream.closed:
            text.detach()


def check_readable(stream: BinaryIO, name: str) -> None:
    """Read the whole of ``stream`` as CSV records with a usable header, or raise ImportFileError: nothing is kept."""
    records = open_records(stream, name)
    address_columns(records, name)
    for _ in records:
        pass


def address_columns(records: Iterator[tuple[int, list[str]]], name: str) -> list[str]:
    """Read the header record: the column names, lower-cased; ImportFileError when it has no single 'email' column."""
    _, header = next(records, (1, None))
    if header is None:
        raise ImportFileError(f"{name}: the file is empty; expected a header row with an 'email' column")
    columns = [column.strip().lower() for column in header]
    if "email" not in columns:
        raise ImportFileError(f"{name}: line 1 has no 'email' column (found: {', '.join(columns) or 'nothing'})")
    if len(set(columns)) != len(columns):
        raise ImportFileError(f"{name}: line 1 repeats a column name")
    return columns


def parsed_rows(
    records: Iterator[tuple[int, list[str]]], columns: list[str], parse: Callable[[int, list[str], list[str]], RowT | RowProblem]
) -> Iterator[tuple[int, RowT | RowProblem]]:
    """Each record after the header with its line, parsed with ``parse(line, columns, values)``; blank records are left out."""
    for start, values in records:
        if not "".join(values).strip():
            continue
        if len(values) != len(columns):
            yield start, RowProblem(start, f"has {len(values)} fields, the header has {len(columns)}")
        else:
            yield start, parse(start, columns, values)


def _parse_rows(
    path: str, records: Iterator[tuple[int, list[str]]], parse: Callable[[int, list[str], list[str]], RowT | RowProblem]
) -> tuple[list[RowT], list[RowProblem]]:
    columns = address_columns(records, path)
    return first_of_each_address(parsed_rows(records, columns, parse))


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
    if "unexpected end of data" in str(exc):
        return "a quote opened on this line is never closed"
    if "expected after" in str(exc):
        return "a quoted field is followed by more text before the next comma; is a quote left open on or before this line?"
    return f"not readable as CSV ({exc})"


#: How much of a file is decoded at a time when looking for the line of a byte that is not UTF-8.
BLOCK = 1 << 20


def _undecodable_line(stream: BinaryIO) -> int:
    """The line of the first byte of ``stream`` that is not UTF-8 (read again from the start)."""
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    lines = 1
    while True:
        block = stream.read(BLOCK)
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            # What the decoder held back from the last block (part of one
            # character) is at the start of exc.object, and holds no newline.
            return lines + bytes(exc.object[: exc.start]).count(b"\n")
        if not block:
            return lines
        lines += block.count(b"\n")

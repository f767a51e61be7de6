"""A subscriber as a row to import: its address checked for syntax and sendability, its names and attributes.

The same checks whatever the row comes from: a CSV file's line
(``read_rows``, and the streaming import in ``publisher.audience.subscribers``)
or an object of the HTTP API's JSON (``rows_of_records``). A row that fails
one is a ``RowProblem`` with its line and the reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from email_validator import EmailNotValidError

from publisher.audience.address_syntax import normalized_address
from publisher.audience.csv_file import RowProblem, first_of_each_address, read_address_rows
from publisher.core.text_rules import describe_character, first_control_character, refuse_control_characters
from publisher.core.zones import check_zone

NAME_COLUMNS = ("email", "first_name", "last_name")
MAX_FIELD = 200
#: Line breaks and tabs an attribute value may hold (mapped away before checking it).
MULTILINE = str.maketrans(dict.fromkeys("\t\n\r\u2028\u2029", " "))


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    email: str
    first_name: str
    last_name: str
    attributes: dict[str, str]


def normalise_email(address: str) -> str:
    """The identity of an address: syntax-checked, IDNA-normalised, lower-cased.

    Raises ValueError with the reason when the address is not valid.
    """
    if "\r" in address or "\n" in address:
        raise ValueError("contains a line break")
    try:
        normalized = normalized_address(address)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return normalized.lower()


class UnsendableAddressError(ValueError):
    """A valid address that this service does not send to; the message says why."""


def sendable_email(address: str) -> str:
    """``normalise_email``, refusing what no provider here can be trusted to send to.

    A non-ASCII local part (``用户@例子.广告``) needs SMTPUTF8 all the way to
    the recipient; not every provider supports it, and a list must stay
    sendable by each of them (failover), so sign-up and import refuse it
    (docs/providers.md). A non-ASCII domain is fine: it goes out in punycode.
    """
    normalised = normalise_email(address)
    if not normalised.rpartition("@")[0].isascii():
        raise UnsendableAddressError(
            "the part before the @ is not ASCII; mail to it needs SMTPUTF8, which not every provider supports, so it is not accepted"
        )
    return normalised


def read_rows(path: Path) -> tuple[list[Row], list[RowProblem]]:
    """Parse and validate the CSV file; raise ImportFileError when it is unusable as a whole."""
    return read_address_rows(path, parse_row)


def parse_row(line: int, columns: list[str], values: list[str]) -> Row | RowProblem:
    """Check one row (its ``values`` under the file's ``columns``, ``email`` among them): the subscriber it gives, or why not."""
    record = {column: value.strip() for column, value in zip(columns, values, strict=True)}
    raw = record["email"]
    if not raw:
        return RowProblem(line, "email is empty")
    try:
        email = sendable_email(raw)
    except UnsendableAddressError as exc:
        return RowProblem(line, f"'{raw}': {exc}")
    except ValueError as exc:
        return RowProblem(line, f"'{raw}' is not a valid email address: {exc}")
    for column in ("first_name", "last_name"):
        value = record.get(column, "")
        if len(value) > MAX_FIELD:
            return RowProblem(line, f"{column} is longer than {MAX_FIELD} characters")
        try:
            # Names go into the To header: one line, no control characters.
            refuse_control_characters(value)
        except ValueError as exc:
            return RowProblem(line, f"{column} {exc}")
    attributes = {key: value for key, value in record.items() if key not in NAME_COLUMNS and value}
    for key, value in attributes.items():
        # Attribute values only fill merge tags in the body, where several
        # lines are fine; any other control character (NUL, ESC, C1) is not.
        char = first_control_character(value.translate(MULTILINE))
        if char is not None:
            return RowProblem(line, f"{key} contains {describe_character(char)}")
    zone_problem = timezone_problem(attributes)
    if zone_problem:
        return RowProblem(line, zone_problem)
    return Row(line, email, record.get("first_name", ""), record.get("last_name", ""), attributes)


def timezone_problem(attributes: dict[str, str]) -> str | None:
    """What is wrong with the ``timezone`` attribute, which local-time sends read; None when it is absent or an IANA name."""
    value = attributes.get("timezone")
    if value is None:
        return None
    try:
        check_zone(value)
    except ValueError as exc:
        return f"timezone: {exc}"
    return None


def rows_of_records(records: Sequence[object]) -> tuple[list[Row], list[RowProblem]]:
    """Validate subscribers given as objects (the HTTP API's JSON), as CSV rows are; a row's line is its 1-based position."""

    def parsed() -> Iterator[tuple[int, Row | RowProblem]]:
        for line, record in enumerate(records, start=1):
            yield line, _parse_record(line, record)

    return first_of_each_address(parsed())


def _parse_record(line: int, record: object) -> Row | RowProblem:
    if not isinstance(record, dict):
        return RowProblem(line, "is not an object with an email")
    columns: list[str] = []
    values: list[str] = []
    for key, value in record.items():
        column = str(key).strip().lower()
        if column in columns:
            return RowProblem(line, f"repeats the key {column}")
        if isinstance(value, (dict, list)):
            return RowProblem(line, f"{column[:80]} is not text")
        columns.append(column)
        values.append("" if value is None else str(value))
    if "email" not in columns:
        return RowProblem(line, "has no email")
    return parse_row(line, columns, values)

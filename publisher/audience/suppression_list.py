"""Operator work on the suppression list: list, add, remove and import entries.

An entry applies everywhere (no list) or on one list. Entries are matched by
the address's hash, so an erased address (entry without an address) is still
recognised. Such an entry is removed only when the operator says so
explicitly: it exists because the person asked never to be contacted again.

Imports follow the subscriber import: every row is checked, bad rows are
reported with their line numbers and skipped, and the valid ones are written
in one transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from publisher.audience.csv_file import RowProblem, read_address_rows
from publisher.audience.lists import find_list
from publisher.audience.subscriber_rows import normalise_email
from publisher.audience.suppressions import add_entries, address_hash, hashes_of, in_scope, known_hashes, suppress_address
from publisher.core.errors import NewsletterError
from publisher.db.engine import Database
from publisher.db.models import MailingList, Suppression

OPERATOR_SOURCE = "operator"
DEFAULT_REASON = "added by an operator"
IMPORT_REASON = "imported"
MAX_REASON = 500
QUERY_CHUNK = 500


class SuppressionError(NewsletterError):
    """The suppression list refuses the change (nothing to remove, an erased entry)."""


@dataclass(frozen=True)
class Entry:
    email: str | None
    email_hash: str
    #: None for an entry that applies everywhere.
    list_name: str | None
    reason: str
    source: str
    created_at: dt.datetime

    @property
    def scope(self) -> str:
        return f"list {self.list_name}" if self.list_name else "global"

    @property
    def label(self) -> str:
        return self.email or f"erased (hash {self.email_hash[:12]}…)"

    def as_dict(self) -> dict[str, object]:
        return {
            "email": self.email,
            "email_hash": self.email_hash,
            "erased": self.email is None,
            "scope": "list" if self.list_name else "global",
            "list": self.list_name,
            "reason": self.reason,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class ImportRow:
    line: int
    email: str
    reason: str


@dataclass
class ImportReport:
    added: int = 0
    already: int = 0
    problems: list[RowProblem] = field(default_factory=list)


@dataclass(frozen=True)
class Removal:
    removed: int
    #: The address is still suppressed everywhere (after removing a list entry).
    still_global: bool


def check_reason(reason: str) -> str:
    """The reason as stored; raise ValueError when it cannot be stored as one line."""
    reason = reason.strip()
    if any(char in reason for char in "\r\n\x00"):
        raise ValueError("the reason contains a line break")
    if len(reason) > MAX_REASON:
        raise ValueError(f"the reason is longer than {MAX_REASON} characters")
    return reason


def _list_id(session: Session, list_name: str | None) -> int | None:
    return find_list(session, list_name).id if list_name is not None else None


def list_entries(db: Database, list_name: str | None = None) -> list[Entry]:
    """Every entry, or the ones that stop mail to ``list_name`` (its own and the global ones), oldest first."""
    with db.transaction() as session:
        query = select(Suppression, MailingList.name).outerjoin(MailingList, MailingList.id == Suppression.list_id)
        if list_name is not None:
            query = query.where(in_scope(find_list(session, list_name).id))
        rows = session.execute(query.order_by(Suppression.created_at, Suppression.id)).all()
        return [Entry(s.email, s.email_hash, name, s.reason, s.source, s.created_at) for s, name in rows]


def add(db: Database, email: str, list_name: str | None = None, reason: str = DEFAULT_REASON) -> bool:
    """Suppress a normalised address in one scope; return False when it was suppressed there already."""
    with db.transaction() as session:
        return suppress_address(session, email, reason, OPERATOR_SOURCE, _list_id(session, list_name))


def remove(db: Database, email: str, list_name: str | None = None, *, include_erased: bool = False) -> Removal:
    """Remove the address's entries in exactly that scope.

    Refused when there are none, and when one of them belongs to an erased
    address unless ``include_erased``: that entry keeps a promise never to
    mail the person again, and only the person can release it.
    """
    with db.transaction() as session:
        digests = known_hashes(session, email)
        list_id = _list_id(session, list_name)
        scope = in_scope(list_id, include_global=False)
        entries = session.scalars(select(Suppression).where(scope, Suppression.email_hash.in_(digests))).all()
        where = "everywhere" if list_name is None else f"on list '{list_name}'"
        if not entries:
            raise SuppressionError(f"{email} is not suppressed {where}")
        if any(entry.email is None for entry in entries) and not include_erased:
            raise SuppressionError(
                f"{email} was erased on request and is suppressed {where} by its hash so that it is never mailed again; "
                "pass --include-erased only if that person has asked to be mailed again"
            )
        session.execute(delete(Suppression).where(Suppression.id.in_([entry.id for entry in entries])))
        still_global = list_id is not None and session.scalar(
            select(Suppression.id).where(in_scope(None), Suppression.email_hash.in_(digests)).limit(1)
        )
        return Removal(removed=len(entries), still_global=bool(still_global))


def import_file(db: Database, path: Path, list_name: str | None = None, reason: str = IMPORT_REASON) -> ImportReport:
    """Suppress the valid rows of ``path``; rows without a reason of their own get ``reason``."""
    rows, problems = read_rows(path, reason)
    report = ImportReport(problems=problems)
    source = f"import:{path.name}"[:100]
    with db.transaction() as session:
        list_id = _list_id(session, list_name)
        for start in range(0, len(rows), QUERY_CHUNK):
            _insert_chunk(session, rows[start : start + QUERY_CHUNK], list_id, source, report)
    return report


def _insert_chunk(session: Session, rows: list[ImportRow], list_id: int | None, source: str, report: ImportReport) -> None:
    hashes = hashes_of(session, (row.email for row in rows))
    scope = in_scope(list_id, include_global=False)
    found = session.scalars(select(Suppression.email_hash).where(scope, Suppression.email_hash.in_(hashes)))
    present = {hashes[digest] for digest in found}
    values = [
        {"email": row.email, "email_hash": address_hash(session, row.email), "list_id": list_id, "reason": row.reason, "source": source}
        for row in rows
        if row.email not in present
    ]
    added = add_entries(session, values)
    report.added += added
    report.already += len(rows) - added


def read_rows(path: Path, default_reason: str) -> tuple[list[ImportRow], list[RowProblem]]:
    """Parse and check the CSV file (an ``email`` column, an optional ``reason`` column, others ignored).

    Raise ImportFileError when the file is unusable as a whole.
    """
    return read_address_rows(path, lambda line, columns, values: _parse_row(line, columns, values, default_reason))


def _parse_row(line: int, columns: list[str], values: list[str], default_reason: str) -> ImportRow | RowProblem:
    record = dict(zip(columns, values, strict=True))
    raw = record["email"].strip()
    if not raw:
        return RowProblem(line, "email is empty")
    try:
        email = normalise_email(raw)
    except ValueError as exc:
        return RowProblem(line, f"{raw!r} is not a valid email address: {exc}")
    try:
        reason = check_reason(record.get("reason", "")) or default_reason
    except ValueError as exc:
        return RowProblem(line, str(exc))
    return ImportRow(line, email, reason)

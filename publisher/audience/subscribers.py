"""Import subscribers from CSV: validate every row, upsert by normalised address.

Addresses are checked for syntax only (no DNS lookups). Invalid rows are
reported with their line numbers and skipped; the valid ones are written in
one transaction, so an import either lands whole or not at all. A file is
streamed: it is read once whole to refuse it before anything is written when
it cannot be read (not UTF-8, no 'email' column, a quote never closed), then
again in chunks of ``CHUNK_ROWS`` rows, each checked and written before the
next is read, so memory stays the same whatever the size of the file. Imported
subscribers are confirmed: they come from the organiser's own records, and
the subscription records that as its consent proof (source
``import:<file name>``, consented and confirmed at the import).

An address erased on request (a suppression entry that keeps only its hash)
is never imported again: its row is reported and skipped, without the
address. Other suppressed addresses are imported as before and left out at
send time, so lifting a suppression brings them back.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from sqlalchemy import Column, ColumnElement, Integer, MetaData, String, Table, bindparam, exists, insert, literal, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from publisher.audience.csv_file import (
    RowProblem,
    address_columns,
    check_readable,
    open_file,
    open_records,
    parsed_rows,
)
from publisher.audience.lists import check_new_list_name
from publisher.audience.subscriber_rows import Row, parse_row
from publisher.audience.suppressions import hashes_of
from publisher.core.clock import utcnow
from publisher.db.engine import Database
from publisher.db.models import ConsentAction, ConsentEvent, MailingList, Subscriber, Subscription, SubscriptionStatus, Suppression

#: Rows read, checked and written at a time; the import holds no more of the file than this.
CHUNK_ROWS = 5_000
#: Addresses per lookup statement (``IN (…)`` of them, or of their hashes).
QUERY_CHUNK = 500
SUBSCRIBERS = Subscriber.metadata.tables[Subscriber.__tablename__]
SUBSCRIPTIONS = Subscription.metadata.tables[Subscription.__tablename__]
CONSENT_EVENTS = ConsentEvent.metadata.tables[ConsentEvent.__tablename__]
#: The line each address of a file being imported first appears on; temporary, in the import's transaction.
FIRST_LINES = Table(
    "import_first_lines",
    MetaData(),
    Column("email", String(320), primary_key=True),
    Column("line", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
#: The import's lookups, built once: ``IN`` lists of a chunk's values bound as one expanding parameter.
EARLIER_LINES = select(FIRST_LINES.c.email, FIRST_LINES.c.line).where(FIRST_LINES.c.email.in_(bindparam("emails", expanding=True)))
ERASED_HASHES = select(Suppression.email_hash).where(
    Suppression.email_hash.in_(bindparam("hashes", expanding=True)), Suppression.email.is_(None)
)
ANY_ERASED = select(exists().where(Suppression.email.is_(None)))
STORED = select(Subscriber.id, Subscriber.email, Subscriber.first_name, Subscriber.last_name, Subscriber.attributes).where(
    Subscriber.email.in_(bindparam("emails", expanding=True))
)
MEMBERSHIPS = select(Subscription.id, Subscription.subscriber_id, Subscription.status).where(
    Subscription.list_id == bindparam("list_id"), Subscription.subscriber_id.in_(bindparam("subscriber_ids", expanding=True))
)
ERASED = "address was erased on request; it is never imported again"


#: Where an import hands each skipped row as it goes (the CLI prints it).
ProblemSink = Callable[[RowProblem], None]


class ConfirmedSink(Protocol):
    """Receives the subscribers an import has just confirmed on the list, a chunk at a time, in the import's transaction.

    ``subscribers import --welcome`` passes ``publisher.ledger.welcome.ImportWelcome``,
    a layer above this one, which writes them a copy of the list's welcome issue.
    Raising rolls the whole import back.
    """

    def __call__(self, session: Session, list_id: int, subscriber_ids: list[int]) -> None: ...


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Rows whose address had unsubscribed from the list: kept unsubscribed.
    kept_unsubscribed: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    #: Given: it receives each skipped row as the import goes, and ``problems`` stays empty.
    on_problem: ProblemSink | None = field(default=None, repr=False, compare=False)
    #: Rows skipped, whether kept in ``problems`` or handed to ``on_problem``.
    skipped: int = 0

    def skip(self, problems: Iterable[RowProblem]) -> None:
        """Report rows skipped (in line order, when they come chunk by chunk)."""
        for problem in problems:
            self.skipped += 1
            if self.on_problem is None:
                self.problems.append(problem)
            else:
                self.on_problem(problem)


def import_subscribers(
    db: Database,
    path: Path,
    list_name: str,
    *,
    chunk_rows: int = CHUNK_ROWS,
    on_problem: ProblemSink | None = None,
    on_confirmed: ConfirmedSink | None = None,
) -> ImportReport:
    """Import the valid rows of ``path`` into ``list_name`` (created if new), streaming the file.

    ``on_problem``, when given, receives each skipped row in line order as
    the import goes, instead of the report keeping them all; ``on_confirmed``
    each chunk's subscribers that joined the list or were pending and are
    confirmed now.
    """
    list_name = check_new_list_name(list_name)
    report = ImportReport(on_problem=on_problem)
    with open_file(path) as stream:
        return _import_stream(db, stream, str(path), list_name, f"import:{path.name}", report, chunk_rows, on_confirmed)


def import_csv_data(db: Database, data: bytes, list_name: str, *, name: str, source: str, chunk_rows: int = CHUNK_ROWS) -> ImportReport:
    """``import_subscribers`` for CSV already in memory: ``name`` says where it came from in errors, ``source`` in the consent records."""
    list_name = check_new_list_name(list_name)
    return _import_stream(db, io.BytesIO(data), name, list_name, source, ImportReport(), chunk_rows)


def _import_stream(
    db: Database,
    stream: BinaryIO,
    name: str,
    list_name: str,
    source: str,
    report: ImportReport,
    chunk_rows: int,
    on_confirmed: ConfirmedSink | None = None,
) -> ImportReport:
    """Read the file twice: first whole, to refuse it before anything is written; then in chunks, each written in turn.

    A file refused whole (not UTF-8, a field over the CSV limit, no header)
    is thus refused before the transaction begins, however far into the file
    its fault is. The chunks are written in one transaction all the same: if
    the file changes between the readings, or the database fails, nothing of
    the import stays.
    """
    check_readable(stream, name)
    stream.seek(0)
    records = open_records(stream, name)
    rows = parsed_rows(records, address_columns(records, name), parse_row)
    with db.transaction() as session:
        writer = _ListWriter(session, list_name, source, report, on_confirmed)
        first_lines = _FirstLines(session)
        while chunk := list(itertools.islice(rows, chunk_rows)):
            problems = [row for _, row in chunk if isinstance(row, RowProblem)]
            valid = writer.without_erased([row for _, row in chunk if isinstance(row, Row)], problems)
            writer.write(first_lines.first_of_each_address(valid, problems))
            report.skip(sorted(problems, key=lambda problem: problem.line))
        first_lines.drop()
    return report


def import_rows(db: Database, rows: list[Row], problems: list[RowProblem], list_name: str, source: str) -> ImportReport:
    """Write validated rows into ``list_name`` (created if new), in one transaction; ``problems`` are reported with the rest."""
    list_name = check_new_list_name(list_name)
    report = ImportReport()
    report.skip(problems)
    with db.transaction() as session:
        join_list(session, rows, list_name, source, report)
    report.problems.sort(key=lambda problem: problem.line)
    return report


def join_list(session: Session, rows: list[Row], list_name: str, source: str, report: ImportReport) -> int:
    """Upsert ``rows`` as confirmed subscribers of ``list_name`` (created if new), in the caller's transaction.

    ``source`` is their consent. Return how many subscriptions were added.
    """
    writer = _ListWriter(session, check_new_list_name(list_name), source, report)
    for start in range(0, len(rows), QUERY_CHUNK):
        problems: list[RowProblem] = []
        writer.write(writer.without_erased(rows[start : start + QUERY_CHUNK], problems))
        report.skip(problems)
    return writer.joined


class _FirstLines:
    """The line each address of the file first appeared on, kept in a temporary table of the import's transaction.

    A million addresses in a Python dict took 150 MB; the table keeps the
    import's memory the same whatever the size of the file.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        # Created in the transaction: a rollback removes it too.
        FIRST_LINES.create(session.connection())

    def first_of_each_address(self, rows: list[Row], problems: list[RowProblem]) -> list[Row]:
        """The rows whose address no earlier row had; a repeated address is a problem on its later line."""
        first: dict[str, int] = {}
        repeated: list[Row] = []
        unique: list[Row] = []
        for row in rows:
            if row.email in first:
                repeated.append(row)
            else:
                first[row.email] = row.line
                unique.append(row)
        if unique:
            # Each address is written unless an earlier chunk wrote it: a chunk
            # that repeats none (the usual case) needs no lookup.
            statement = self._dialect.insert(FIRST_LINES).on_conflict_do_nothing().returning(FIRST_LINES.c.email)
            written = set(self._session.scalars(statement, [{"email": row.email, "line": row.line} for row in unique]))
            if len(written) < len(unique):
                earlier = [row for row in unique if row.email not in written]
                for start in range(0, len(earlier), QUERY_CHUNK):
                    emails = [row.email for row in earlier[start : start + QUERY_CHUNK]]
                    first.update((email, line) for email, line in self._session.execute(EARLIER_LINES, {"emails": emails}))
                repeated.extend(earlier)
                unique = [row for row in unique if row.email in written]
        problems.extend(RowProblem(row.line, f"{row.email} already appears on line {first[row.email]}") for row in repeated)
        return unique

    def drop(self) -> None:
        FIRST_LINES.drop(self._session.connection())


class _ListWriter:
    """Writes checked rows into one list, a chunk at a time, in the caller's transaction."""

    def __init__(
        self, session: Session, list_name: str, source: str, report: ImportReport, on_confirmed: ConfirmedSink | None = None
    ) -> None:
        self._session = session
        self._list_id = _get_or_create_list(session, list_name).id
        self._source = source
        self._report = report
        self._on_confirmed = on_confirmed
        self._statistics = _Statistics(session)
        self._dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        #: Subscriptions added so far.
        self.joined = 0

    def without_erased(self, rows: list[Row], problems: list[RowProblem]) -> list[Row]:
        """Drop the rows whose address was erased on request, adding each to ``problems`` (without its address)."""
        erased: set[str] = set()
        if not rows or not self._session.scalar(ANY_ERASED):
            # Most databases hold no erased entry: nothing to hash the addresses for.
            return rows
        for start in range(0, len(rows), QUERY_CHUNK):
            hashes = hashes_of(self._session, (row.email for row in rows[start : start + QUERY_CHUNK]))
            erased.update(hashes[digest] for digest in self._session.scalars(ERASED_HASHES, {"hashes": list(hashes)}))
        if not erased:
            return rows
        problems.extend(RowProblem(row.line, ERASED) for row in rows if row.email in erased)
        return [row for row in rows if row.email not in erased]

    def write(self, rows: list[Row]) -> None:
        for start in range(0, len(rows), QUERY_CHUNK):
            added = self._upsert(rows[start : start + QUERY_CHUNK])
            self._statistics.grown(added)
            self.joined += added

    def _upsert(self, rows: list[Row]) -> int:
        """Write rows of distinct addresses; return how many subscriptions they added."""
        # Core statements, not ORM objects: a million-row import spent most of its
        # time building, flushing and forgetting objects it never used again.
        session, report, now = self._session, self._report, utcnow()
        existing = self._stored([row.email for row in rows])
        new = [row for row in rows if row.email not in existing]
        ids = {found.email: found.id for found in existing.values()}
        if new:
            added = self._insert_subscribers(new, now)
            report.added += len(added)
            ids.update(added)
            if len(added) < len(new):
                # Added meanwhile by another transaction (a sign-up): found now, and updated like any other.
                existing.update(self._stored([row.email for row in new if row.email not in added]))
                ids.update({found.email: found.id for found in existing.values()})
        memberships = {}
        if existing:
            known = {"list_id": self._list_id, "subscriber_ids": [found.id for found in existing.values()]}
            memberships = {found.subscriber_id: found for found in session.execute(MEMBERSHIPS, known)}
        changed_names: list[dict[str, Any]] = []
        joining: list[int] = []
        confirming: list[int] = []
        confirmed_members: list[int] = []
        source = self._source
        for row in rows:
            stored = existing.get(row.email)
            changed = False
            if stored is not None and (names := _changed_names(stored, row)) is not None:
                changed_names.append({"id": stored.id, **names, "updated_at": now})
                changed = True
            membership = memberships.get(ids[row.email])
            if membership is None:
                joining.append(ids[row.email])
                changed = True
            elif membership.status == SubscriptionStatus.UNSUBSCRIBED:
                # An import never overrides someone's own decision to leave.
                report.kept_unsubscribed += 1
            elif membership.status == SubscriptionStatus.PENDING:
                confirming.append(membership.id)
                confirmed_members.append(membership.subscriber_id)
                changed = True
            if stored is not None:
                if changed:
                    report.updated += 1
                else:
                    report.unchanged += 1
        if changed_names:
            session.execute(update(Subscriber), changed_names)
        if confirming:
            # The organiser's records now stand as the consent: the pending
            # request's IP and user agent no longer describe it.
            consent = {"status": SubscriptionStatus.CONFIRMED, "source": source, "consented_at": now, "confirmed_at": now}
            consent |= {"consent_ip": None, "consent_user_agent": None}
            session.execute(update(Subscription), [{"id": id_, **consent} for id_ in confirming])
        joined = self._join(joining, now) if joining else []
        if consented := confirming + [subscription_id for subscription_id, _ in joined]:
            self._record_consent(consented, now)
        confirmed_members += [subscriber_id for _, subscriber_id in joined]
        if confirmed_members and self._on_confirmed is not None:
            self._on_confirmed(session, self._list_id, sorted(confirmed_members))
        return len(joined)

    def _join(self, subscriber_ids: list[int], now: dt.datetime) -> list[tuple[int, int]]:
        """Add confirmed subscriptions of these subscribers to the list; return (subscription id, subscriber id) of those added.

        One INSERT … SELECT over the subscribers: every value but the
        subscriber's is the same, so it is sent once, not once a row.
        """
        columns = SUBSCRIPTIONS.c
        values = select(
            _constant(self._list_id, columns.list_id),
            SUBSCRIBERS.c.id,
            _constant(SubscriptionStatus.CONFIRMED, columns.status),
            _constant(self._source, columns.source),
            *(_constant(now, column) for column in (columns.consented_at, columns.confirmed_at, columns.created_at)),
        ).where(SUBSCRIBERS.c.id.in_(subscriber_ids))
        names = ["list_id", "subscriber_id", "status", "source", "consented_at", "confirmed_at", "created_at"]
        # A subscription a concurrent sign-up adds first is left to it (pending, with its own consent).
        statement = self._dialect.insert(SUBSCRIPTIONS).from_select(names, values.order_by(SUBSCRIBERS.c.id))
        added = self._session.execute(statement.on_conflict_do_nothing().returning(columns.id, columns.subscriber_id))
        return [(subscription_id, subscriber_id) for subscription_id, subscriber_id in added]

    def _record_consent(self, subscription_ids: list[int], now: dt.datetime) -> None:
        """Add the import to the consent history of these subscriptions, in one INSERT … SELECT."""
        events = CONSENT_EVENTS.c
        values = select(
            SUBSCRIPTIONS.c.id,
            _constant(ConsentAction.IMPORTED, events.action),
            _constant(self._source, events.source),
            _constant(now, events.created_at),
        ).where(SUBSCRIPTIONS.c.id.in_(subscription_ids))
        names = ["subscription_id", "action", "source", "created_at"]
        self._session.execute(insert(CONSENT_EVENTS).from_select(names, values.order_by(SUBSCRIPTIONS.c.id)))

    def _stored(self, emails: list[str]) -> dict[str, Any]:
        """The stored subscribers among ``emails``, by address."""
        return {found.email: found for found in self._session.execute(STORED, {"emails": emails})}

    def _insert_subscribers(self, rows: list[Row], now: dt.datetime) -> dict[str, int]:
        """Insert new subscribers in one multi-row statement; return the ids of those inserted by address."""
        values = [
            {
                "email": row.email,
                "first_name": row.first_name,
                "last_name": row.last_name,
                "attributes": row.attributes,
                "created_at": now,
                "updated_at": now,
            }
            for row in rows
        ]
        statement = self._dialect.insert(SUBSCRIBERS).on_conflict_do_nothing().returning(SUBSCRIBERS.c.id, SUBSCRIBERS.c.email)
        return {email: id_ for id_, email in self._session.execute(statement, values)}


class _Statistics:
    """Keep PostgreSQL's planner informed while one transaction grows the subscriber tables.

    The foreign-key checks of every inserted subscription and consent event
    run plans made from the tables' statistics; an import into a new or small
    database makes them from "nearly empty" and scans the whole table per
    row, so 100,000 rows took 154 s instead of 22 s. ANALYZE inside the
    transaction counts its own rows; it runs after the first chunk and each
    time the import has doubled the subscriptions it added, so a million new
    rows cost about a dozen. SKIP_LOCKED: while another import holds the
    statistics lock (to its commit), waiting for it could deadlock the two,
    so this one goes on without.
    """

    TABLES = ", ".join(model.__tablename__ for model in (Subscriber, Subscription, ConsentEvent))

    def __init__(self, session: Session) -> None:
        self._session = session
        self._enabled = session.get_bind().dialect.name == "postgresql"
        self._rows = 0
        self._next = 1

    def grown(self, rows: int) -> None:
        self._rows += rows
        if self._enabled and self._rows >= self._next:
            self._session.execute(text(f"ANALYZE (SKIP_LOCKED) {self.TABLES}"))
            self._next = 2 * self._rows


def _get_or_create_list(session: Session, name: str) -> MailingList:
    mailing_list = session.scalar(select(MailingList).where(MailingList.name == name))
    if mailing_list is None:
        mailing_list = MailingList(name=name)
        session.add(mailing_list)
        session.flush()
    return mailing_list


def _constant(value: object, column: Column[Any]) -> ColumnElement[Any]:
    """``value`` as a constant of an INSERT … SELECT into ``column``, typed as the column is."""
    return literal(value, column.type)


def _changed_names(stored: Any, row: Row) -> dict[str, Any] | None:
    """The new names and attributes of a stored subscriber, or None when the row changes nothing."""
    attributes = {**stored.attributes, **row.attributes}
    new = (row.first_name or stored.first_name, row.last_name or stored.last_name, attributes)
    if new == (stored.first_name, stored.last_name, stored.attributes):
        return None
    return dict(zip(("first_name", "last_name", "attributes"), new, strict=True))

"""Import subscribers from CSV: validate every row, upsert by normalised address.

Addresses are checked for syntax only (no DNS lookups). Invalid rows are
reported with their line numbers and skipped; the valid ones are written in
one transaction, so an import either lands whole or not at all. Imported
subscribers are confirmed: they come from the organiser's own records, and
the subscription records that as its consent proof (source
``import:<file name>``, consented and confirmed at the import).

An address erased on request (a suppression entry that keeps only its hash)
is never imported again: its row is reported and skipped, without the
address. Other suppressed addresses are imported as before and left out at
send time, so lifting a suppression brings them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from publisher.csv_file import RowProblem, read_address_rows
from publisher.db.engine import Database
from publisher.db.models import (
    ConsentAction,
    ConsentEvent,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    utcnow,
)
from publisher.suppressions import email_hash

NAME_COLUMNS = ("email", "first_name", "last_name")
MAX_FIELD = 200
QUERY_CHUNK = 500
ERASED = "address was erased on request; it is never imported again"


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    first_name: str
    last_name: str
    attributes: dict[str, str]


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Rows whose address had unsubscribed from the list: kept unsubscribed.
    kept_unsubscribed: int = 0
    problems: list[RowProblem] = field(default_factory=list)


def normalise_email(address: str) -> str:
    """The identity of an address: syntax-checked, IDNA-normalised, lower-cased.

    Raises ValueError with the reason when the address is not valid.
    """
    if any(char in address for char in "\r\n"):
        raise ValueError("contains a line break")
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return checked.normalized.lower()


def read_rows(path: Path) -> tuple[list[Row], list[RowProblem]]:
    """Parse and validate the CSV file; raise ImportFileError when it is unusable as a whole."""
    return read_address_rows(path, _parse_row)


def _parse_row(line: int, columns: list[str], values: list[str]) -> Row | RowProblem:
    record = {column: value.strip() for column, value in zip(columns, values, strict=True)}
    raw = record["email"]
    if not raw:
        return RowProblem(line, "email is empty")
    try:
        email = normalise_email(raw)
    except ValueError as exc:
        return RowProblem(line, f"'{raw}' is not a valid email address: {exc}")
    for column in ("first_name", "last_name"):
        value = record.get(column, "")
        if len(value) > MAX_FIELD:
            return RowProblem(line, f"{column} is longer than {MAX_FIELD} characters")
        if any(char in value for char in "\r\n\x00"):
            return RowProblem(line, f"{column} contains a line break")
    attributes = {key: value for key, value in record.items() if key not in NAME_COLUMNS and value}
    return Row(line, email, record.get("first_name", ""), record.get("last_name", ""), attributes)


def import_subscribers(db: Database, path: Path, list_name: str) -> ImportReport:
    """Import the valid rows of ``path`` into ``list_name`` (created if new)."""
    rows, problems = read_rows(path)
    report = ImportReport(problems=problems)
    source = f"import:{path.name}"
    with db.transaction() as session:
        mailing_list = _get_or_create_list(session, list_name)
        for start in range(0, len(rows), QUERY_CHUNK):
            chunk = _without_erased(session, rows[start : start + QUERY_CHUNK], report)
            _upsert_chunk(session, mailing_list, chunk, source, report)
    report.problems.sort(key=lambda problem: problem.line)
    return report


def _without_erased(session: Session, rows: list[Row], report: ImportReport) -> list[Row]:
    """Drop (and report) the rows whose address was erased on request."""
    hashes = {email_hash(row.email): row for row in rows}
    erased = set(
        session.scalars(select(Suppression.email_hash).where(Suppression.email_hash.in_(list(hashes)), Suppression.email.is_(None)))
    )
    report.problems.extend(RowProblem(hashes[digest].line, ERASED) for digest in erased)
    return [row for digest, row in hashes.items() if digest not in erased]


def _get_or_create_list(session: Session, name: str) -> MailingList:
    mailing_list = session.scalar(select(MailingList).where(MailingList.name == name))
    if mailing_list is None:
        mailing_list = MailingList(name=name)
        session.add(mailing_list)
        session.flush()
    return mailing_list


def _upsert_chunk(session: Session, mailing_list: MailingList, rows: list[Row], source: str, report: ImportReport) -> None:
    existing = {s.email: s for s in session.scalars(select(Subscriber).where(Subscriber.email.in_([row.email for row in rows])))}
    memberships = {
        sub.subscriber_id: sub
        for sub in session.scalars(
            select(Subscription).where(
                Subscription.list_id == mailing_list.id,
                Subscription.subscriber_id.in_([s.id for s in existing.values()]),
            )
        )
    }
    now = utcnow()
    consented: list[Subscription] = []
    # New subscribers of the chunk are inserted together (one multi-row
    # INSERT … RETURNING), not flushed one by one for their ids.
    added = {
        row.email: Subscriber(email=row.email, first_name=row.first_name, last_name=row.last_name, attributes=row.attributes)
        for row in rows
        if row.email not in existing
    }
    session.add_all(added.values())
    session.flush()
    report.added += len(added)
    for row in rows:
        subscriber = existing.get(row.email)
        changed = False
        if subscriber is None:
            subscriber = added[row.email]
        else:
            changed = _update(subscriber, row)
        membership = memberships.get(subscriber.id)
        if membership is None:
            membership = Subscription(
                list_id=mailing_list.id,
                subscriber_id=subscriber.id,
                status=SubscriptionStatus.CONFIRMED,
                source=source,
                consented_at=now,
                confirmed_at=now,
            )
            session.add(membership)
            consented.append(membership)
            changed = True
        elif membership.status == SubscriptionStatus.UNSUBSCRIBED:
            # An import never overrides someone's own decision to leave.
            report.kept_unsubscribed += 1
        elif membership.status == SubscriptionStatus.PENDING:
            # The organiser's records now stand as the consent: the pending
            # request's IP and user agent no longer describe it.
            membership.status = SubscriptionStatus.CONFIRMED
            membership.source = source
            membership.consented_at = membership.confirmed_at = now
            membership.consent_ip = membership.consent_user_agent = None
            consented.append(membership)
            changed = True
        if row.email in existing:
            if changed:
                report.updated += 1
            else:
                report.unchanged += 1
    # The chunk is written: forget its objects, so a million-row import does
    # not keep a million subscribers in the session.
    session.flush()
    if consented:
        history = [{"subscription_id": m.id, "action": ConsentAction.IMPORTED, "source": source, "created_at": now} for m in consented]
        session.execute(insert(ConsentEvent), history)
    session.expunge_all()


def _update(subscriber: Subscriber, row: Row) -> bool:
    attributes = {**subscriber.attributes, **row.attributes}
    new = (row.first_name or subscriber.first_name, row.last_name or subscriber.last_name, attributes)
    if new == (subscriber.first_name, subscriber.last_name, subscriber.attributes):
        return False
    subscriber.first_name, subscriber.last_name, subscriber.attributes = new
    return True

"""What one provider call's results change in the ledger, written as one statement.

``publisher.ledger.claims.record_results`` hands each result here with the
record as its claim left it (id, attempt number, address), and writes every
change in its transaction with one ``UPDATE … FROM`` over the batch's rows,
passed as one JSON document (PostgreSQL ``json_to_recordset``, SQLite
``json_each``): one statement with one parameter and one round trip for the
batch, whatever its outcomes. A record takes its change only while it is
still ``sending`` under the attempt that claimed it; ``RETURNING`` says
which did, and only those count in the summary. Whether the campaign was
cancelled meanwhile is read by the same statement: a record that was not
accepted is then cancelled instead (each row carries both changes). The
outcome rules are the ledger's (docs/delivery.md, step 4).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Integer,
    String,
    Text,
    Update,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from publisher.core.outcomes import Outcome, SendResult
from publisher.db.models import Campaign, CampaignStatus, Delivery, DeliveryState

#: The table itself, for Core statements.
DELIVERIES = Delivery.metadata.tables[Delivery.__tablename__]

#: How a change counts in the batch's summary.
Tally = Literal["sent", "failed", "retrying"]


@dataclass(frozen=True)
class RecordSummary:
    sent: int
    failed: int
    retrying: int
    #: Longest Retry-After a provider asked for among the retrying records.
    retry_after: float | None
    max_attempts_seen: int


class HeldRecord(Protocol):
    """A record as its claim left it: ``sending`` under attempt ``attempts``."""

    @property
    def id(self) -> int: ...

    @property
    def attempts(self) -> int: ...

    @property
    def email(self) -> str: ...


@dataclass(slots=True)
class Change:
    """What one result writes to its record, and how it counts."""

    record: HeldRecord
    state: DeliveryState
    #: The attempt count written (one less when the attempt is given back).
    attempts: int
    error: str | None
    provider_message_id: str | None = None
    dead_lettered: bool = False
    tally: Tally | None = None
    retry_after: float | None = None
    #: The provider says never to mail the address again (reason).
    suppress: str | None = None
    #: What it writes instead when the campaign was cancelled meanwhile (None: an accepted message, recorded as sent).
    if_cancelled: Change | None = None


#: The fields of each of the batch's rows, in order, with their SQL types.
ROW_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("id", BigInteger),
    ("claimed", Integer),
    ("state", String),
    ("attempts", Integer),
    ("error", Text),
    ("provider_id", Text),
    ("sent", Boolean),
    ("dead", Boolean),
    ("cancellable", Boolean),
    ("cancel_error", Text),
)
ROW_NAMES = tuple(name for name, _ in ROW_COLUMNS)


@dataclass
class ResultChanges:
    """The ledger changes one call's results make."""

    changes: list[Change] = field(default_factory=list)

    def add(self, result: SendResult, record: HeldRecord, max_attempts: int, *, idempotent: bool) -> None:
        attempts = record.attempts
        if result.maybe_sent and not idempotent:
            # Retrying could send it twice: the operator decides (newsletter reconcile).
            error = f"{result.error}; it may have been sent: see `newsletter reconcile`"
            change = Change(record, DeliveryState.IN_DOUBT, attempts, error)
        elif result.halt is not None:
            # Not the recipient's doing (quota, rejected credentials):
            # the attempt does not count and the record waits.
            change = Change(record, DeliveryState.PENDING, max(0, attempts - 1), result.error, tally="retrying")
        elif result.outcome == Outcome.ACCEPTED:
            change = Change(record, DeliveryState.SENT, attempts, None, provider_message_id=result.provider_message_id, tally="sent")
        elif result.outcome == Outcome.PERMANENT:
            reason = result.error or "failed"
            change = Change(record, DeliveryState.FAILED, attempts, reason, tally="failed", suppress=reason if result.suppress else None)
        elif attempts >= max_attempts:
            error = f"{result.error or 'failed'} (gave up after {attempts} attempts)"
            change = Change(record, DeliveryState.FAILED, attempts, error, dead_lettered=True, tally="failed")
        else:
            change = Change(record, DeliveryState.PENDING, attempts, result.error, tally="retrying", retry_after=result.retry_after)
        if result.outcome != Outcome.ACCEPTED:
            change.if_cancelled = Change(record, DeliveryState.CANCELLED, attempts, f"campaign cancelled; last answer: {result.error}")
        self.changes.append(change)

    def write(self, session: Session, campaign_id: int, now: dt.datetime) -> list[Change]:
        """Write every change in one statement; return the changes the records took (the cancelled ones if the campaign was)."""
        if not self.changes:
            return []
        rows = [
            (
                c.record.id,
                c.record.attempts,
                c.state.value,
                c.attempts,
                c.error,
                c.provider_message_id,
                c.state is DeliveryState.SENT,
                c.dead_lettered,
                c.if_cancelled is not None,
                c.if_cancelled.error if c.if_cancelled is not None else None,
            )
            for c in self.changes
        ]
        dialect = session.get_bind().dialect.name
        # PostgreSQL's json_to_recordset takes objects; SQLite's json_extract finds an index faster than a key.
        document = orjson.dumps([dict(zip(ROW_NAMES, row, strict=True)) for row in rows] if dialect == "postgresql" else rows)
        parameters = {"rows": document.decode(), "now": now, "campaign": campaign_id}
        taken: dict[int, str] = {row.id: row.state for row in session.execute(_statement(dialect), parameters)}
        return [_as_taken(c, taken[c.record.id]) for c in self.changes if c.record.id in taken]


def _as_taken(change: Change, state: str) -> Change:
    if state == DeliveryState.CANCELLED.value and change.if_cancelled is not None:
        return change.if_cancelled
    return change


def summary(changes: list[Change]) -> RecordSummary:
    """How the changes written count: sent, failed, retrying, and the longest Retry-After among the retrying."""
    tallies = [c.tally for c in changes]
    waits = [c.retry_after for c in changes if c.retry_after is not None]
    return RecordSummary(
        sent=tallies.count("sent"),
        failed=tallies.count("failed"),
        retrying=tallies.count("retrying"),
        retry_after=max(waits) if waits else None,
        max_attempts_seen=max((c.record.attempts for c in changes), default=0),
    )


@functools.cache
def _statement(dialect: str) -> Update:
    """The UPDATE of a batch's records from its rows, built once per dialect."""
    v = _rows_source(dialect)
    stamp = bindparam("now", type_=DELIVERIES.c.updated_at.type)
    # Read once for the statement (no correlation), in its snapshot: where a separate SELECT was.
    status = select(Campaign.status).where(Campaign.id == bindparam("campaign")).scalar_subquery()
    cancelled = and_(v["cancellable"], status == CampaignStatus.CANCELLED)
    return (
        update(DELIVERIES)
        .where(DELIVERIES.c.id == v["id"], DELIVERIES.c.state == DeliveryState.SENDING, DELIVERIES.c.attempts == v["claimed"])
        .values(
            state=case((cancelled, DeliveryState.CANCELLED.value), else_=v["state"]),
            attempts=case((cancelled, v["claimed"]), else_=v["attempts"]),
            last_error=case((cancelled, v["cancel_error"]), else_=v["error"]),
            provider_message_id=case((v["sent"], v["provider_id"]), else_=DELIVERIES.c.provider_message_id),
            sent_at=case((v["sent"], stamp), else_=DELIVERIES.c.sent_at),
            dead_lettered_at=case((and_(v["dead"], ~cancelled), stamp), else_=DELIVERIES.c.dead_lettered_at),
            lease_until=None,
            updated_at=stamp,
        )
        .returning(DELIVERIES.c.id, DELIVERIES.c.state)
    )


def _rows_source(dialect: str) -> dict[str, ColumnElement[Any]]:
    """The batch's rows, one JSON parameter, as a FROM item: its columns by name."""
    document = bindparam("rows", type_=Text)
    if dialect == "postgresql":
        typed = func.json_to_recordset(cast(document, JSON)).table_valued(*(column(name, kind) for name, kind in ROW_COLUMNS))
        unpacked = typed.render_derived(name="v", with_types=True)
        return {name: unpacked.c[name] for name in ROW_NAMES}
    each = func.json_each(document).table_valued("value", name="v")
    return {name: func.json_extract(each.c.value, f"$[{index}]", type_=kind) for index, (name, kind) in enumerate(ROW_COLUMNS)}

"""What one provider call's results change in the ledger, grouped so each group is one statement.

``publisher.ledger.claims.record_results`` reads the records still
``sending``, hands each result here, and writes the groups in its
transaction: an ``executemany`` per group rather than an ORM object per
recipient. The outcome rules are the ledger's (docs/delivery.md, step 4).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from publisher.core.outcomes import Outcome, SendResult
from publisher.db.models import Delivery, DeliveryState

#: The table itself: a list of parameters with a Core statement is one ``executemany``, not the ORM's bulk update.
DELIVERIES = Delivery.metadata.tables[Delivery.__tablename__]


@dataclass(frozen=True)
class RecordSummary:
    sent: int
    failed: int
    retrying: int
    #: Longest Retry-After a provider asked for among the retrying records.
    retry_after: float | None
    max_attempts_seen: int


@dataclass(frozen=True)
class HeldRecord:
    """A record still ``sending`` when its result came back."""

    id: int
    attempts: int
    email: str
    provider: str | None


@dataclass
class ResultChanges:
    """The ledger changes one call's results make, grouped by the columns they write."""

    #: (id, new state, last_error): the change of most outcomes.
    settled: list[dict[str, object]] = field(default_factory=list)
    #: (id, provider message id): accepted.
    sent: list[dict[str, object]] = field(default_factory=list)
    #: (id, attempts, last_error): halted, the attempt given back.
    halted: list[dict[str, object]] = field(default_factory=list)
    #: (id, last_error): failed after the last attempt, dead-lettered.
    given_up: list[dict[str, object]] = field(default_factory=list)
    #: (address, reason, provider) the provider says never to mail again.
    to_suppress: list[tuple[str, str, str | None]] = field(default_factory=list)
    retrying: int = 0
    failed: int = 0
    retry_after: float | None = None
    max_attempts_seen: int = 0

    def add(self, result: SendResult, record: HeldRecord, max_attempts: int, *, cancelled: bool, idempotent: bool) -> None:
        self.max_attempts_seen = max(self.max_attempts_seen, record.attempts)
        if cancelled and result.outcome != Outcome.ACCEPTED:
            self._settle(record, DeliveryState.CANCELLED, f"campaign cancelled; last answer: {result.error}")
        elif result.maybe_sent and not idempotent:
            # Retrying could send it twice: the operator decides (newsletter reconcile).
            self._settle(record, DeliveryState.IN_DOUBT, f"{result.error}; it may have been sent: see `newsletter reconcile`")
        elif result.halt is not None:
            # Not the recipient's doing (quota, rejected credentials):
            # the attempt does not count and the record waits.
            self.halted.append({"row_id": record.id, "new_attempts": max(0, record.attempts - 1), "error": result.error})
            self.retrying += 1
        elif result.outcome == Outcome.ACCEPTED:
            self.sent.append({"row_id": record.id, "provider_id": result.provider_message_id})
        elif result.outcome == Outcome.PERMANENT:
            reason = result.error or "failed"
            self._settle(record, DeliveryState.FAILED, reason)
            self.failed += 1
            if result.suppress:
                self.to_suppress.append((record.email, reason, record.provider))
        elif record.attempts >= max_attempts:
            self.given_up.append({"row_id": record.id, "error": f"{result.error or 'failed'} (gave up after {record.attempts} attempts)"})
            self.failed += 1
        else:
            self._settle(record, DeliveryState.PENDING, result.error)
            self.retrying += 1
            if result.retry_after is not None:
                self.retry_after = max(self.retry_after or 0.0, result.retry_after)

    def _settle(self, record: HeldRecord, state: DeliveryState, error: str | None) -> None:
        self.settled.append({"row_id": record.id, "new_state": state, "error": error})

    def write(self, session: Session, now: dt.datetime) -> None:
        """One executemany per group; each still requires the record to be ``sending``."""
        common = {"lease_until": None, "updated_at": now}
        groups: list[tuple[list[dict[str, object]], dict[str, object]]] = [
            (self.settled, {"state": bindparam("new_state"), "last_error": bindparam("error")}),
            (
                self.sent,
                {"state": DeliveryState.SENT, "provider_message_id": bindparam("provider_id"), "sent_at": now, "last_error": None},
            ),
            (self.halted, {"state": DeliveryState.PENDING, "attempts": bindparam("new_attempts"), "last_error": bindparam("error")}),
            (self.given_up, {"state": DeliveryState.FAILED, "last_error": bindparam("error"), "dead_lettered_at": now}),
        ]
        for rows, values in groups:
            if rows:
                statement = (
                    update(DELIVERIES)
                    .where(DELIVERIES.c.id == bindparam("row_id"), DELIVERIES.c.state == DeliveryState.SENDING)
                    .values(**values, **common)
                )
                session.execute(statement, rows)

    def summary(self) -> RecordSummary:
        return RecordSummary(
            sent=len(self.sent),
            failed=self.failed,
            retrying=self.retrying,
            retry_after=self.retry_after,
            max_attempts_seen=self.max_attempts_seen,
        )

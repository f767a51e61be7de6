"""The audit log: who created, edited, test-sent, sent, scheduled, paused, resumed, cancelled,
reconciled, replayed, imported or erased what, when and from which address."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from publisher.accounts.roles import Actor
from publisher.db.engine import Database
from publisher.db.models import AuditEntry


class Action(enum.StrEnum):
    CREATED = "created"
    EDITED = "edited"
    TEST_SENT = "test-sent"
    SENT = "sent"
    SCHEDULED = "scheduled"
    #: A campaign written to resend an issue to its non-openers.
    RESENT = "resent"
    PAUSED = "paused"
    RESUMED = "resumed"
    CANCELLED = "cancelled"
    RECONCILED = "reconciled"
    REPLAYED = "replayed"
    IMPORTED = "imported"
    UNSUBSCRIBED = "unsubscribed"
    ERASED = "erased"
    SUPPRESSED = "suppressed"
    UNSUPPRESSED = "unsuppressed"
    LIST_CHANGED = "list-changed"
    USER_ADDED = "user-added"
    USER_REMOVED = "user-removed"
    ROLE_CHANGED = "role-changed"
    TOKEN_CREATED = "token-created"  # noqa: S105 (an audit action, not a password)
    TOKEN_REVOKED = "token-revoked"  # noqa: S105 (an audit action, not a password)
    WEBHOOK_ADDED = "webhook-added"
    WEBHOOK_REMOVED = "webhook-removed"
    WEBHOOK_ENABLED = "webhook-enabled"
    EVENT_CREATED = "event-created"
    EVENT_ENDED = "event-ended"
    EVENT_CHANGED = "event-changed"
    APPROVED = "approved"
    #: An approval that no longer holds: the draft was edited, or its automatic send was refused.
    APPROVAL_WITHDRAWN = "approval-withdrawn"
    #: A subject test's winner picked by hand, before its wait had passed.
    WINNER_PICKED = "winner-picked"


@dataclass(frozen=True)
class AuditRecord:
    at: dt.datetime
    actor: str
    action: str
    campaign_id: int | None
    target: str
    detail: str
    ip: str | None
    #: The entry's place in the log: pages of older entries start below it (``before``).
    id: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "campaign": self.campaign_id,
            "target": self.target,
            "detail": self.detail,
            "ip": self.ip,
        }


def record(session: Session, actor: Actor, action: Action, *, campaign_id: int | None = None, target: str = "", detail: str = "") -> None:
    """Add an entry in the caller's transaction: the entry exists exactly when the change does."""
    session.add(
        AuditEntry(
            actor=actor.label[:400], action=action.value, campaign_id=campaign_id, target=target[:400], detail=detail[:1000], ip=actor.ip
        )
    )


def log(db: Database, actor: Actor, action: Action, *, campaign_id: int | None = None, target: str = "", detail: str = "") -> None:
    """Add an entry in a transaction of its own, for a change already committed elsewhere."""
    with db.transaction() as session:
        record(session, actor, action, campaign_id=campaign_id, target=target, detail=detail)


def entries(db: Database, campaign_id: int | None = None, limit: int = 200, before: int | None = None) -> list[AuditRecord]:
    with db.transaction() as session:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if campaign_id is not None:
            query = query.where(AuditEntry.campaign_id == campaign_id)
        if before is not None:
            query = query.where(AuditEntry.id < before)
        return [
            AuditRecord(
                at=e.at, actor=e.actor, action=e.action, campaign_id=e.campaign_id, target=e.target, detail=e.detail, ip=e.ip, id=e.id
            )
            for e in session.scalars(query)
        ]


def record_erasure(db: Database, actor: Actor, address: str, subscriber_id: int | None, detail: str, *, redacted_as: str) -> None:
    """Log an erasure and write ``redacted_as`` over the address in every earlier entry, in one transaction.

    The new entry names only ``subscriber:<id>``: the log must not keep what was erased.
    """
    with db.transaction() as session:
        redact(session, address, redacted_as)
        target = f"subscriber:{subscriber_id}" if subscriber_id is not None else ""
        record(session, actor, Action.ERASED, target=target, detail=detail)


def redact(session: Session, text: str, replacement: str) -> int:
    """Replace ``text`` in every entry's target and detail (an erased address); return how many entries held it."""
    holding = or_(AuditEntry.target.contains(text, autoescape=True), AuditEntry.detail.contains(text, autoescape=True))
    changed = session.execute(
        update(AuditEntry)
        .where(holding)
        .values(target=func.replace(AuditEntry.target, text, replacement), detail=func.replace(AuditEntry.detail, text, replacement))
    )
    return int(changed.rowcount)  # type: ignore[attr-defined]

"""The suppression list: addresses never to mail again, everywhere or on one list.

The publisher leaves them out when it freezes an audience; the workers skip
them when a running campaign reaches their batch, and add an address when a
provider reports it dead (hard bounce, complaint, inactive recipient).

Every entry keeps the SHA-256 of the address. An erased person's entry keeps
only that hash, so the address can be recognised (and refused) when it comes
back through an import or a form, without being stored.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from publisher.db.models import Suppression, utcnow

SUPPRESSIONS = Suppression.metadata.tables[Suppression.__tablename__]


def email_hash(email: str) -> str:
    """The stored fingerprint of a normalised address."""
    return hashlib.sha256(email.encode()).hexdigest()


def in_scope(list_id: int | None, *, include_global: bool = True) -> ColumnElement[bool]:
    """Entries that stop mail to ``list_id`` (the global ones too unless told), or the global ones for None."""
    if list_id is None:
        return Suppression.list_id.is_(None)
    if not include_global:
        return Suppression.list_id == list_id
    return or_(Suppression.list_id.is_(None), Suppression.list_id == list_id)


def suppressed_addresses(list_id: int | None) -> Select[str | None]:
    """Addresses suppressed everywhere, or on ``list_id`` (erased entries hold no address)."""
    return select(Suppression.email).where(in_scope(list_id), Suppression.email.is_not(None))


def is_suppressed(session: Session, email: str, list_id: int | None = None) -> bool:
    """Whether ``email`` may not be mailed everywhere, or on ``list_id``; erased addresses count."""
    query = select(Suppression.id).where(in_scope(list_id), Suppression.email_hash == email_hash(email)).limit(1)
    return session.scalar(query) is not None


def is_erased(session: Session, email: str) -> bool:
    """Whether ``email`` was erased on request (a suppression that keeps only its hash)."""
    query = select(Suppression.id).where(Suppression.email_hash == email_hash(email), Suppression.email.is_(None)).limit(1)
    return session.scalar(query) is not None


def suppress_address(session: Session, email: str, reason: str, source: str, list_id: int | None = None) -> bool:
    """Add ``email`` unless it is suppressed in that scope already; return whether it was added."""
    scope = in_scope(list_id, include_global=False)
    exists = session.scalar(select(Suppression.id).where(Suppression.email_hash == email_hash(email), scope).limit(1))
    if exists is not None:
        return False
    entry = {"email": email, "email_hash": email_hash(email), "list_id": list_id, "reason": reason[:500], "source": source}
    return add_entries(session, [entry]) == 1


def add_entries(session: Session, entries: list[dict[str, Any]]) -> int:
    """Insert suppression entries, skipping any whose address and scope already have one; return how many went in.

    The unique indexes decide, so an entry a concurrent transaction adds
    first is skipped here instead of duplicated (or failing the caller).
    """
    if not entries:
        return 0
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    now = utcnow()
    statement = dialect.insert(SUPPRESSIONS).on_conflict_do_nothing().returning(SUPPRESSIONS.c.id)
    return len(session.execute(statement, [{"created_at": now, **entry} for entry in entries]).all())

"""The suppression list: addresses never to mail again, everywhere or on one list.

The publisher leaves them out when it freezes an audience; the workers skip
them when a running campaign reaches their batch, and add an address when a
provider reports it dead (hard bounce, complaint, inactive recipient).

Every entry keeps a hash of the address. An erased person's entry keeps
only that hash, so the address can be recognised (and refused) when it comes
back through an import or a form, without being stored.

The hash is an HMAC-SHA256 keyed with NEWSLETTER_SECRET_KEY (through a key
derived for this use alone): without the key, someone holding the database
cannot test a guessed address against it. Entries keep the hash they were
written with, so a lookup tries every hash the address may have been kept
as: under the current key, under each retired key (NEWSLETTER_OLD_SECRET_KEYS),
and the plain SHA-256 that entries written before keyed hashes hold.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from publisher.audience.event_audiences import events_scope_of
from publisher.core.clock import utcnow
from publisher.core.errors import ConfigurationError
from publisher.db.engine import SECRET_KEYS
from publisher.db.models import Suppression

SUPPRESSIONS = Suppression.metadata.tables[Suppression.__tablename__]
#: What the hashing key is derived for: the secret also signs links, and a
#: hash of an address must never double as a signature (or the reverse).
HASH_KEY_PURPOSE = b"newsletter.suppressions.email-hash"


def email_hash(email: str) -> str:
    """The plain SHA-256 of a normalised address: what entries written before keyed hashes hold (recognised, never written)."""
    return hashlib.sha256(email.encode()).hexdigest()


def keyed_hash(email: str, secret: str) -> str:
    """The fingerprint of a normalised address under one signing key."""
    return hmac.digest(_hash_key(secret), email.encode(), "sha256").hex()


@functools.lru_cache(maxsize=16)
def _hash_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), HASH_KEY_PURPOSE, hashlib.sha256).digest()


def _secret_keys(session: Session) -> tuple[str, ...]:
    keys: tuple[str, ...] = session.info.get(SECRET_KEYS, ())
    if not keys:
        raise ConfigurationError("the database was opened without the secret keys: addresses cannot be hashed (pass Settings.secret_keys)")
    return keys


def address_hash(session: Session, email: str) -> str:
    """The hash a new entry keeps: keyed with NEWSLETTER_SECRET_KEY."""
    return keyed_hash(email, _secret_keys(session)[0])


def known_hashes(session: Session, email: str) -> list[str]:
    """Every hash an entry for ``email`` may hold: under the current key, each retired key, or none; the current one first."""
    return [*(keyed_hash(email, secret) for secret in _secret_keys(session)), email_hash(email)]


def hashes_of(session: Session, emails: Iterable[str]) -> dict[str, str]:
    """Every hash the entries for these addresses may hold, each with its address."""
    keys = _secret_keys(session)
    hashes: dict[str, str] = {}
    for email in emails:
        hashes.update((digest, email) for digest in (*(keyed_hash(email, secret) for secret in keys), email_hash(email)))
    return hashes


def in_scope(list_id: int | None, *, include_global: bool = True) -> ColumnElement[bool]:
    """Entries that stop mail to ``list_id`` (the global ones too unless told), or the global ones for None."""
    if list_id is None:
        return Suppression.list_id.is_(None)
    # An event audience is also stopped by the suppressions on ``event:*``.
    own = or_(Suppression.list_id == list_id, Suppression.list_id.in_(events_scope_of(list_id)))
    if not include_global:
        return own
    return or_(Suppression.list_id.is_(None), own)


def suppressed_addresses(list_id: int | None) -> Select[str | None]:
    """Addresses suppressed everywhere, or on ``list_id`` (erased entries hold no address)."""
    return select(Suppression.email).where(in_scope(list_id), Suppression.email.is_not(None))


def is_suppressed(session: Session, email: str, list_id: int | None = None) -> bool:
    """Whether ``email`` may not be mailed everywhere, or on ``list_id``; erased addresses count."""
    query = select(Suppression.id).where(in_scope(list_id), Suppression.email_hash.in_(known_hashes(session, email))).limit(1)
    return session.scalar(query) is not None


def is_erased(session: Session, email: str) -> bool:
    """Whether ``email`` was erased on request (a suppression that keeps only its hash)."""
    query = select(Suppression.id).where(Suppression.email_hash.in_(known_hashes(session, email)), Suppression.email.is_(None)).limit(1)
    return session.scalar(query) is not None


def suppress_address(session: Session, email: str, reason: str, source: str, list_id: int | None = None) -> bool:
    """Add ``email`` unless it is suppressed in that scope already; return whether it was added."""
    scope = in_scope(list_id, include_global=False)
    exists = session.scalar(select(Suppression.id).where(Suppression.email_hash.in_(known_hashes(session, email)), scope).limit(1))
    if exists is not None:
        return False
    entry = {"email": email, "email_hash": address_hash(session, email), "list_id": list_id, "reason": reason[:500], "source": source}
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

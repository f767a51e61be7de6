"""Idempotency keys: a create request sent twice with the same key makes one draft.

A client that lost the answer to a create (a timeout, a dropped connection)
sends it again with the same ``Idempotency-Key``; it gets the draft the first
request made instead of a second one. The key is stored in the transaction
that stores the draft, so there is never a draft without its key or a key
without its draft. The same key with another body is a mistake in the
client, refused rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from publisher.accounts.roles import Actor
from publisher.core.errors import NewsletterError
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import IdempotencyKey
from publisher.ledger.drafts import DraftContent, add_draft
from publisher.ledger.subject_tests import SubjectTest

#: Longest key stored (``idempotency_keys.key`` is VARCHAR(200)).
MAX_KEY = 200


class IdempotencyConflict(NewsletterError):
    """The key was used before with a different request body."""


@dataclass(frozen=True)
class RequestKey:
    #: Whose key it is (a token's name): two clients' keys never meet.
    owner: str
    key: str
    #: SHA-256 of the request body, so a reused key with another body is caught.
    body_digest: str


@dataclass(frozen=True)
class Created:
    campaign_id: int
    #: False when the key had made the draft before and this is a repeat.
    new: bool


def create_draft_once(
    settings: Settings, db: Database, content: DraftContent, actor: Actor, key: RequestKey, test: SubjectTest | None = None
) -> Created:
    """The draft this key made before, or a new one stored with the key (and the subject test it carries, if any)."""
    try:
        with db.transaction() as session:
            found = _earlier(session, key)
            if found is not None:
                return found
            campaign_id = add_draft(session, settings, content, actor, test)
            session.add(IdempotencyKey(owner=key.owner, key=key.key, body_digest=key.body_digest, campaign_id=campaign_id))
            session.flush()
            return Created(campaign_id, new=True)
    except IntegrityError:
        # The same key arrived twice at once and the other request committed
        # first (its draft and key exist; this one's were rolled back).
        with db.transaction() as session:
            found = _earlier(session, key)
        if found is None:
            raise
        return found


def _earlier(session: Session, key: RequestKey) -> Created | None:
    row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.owner == key.owner, IdempotencyKey.key == key.key))
    if row is None:
        return None
    if row.body_digest != key.body_digest:
        raise IdempotencyConflict(f"the Idempotency-Key {key.key[:80]!r} was used before with a different request body")
    return Created(row.campaign_id, new=False)

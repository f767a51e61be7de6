"""API tokens: created with scopes, shown once, stored as a SHA-256, revoked by name.

A token is 32 random bytes, so a plain SHA-256 is enough to store it: unlike a
password it cannot be guessed from a dictionary.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from publisher.accounts.roles import AccountError, Scope
from publisher.core.clock import utcnow
from publisher.core.errors import NotFoundError
from publisher.db.engine import Database
from publisher.db.models import ApiToken

#: Tokens start with this, so a leaked one is recognisable (and secret scanners can find it).
PREFIX = "nlt_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    scopes: tuple[Scope, ...]
    created_at: dt.datetime
    last_used_at: dt.datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "scopes": [scope.value for scope in self.scopes],
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        scopes=tuple(Scope(s) for s in row.scopes if s in Scope.__members__.values()),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


def check_token_name(name: str) -> str:
    if not NAME.match(name):
        raise AccountError(f"'{name[:80]}' is not a token name: use letters, digits, '.', '_' and '-', at most 100")
    return name


def create_token(db: Database, name: str, scopes: list[Scope]) -> tuple[TokenInfo, str]:
    """Store a new token; return it with its secret, which is never shown again."""
    check_token_name(name)
    secret = PREFIX + secrets.token_urlsafe(32)
    with db.transaction() as session:
        if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
            raise AccountError(f"a token named {name} exists already")
        row = ApiToken(name=name, token_hash=_digest(secret), scopes=[scope.value for scope in scopes])
        session.add(row)
        session.flush()
        return _info(row), secret


def list_tokens(db: Database) -> list[TokenInfo]:
    with db.transaction() as session:
        return [_info(row) for row in session.scalars(select(ApiToken).order_by(ApiToken.name))]


def revoke_token(db: Database, name: str) -> None:
    with db.transaction() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == name))
        if row is None:
            raise NotFoundError(f"no token named {name[:100]}")
        session.delete(row)


def token_for(db: Database, secret: str) -> TokenInfo | None:
    """The token with this secret, or None; its last use is recorded (to the minute)."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    now = utcnow()
    with db.transaction() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
        if row is None:
            return None
        if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
            row.last_used_at = now
        return _info(row)

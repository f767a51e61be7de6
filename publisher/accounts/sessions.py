"""Console sign-in sessions, stored in the database.

The browser's cookie holds a random token; the database holds its SHA-256,
so a copy of the database signs no one in. A session ends after
``NEWSLETTER_CONSOLE_IDLE_MINUTES`` without a request, or at ``Sign out``.
Each session has its own CSRF token, which every state-changing console form
carries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select

from publisher.core.clock import utcnow
from publisher.db.engine import Database
from publisher.db.models import ConsoleSession, Role, User


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    email: str
    role: Role
    csrf_token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(db: Database, user_id: int) -> str:
    """Open a session for the user; return the token for the cookie."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with db.transaction() as session:
        session.add(
            ConsoleSession(
                token_hash=_digest(token), user_id=user_id, csrf_token=secrets.token_urlsafe(32), created_at=now, last_seen_at=now
            )
        )
    return token


def resume_session(db: Database, token: str, idle: dt.timedelta) -> SignedIn | None:
    """The session's user if the session exists and has not been idle too long; seeing it keeps it alive."""
    if not token or len(token) > 100:
        return None
    now = utcnow()
    with db.transaction() as session:
        row = session.execute(
            select(ConsoleSession, User).join(User, User.id == ConsoleSession.user_id).where(ConsoleSession.token_hash == _digest(token))
        ).first()
        if row is None:
            return None
        console_session, user = row
        if now - console_session.last_seen_at > idle:
            session.delete(console_session)
            return None
        # A write per request would serialise every page view on SQLite: a
        # minute's precision is enough for an idle limit counted in minutes.
        if now - console_session.last_seen_at > dt.timedelta(minutes=1):
            console_session.last_seen_at = now
        return SignedIn(user_id=user.id, email=user.email, role=user.role, csrf_token=console_session.csrf_token)


def end_session(db: Database, token: str) -> None:
    with db.transaction() as session:
        session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _digest(token)))

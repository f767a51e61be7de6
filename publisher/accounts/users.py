"""Console users: add, list, remove, change role, and check a password at sign-in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.accounts.passwords import check_password, dummy_hash, hash_password, verify_password
from publisher.accounts.roles import AccountError, Permission, role_allows
from publisher.core.errors import NotFoundError
from publisher.db.engine import Database
from publisher.db.models import Role, User

MAX_EMAIL = 320


@dataclass(frozen=True)
class UserInfo:
    id: int
    email: str
    role: Role
    created_at: dt.datetime

    def as_dict(self) -> dict[str, object]:
        return {"email": self.email, "role": self.role.value, "created_at": self.created_at.isoformat()}


def normalise_login(email: str) -> str:
    address = email.strip().lower()
    if "@" not in address or len(address) > MAX_EMAIL or any(ch.isspace() or ord(ch) < 32 for ch in address):
        raise AccountError(f"'{email[:80]}' is not an email address")
    return address


def _info(user: User) -> UserInfo:
    return UserInfo(id=user.id, email=user.email, role=user.role, created_at=user.created_at)


def add_user(db: Database, email: str, role: Role, password: str) -> UserInfo:
    address = normalise_login(email)
    password_hash = hash_password(check_password(password))
    with db.transaction() as session:
        if session.scalar(select(User.id).where(User.email == address)) is not None:
            raise AccountError(f"a user {address} exists already")
        user = User(email=address, role=role, password_hash=password_hash)
        session.add(user)
        session.flush()
        return _info(user)


def list_users(db: Database) -> list[UserInfo]:
    with db.transaction() as session:
        return [_info(user) for user in session.scalars(select(User).order_by(User.email))]


def addresses_of(session: Session, permission: Permission) -> list[str]:
    """The sign-in addresses of every user whose role has ``permission``, in address order."""
    users = session.execute(select(User.email, User.role).order_by(User.email)).all()
    return [email for email, role in users if role_allows(Role(role), permission)]


def find_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalise_login(email)).with_for_update())
    if user is None:
        raise NotFoundError(f"no user {email.strip().lower()}")
    return user


def _lock_admins(session: Session) -> None:
    """Lock every admin's row, in id order and before the user's own, so that changes to admins queue.

    Under READ COMMITTED each of two admins removing the other would
    otherwise count the other as still there, and both would go.
    """
    session.execute(select(User.id).where(User.role == Role.ADMIN).order_by(User.id).with_for_update())


def _other_admins(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.id != user.id)) or 0


def remove_user(db: Database, email: str) -> UserInfo:
    with db.transaction() as session:
        _lock_admins(session)
        user = find_user(session, email)
        if user.role is Role.ADMIN and not _other_admins(session, user):
            raise AccountError(f"{user.email} is the last admin: add another admin first")
        info = _info(user)
        session.delete(user)
        return info


def set_role(db: Database, email: str, role: Role) -> UserInfo:
    with db.transaction() as session:
        _lock_admins(session)
        user = find_user(session, email)
        if user.role is Role.ADMIN and role is not Role.ADMIN and not _other_admins(session, user):
            raise AccountError(f"{user.email} is the last admin: make another user admin first")
        user.role = role
        return _info(user)


def authenticate(db: Database, email: str, password: str) -> UserInfo | None:
    """The user whose address and password these are, or None; an unknown address costs as much as a wrong password."""
    try:
        address = normalise_login(email)
    except AccountError:
        address = ""
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.email == address)) if address else None
        stored = user.password_hash if user else dummy_hash()
        if not verify_password(stored, password[:1024]) or user is None:
            return None
        return _info(user)

"""Roles, API scopes and what each allows.

Roles are ordered: each may do everything the roles before it may. A token
has no role; its scopes name the groups of API calls it may make.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from publisher.core.errors import NewsletterError
from publisher.db.models import Role

__all__ = ["Actor", "Permission", "Role", "Scope", "parse_role", "parse_scopes", "role_allows"]


class Permission(enum.StrEnum):
    """Something a console user does; each belongs to the first role that may do it."""

    READ = "read"
    EDIT = "edit"  # create and edit drafts, preview, send tests, import subscribers, edit suppressions
    SEND = "send"  # send, schedule, pause, resume, cancel, reconcile, replay
    ADMINISTER = "administer"  # users, tokens, list visibility, erasure, the audit log


#: The lowest role that has each permission.
_LOWEST_ROLE = {
    Permission.READ: Role.VIEWER,
    Permission.EDIT: Role.EDITOR,
    Permission.SEND: Role.SENDER,
    Permission.ADMINISTER: Role.ADMIN,
}
_ORDER = (Role.VIEWER, Role.EDITOR, Role.SENDER, Role.ADMIN)


class Scope(enum.StrEnum):
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    CAMPAIGNS_SEND = "campaigns:send"
    SUBSCRIBERS_READ = "subscribers:read"
    SUBSCRIBERS_WRITE = "subscribers:write"


class AccountError(NewsletterError):
    """A user or token cannot be created, changed or removed as asked."""


def role_allows(role: Role, permission: Permission) -> bool:
    return _ORDER.index(role) >= _ORDER.index(_LOWEST_ROLE[permission])


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise AccountError(f"unknown role '{value}': use one of {', '.join(r.value for r in _ORDER)}") from None


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    scopes: list[Scope] = []
    for value in values:
        try:
            scope = Scope(value.strip())
        except ValueError:
            raise AccountError(f"unknown scope '{value}': use one of {', '.join(s.value for s in Scope)}") from None
        if scope not in scopes:
            scopes.append(scope)
    if not scopes:
        raise AccountError("give a token at least one --scope")
    return scopes


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the audit log names them: a console user, an API token or the command line."""

    kind: str  # "user", "token" or "cli"
    name: str = ""
    role: Role | None = None
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    ip: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind

    def may(self, permission: Permission) -> bool:
        return self.role is not None and role_allows(self.role, permission)

    def has_scope(self, scope: Scope) -> bool:
        return scope in self.scopes


CLI_ACTOR = Actor(kind="cli", role=Role.ADMIN)

"""Parameter types for console handlers that need a role: the signed-in user, refused (403) below it."""

from __future__ import annotations

from typing import Annotated

from publisher.accounts.roles import Permission
from publisher.accounts.sessions import SignedIn
from publisher.web.console.auth import require

#: An editor or above: imports, suppressions.
Editor = Annotated[SignedIn, require(Permission.EDIT)]
#: An admin: users, tokens, list visibility, erasure, the audit log.
Admin = Annotated[SignedIn, require(Permission.ADMINISTER)]

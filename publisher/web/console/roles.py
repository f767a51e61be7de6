"""Handler parameter types for a signed-in user whose role allows editing or sending (403 otherwise)."""

from __future__ import annotations

from typing import Annotated

from publisher.accounts.roles import Permission
from publisher.accounts.sessions import SignedIn
from publisher.web.console.auth import require

#: A user who may create and edit drafts, preview and send tests.
Editor = Annotated[SignedIn, require(Permission.EDIT)]
#: A user who may send, schedule, pause, resume, cancel, reconcile and replay.
Sender = Annotated[SignedIn, require(Permission.SEND)]

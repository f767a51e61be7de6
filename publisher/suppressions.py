"""The suppression list: addresses never to mail again, everywhere or on one list.

The publisher leaves them out when it freezes an audience; the workers skip
them when a running campaign reaches their batch, and add an address when a
provider reports it dead (hard bounce, inactive recipient).
"""

from __future__ import annotations

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from publisher.db.models import Suppression


def suppressed_addresses(list_id: int | None) -> Select[str]:
    """Addresses suppressed everywhere, or on ``list_id``."""
    scope = Suppression.list_id.is_(None) if list_id is None else or_(Suppression.list_id.is_(None), Suppression.list_id == list_id)
    return select(Suppression.email).where(scope)


def suppress_address(session: Session, email: str, reason: str, source: str, list_id: int | None = None) -> bool:
    """Add ``email`` unless it is suppressed in that scope already; return whether it was added."""
    scope = Suppression.list_id.is_(None) if list_id is None else Suppression.list_id == list_id
    exists = session.scalar(select(Suppression.id).where(Suppression.email == email, scope).limit(1))
    if exists is not None:
        return False
    session.add(Suppression(email=email, list_id=list_id, reason=reason[:500], source=source))
    return True

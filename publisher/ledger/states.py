"""A campaign's status: every allowed transition, written once, and the only code that changes it.

A new campaign starts ``draft`` (written in the console, the API or with
``publish --draft``), ``scheduled`` (it has a ``send_at`` in the future) or
``sending``. From there:

- draft → scheduled or sending: *send*, once. Its audience is frozen then
  (``publisher.ledger.drafts.send_draft``); nothing else moves a draft, and
  nothing moves a campaign back to draft.

- scheduled → sending: *release*. The workers' periodic sweep
  (``publisher.ledger.dispatch.release_due``) once ``send_at`` has come,
  or the ledger as a local-time send is written when a zone's time has
  already come (``publisher.ledger.releases``).
- scheduled or sending → paused: *pause*. An operator (``newsletter pause``);
  the workers pause a sending campaign themselves when its provider halts
  (quota, rejected credentials, a provider they cannot use) or its error
  rate is too high. ``pause_reason`` says which.
- paused → sending, or paused → scheduled: *resume*. An operator; back to
  scheduled when the campaign was paused before its ``send_at`` came.
- scheduled, sending or paused → cancelled: *cancel*. An operator. Nothing
  leaves ``cancelled``.
- sending → complete: *complete*. Decided only by ``complete_if_done``,
  under the campaign's row lock, when no record is pending or sending: by
  the workers after each batch, by resume and reconcile, and by the sweep's
  backstop for a sending campaign with nothing open.
- complete → sending: *reopen*, the one way back. An operator replaying
  dead letters or sending in-doubt records again (``newsletter replay``,
  ``newsletter reconcile --resend``) gives the campaign open records again.

A transition not in ``TRANSITIONS`` raises ``TransitionError``;
``tests/test_status_writes.py`` keeps every other module from writing the
status itself.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from publisher.core.clock import utcnow
from publisher.core.errors import NewsletterError
from publisher.db.models import OPEN_STATES, Campaign, CampaignStatus, Delivery
from publisher.ledger.announcements import campaign_completed, campaign_sending

DRAFT = CampaignStatus.DRAFT
SCHEDULED, SENDING, PAUSED = CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED
COMPLETE, CANCELLED = CampaignStatus.COMPLETE, CampaignStatus.CANCELLED


class Event(enum.StrEnum):
    """What moves a campaign from one status to another (the module docstring says who triggers each)."""

    SEND = "send"
    RELEASE = "release"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    COMPLETE = "complete"
    REOPEN = "reopen"


#: The status a campaign may start in.
INITIAL: Final = frozenset({DRAFT, SCHEDULED, SENDING})

#: Every allowed transition (from, to) and the one event that makes it.
TRANSITIONS: Final[Mapping[tuple[CampaignStatus, CampaignStatus], Event]] = MappingProxyType(
    {
        (DRAFT, SCHEDULED): Event.SEND,
        (DRAFT, SENDING): Event.SEND,
        (SCHEDULED, SENDING): Event.RELEASE,
        (SCHEDULED, PAUSED): Event.PAUSE,
        (SCHEDULED, CANCELLED): Event.CANCEL,
        (SENDING, PAUSED): Event.PAUSE,
        (SENDING, COMPLETE): Event.COMPLETE,
        (SENDING, CANCELLED): Event.CANCEL,
        (PAUSED, SENDING): Event.RESUME,
        (PAUSED, SCHEDULED): Event.RESUME,
        (PAUSED, CANCELLED): Event.CANCEL,
        (COMPLETE, SENDING): Event.REOPEN,
    }
)


class TransitionError(NewsletterError):
    """The campaign's status does not allow this event."""

    def __init__(self, campaign_id: int | None, source: CampaignStatus, target: CampaignStatus, event: Event) -> None:
        super().__init__(f"campaign {campaign_id} is {source.value}: {event.value} cannot make it {target.value}")
        self.source = source
        self.target = target
        self.event = event


def allows(source: CampaignStatus, event: Event) -> bool:
    """Whether ``event`` can move a campaign out of ``source``."""
    return any(edge[0] == source and made_by == event for edge, made_by in TRANSITIONS.items())


def initial_status(*, scheduled: bool = False, draft: bool = False) -> CampaignStatus:
    """The status a new campaign is written with: a draft, or scheduled until its ``send_at``, else sending at once."""
    if draft:
        return DRAFT
    return SCHEDULED if scheduled else SENDING


# -- A campaign already loaded (with its row lock: ``session.get(..., with_for_update=True)``).


def send(campaign: Campaign, *, scheduled: bool, now: dt.datetime | None = None) -> None:
    """Send a draft: scheduled until its ``send_at``, else sending at once."""
    _move(campaign, SCHEDULED if scheduled else SENDING, Event.SEND)
    campaign.released_at = None if scheduled else (now or utcnow())
    # A draft keeps why its automatic send was refused here; once sent, that reason would read as a pause.
    campaign.pause_reason = None


def release(campaign: Campaign, now: dt.datetime | None = None) -> None:
    """Start a scheduled campaign now: a local-time send written when some zone's time has already come."""
    _move(campaign, SENDING, Event.RELEASE)
    campaign.released_at = now or utcnow()


def pause(campaign: Campaign, reason: str) -> None:
    _move(campaign, PAUSED, Event.PAUSE)
    campaign.pause_reason = reason[:500]


def resume(campaign: Campaign, now: dt.datetime | None = None) -> None:
    """Resume a paused campaign: scheduled again if it was paused before its ``send_at`` came, else sending."""
    now = now or utcnow()
    due_later = campaign.send_at is not None and campaign.released_at is None and campaign.send_at > now
    _move(campaign, SCHEDULED if due_later else SENDING, Event.RESUME)
    campaign.pause_reason = None
    if not due_later:
        # The error-rate pause counts from here (publisher.ledger.claims.error_rate).
        campaign.released_at = now


def cancel(campaign: Campaign) -> None:
    _move(campaign, CANCELLED, Event.CANCEL)


def reopen(campaign: Campaign) -> None:
    """Make a complete campaign sending again, its records having been reopened; a campaign not finished stays as it is."""
    if campaign.status in (SENDING, PAUSED, SCHEDULED):
        return
    _move(campaign, SENDING, Event.REOPEN)
    campaign.completed_at = None


def _move(campaign: Campaign, target: CampaignStatus, event: Event) -> None:
    _check(campaign.id, campaign.status, target, event)
    campaign.status = target


# -- Set-based, for the sweep and the workers: one UPDATE, no campaign loaded.


def release_due(session: Session, now: dt.datetime) -> list[int]:
    """Start every scheduled campaign whose ``send_at`` has come, announcing each (``campaign.sending``); return their ids."""
    _check(None, SCHEDULED, SENDING, Event.RELEASE)
    released = session.scalars(
        update(Campaign)
        .where(Campaign.status == SCHEDULED, Campaign.send_at <= now)
        .values(status=SENDING, released_at=now)
        .returning(Campaign.id)
    ).all()
    for campaign_id in released:
        campaign_sending(session, campaign_id, now)
    return list(released)


def pause_sending(session: Session, campaign_id: int, reason: str) -> bool:
    """Pause the campaign if it is sending (the workers' halts); anything else is left as it is."""
    return _move_where(session, SENDING, PAUSED, Event.PAUSE, Campaign.id == campaign_id, pause_reason=reason[:500]) > 0


def complete_if_done(session: Session, campaign_id: int, now: dt.datetime | None = None) -> bool:
    """Mark a sending campaign complete when no record of it is open; the one place 'complete' is decided.

    The campaign row is locked first and the records are read after the
    lock is granted. Two workers finishing the last two batches at once
    would otherwise each see the other's records still open (PostgreSQL,
    read committed) and neither complete the campaign; and the sweep would
    judge from records read before a replay or reconcile that held the lock
    made some pending again. (SQLite serialises writers: the lock is moot.)
    """
    status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id).with_for_update())
    if status != SENDING:
        # Paused, cancelled or already complete: resume, reopen or nothing decides it later.
        return False
    # One open record is enough to answer: counting them all would scan the
    # campaign's open records after every batch while holding the lock.
    still_open = session.scalar(select(Delivery.id).where(Delivery.campaign_id == campaign_id, Delivery.state.in_(OPEN_STATES)).limit(1))
    if still_open is not None:
        return False
    now = now or utcnow()
    _move_where(session, SENDING, COMPLETE, Event.COMPLETE, Campaign.id == campaign_id, completed_at=now)
    campaign_completed(session, campaign_id, now)
    return True


def _move_where(
    session: Session, source: CampaignStatus, target: CampaignStatus, event: Event, *where: ColumnElement[bool], **values: Any
) -> int:
    _check(None, source, target, event)
    result = session.execute(update(Campaign).where(Campaign.status == source, *where).values(status=target, **values))
    return int(getattr(result, "rowcount", 0) or 0)


def _check(campaign_id: int | None, source: CampaignStatus, target: CampaignStatus, event: Event) -> None:
    if TRANSITIONS.get((source, target)) != event:
        raise TransitionError(campaign_id, source, target, event)

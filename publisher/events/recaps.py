"""When an event ends: its two recap drafts and the editors' notice, once per event, whatever crashes or repeats.

The workers' sweep calls ``make_due_recaps``. An event is due when it ended
(``events end``, a settled platform signal, or its end time passing) at
least NEWSLETTER_EVENT_RECAP_DELAY seconds ago and has no ``recap_done_at``.
Each due event is one transaction: its row is locked (SELECT … FOR UPDATE
on PostgreSQL; SQLite's BEGIN IMMEDIATE lets one writer in at a time), the
state is read again under the lock, and the drafts, the notice to the
editors and ``recap_done_at`` are written and committed together. So:

- a sweep that dies half-way leaves nothing behind (the transaction rolls
  back) and the next sweep does it all;
- a second sweep at the same time waits for the lock and then finds the
  event done;
- the unique constraint on (recap_event_id, list_id) refuses a second pair
  even if the lock were bypassed.

The recap rule (``catalogue.recap_rule``) decides what is written: two
drafts (``drafts``), the same two with an ``auto_send_at`` that the sweep
sends once a sender approves them (``auto``), or nothing (``none``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.accounts.roles import Actor, Permission
from publisher.accounts.users import addresses_of
from publisher.audience.event_audiences import ATTENDED, AUDIENCES, NO_SHOW, EventAudience
from publisher.audience.lists import find_list
from publisher.audience.subscriber_rows import sendable_email
from publisher.content import recap as recap_format
from publisher.content.drafting import lint_draft, read_draft
from publisher.content.rendering.notice import DraftLink, RecapNotice, render_notice
from publisher.core.clock import utcnow
from publisher.core.settings import RecapRule, Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, Event
from publisher.events.catalogue import recap_rule
from publisher.events.endings import due_events, settle_end_signals
from publisher.ledger.campaigns import audience_size
from publisher.ledger.drafts import DraftContent, add_draft
from publisher.ledger.notice import write_notice

log = logging.getLogger(__name__)

#: The draft's title (and subject) for each audience.
TITLES = {ATTENDED: "Thank you for coming to {name}", NO_SHOW: "Here's what you missed at {name}"}


@dataclass(frozen=True)
class RecapMade:
    """What the end of one event wrote."""

    slug: str
    rule: RecapRule
    #: The drafts' campaign ids, attended first; none under the rule ``none``.
    drafts: tuple[int, ...]
    #: The editors' notice, None when there is no editor (or no draft).
    notice: int | None


def ended_moment(event: Event, now: dt.datetime) -> dt.datetime | None:
    """When the event ended: the first of its ending (by hand or a settled signal) and its end time to have come."""
    moments = [moment for moment in (event.ended_at, event.ends_at) if moment is not None and moment <= now]
    return min(moments) if moments else None


def make_due_recaps(settings: Settings, db: Database, now: dt.datetime | None = None) -> list[RecapMade]:
    """The sweep's event step: settle the platforms' "ended" signals, then make the recap of every due event.

    One event that fails is logged and left for the next sweep.
    """
    now = now or utcnow()
    with db.transaction() as session:
        for slug in settle_end_signals(session, settings, now):
            log.info("event %s ended: its platform's end signal is %s s old", slug, settings.event_end_quiet_seconds)
    made = []
    for event_id in due_events(db, settings, now):
        try:
            done = make_recap(settings, db, event_id, now)
        except Exception:  # whatever one event holds (a bad value, a bug): the others and the sends after them go on
            log.exception("the recap of event %s could not be made; the next sweep tries again", event_id)
            continue
        if done is not None:
            log.info("event %s ended: recap rule %s, drafts %s, notice %s", done.slug, done.rule, list(done.drafts), done.notice)
            made.append(done)
    return made


def make_recap(settings: Settings, db: Database, event_id: int, now: dt.datetime | None = None) -> RecapMade | None:
    """Apply the event's recap rule, once: None when it is not due or was applied already."""
    now = now or utcnow()
    with db.transaction() as session:
        # Locked, then read: a sweep that waited here sees what the one before it committed.
        event = session.scalars(select(Event).where(Event.id == event_id).with_for_update()).one_or_none()
        if event is None or event.recap_done_at is not None:
            return None
        end = ended_moment(event, now)
        if end is None or end + dt.timedelta(seconds=settings.event_recap_delay) > now:
            return None
        rule = recap_rule(settings, event)
        drafts: tuple[int, ...] = ()
        notice = None
        if rule != "none":
            after = event.auto_send_after if event.auto_send_after is not None else settings.event_auto_send_after
            auto_send_at = end + dt.timedelta(seconds=after) if rule == "auto" else None
            following = next_event(session, event, now)
            drafts = tuple(_add_recap_draft(session, settings, event, audience, following, auto_send_at) for audience in AUDIENCES)
            notice = _notify_editors(session, settings, event, drafts, end, auto_send_at)
        event.recap_done_at = now
        return RecapMade(event.slug, rule, drafts, notice)


def actor_of(event: Event) -> Actor:
    """Who the audit log says made the drafts: ``event:<slug>``."""
    return Actor(kind="event", name=event.slug)


def _add_recap_draft(
    session: Session,
    settings: Settings,
    event: Event,
    audience: str,
    following: dict[str, Any] | None,
    auto_send_at: dt.datetime | None,
) -> int:
    text = recap_text(event, audience, following)
    recap = read_draft(text, f"the recap of event {event.slug}")
    list_name = EventAudience(event.slug, audience).list_name
    content = DraftContent(recap, text, list_name, settings.provider, lint_draft(settings, recap))
    campaign_id = add_draft(session, settings, content, actor_of(event))
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    campaign.recap_event_id = event.id
    campaign.auto_send_at = auto_send_at
    # Written now, inside the lock: a second pair for the event breaks the unique constraint here.
    session.flush()
    return campaign_id


def recap_text(event: Event, audience: str, following: dict[str, Any] | None) -> str:
    """The draft's recap: front matter filled from the event, and no body yet (marketing writes or imports it)."""
    title = TITLES[audience].format(name=event.name)
    meta: dict[str, Any] = {"title": title, "subject": title, "event": event_card(event)}
    speakers = [checked for speaker in event.speakers or [] if (checked := _checked(recap_format.Speaker, speaker)) is not None]
    if speakers:
        meta["speakers"] = speakers
    if following is not None:
        meta["next_event"] = following
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)
    return f"---\n{front}---\n\n"


def event_card(event: Event) -> dict[str, Any]:
    """The recap's ``event``: name, date, venue, times in the event's zone, and its page or online link."""
    zone = ZoneInfo(event.timezone)
    values: dict[str, Any] = {
        "name": event.name,
        "date": event.starts_at.astimezone(zone).date() if event.starts_at else None,
        "venue": event.venue or ("Online" if event.online_url else None),
        "starts_at": event.starts_at.astimezone(zone) if event.starts_at else None,
        "ends_at": event.ends_at.astimezone(zone) if event.ends_at else None,
        "timezone": event.timezone,
        "url": event.url or event.online_url,
    }
    return _checked(recap_format.Event, values) or {"name": event.name}


def next_event(session: Session, event: Event, now: dt.datetime) -> dict[str, Any] | None:
    """The recap's ``next_event``: the soonest event of any source that starts after now, with both its times known."""
    upcoming = session.scalars(
        select(Event)
        .where(Event.id != event.id, Event.starts_at > now, Event.ends_at.is_not(None))
        .order_by(Event.starts_at, Event.id)
        .limit(1)
    ).one_or_none()
    if upcoming is None or upcoming.starts_at is None or upcoming.ends_at is None:
        return None
    zone = ZoneInfo(upcoming.timezone)
    values = {
        "name": upcoming.name,
        "starts_at": upcoming.starts_at.astimezone(zone),
        "ends_at": upcoming.ends_at.astimezone(zone),
        "timezone": upcoming.timezone,
        "venue": upcoming.venue or ("Online" if upcoming.online_url else None),
        "url": upcoming.url or upcoming.online_url,
    }
    return _checked(recap_format.NextEvent, values)


def _checked(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any] | None:
    """``values`` as the recap's ``model`` writes them, leaving out what it refuses; None when it refuses what it needs.

    Stored event data came from platforms and files: a speaker's photo that
    is not an https address must cost the photo, not the whole recap.
    """
    values = {key: value for key, value in values.items() if value is not None}
    for _ in range(3):
        try:
            return model.model_validate(values).model_dump(mode="json", exclude_none=True)
        except ValidationError as exc:
            refused = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            required = {name for name, field in model.model_fields.items() if field.is_required()}
            if not refused or refused & required:
                return None
            values = {key: value for key, value in values.items() if key not in refused}
    return None


def _notify_editors(
    session: Session, settings: Settings, event: Event, drafts: tuple[int, ...], end: dt.datetime, auto_send_at: dt.datetime | None
) -> int | None:
    """Write the notice to every user who may edit (none: no notice), in the drafts' transaction."""
    editors = []
    for address in addresses_of(session, Permission.EDIT):
        try:
            editors.append(sendable_email(address))
        except ValueError:
            log.warning("a console user's address is not one this service sends to; they get no notice of event %s", event.slug)
    if not editors:
        return None
    links = []
    for audience, campaign_id in zip(AUDIENCES, drafts, strict=True):
        list_name = EventAudience(event.slug, audience).list_name
        people = audience_size(session, find_list(session, list_name))
        url = f"{settings.public_url}/console/campaigns/{campaign_id}"
        links.append(DraftLink(TITLES[audience].format(name=event.name), list_name, people, url))
    zone = ZoneInfo(event.timezone)
    notice = RecapNotice(
        event_name=event.name,
        ended=_when(end, zone),
        drafts=tuple(links),
        auto_send=_when(auto_send_at, zone) if auto_send_at else None,
    )
    return write_notice(session, settings, notice.title, render_notice(notice, settings.brand), editors, actor_of(event).label)


def _when(moment: dt.datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"on {local:%A} {local.day} {local:%B %Y} at {local:%H:%M} ({zone.key})"

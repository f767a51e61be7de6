"""Events for the recap tests: one that ran yesterday evening in London, its people, and what its end wrote."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from publisher.accounts.roles import CLI_ACTOR
from publisher.audience.event_audiences import find_event
from publisher.content.drafting import lint_draft, read_draft
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Attendance, Campaign, CampaignKind, Delivery, Event
from publisher.events.catalogue import EventFields, create_event
from publisher.events.registrants import Registration, record_registrations
from publisher.ledger.drafts import DraftContent, load_draft, update_draft

#: The meetup the tests end: 18:30 to 21:00 in London, winter time (UTC+0).
STARTS = dt.datetime(2026, 12, 3, 18, 30, tzinfo=dt.UTC)
ENDS = dt.datetime(2026, 12, 3, 21, 0, tzinfo=dt.UTC)
SPEAKERS = [
    {"name": "Ada Lovelace", "role": "Chief engineer", "organisation": "Modu", "photo": "https://images.example/ada.jpg"},
    # A photo no recap may have: the speaker stays, the photo goes.
    {"name": "Grace Hopper", "role": "Keynote", "photo": "javascript:alert(1)"},
]
CAME = ("ann@example.com", "bob@example.com")
MISSED = ("cy@example.com",)


def product_meetup(db: Database, settings: Settings, slug: str = "product-meetup", came: tuple[str, ...] = CAME, **changes: object) -> str:
    """Create the meetup with the people who came (two) and one who did not; return its slug."""
    fields = EventFields(
        name="Product vs Tech",
        starts_at=STARTS,
        ends_at=ENDS,
        timezone="Europe/London",
        venue="Holborn, London",
        url="https://events.example/product-vs-tech",
        speakers=SPEAKERS,
    )
    create_event(db, slug, "manual", fields)
    people = [Registration(email, attendance=Attendance.YES, checked_in_at=STARTS) for email in came]
    people += [Registration(email, attendance=Attendance.NO) for email in MISSED]
    with db.transaction() as session:
        event = find_event(session, slug)
        record_registrations(session, settings, event, people)
        for name, value in changes.items():
            setattr(event, name, value)
    return slug


@dataclass(frozen=True)
class Written:
    """What an event's end left in the ledger."""

    drafts: dict[str, Campaign]
    notices: list[Campaign]
    done: bool


def written(db: Database, slug: str) -> Written:
    with db.transaction() as session:
        event = find_event(session, slug)
        drafts = session.scalars(select(Campaign).where(Campaign.recap_event_id == event.id).order_by(Campaign.id)).all()
        notices = session.scalars(select(Campaign).where(Campaign.kind == CampaignKind.NOTICE).order_by(Campaign.id)).all()
        by_list = {draft.mailing_list.name if draft.mailing_list else "": draft for draft in drafts}
        assert len(by_list) == len(drafts)
        return Written(by_list, list(notices), event.recap_done_at is not None)


def notice_recipients(db: Database) -> list[str]:
    """Every address a notice was written for, once per ledger record."""
    with db.transaction() as session:
        notices = select(Campaign.id).where(Campaign.kind == CampaignKind.NOTICE)
        return sorted(session.scalars(select(Delivery.email).where(Delivery.campaign_id.in_(notices))))


def event_row(db: Database, slug: str) -> Event:
    with db.transaction() as session:
        return find_event(session, slug)


def write_body(settings: Settings, db: Database, campaign_id: int, body: str = "We met, we talked, we learned.") -> None:
    """Write the recap's body into a draft, as marketing does in the console (an edit, audited)."""
    draft = load_draft(db, campaign_id)
    text = (draft.recap_text or "").rstrip("\n") + f"\n\n{body}\n"
    recap = read_draft(text)
    content = DraftContent(recap, text, draft.list_name or "", draft.provider, lint_draft(settings, recap))
    update_draft(settings, db, campaign_id, content, CLI_ACTOR)


def automatic_meetup(
    db: Database,
    settings: Settings,
    slug: str = "product-meetup",
    after: int = 3 * 3600,
    came: tuple[str, ...] = CAME,
    body: str | None = "We met, we talked, we learned.",
) -> dict[str, int]:
    """The meetup under the rule auto, its drafts made (at ENDS + 2 h) and ``body`` written in them; their ids by audience."""
    import time_machine

    from publisher.events.catalogue import set_recap_rule
    from publisher.events.recaps import make_due_recaps

    product_meetup(db, settings, slug=slug, came=came)
    set_recap_rule(db, slug, "auto", auto_send_after=after)
    with time_machine.travel(ENDS + dt.timedelta(seconds=settings.event_recap_delay), tick=False):
        make_due_recaps(settings, db)
    drafts = {name.rsplit(":", 1)[1]: draft.id for name, draft in written(db, slug).drafts.items()}
    for campaign_id in drafts.values():
        if body is not None:
            write_body(settings, db, campaign_id, body)
    return drafts

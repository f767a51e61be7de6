"""Welcome issues: a copy of one chosen issue for each person who joins a list.

``newsletter lists set NAME --welcome ID`` names the issue (so does the
console's lists page, offering the campaigns ``welcome_options`` finds). It must be an
issue of that list (sent, going out, scheduled or a draft), not a test send,
a confirmation or a cancelled campaign: its stage-1 render is copied as it
stands, so the copy says what the issue says, footer and list name included.

Confirming a sign-up to the list writes, in the confirmation's own
transaction, a welcome campaign of one recipient (kind ``welcome``) that the
workers send like any other: with the ledger, retries and suppression
checks, on the priority queue. An import gives none unless asked
(``subscribers import --welcome``): then one welcome campaign carries the
copies of everyone the import confirmed, in batches.

Nobody gets the same welcome issue twice: ``welcome_sends`` holds one row per
issue and subscriber (a unique pair), so confirming again after leaving and
signing up again, or being imported after confirming, sends nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import ColumnElement, exists, insert, select
from sqlalchemy.orm import Session

from publisher.audience.lists import ListChange, ListSummary, change_list, find_list, newsletter_list, summary_of
from publisher.audience.suppressions import in_scope
from publisher.core.clock import utcnow
from publisher.core.errors import NewsletterError, NotFoundError
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import MAX_ID, Campaign, CampaignKind, CampaignStatus, MailingList, Subscriber, Suppression, WelcomeSend
from publisher.ledger.campaigns import message_domain, write_batches
from publisher.ledger.states import initial_status

log = logging.getLogger(__name__)

WELCOME_SENDS = WelcomeSend.metadata.tables[WelcomeSend.__tablename__]


class WelcomeChoiceError(NewsletterError):
    """The campaign cannot be the list's welcome issue; nothing was changed."""


class Candidate(Protocol):
    """What ``template_problem`` weighs: a Campaign, or a ``WelcomeChoice`` read without the campaign's render."""

    @property
    def is_test(self) -> bool: ...
    @property
    def kind(self) -> CampaignKind: ...
    @property
    def list_id(self) -> int | None: ...
    @property
    def status(self) -> CampaignStatus: ...
    @property
    def placeholder_nonce(self) -> str: ...


def template_problem(campaign: Candidate | None, mailing_list: MailingList, campaign_id: int) -> str | None:
    """Why ``campaign`` cannot welcome people to ``mailing_list``; None when it can."""
    if campaign is None:
        return f"no campaign with id {campaign_id}"
    if campaign.is_test:
        return f"campaign {campaign_id} is a test send, not an issue: only an issue of the list can welcome people"
    if campaign.kind is not CampaignKind.ISSUE:
        return f"campaign {campaign_id} is a {campaign.kind.value} email, not an issue: only an issue of the list can welcome people"
    if campaign.list_id != mailing_list.id:
        return f"campaign {campaign_id} is not an issue of '{mailing_list.name}': its footer names another list"
    if campaign.status is CampaignStatus.CANCELLED:
        return f"campaign {campaign_id} was cancelled"
    if not campaign.placeholder_nonce:
        # Written with the stage-1 render (``store_issue``), which cannot be filled in without it. Weighed
        # instead of the render because it is short: the lists page weighs every issue of every list.
        return f"campaign {campaign_id} has no rendered issue"
    return None


def set_welcome(db: Database, list_name: str, campaign_id: int | None, change: ListChange | None = None) -> ListSummary:
    """Make ``campaign_id`` the list's welcome issue (None: no welcome issue), with ``change`` in the same transaction."""
    with db.transaction() as session:
        mailing_list = change_list(session, list_name, change or ListChange())
        if campaign_id is not None:
            campaign = session.get(Campaign, campaign_id) if 0 < campaign_id <= MAX_ID else None
            if (problem := template_problem(campaign, mailing_list, campaign_id)) is not None:
                raise WelcomeChoiceError(problem)
        mailing_list.welcome_campaign_id = campaign_id
        return summary_of(session, mailing_list)


@dataclass(frozen=True)
class WelcomeChoice:
    """A campaign as the console's welcome field weighs and offers it: read without its render."""

    id: int
    title: str
    status: CampaignStatus
    is_test: bool
    kind: CampaignKind
    list_id: int | None
    placeholder_nonce: str


@dataclass(frozen=True)
class WelcomeOptions:
    """A list's welcome issue and the campaigns ``set_welcome`` would take for it, newest first."""

    current: int | None
    #: Why the current welcome issue can no longer be copied (it changed since it was chosen); None when it can.
    problem: str | None
    choices: list[WelcomeChoice]


_CHOICE_COLUMNS = (
    Campaign.id,
    Campaign.title,
    Campaign.status,
    Campaign.is_test,
    Campaign.kind,
    Campaign.list_id,
    Campaign.placeholder_nonce,
)


def _choices(session: Session, criterion: ColumnElement[bool]) -> list[WelcomeChoice]:
    rows = session.execute(select(*_CHOICE_COLUMNS).where(criterion).order_by(Campaign.id.desc()))
    return [
        WelcomeChoice(id=row[0], title=row[1], status=row[2], is_test=row[3], kind=row[4], list_id=row[5], placeholder_nonce=row[6])
        for row in rows
    ]


def welcome_options(db: Database) -> dict[str, WelcomeOptions]:
    """Each newsletter list's welcome issue and the campaigns that can take its place, by list name: those ``template_problem`` accepts.

    Two queries whatever the number of lists: the lists, then their campaigns.
    """
    with db.reading() as session:
        lists = session.scalars(select(MailingList).where(newsletter_list())).all()
        chosen = [mailing_list.welcome_campaign_id for mailing_list in lists if mailing_list.welcome_campaign_id is not None]
        # Issues only, the one kind template_problem takes, found by ix_campaigns_kind_list_id: confirmations
        # and welcome copies, one per sign-up, are most of the campaigns. template_problem still decides.
        # Each list's current welcome issue is read whatever it has become, to say why it can no longer be sent.
        # The ids as values, not subqueries: PostgreSQL uses no index for a subquery under OR.
        issues = (Campaign.kind == CampaignKind.ISSUE) & Campaign.list_id.in_([mailing_list.id for mailing_list in lists])
        found = _choices(session, issues | Campaign.id.in_(chosen)) if lists else []
        by_id = {choice.id: choice for choice in found}
        by_list: dict[int, list[WelcomeChoice]] = {}
        for choice in found:
            if choice.list_id is not None:
                by_list.setdefault(choice.list_id, []).append(choice)
        options = {}
        for mailing_list in lists:
            choices = [c for c in by_list.get(mailing_list.id, []) if template_problem(c, mailing_list, c.id) is None]
            current = mailing_list.welcome_campaign_id
            problem = None if current is None else template_problem(by_id.get(current), mailing_list, current)
            options[mailing_list.name] = WelcomeOptions(current, problem, choices)
        return options


def _usable_template(session: Session, mailing_list: MailingList) -> Campaign | None:
    """The list's welcome issue, when it has one that can still be copied."""
    if mailing_list.welcome_campaign_id is None:
        return None
    template = session.get(Campaign, mailing_list.welcome_campaign_id)
    if (problem := template_problem(template, mailing_list, mailing_list.welcome_campaign_id)) is not None:
        # Chosen when it could, changed since (a draft moved to another list, a campaign cancelled).
        log.warning("list %s has a welcome issue that cannot be sent: %s", mailing_list.name, problem)
        return None
    return template


def _welcome_campaign(session: Session, settings: Settings, template: Campaign) -> Campaign:
    """A welcome campaign copying ``template``'s stage-1 render, going out at once (its batches follow)."""
    now = utcnow()
    # In the session already (the caller's list): no query.
    mailing_list = session.get(MailingList, template.list_id) if template.list_id is not None else None
    campaign = Campaign(
        list_id=template.list_id,
        status=initial_status(scheduled=False),
        kind=CampaignKind.WELCOME,
        provider=settings.provider,
        is_test=False,
        title=template.title,
        subject=template.subject,
        source=f"welcome:{template.id}",
        content_digest=template.content_digest,
        html_template=template.html_template,
        text_template=template.text_template,
        placeholder_nonce=template.placeholder_nonce,
        welcome_of=template.id,
        # Its links and pixel are the issue's: tracked as the issue is, unless tracking
        # was switched off since (everywhere, or for the list).
        tracking=template.tracking and settings.tracking and (mailing_list is None or mailing_list.tracking),
        tracked_links=template.tracked_links,
        created_by="welcome",
        released_at=now,
    )
    session.add(campaign)
    session.flush()
    return campaign


@dataclass(frozen=True)
class WelcomeIssues:
    """Writes one welcome campaign for a subscriber who just confirmed (``publisher.audience.signup.WelcomeWriter``)."""

    settings: Settings

    def __call__(self, session: Session, mailing_list: MailingList, subscriber: Subscriber) -> int | None:
        template = _usable_template(session, mailing_list)
        if template is None or _welcomed(session, template.id, subscriber.id):
            return None
        campaign = _welcome_campaign(session, self.settings, template)
        _record(session, template.id, campaign.id, [subscriber.id])
        batch_ids, _ = write_batches(session, campaign.id, [[(subscriber.id, subscriber.email)]], message_domain(self.settings))
        return batch_ids[0]


def _welcomed(session: Session, template_id: int, subscriber_id: int) -> bool:
    query = select(WelcomeSend.id).where(WelcomeSend.template_id == template_id, WelcomeSend.subscriber_id == subscriber_id)
    return session.scalar(query) is not None


def _record(session: Session, template_id: int, campaign_id: int, subscriber_ids: Sequence[int]) -> None:
    now = utcnow()
    rows = [{"template_id": template_id, "subscriber_id": sid, "campaign_id": campaign_id, "created_at": now} for sid in subscriber_ids]
    session.execute(insert(WELCOME_SENDS), rows)


@dataclass
class ImportWelcome:
    """Writes the welcome issue to everyone an import confirms (``publisher.audience.subscribers.ConfirmedSink``).

    One campaign for the whole import, made when its first recipient is
    found and grown by the batches of each chunk, in the import's
    transaction. Addresses suppressed on the list, or everywhere, get none.
    """

    settings: Settings
    #: Recipients per batch (the provider's largest batch, or NEWSLETTER_BATCH_SIZE).
    batch_size: int
    campaign_id: int | None = None
    batch_ids: list[int] = field(default_factory=list)
    recipients: int = 0

    def __call__(self, session: Session, list_id: int, subscriber_ids: list[int]) -> None:
        mailing_list = session.get(MailingList, list_id)
        assert mailing_list is not None  # the import's own list
        template = _usable_template(session, mailing_list)
        if template is None:
            raise NoWelcomeIssue(_no_welcome(mailing_list.name))
        welcomed = exists().where(WelcomeSend.template_id == template.id, WelcomeSend.subscriber_id == Subscriber.id)
        # Correlated on the address (indexed): the chunk's own suppressions, not the whole table's per chunk.
        suppressed = exists().where(in_scope(list_id), Suppression.email == Subscriber.email)
        members = session.execute(
            select(Subscriber.id, Subscriber.email).where(Subscriber.id.in_(subscriber_ids), ~welcomed, ~suppressed).order_by(Subscriber.id)
        ).all()
        if not members:
            return
        if self.campaign_id is None:
            self.campaign_id = _welcome_campaign(session, self.settings, template).id
        _record(session, template.id, self.campaign_id, [sid for sid, _ in members])
        chunks = [
            [(sid, email) for sid, email in members[start : start + self.batch_size]] for start in range(0, len(members), self.batch_size)
        ]
        batch_ids, recipients = write_batches(session, self.campaign_id, chunks, message_domain(self.settings), len(self.batch_ids))
        self.batch_ids += batch_ids
        self.recipients += recipients


class NoWelcomeIssue(NewsletterError):
    """``--welcome`` was given for a list with no welcome issue it can send."""


def _no_welcome(list_name: str) -> str:
    return f"list '{list_name}' has no welcome issue it can send: choose one with `newsletter lists set {list_name} --welcome ID`"


def require_welcome(db: Database, list_name: str) -> int:
    """The id of the list's welcome issue, checked before an import begins; NoWelcomeIssue (or NotFoundError) otherwise."""
    with db.transaction() as session:
        try:
            mailing_list = find_list(session, list_name)
        except NotFoundError as exc:
            raise NoWelcomeIssue(f"{exc}; --welcome needs a list that has a welcome issue") from None
        template = _usable_template(session, mailing_list)
        if template is None:
            raise NoWelcomeIssue(_no_welcome(mailing_list.name))
        return template.id

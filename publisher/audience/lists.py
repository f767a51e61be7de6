"""Lists: their names, what the operator sees and sets, and leaving them.

Leaving (``leave_list``, ``leave_all``) is the one place a subscription
becomes unsubscribed (and ``stop_event_emails`` the one place event emails
stop, an ``event:*`` suppression, since no one subscribes to an event audience): used by the unsubscribe and preference pages, the
one-click POST and the providers' own unsubscribe events. Each call is
idempotent. A campaign that is already running skips the address from its
next batch on, because the workers check subscription status when they claim
a batch. Each subscription left is announced to the outgoing webhooks
(``subscriber.unsubscribed``) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from publisher.audience.event_audiences import EVENTS_SCOPE, audience_list, events_scope, parse_audience
from publisher.audience.suppressions import is_suppressed, suppress_address
from publisher.core.clock import utcnow
from publisher.core.errors import NewsletterError, NotFoundError
from publisher.core.list_names import EVENT_PREFIX, check_joinable_name, check_name, is_event_name
from publisher.core.zones import DEFAULT_ZONE, check_zone
from publisher.db.engine import Database
from publisher.db.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from publisher.outgoing_webhooks.announce import announce, iso, wants
from publisher.outgoing_webhooks.events import SUBSCRIBER_UNSUBSCRIBED

#: Longest description the schema stores.
MAX_DESCRIPTION = 1000


class ListNameError(NewsletterError):
    """A list name that no list can have: empty, more than one line, or longer than the column."""


def check_new_list_name(name: str) -> str:
    """``check_list_name`` for a list people join (import, sign-up): names in the ``event:`` space are refused."""
    try:
        return check_joinable_name(name)
    except ValueError as exc:
        raise ListNameError(str(exc)) from None


def check_list_name(name: str) -> str:
    """The list name as stored (surrounding spaces removed); raise ListNameError saying what is wrong with it.

    Every entry point calls this before the name reaches a query or a new
    row: SQLite would store a name of any length with a line break or an
    escape sequence in it, and PostgreSQL refuses NUL in a query outright.
    """
    try:
        return check_name(name)
    except ValueError as exc:
        raise ListNameError(str(exc)) from None


@dataclass(frozen=True)
class ListSummary:
    name: str
    public: bool
    description: str
    #: The time zone of its subscribers who have none of their own (local-time sends).
    timezone: str = DEFAULT_ZONE
    #: Whether its issues track opens and clicks (when NEWSLETTER_TRACKING is on too).
    tracking: bool = True
    #: Subscriptions by status; every status is present, zero when none.
    counts: dict[SubscriptionStatus, int] = field(default_factory=dict)
    #: The issue each new subscriber gets a copy of (``newsletter lists set NAME --welcome ID``).
    welcome_campaign_id: int | None = None


@dataclass(frozen=True)
class ListChange:
    """What ``newsletter lists set`` changes; None leaves a value as it is."""

    public: bool | None = None
    description: str | None = None
    #: IANA name (checked by ``publisher.core.zones.check_zone``): the zone of its subscribers who have none.
    timezone: str | None = None
    #: Track opens and clicks in its issues published from now on.
    tracking: bool | None = None


def list_summaries(db: Database) -> list[ListSummary]:
    """Every list in name order, with its subscriptions counted by status."""
    with db.transaction() as session:
        counted = session.execute(
            select(Subscription.list_id, Subscription.status, func.count()).group_by(Subscription.list_id, Subscription.status)
        ).all()
        counts: dict[int, dict[SubscriptionStatus, int]] = {}
        for list_id, status, count in counted:
            counts.setdefault(list_id, {})[SubscriptionStatus(status)] = count
        lists = session.scalars(select(MailingList).where(newsletter_list()).order_by(MailingList.name))
        return [_summary(mailing_list, counts.get(mailing_list.id, {})) for mailing_list in lists]


def update_list(db: Database, name: str, change: ListChange) -> ListSummary:
    """Apply ``change`` to the list called ``name``; NotFoundError names the lists there are."""
    with db.transaction() as session:
        return summary_of(session, change_list(session, name, change))


def change_list(session: Session, name: str, change: ListChange) -> MailingList:
    """``update_list`` in the caller's transaction; return the list."""
    mailing_list = find_list(session, check_new_list_name(name))
    if change.public is not None:
        mailing_list.public = change.public
    if change.description is not None:
        mailing_list.description = change.description
    if change.tracking is not None:
        mailing_list.tracking = change.tracking
    if change.timezone is not None:
        try:
            mailing_list.timezone = check_zone(change.timezone)
        except ValueError as exc:
            raise NewsletterError(str(exc)) from None
    return mailing_list


def summary_of(session: Session, mailing_list: MailingList) -> ListSummary:
    """The list as ``newsletter lists show`` describes it, its subscriptions counted now."""
    counted = session.execute(
        select(Subscription.status, func.count()).where(Subscription.list_id == mailing_list.id).group_by(Subscription.status)
    ).all()
    return _summary(mailing_list, {SubscriptionStatus(status): count for status, count in counted})


def find_list(session: Session, name: str, hint: str = "") -> MailingList:
    """The list called ``name``; NotFoundError names the lists there are, then ``hint``."""
    name = check_list_name(name)
    if is_event_name(name):
        return _event_list(session, name)
    mailing_list = session.scalar(select(MailingList).where(MailingList.name == name))
    if mailing_list is None:
        known = ", ".join(list_names(session)) or "none yet"
        raise NotFoundError(f"no list named '{name}' (lists: {known}){hint}")
    return mailing_list


def _event_list(session: Session, name: str) -> MailingList:
    audience = parse_audience(name)
    if audience is None:
        raise ListNameError(f"'{name[:100]}' names no event audience: use event:<slug>:attended or event:<slug>:no-show")
    return audience_list(session, audience)


def list_names(session: Session) -> list[str]:
    """The newsletter lists' names (not the event audiences)."""
    return list(session.scalars(select(MailingList.name).where(newsletter_list()).order_by(MailingList.name)))


def newsletter_list() -> ColumnElement[bool]:
    """The lists people subscribe to, not the event audiences (``event:…``)."""
    return ~MailingList.name.startswith(EVENT_PREFIX, autoescape=True)


def leave_audience(session: Session, subscriber_id: int, list_id: int) -> bool:
    """Leave the list a campaign went to: an event audience adds the ``events`` suppression instead. Return whether anything changed."""
    mailing_list = session.get(MailingList, list_id)
    if mailing_list is None or mailing_list.event_id is None:
        return leave_list(session, subscriber_id, list_id)
    return stop_event_emails(session, subscriber_id)


def stop_event_emails(session: Session, subscriber_id: int) -> bool:
    """Stop every event email to the subscriber (the ``event:*`` suppression); return whether anything changed."""
    email = session.scalar(select(Subscriber.email).where(Subscriber.id == subscriber_id))
    if email is None:
        return False
    return suppress_address(session, email, "unsubscribed from event emails", "unsubscribe", events_scope(session).id)


def event_emails_stopped(session: Session, email: str) -> bool:
    """Whether ``email`` gets no event email: suppressed on ``event:*`` or everywhere. Reads only."""
    scope_id = session.scalar(select(MailingList.id).where(MailingList.name == EVENTS_SCOPE))
    return is_suppressed(session, email, scope_id)


def _summary(mailing_list: MailingList, counts: dict[SubscriptionStatus, int]) -> ListSummary:
    return ListSummary(
        name=mailing_list.name,
        public=mailing_list.public,
        description=mailing_list.description,
        timezone=mailing_list.timezone,
        tracking=mailing_list.tracking,
        counts={status: counts.get(status, 0) for status in SubscriptionStatus},
        welcome_campaign_id=mailing_list.welcome_campaign_id,
    )


def leave_list(session: Session, subscriber_id: int, list_id: int) -> bool:
    """Unsubscribe from one list; return whether anything changed."""
    return _leave(session, subscriber_id, Subscription.list_id == list_id) > 0


def leave_all(session: Session, subscriber_id: int) -> int:
    """Unsubscribe from every list; return how many subscriptions changed."""
    return _leave(session, subscriber_id)


def _leave(session: Session, subscriber_id: int, *where: ColumnElement[bool]) -> int:
    now = utcnow()
    left = session.scalars(
        update(Subscription)
        .where(Subscription.subscriber_id == subscriber_id, Subscription.status != SubscriptionStatus.UNSUBSCRIBED, *where)
        .values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=now)
        .returning(Subscription.list_id)
    ).all()
    if left and wants(session, SUBSCRIBER_UNSUBSCRIBED):
        email = session.scalar(select(Subscriber.email).where(Subscriber.id == subscriber_id))
        names = session.scalars(select(MailingList.name).where(MailingList.id.in_(left)).order_by(MailingList.name)).all()
        for name in names:
            data = {"subscriber": {"id": subscriber_id, "email": email}, "list": name, "unsubscribed_at": iso(now)}
            announce(session, SUBSCRIBER_UNSUBSCRIBED, data, now, subscriber_id=subscriber_id)
    return len(left)


def leave_list_by_address(session: Session, list_name: str, email: str) -> bool:
    """Unsubscribe the (normalised) address from the named list; NotFoundError when it is not on it. Return whether anything changed."""
    mailing_list = find_list(session, list_name)
    subscriber_id = session.scalar(
        select(Subscription.subscriber_id)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(Subscription.list_id == mailing_list.id, Subscriber.email == email)
    )
    if subscriber_id is None:
        raise NotFoundError(f"{email} is not on the list '{mailing_list.name}'")
    return leave_list(session, subscriber_id, mailing_list.id)

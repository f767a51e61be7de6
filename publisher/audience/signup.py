"""Double opt-in: a sign-up request, the confirmation email, the confirm link.

Only lists marked public take sign-ups. A private list (an event's attendee
list, say) is answered exactly like a list that does not exist, so its name
cannot be found by guessing; nobody can put themselves on it from outside.

Every request with a valid address for a public list gets the same answer,
whatever happens behind it, so the answer never tells whether an address is
subscribed, suppressed or erased:

- new address, or one that unsubscribed earlier (they asked again): a pending
  subscription with fresh consent proof, and a confirmation email;
- pending already: the consent proof is renewed and the email sent again;
- confirmed already: nothing changes and nothing is sent;
- suppressed on the list or everywhere, or erased on request (matched by
  hash): nothing is written and nothing is sent;
- over NEWSLETTER_SUBSCRIBE_ADDRESS_LIMIT requests for the address this
  hour: nothing is written and nothing is sent. A different answer would
  tell a stranger that someone else just signed that address up.

Names from a request are kept with that request in the consent history, not
on the subscriber: an unconfirmed request never changes a subscriber's names,
and a new address starts without any. Each request sends its own
confirmation, and its confirm link names that email's campaign. Confirming
makes the names of the request whose link was used the subscriber's, unless
the subscriber is already confirmed on some list: from then on their names
change only by import. So a stranger who signs up someone else's address
first cannot choose the name stored for it. A link of a request recorded
before requests kept their names confirms and leaves the stored names as
they are.

Confirming moves a pending subscription to confirmed and nothing else: a
link whose subscription was unsubscribed meanwhile does not bring it back
(the later decision to leave wins), and a suppressed address is not
confirmed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

import redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from publisher.audience.lists import ListNameError, check_new_list_name
from publisher.audience.subscriber_rows import UnsendableAddressError, sendable_email
from publisher.audience.suppressions import is_suppressed
from publisher.core.clock import utcnow
from publisher.core.errors import NewsletterError, NotFoundError
from publisher.core.links import LinkTarget
from publisher.core.settings import Settings
from publisher.core.text_rules import refuse_control_characters
from publisher.core.throttle import HourlyLimit
from publisher.db.engine import Database
from publisher.db.models import MAX_ID, ConsentAction, ConsentEvent, MailingList, Subscriber, Subscription, SubscriptionStatus
from publisher.outgoing_webhooks.announce import announce, iso, wants
from publisher.outgoing_webhooks.events import SUBSCRIBER_CONFIRMED

SOURCES = ("form", "api")
#: Column sizes of the consent proof and the subscriber's names.
IP_LIMIT = 45
USER_AGENT_LIMIT = 500
NAME_LIMIT = 200
EMAIL_LIMIT = 320


@dataclass(frozen=True)
class ConfirmationEmail:
    """What a :class:`ConfirmationWriter` stored for one sign-up request."""

    #: The campaign of this one email: its confirm link names it, so the link tells which request it answers.
    campaign_id: int
    #: The batch to enqueue after the commit.
    batch_id: int


class ConfirmationWriter(Protocol):
    """Stores the confirmation email of a request in the caller's transaction.

    The confirmation is a campaign in the delivery ledger, a layer above this
    one: the caller passes ``publisher.ledger.confirmation.write_confirmation``.
    """

    def __call__(self, session: Session, settings: Settings, mailing_list: MailingList, subscriber: Subscriber) -> ConfirmationEmail: ...


class WelcomeWriter(Protocol):
    """Stores a copy of the list's welcome issue for a subscriber just confirmed, in the caller's transaction.

    Returns the batch to enqueue after the commit, or None when the list has
    no welcome issue or the subscriber had this one already. The welcome is a
    campaign in the delivery ledger, a layer above this one: the caller
    passes ``publisher.ledger.welcome.WelcomeIssues``.
    """

    def __call__(self, session: Session, mailing_list: MailingList, subscriber: Subscriber) -> int | None: ...


class InvalidSignup(NewsletterError):
    """A field of a sign-up request is unusable; nothing was written."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class SignupRequest:
    """One sign-up as it arrived, before any checking."""

    email: str
    list_name: str
    source: str
    first_name: str = ""
    last_name: str = ""
    ip: str | None = None
    user_agent: str | None = None


class SignupOutcome(enum.StrEnum):
    """What happened behind the one answer every caller gets."""

    CONFIRMATION_SENT = "confirmation_sent"
    ALREADY_CONFIRMED = "already_confirmed"
    SUPPRESSED = "suppressed"
    ADDRESS_LIMIT = "address_limit"


@dataclass(frozen=True)
class SignupResult:
    outcome: SignupOutcome
    #: The confirmation's batch, when one was written.
    batch_id: int | None = None


def address_limit(client: redis.Redis, settings: Settings) -> HourlyLimit:
    """The per-address limit of a deployment (NEWSLETTER_SUBSCRIBE_ADDRESS_LIMIT)."""
    return HourlyLimit(client, settings.secret, "subscribe-address", settings.subscribe_address_limit)


def check_request(request: SignupRequest) -> str:
    """Check every field; return the normalised address or raise InvalidSignup with the reason."""
    if request.source not in SOURCES:
        raise InvalidSignup("source", f"must be one of {', '.join(SOURCES)}")
    if any(char in request.email for char in "\r\n"):
        raise InvalidSignup("email", "contains a line break")
    email = request.email.strip(" \t")
    if not email:
        raise InvalidSignup("email", "is empty")
    if len(email) > EMAIL_LIMIT:
        raise InvalidSignup("email", f"is longer than {EMAIL_LIMIT} characters")
    try:
        normalised = sendable_email(email)
    except UnsendableAddressError as exc:
        raise InvalidSignup("email", str(exc)) from exc
    except ValueError as exc:
        raise InvalidSignup("email", f"is not a valid email address: {exc}") from exc
    if not request.list_name.strip():
        raise InvalidSignup("list", "is empty")
    try:
        check_new_list_name(request.list_name)
    except ListNameError as exc:
        raise InvalidSignup("list", str(exc).removeprefix("the list name ")) from None
    for field, value in (("first_name", request.first_name), ("last_name", request.last_name)):
        if len(value) > NAME_LIMIT:
            raise InvalidSignup(field, f"is longer than {NAME_LIMIT} characters")
        try:
            refuse_control_characters(value)
        except ValueError as exc:
            raise InvalidSignup(field, str(exc)) from None
    return normalised


def request_subscription(
    db: Database, settings: Settings, request: SignupRequest, limit: HourlyLimit, write_confirmation: ConfirmationWriter
) -> SignupResult:
    """Record a sign-up and write its confirmation email when one is due.

    The result's ``batch_id`` is the confirmation still to enqueue
    (:func:`publisher.queue.enqueue_confirmation`): the web app does
    that after answering, so the answer's timing does not show it happened.
    Raises InvalidSignup for a bad field and NotFoundError for a list that
    does not exist or takes no sign-ups; both before anything is written.
    """
    email = check_request(request)
    try:
        with db.transaction() as session:
            result = _apply(session, settings, request, email, limit, write_confirmation)
    except IntegrityError:
        # Two first requests for one address at once: the second insert lost.
        # Once more, finding what the first one wrote (already counted).
        with db.transaction() as session:
            result = _apply(session, settings, request, email, None, write_confirmation)
    return result


def _apply(
    session: Session,
    settings: Settings,
    request: SignupRequest,
    email: str,
    limit: HourlyLimit | None,
    write_confirmation: ConfirmationWriter,
) -> SignupResult:
    mailing_list = session.scalar(select(MailingList).where(MailingList.name == request.list_name.strip()))
    if mailing_list is None or not mailing_list.public:
        raise NotFoundError(f"no list named '{request.list_name.strip()[:100]}' takes sign-ups")
    if limit is not None and not limit.hit(email).allowed:
        return SignupResult(SignupOutcome.ADDRESS_LIMIT)
    if is_suppressed(session, email, mailing_list.id):
        return SignupResult(SignupOutcome.SUPPRESSED)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
    if subscriber is None:
        # No names yet: they are the request's until its confirm link is used.
        subscriber = Subscriber(email=email, first_name="", last_name="")
        session.add(subscriber)
        session.flush()
    subscription = session.scalar(
        select(Subscription).where(Subscription.list_id == mailing_list.id, Subscription.subscriber_id == subscriber.id)
    )
    if subscription is not None and subscription.status == SubscriptionStatus.CONFIRMED:
        return SignupResult(SignupOutcome.ALREADY_CONFIRMED)
    if subscription is None:
        subscription = Subscription(list_id=mailing_list.id, subscriber_id=subscriber.id, status=SubscriptionStatus.PENDING, source="")
        session.add(subscription)
    _record_consent(subscription, request)
    session.flush()
    written = write_confirmation(session, settings, mailing_list, subscriber)
    event = _consent_event(subscription.id, ConsentAction.REQUESTED, request.source, request.ip, request.user_agent)
    event.campaign_id = written.campaign_id
    event.first_name, event.last_name = request.first_name.strip(), request.last_name.strip()
    session.add(event)
    return SignupResult(SignupOutcome.CONFIRMATION_SENT, written.batch_id)


def _record_consent(subscription: Subscription, request: SignupRequest) -> None:
    # The latest request's proof; every request (and the confirmation) is
    # also kept in the subscription's consent history.
    subscription.status = SubscriptionStatus.PENDING
    subscription.source = request.source
    subscription.consented_at = utcnow()
    subscription.consent_ip, subscription.consent_user_agent = _client(request.ip, request.user_agent)
    subscription.confirmed_at = None
    subscription.unsubscribed_at = None


def _client(ip: str | None, user_agent: str | None) -> tuple[str | None, str | None]:
    """The request's IP and user agent, cut to their column sizes."""
    return (ip[:IP_LIMIT] if ip else None), (user_agent[:USER_AGENT_LIMIT] if user_agent else None)


def _consent_event(subscription_id: int, action: ConsentAction, source: str, ip: str | None, user_agent: str | None) -> ConsentEvent:
    ip, user_agent = _client(ip, user_agent)
    return ConsentEvent(subscription_id=subscription_id, action=action, source=source, ip=ip, user_agent=user_agent)


class ConfirmState(enum.StrEnum):
    """Where the subscription behind a confirm link stands."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    #: Unsubscribed after the link was sent: the link does not bring it back.
    UNSUBSCRIBED = "unsubscribed"
    #: The address is suppressed or erased, or the subscription no longer exists.
    GONE = "gone"


@dataclass(frozen=True)
class Confirmation:
    state: ConfirmState
    list_name: str = ""
    #: The welcome issue's batch written by this confirmation, to enqueue after the commit.
    welcome_batch_id: int | None = None


def confirmation_state(db: Database, target: LinkTarget) -> Confirmation:
    """Where the link's subscription stands, without changing anything (for the page a GET shows)."""
    with db.transaction() as session:
        found = _target_subscription(session, target)
        if found is None:
            return Confirmation(ConfirmState.GONE)
        subscription, list_name = found
        return Confirmation(ConfirmState(subscription.status.value), list_name)


def confirm_subscription(
    db: Database, target: LinkTarget, ip: str | None = None, user_agent: str | None = None, welcome: WelcomeWriter | None = None
) -> Confirmation:
    """Confirm the link's pending subscription; idempotent. Return where it stands afterwards.

    ``ip`` and ``user_agent`` are those of the confirming request: they go
    into the consent history. ``welcome`` writes the list's welcome issue in
    the same transaction, so a confirmation never stands without it; the
    subscription's row lock makes a second click wait and then find it
    confirmed, with nothing more to write.
    """
    with db.transaction() as session:
        found = _target_subscription(session, target, for_update=True)
        if found is None:
            return Confirmation(ConfirmState.GONE)
        subscription, list_name = found
        welcome_batch_id = None
        if subscription.status == SubscriptionStatus.PENDING:
            _take_request_names(session, subscription, target.campaign_id)
            subscription.status = SubscriptionStatus.CONFIRMED
            subscription.confirmed_at = utcnow()
            session.add(_consent_event(subscription.id, ConsentAction.CONFIRMED, "confirm link", ip, user_agent))
            _announce_confirmed(session, subscription, list_name)
            mailing_list = session.get(MailingList, subscription.list_id)
            if welcome is not None and mailing_list is not None:
                welcome_batch_id = welcome(session, mailing_list, subscription.subscriber)
        return Confirmation(ConfirmState(subscription.status.value), list_name, welcome_batch_id)


def _announce_confirmed(session: Session, subscription: Subscription, list_name: str) -> None:
    if not wants(session, SUBSCRIBER_CONFIRMED):
        return
    subscriber = session.get(Subscriber, subscription.subscriber_id)
    if subscriber is None:
        return
    data = {
        "subscriber": {
            "id": subscriber.id,
            "email": subscriber.email,
            "first_name": subscriber.first_name,
            "last_name": subscriber.last_name,
        },
        "list": list_name,
        "confirmed_at": iso(subscription.confirmed_at),
    }
    announce(session, SUBSCRIBER_CONFIRMED, data, subscriber_id=subscriber.id)


def _take_request_names(session: Session, subscription: Subscription, campaign_id: int | None) -> None:
    """Make the names of the request whose confirmation email the link came from the subscriber's.

    Nothing changes for a subscriber confirmed on any list (names then change
    only by import), nor for a link whose request kept no names: one signed
    before requests kept them, or one without a campaign.
    """
    if campaign_id is None or campaign_id > MAX_ID:
        return
    request = session.scalar(
        select(ConsentEvent).where(
            ConsentEvent.subscription_id == subscription.id,
            ConsentEvent.action == ConsentAction.REQUESTED,
            ConsentEvent.campaign_id == campaign_id,
        )
    )
    if request is None or request.first_name is None or request.last_name is None:
        return
    # Links of two lists confirmed at once: the second waits here, then sees the first confirmed.
    session.execute(select(Subscriber.id).where(Subscriber.id == subscription.subscriber_id).with_for_update())
    confirmed_elsewhere = session.scalar(
        select(Subscription.id)
        .where(
            Subscription.subscriber_id == subscription.subscriber_id,
            Subscription.status == SubscriptionStatus.CONFIRMED,
        )
        .limit(1)
    )
    if confirmed_elsewhere is None:
        subscription.subscriber.first_name, subscription.subscriber.last_name = request.first_name, request.last_name


def _target_subscription(session: Session, target: LinkTarget, *, for_update: bool = False) -> tuple[Subscription, str] | None:
    """The link's subscription and list name; None when it is gone or the address may not be subscribed."""
    ids = (target.subscriber_id, target.list_id)
    if not all(value is not None and value <= MAX_ID for value in ids):
        return None
    query = (
        select(Subscription, MailingList.name)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id == target.subscriber_id, Subscription.list_id == target.list_id)
    )
    row = session.execute(query.with_for_update(of=Subscription) if for_update else query).first()
    if row is None:
        return None
    subscription, list_name = row
    if is_suppressed(session, subscription.subscriber.email, subscription.list_id):
        return None
    return subscription, list_name

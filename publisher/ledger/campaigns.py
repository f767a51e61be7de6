"""Create a campaign: render the issue once, freeze the audience, cut it into batches.

Everything is written in one transaction, so a failure leaves no campaign
behind. The audience is the list's confirmed subscribers at this moment:
people who join later are not included.

The audience is streamed, never loaded whole: the subscribers are read in id
order one batch at a time (``yield_per``, a server-side cursor on PostgreSQL)
and each batch is written before the next is read, so publishing a million
recipients takes as much memory as publishing a hundred.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Select, bindparam, func, insert, select
from sqlalchemy.orm import Session, object_session

from publisher.audience import event_audiences
from publisher.audience.lists import find_list
from publisher.audience.suppressions import is_erased, suppressed_addresses
from publisher.content.recap import Recap
from publisher.content.rendering.issue import RenderedIssue
from publisher.content.rendering.layout import issue_frame, render_issue
from publisher.content.rendering.tracking import track_issue
from publisher.core.addresses import AddressError, sender_mailbox
from publisher.core.clock import utcnow
from publisher.core.errors import ConfigurationError, NewsletterError, NotFoundError
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import (
    Batch,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryState,
    Event,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from publisher.ledger import states, subject_tests
from publisher.ledger.announcements import campaign_sending
from publisher.ledger.releases import ZoneReleases, last_release
from publisher.ledger.states import initial_status
from publisher.ledger.subject_tests import AudienceSplit, SubjectTest

BATCHES = Batch.metadata.tables[Batch.__tablename__]
DELIVERIES = Delivery.metadata.tables[Delivery.__tablename__]


@dataclass(frozen=True)
class CampaignPlan:
    recap: Recap
    list_name: str | None
    provider: str
    batch_size: int
    send_at: dt.datetime | None = None
    #: Send at this local time (naive) in each recipient's time zone instead (``publisher.ledger.releases``).
    local_time: dt.datetime | None = None
    #: A test send: these addresses only, no list needed.
    test_to: tuple[str, ...] = ()
    #: Put before the subject. Not "[TEST] ": the workers add that to every test send.
    subject_prefix: str = ""
    #: The recap as written and its lint report, kept with the campaign.
    recap_text: str | None = None
    lint: dict[str, Any] | None = None
    created_by: str | None = None
    #: The campaign whose next-event calendar the issue links to: a test copy
    #: of a draft links to the draft's, as the draft will once it is sent.
    #: None: the campaign's own, or none for a test send of a file.
    calendar_of: int | None = None
    #: Test these other subjects (variants 2 to 4) on a share of the audience first (``publisher.ledger.subject_tests``).
    subject_test: SubjectTest | None = None


@dataclass(frozen=True)
class CreatedCampaign:
    id: int
    recipients: int
    batch_ids: list[int]
    scheduled: bool
    is_test: bool
    #: Batches of time zones whose local time has not come yet: the sweep enqueues them at their release.
    held_batch_ids: frozenset[int] = frozenset()
    #: It carries a subject test: ``held_batch_ids`` are the remainder's, which wait for the winner.
    subject_test: bool = False

    @property
    def sent_now(self) -> bool:
        """Some of it goes now and no time zone waits: sent, not scheduled (a test's remainder waits for its winner, not a time)."""
        return not self.scheduled and (self.subject_test or not self.held_batch_ids)

    @property
    def due_batch_ids(self) -> list[int]:
        """The batches to enqueue now (none while the campaign is scheduled)."""
        return [] if self.scheduled else [batch_id for batch_id in self.batch_ids if batch_id not in self.held_batch_ids]


def create_campaign(settings: Settings, db: Database, plan: CampaignPlan) -> CreatedCampaign:
    """Store the campaign, its rendered issue, its batches and one ledger record per recipient."""
    with db.transaction() as session:
        mailing_list = (
            find_list(session, plan.list_name, f"; import subscribers with --list {plan.list_name} first") if plan.list_name else None
        )
        if not plan.test_to and not has_audience(session, mailing_list):
            name = mailing_list.name if mailing_list else plan.list_name
            raise NotFoundError(f"list '{name}' has no confirmed subscribers: nothing to send")
        if plan.local_time is not None and (plan.test_to or mailing_list is None):
            raise NewsletterError("a test send goes at once: it cannot be sent at a local time")
        if plan.subject_test is not None and (plan.test_to or plan.local_time is not None):
            raise NewsletterError("a subject test goes to a list at one time: it cannot be a test send or be sent at a local time")
        # A local-time send starts scheduled; its first release decides below.
        scheduled = plan.local_time is not None or (plan.send_at is not None and plan.send_at > utcnow())
        campaign = _new_campaign(plan, mailing_list, scheduled)
        subject_tests.configure(campaign, plan.subject_test)
        session.add(campaign)
        session.flush()
        # Rendered once the campaign has its id: the issue links to the
        # campaign's own .ics of its next event.
        calendar_of = plan.calendar_of or (None if plan.test_to else campaign.id)
        frame = issue_frame(settings, _list_label(mailing_list), calendar_of, registered_for(mailing_list) if mailing_list else None)
        store_issue(campaign, with_tracking(settings, campaign, mailing_list, render_issue(plan.recap, frame)))
        if plan.local_time is not None:
            assert mailing_list is not None
            return write_local_time(session, campaign, mailing_list, plan.local_time, (plan.batch_size, message_domain(settings)))
        if plan.subject_test is not None:
            assert mailing_list is not None
            created = write_subject_test(session, settings, campaign, mailing_list, plan.batch_size, scheduled=scheduled)
            if not scheduled:
                campaign_sending(session, campaign.id)
            return created
        if plan.test_to:
            audience: Iterable[Sequence[tuple[int | None, str]]] = [_test_audience(session, plan.test_to)]
        else:
            assert mailing_list is not None  # has_audience is False without a list
            audience = audience_batches(session, mailing_list, plan.batch_size)
        batch_ids, recipients = write_batches(session, campaign.id, audience, message_domain(settings))
        if not scheduled:
            campaign_sending(session, campaign.id)
        return CreatedCampaign(
            id=campaign.id,
            recipients=recipients,
            batch_ids=batch_ids,
            scheduled=scheduled,
            is_test=campaign.is_test,
        )


def write_local_time(
    session: Session, campaign: Campaign, mailing_list: MailingList, local: dt.datetime, batching: tuple[int, str]
) -> CreatedCampaign:
    """Write the audience of a campaign sent at ``local`` time in each zone, one release per zone; it is scheduled or sending.

    The campaign is still a draft (``send_draft``) or was written scheduled
    (``create_campaign``); it becomes sending here when some zone's local
    time has already come, and its ``send_at`` is its first release.
    """
    size, domain = batching
    now = utcnow()
    releases = ZoneReleases(session, campaign.id, local, mailing_list.timezone, now)
    rows = session.execute(_zoned(mailing_list).execution_options(yield_per=size))
    audience = ((release_id, members) for release_id, members in releases.group(rows.partitions(size), size))
    batch_ids, recipients, release_of = write_release_batches(session, campaign.id, audience, domain)
    if not recipients:
        # Everyone left after the audience was checked: raising rolls the whole campaign back,
        # instead of leaving it scheduled with no release and no send_at.
        raise NotFoundError(f"list '{mailing_list.name}' has no confirmed subscribers: nothing to send")
    campaign.send_at = releases.first_release_at
    scheduled = not releases.any_released
    if campaign.status is CampaignStatus.DRAFT:
        states.send(campaign, scheduled=scheduled, now=now)
    elif not scheduled:
        states.release(campaign, now)
    if not scheduled:
        campaign_sending(session, campaign.id)
    held = frozenset(batch_id for batch_id, release_id in release_of.items() if release_id in releases.pending_ids)
    return CreatedCampaign(campaign.id, recipients, batch_ids, scheduled=scheduled, is_test=False, held_batch_ids=held)


def write_subject_test(
    session: Session, settings: Settings, campaign: Campaign, mailing_list: MailingList, batch_size: int, *, scheduled: bool
) -> CreatedCampaign:
    """Write the audience of a campaign that carries a subject test: its test share now, its remainder held for the winner.

    The test's wait starts when the campaign is released: now, or at its
    ``send_at`` when it is scheduled. The caller announces a campaign that sends now.
    """
    subject_tests.require_tracking(settings.tracking, mailing_list)
    test = subject_tests.set_up(campaign)
    if test is not None:
        subject_tests.require_kept(test.wait, settings.tracking_days)
    start = campaign.send_at if scheduled and campaign.send_at is not None else utcnow()
    split = AudienceSplit(session, campaign, audience_size(session, mailing_list), start)
    dealt = split.group(audience_batches(session, mailing_list, batch_size), batch_size)
    batch_ids, recipients, _ = write_release_batches(session, campaign.id, dealt, message_domain(settings))
    held = split.finish(batch_ids)
    return CreatedCampaign(campaign.id, recipients, batch_ids, scheduled=scheduled, is_test=False, held_batch_ids=held, subject_test=True)


def _confirmed(mailing_list: MailingList) -> Select[int, str]:
    """The list's confirmed, not suppressed subscribers in id order (the (list_id, subscriber_id) index serves both).

    An event audience's members are the event's registrants instead.
    """
    if mailing_list.event_id is not None:
        members = event_audiences.members(mailing_list)
    else:
        members = (
            select(Subscription.subscriber_id, Subscriber.email)
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Subscription.list_id == mailing_list.id, Subscription.status == SubscriptionStatus.CONFIRMED)
            .order_by(Subscription.subscriber_id)
        )
    return members.where(Subscriber.email.not_in(suppressed_addresses(mailing_list.id)))


def _zoned(mailing_list: MailingList) -> Select[int, str, str]:
    """``_confirmed`` with each subscriber's own ``timezone`` attribute (None when they have none)."""
    return _confirmed(mailing_list).add_columns(Subscriber.attributes["timezone"].as_string().label("own_zone"))


def last_local_release(db: Database, list_name: str, local: dt.datetime) -> tuple[dt.datetime, str] | None:
    """When ``local`` comes in the last time zone of the list's audience, and that zone; None when it has no one to send to."""
    with db.transaction() as session:
        mailing_list = find_list(session, list_name)
        zoned = _zoned(mailing_list).subquery()
        owns = session.scalars(select(zoned.c.own_zone).distinct()).all()
        return last_release(local, owns, mailing_list.timezone)


def has_audience(session: Session, mailing_list: MailingList | None) -> bool:
    return mailing_list is not None and session.scalar(_confirmed(mailing_list).limit(1)) is not None


def audience_size(session: Session, mailing_list: MailingList) -> int:
    """How many recipients a send to the list would have now: confirmed subscribers minus suppressed addresses."""
    return int(session.scalar(select(func.count()).select_from(_confirmed(mailing_list).order_by(None).subquery())) or 0)


def audience_batches(session: Session, mailing_list: MailingList, size: int) -> Iterator[Sequence[tuple[int | None, str]]]:
    """Yield the audience ``size`` recipients at a time, without ever holding all of it."""
    # One streamed statement rather than keyset pages: under PostgreSQL's read
    # committed every statement takes its own snapshot, so pages could let in
    # someone who subscribed while the campaign was being written.
    result = session.execute(_confirmed(mailing_list).execution_options(yield_per=size))
    for rows in result.partitions(size):
        yield [(row[0], row[1]) for row in rows]


def _test_audience(session: Session, addresses: tuple[str, ...]) -> list[tuple[int | None, str]]:
    audience: list[tuple[int | None, str]] = []
    for address in dict.fromkeys(addresses):
        if is_erased(session, address):
            # Erased addresses are known only by their hash, which the workers'
            # suppression check (by address) cannot see: refuse here.
            raise NewsletterError(f"{address} was erased on request and is never mailed again; use another address for the test")
        audience.append((session.scalar(select(Subscriber.id).where(Subscriber.email == address)), address))
    return audience


def registered_for(mailing_list: MailingList) -> str | None:
    """The name of the event whose audience ``mailing_list`` is (the footer names it); None for a newsletter list."""
    if mailing_list.event_id is None:
        return None
    event = object_session(mailing_list).get(Event, mailing_list.event_id)  # type: ignore[union-attr]
    return event.name if event is not None else None


def _list_label(mailing_list: MailingList | None) -> str:
    return mailing_list.name if mailing_list else "test"


def with_tracking(settings: Settings, campaign: Campaign, mailing_list: MailingList | None, issue: RenderedIssue) -> RenderedIssue:
    """Decide whether the campaign tracks opens and clicks, and return its issue to store: tracked, or as it was.

    Decided when the campaign is published: NEWSLETTER_TRACKING and the list's
    own switch must both be on. A test send is never tracked: its readers are
    the team checking the content, who should land on the real links, and
    their opens say nothing about the audience (a test send has no list whose
    choice could apply either).
    """
    campaign.tracking = bool(settings.tracking and mailing_list is not None and mailing_list.tracking and not campaign.is_test)
    if not campaign.tracking:
        campaign.tracked_links = None
        return issue
    tracked, campaign.tracked_links = track_issue(issue, settings.public_url)
    return tracked


def store_issue(campaign: Campaign, issue: RenderedIssue) -> None:
    """Keep the stage-1 render on its campaign."""
    campaign.html_template, campaign.text_template, campaign.placeholder_nonce = issue.html, issue.text, issue.nonce


def _new_campaign(plan: CampaignPlan, mailing_list: MailingList | None, scheduled: bool) -> Campaign:
    """The campaign row, its issue not rendered yet (``store_issue`` adds it once the row has its id)."""
    now = utcnow()
    return Campaign(
        list_id=mailing_list.id if mailing_list else None,
        status=initial_status(scheduled=scheduled),
        provider=plan.provider,
        is_test=bool(plan.test_to),
        title=plan.recap.meta.title,
        subject=(plan.subject_prefix + plan.recap.meta.email_subject)[:500],
        source=plan.recap.source,
        content_digest=plan.recap.digest,
        html_template="",
        text_template="",
        placeholder_nonce="",
        send_at=plan.send_at,
        released_at=None if scheduled else now,
        recap_text=plan.recap_text,
        lint=plan.lint,
        created_by=plan.created_by,
    )


def write_batches(
    session: Session, campaign_id: int, audience: Iterable[Sequence[tuple[int | None, str]]], domain: str, first_seq: int = 0
) -> tuple[list[int], int]:
    """Write one batch row and its ledger records per chunk of the audience; return the batch ids and the recipient count.

    The batches are numbered from ``first_seq``: a campaign written in several
    calls (a welcome issue to an import, chunk by chunk) continues its numbering.
    """
    chunks = ((None, members) for members in audience)
    batch_ids, recipients, _ = write_release_batches(session, campaign_id, chunks, domain, first_seq)
    return batch_ids, recipients


def write_release_batches(
    session: Session,
    campaign_id: int,
    audience: Iterable[tuple[int | None, Sequence[tuple[int | None, str]]]],
    domain: str,
    first_seq: int = 0,
) -> tuple[list[int], int, dict[int, int | None]]:
    """``write_batches`` for chunks that each belong to a release (or none); also return each batch's release."""
    # Core inserts on the session's connection (same transaction): the ORM's
    # bulk path costs more than the database does at a million rows.
    connection = session.connection()
    now = utcnow()
    records = _RecordInsert(
        connection, {"campaign_id": campaign_id, "state": DeliveryState.PENDING, "attempts": 0, "created_at": now, "updated_at": now}
    )
    batch_ids: list[int] = []
    release_of: dict[int, int | None] = {}
    recipients = 0
    for seq, (release_id, members) in enumerate(audience, start=first_seq):
        batch_id = connection.execute(
            insert(BATCHES).returning(BATCHES.c.id), {"campaign_id": campaign_id, "seq": seq, "created_at": now, "release_id": release_id}
        ).scalar_one()
        batch_ids.append(batch_id)
        release_of[batch_id] = release_id
        message_ids = new_message_ids(domain, len(members))
        records.execute(
            batch_id, [(subscriber_id, email, message_id) for (subscriber_id, email), message_id in zip(members, message_ids, strict=True)]
        )
        recipients += len(members)
    return batch_ids, recipients, release_of


#: What each ledger record of a batch has of its own, in this order; every other value is the same for the whole campaign.
_OWN = ("batch_id", "subscriber_id", "email", "message_id")


class _RecordInsert:
    """The ledger records' INSERT, handed to the driver with each value already in the form it takes.

    Core's executemany passes every value of every row through its column's
    bind processor (dates become text on SQLite, the state its string): most
    of the database time of a publish. Only the recipient's own values differ
    from row to row, and they need none, so the campaign's shared values are
    processed once here and the rows go to the driver as they are. Columns
    with a default must all be among them: the driver applies no default.
    """

    def __init__(self, connection: Connection, shared: dict[str, Any]) -> None:
        dialect = connection.dialect
        defaulted = {column.name for column in DELIVERIES.columns if column.default is not None}
        if not defaulted <= set(shared):
            raise RuntimeError(f"ledger record columns with a default not written: {sorted(defaulted - set(shared))}")
        columns = [*_OWN, *shared]
        compiled = insert(DELIVERIES).values({name: bindparam(name) for name in columns}).compile(dialect=dialect)
        self._connection, self._sql = connection, compiled.string
        self._shared = tuple(_driver_value(dialect, name, value) for name, value in shared.items())
        # Positional paramstyles (SQLite's qmark) take tuples in the statement's order; named ones (psycopg's) take dicts.
        positions = compiled.positiontup if compiled.positional else None
        self._order = itemgetter(*(columns.index(name) for name in positions)) if positions else None
        self._columns = columns

    def execute(self, batch_id: int, members: list[tuple[int | None, str, str]]) -> None:
        rows = [(batch_id, *member, *self._shared) for member in members]
        if self._order is not None:
            self._connection.exec_driver_sql(self._sql, list(map(self._order, rows)))
        else:
            self._connection.exec_driver_sql(self._sql, [dict(zip(self._columns, row, strict=True)) for row in rows])


def _driver_value(dialect: Dialect, name: str, value: Any) -> Any:
    process = DELIVERIES.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process is not None else value


def message_domain(settings: Settings) -> str:
    """The domain of our Message-IDs: the sender's, in the ASCII (IDNA) form a header can carry."""
    try:
        address = sender_mailbox(settings.from_address)[1]
    except AddressError as exc:  # the settings refuse such a value when they load; these were built in-process
        raise ConfigurationError(f"set NEWSLETTER_FROM to one mailbox a message can carry: {exc}") from exc
    return address.rsplit("@", 1)[1]


def new_message_id(domain: str) -> str:
    """A Message-ID (without angle brackets) no one can guess: webhooks are matched by it."""
    return f"{secrets.token_hex(16)}@{domain}"


def new_message_ids(domain: str, count: int) -> list[str]:
    """``count`` Message-IDs as ``new_message_id`` makes them, from one read of the system's random source.

    One ``token_hex`` per recipient cost a system call each: a tenth of a
    large publish's ledger writing. The bytes are as random either way.
    """
    hexes = secrets.token_bytes(16 * count).hex()
    return [f"{hexes[start : start + 32]}@{domain}" for start in range(0, 32 * count, 32)]

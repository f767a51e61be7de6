"""SQLAlchemy 2 models: lists, subscribers, campaigns, batches and the delivery ledger.

The ledger (one ``Delivery`` per campaign and recipient) is the source of truth;
queue messages carry only batch ids.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    literal_column,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from publisher.core.clock import utcnow

#: Largest id an integer column holds on PostgreSQL: an id from a URL or a
#: payload above it names no row (and would overflow the query's parameter).
MAX_ID = 2**31 - 1


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """The processor of ``process_bind_param`` and the dialect's, remembering the last value it was given.

        A bulk write binds one time to each of its rows (an import's
        ``created_at``): a million rows converted and formatted the same
        datetime a million times. A datetime is immutable and the one remembered
        is kept alive, so the same object always has the same result; the pair
        is replaced whole, so threads sharing the processor never mix two.
        """
        process = super().bind_processor(dialect)
        if process is None:
            return None
        last: tuple[object, Any] = (object(), None)

        def remembering(value: Any) -> Any:
            nonlocal last
            seen, result = last
            if value is not seen:
                result = process(value)
                last = (value, result)
            return result

        return remembering


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, dt.datetime: UTCDateTime()}  # noqa: RUF012 (read once by SQLAlchemy)


def _enum(kind: type[enum.Enum], name: str) -> Enum:
    # Stored as the value string (not a native PostgreSQL enum) so a new state
    # is a code change, not a migration that locks the table.
    return Enum(kind, name=name, native_enum=False, length=20, values_callable=lambda k: [m.value for m in k])


class SubscriptionStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class CampaignKind(enum.StrEnum):
    #: A newsletter issue sent to a list (or a test copy of one).
    ISSUE = "issue"
    #: A double opt-in confirmation request to one pending subscriber.
    CONFIRMATION = "confirmation"
    #: A note to the console's people (an event's recap drafts are ready): no list, no unsubscribe link.
    NOTICE = "notice"
    #: A copy of a list's welcome issue (``MailingList.welcome_campaign_id``) to people who just joined it.
    WELCOME = "welcome"


class CampaignStatus(enum.StrEnum):
    #: Being written: editable, with no audience until it is sent.
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    #: Stopped until an operator resumes it; ``pause_reason`` says why.
    PAUSED = "paused"
    COMPLETE = "complete"
    #: Stopped for good by an operator; records not yet sent are cancelled.
    CANCELLED = "cancelled"


class DeliveryState(enum.StrEnum):
    """The one list of delivery states, used by the ledger, the workers and ``status``."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    IN_DOUBT = "in_doubt"
    CANCELLED = "cancelled"


#: States in which a delivery still has work ahead of it.
OPEN_STATES = (DeliveryState.PENDING, DeliveryState.SENDING)


class MailingList(Base):
    __tablename__ = "mailing_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    #: Public lists have their issues in the web archive and its RSS feed.
    public: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: Set on the lists that stand for an event's audience (``event:<slug>:attended``):
    #: their members are the event's registrants, never subscriptions.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    #: "attended" or "no-show" on an event's list.
    event_audience: Mapped[str | None] = mapped_column(String(20))
    #: The IANA time zone of its subscribers who have none of their own (a local-time send releases them at its local time).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    #: The issue each new subscriber gets a copy of when their sign-up is confirmed (``publisher.ledger.welcome``).
    #: ``use_alter``: campaigns name their list too, and the two tables are created before either constraint.
    welcome_campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL", use_alter=True, name="fk_mailing_lists_welcome_campaign_id")
    )
    #: Whether its issues track opens and clicks (when NEWSLETTER_TRACKING is on as well).
    tracking: Mapped[bool] = mapped_column(default=True, server_default=true())


class Subscriber(Base):
    __tablename__ = "subscribers"
    # Signed links name a subscriber by id: an erased person's id must never
    # be given to someone else (SQLite reuses the highest id without this).
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 (read once by SQLAlchemy)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Lower-cased, IDNA-normalised address: the identity used for upserts.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Subscription(Base):
    """A subscriber's membership of one list, with the proof of consent."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("list_id", "subscriber_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    status: Mapped[SubscriptionStatus] = mapped_column(_enum(SubscriptionStatus, "subscription_status"))
    #: Where the consent came from: "import:<file>", "form", "api".
    source: Mapped[str] = mapped_column(String(300))
    consented_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: The request that gave consent, where there was one (form or API).
    consent_ip: Mapped[str | None] = mapped_column(String(45))
    consent_user_agent: Mapped[str | None] = mapped_column(String(500))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column()
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    subscriber: Mapped[Subscriber] = relationship()


class ConsentAction(enum.StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    IMPORTED = "imported"


class ConsentEvent(Base):
    """The consent history of a subscription, append-only.

    ``Subscription`` holds the latest proof; this keeps every step, so a
    later request (by anyone) never erases who asked first and who
    confirmed, from where.
    """

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    action: Mapped[ConsentAction] = mapped_column(_enum(ConsentAction, "consent_action"))
    source: Mapped[str] = mapped_column(String(300))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    #: A sign-up request's confirmation email; its confirm link names this
    #: campaign, so confirming finds the request it answers.
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    #: The names a sign-up request gave. They become the subscriber's only
    #: when this request's confirm link is used (None: recorded before
    #: requests kept their names, or not a sign-up request).
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Campaign(Base):
    __tablename__ = "campaigns"
    # An event's recap drafts are made once: one per event and audience, whatever repeats.
    __table_args__ = (
        UniqueConstraint("recap_event_id", "list_id", name="uq_campaigns_recap_event_list"),
        # A campaign is resent at most once: a second resend of it breaks this, whoever asks at the same moment.
        UniqueConstraint("resend_of", name="uq_campaigns_resend_of"),
        # A list's issues (the console's welcome field) without reading the confirmations and welcome copies, one per sign-up.
        Index("ix_campaigns_kind_list_id", "kind", "list_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("mailing_lists.id"))
    status: Mapped[CampaignStatus] = mapped_column(_enum(CampaignStatus, "campaign_status"))
    kind: Mapped[CampaignKind] = mapped_column(_enum(CampaignKind, "campaign_kind"), default=CampaignKind.ISSUE)
    provider: Mapped[str] = mapped_column(String(40))
    is_test: Mapped[bool] = mapped_column(default=False)
    title: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(1000))
    content_digest: Mapped[str] = mapped_column(String(64))
    #: Stage-1 output: shared parts rendered and CSS inlined once, with
    #: per-render placeholders where the personal fields go.
    html_template: Mapped[str] = mapped_column(Text)
    text_template: Mapped[str] = mapped_column(Text)
    placeholder_nonce: Mapped[str] = mapped_column(String(40))
    send_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    released_at: Mapped[dt.datetime | None] = mapped_column()
    completed_at: Mapped[dt.datetime | None] = mapped_column()
    pause_reason: Mapped[str | None] = mapped_column(String(500))
    #: The recap as written (Markdown with front matter): a draft's content,
    #: kept after sending so the issue can be read as it was sent.
    recap_text: Mapped[str | None] = mapped_column(Text)
    #: The lint report of the content as it was last saved (``LintReport.as_dict``).
    lint: Mapped[dict[str, Any] | None] = mapped_column()
    #: Who created it: "user:<email>", "token:<name>" or "cli".
    created_by: Mapped[str | None] = mapped_column(String(400))
    updated_at: Mapped[dt.datetime | None] = mapped_column()
    #: The event whose recap this draft is (created when the event ended); one per audience.
    recap_event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    #: A sender's approval, which an automatic recap needs before the sweep sends it.
    approved_by: Mapped[str | None] = mapped_column(String(400))
    approved_at: Mapped[dt.datetime | None] = mapped_column()
    #: When the sweep sends this draft, once approved (the recap rule "auto").
    auto_send_at: Mapped[dt.datetime | None] = mapped_column()
    #: A welcome campaign's issue: the campaign whose stage-1 render it copies.
    welcome_of: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    #: A resend's first campaign: this one went to those of its recipients who did not open it (``publisher.ledger.resend``).
    resend_of: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    #: Whether its emails carry the open pixel and tracked links, decided when it is published; a
    #: campaign sent without them cannot tell readers from non-readers.
    tracking: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: The URLs its tracked links redirect to, in the order of their link numbers: a click link can
    #: only ever lead to one of these (never an open redirect).
    tracked_links: Mapped[list[str] | None] = mapped_column(JSON)
    #: A subject-line test's other subjects, variants 2 to 4 in order (``subject`` is variant 1); None: no test.
    subject_variants: Mapped[list[str] | None] = mapped_column(JSON)
    #: The test's set-up: the percentage of the audience that takes part, split evenly among the variants,
    #: how long after the release the winner is decided, and on what ("opens" or "clicks", human ones only).
    ab_share: Mapped[int | None] = mapped_column(Integer)
    ab_wait_seconds: Mapped[int | None] = mapped_column(Integer)
    ab_metric: Mapped[str | None] = mapped_column(String(10))
    #: The decision, written once (``publisher.ledger.subject_test_decision``): the winning variant's number (from 1),
    #: when, how ("significant", "not_significant", "by_hand") and by whom ("sweep", "cli", "user:<email>"), the
    #: test statistic (z, or chi-squared for 3 or 4 variants) and its p-value, and each variant's
    #: ``[successes, trials]`` as they stood then.
    ab_winner: Mapped[int | None] = mapped_column(Integer)
    ab_decided_at: Mapped[dt.datetime | None] = mapped_column()
    ab_decision: Mapped[str | None] = mapped_column(String(20))
    ab_decided_by: Mapped[str | None] = mapped_column(String(400))
    ab_statistic: Mapped[float | None] = mapped_column(Float)
    ab_p_value: Mapped[float | None] = mapped_column(Float)
    ab_results: Mapped[list[list[int]] | None] = mapped_column(JSON)

    # Named: the lists point back at campaigns too (their welcome issue).
    mailing_list: Mapped[MailingList | None] = relationship(foreign_keys=[list_id])


class WelcomeSend(Base):
    """A subscriber given a copy of a welcome issue: at most one per issue and subscriber, however often they confirm."""

    __tablename__ = "welcome_sends"
    __table_args__ = (UniqueConstraint("template_id", "subscriber_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The welcome issue copied.
    template_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    #: Erasing the person removes the row with them.
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    #: The welcome campaign that carries their copy.
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ReleaseState(enum.StrEnum):
    PENDING = "pending"
    RELEASED = "released"


class CampaignRelease(Base):
    """One time zone of a campaign sent at a local time: its batches wait until ``release_at`` (UTC).

    Or the remainder of a subject test (``subject_test``): its batches wait for the winner.

    The workers' sweep marks a due release ``released``; its batches are then
    enqueued as any batch never enqueued is (``publisher.ledger.dispatch``).
    """

    __tablename__ = "campaign_releases"
    __table_args__ = (
        UniqueConstraint("campaign_id", "zone"),
        Index("ix_campaign_releases_state_release_at", "state", "release_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    #: IANA name, e.g. "Europe/Paris"; None for the remainder of a subject test.
    zone: Mapped[str | None] = mapped_column(String(64))
    release_at: Mapped[dt.datetime] = mapped_column()
    recipients: Mapped[int] = mapped_column(Integer)
    state: Mapped[ReleaseState] = mapped_column(_enum(ReleaseState, "release_state"))
    released_at: Mapped[dt.datetime | None] = mapped_column()
    #: The recipients a subject test leaves for its winner: released by the decision
    #: (``publisher.ledger.subject_test_decision``), never by its time alone; ``release_at`` is when the decision is due.
    subject_test: Mapped[bool] = mapped_column(default=False, server_default=false())


class Batch(Base):
    """A fixed group of deliveries sent by one task; its members never change."""

    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("campaign_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    enqueued_at: Mapped[dt.datetime | None] = mapped_column()
    #: A retry wait too long for the queue: the sweep enqueues the batch again then.
    not_before: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: The time zone release it waits for (a local-time send); None: it goes with its campaign.
    release_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_releases.id", ondelete="CASCADE"), index=True)


#: What the address of an erased person's ledger record starts with (``publisher.audience.privacy`` writes it).
ERASED_EMAIL_PREFIX = "erased:"


class Delivery(Base):
    """One recipient of one campaign: the ledger record."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "email"),
        Index("ix_deliveries_campaign_state", "campaign_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    #: Null for a test send to an address that is not a subscriber.
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"))
    email: Mapped[str] = mapped_column(String(320))
    state: Mapped[DeliveryState] = mapped_column(_enum(DeliveryState, "delivery_state"), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    provider: Mapped[str | None] = mapped_column(String(40))
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(String(1000))
    lease_until: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column()
    #: Set when the record failed after exhausting its retries (the dead-letter list).
    dead_lettered_at: Mapped[dt.datetime | None] = mapped_column()
    #: The subject-line test variant it is sent with (from 1): set when the campaign is written for the test's
    #: share, and with the decision for the remainder; None for a campaign without a test.
    variant: Mapped[int | None] = mapped_column(Integer)


#: The in-doubt records and the dead-letter list, for the monitoring counts
#: over every campaign. Partial indexes keep those counts to the few rows
#: concerned; a query uses the same literal predicate (not a bound parameter,
#: which SQLite cannot match to an index's WHERE) to be answered from them.
IN_DOUBT_ROWS = Delivery.state == literal_column("'in_doubt'")
DEAD_LETTERED_ROWS = Delivery.dead_lettered_at.is_not(None)
Index("ix_deliveries_in_doubt", Delivery.campaign_id, sqlite_where=IN_DOUBT_ROWS, postgresql_where=IN_DOUBT_ROWS)
Index("ix_deliveries_dead_lettered", Delivery.campaign_id, sqlite_where=DEAD_LETTERED_ROWS, postgresql_where=DEAD_LETTERED_ROWS)


class Suppression(Base):
    """An address that must not be mailed again: everywhere (no list) or on one list.

    ``email_hash`` is always set; ``email`` is cleared when the person asks to
    be erased, so the entry still stops the address without storing it.
    """

    __tablename__ = "suppressions"
    # One entry per address and scope, even when two webhooks report the
    # same bounce at once. Entries for all lists have no list_id, and NULLs
    # never collide in a unique index: those get a partial index of their own.
    __table_args__ = (
        UniqueConstraint("email_hash", "list_id", name="uq_suppressions_email_hash_list_id"),
        Index(
            "uq_suppressions_email_hash_everywhere",
            "email_hash",
            unique=True,
            sqlite_where=text("list_id IS NULL"),
            postgresql_where=text("list_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(500))
    #: Who added it: "provider:postmark", "import", "operator", …
    source: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EventType(enum.StrEnum):
    """Provider events, normalised: every webhook is mapped onto these."""

    DELIVERED = "delivered"
    BOUNCED_HARD = "bounced_hard"
    BOUNCED_SOFT = "bounced_soft"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    OPENED = "opened"
    CLICKED = "clicked"
    DEFERRED = "deferred"


class DeliveryEvent(Base):
    """What a provider reported about one delivery, after the send."""

    __tablename__ = "delivery_events"
    __table_args__ = (UniqueConstraint("provider", "dedupe_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(40))
    type: Mapped[EventType] = mapped_column(_enum(EventType, "event_type"))
    #: The provider's event id, or a digest of the event: a webhook delivered
    #: twice is stored once.
    dedupe_key: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[dt.datetime] = mapped_column()
    detail: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# A campaign's hard bounces and complaints, read for monitoring, are the recent ones of two types.
Index("ix_delivery_events_type_created", DeliveryEvent.type, DeliveryEvent.created_at)


class EngagementKind(enum.StrEnum):
    OPEN = "open"
    CLICK = "click"


class Engagement(Base):
    """One open or click of one delivery, seen by the web app or reported by the provider, classified.

    ``machine`` is the verdict of ``publisher.tracking.classify`` and ``machine_reason`` why: a
    privacy proxy or a link scanner fetched it, not a reader. Neither the user agent nor the
    address it came from is kept. Rows older than NEWSLETTER_TRACKING_DAYS are deleted by the sweep.
    """

    __tablename__ = "engagements"
    __table_args__ = (Index("ix_engagements_campaign_kind", "campaign_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    kind: Mapped[EngagementKind] = mapped_column(_enum(EngagementKind, "engagement_kind"))
    #: The tracked link's number in ``Campaign.tracked_links`` (clicks through the web app).
    link_index: Mapped[int | None] = mapped_column(Integer)
    #: The URL clicked: the tracked link's, or the one a provider reported.
    url: Mapped[str | None] = mapped_column(String(2000))
    #: "app" for the pixel and the redirects, else the provider whose webhook reported it.
    source: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[dt.datetime] = mapped_column(index=True)
    machine: Mapped[bool] = mapped_column(default=False)
    machine_reason: Mapped[str | None] = mapped_column(String(200))


class Role(enum.StrEnum):
    """What a console user may do; each role may do everything the ones before it may."""

    VIEWER = "viewer"
    EDITOR = "editor"
    SENDER = "sender"
    ADMIN = "admin"


class User(Base):
    """A person who signs in to the console."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Lower-cased address: the sign-in name.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "user_role"))
    #: argon2id hash (argon2-cffi's encoded form, parameters included).
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConsoleSession(Base):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: The token every state-changing form of this session must carry.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A bearer token for the HTTP API. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column()


class AuditEntry(Base):
    """Who did what to which campaign, list or subscriber, when and from where. Append-only."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    #: "user:<email>", "token:<name>" or "cli".
    actor: Mapped[str] = mapped_column(String(400))
    action: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[int | None] = mapped_column(index=True)
    #: What else it concerned: a list name, an address, a user, a token.
    target: Mapped[str] = mapped_column(String(400), default="")
    detail: Mapped[str] = mapped_column(String(1000), default="")
    ip: Mapped[str | None] = mapped_column(String(45))


class IdempotencyKey(Base):
    """An API request's Idempotency-Key: the same key and body give the same campaign."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("owner", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The token that sent it: keys of two clients never collide.
    owner: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    body_digest: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Attendance(enum.StrEnum):
    """Whether a registrant came: ``unknown`` where the source has no attendance data."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


class Event(Base):
    """An event people registered for, from a platform or made by hand."""

    __tablename__ = "events"
    # A platform's event arrives under one slug however often it is delivered.
    __table_args__ = (UniqueConstraint("source", "platform_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``[a-z0-9-]{1,60}``; ``<source>-<platform id>`` for events a webhook created.
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    #: "manual", "zoom", "eventbrite", "luma" or "generic".
    source: Mapped[str] = mapped_column(String(20))
    platform_id: Mapped[str | None] = mapped_column(String(100))
    starts_at: Mapped[dt.datetime | None] = mapped_column()
    ends_at: Mapped[dt.datetime | None] = mapped_column()
    #: IANA zone the event runs in: dates are shown there.
    timezone: Mapped[str] = mapped_column(String(60), default="UTC")
    venue: Mapped[str | None] = mapped_column(String(500))
    online_url: Mapped[str | None] = mapped_column(String(2000))
    #: The event's public page (registration).
    url: Mapped[str | None] = mapped_column(String(2000))
    #: ``[{name, role, organisation, photo}]``.
    speakers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: "drafts", "none" or "auto"; None follows NEWSLETTER_<SOURCE>_RECAP.
    recap_rule: Mapped[str | None] = mapped_column(String(10))
    auto_send_after: Mapped[int | None] = mapped_column()
    #: The latest "ended" signal a platform sent; it counts after the quiet period without a new start.
    end_signal_at: Mapped[dt.datetime | None] = mapped_column()
    #: The latest "started" signal: an "ended" signal from before it (a late retry) never counts.
    start_signal_at: Mapped[dt.datetime | None] = mapped_column()
    #: When the event ended: by ``events end``, a settled platform signal, or the end time passing.
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    #: Set in the transaction that created the recap drafts (or decided there are none): once per event.
    recap_done_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EventRegistrant(Base):
    """One person registered for one event, and whether they came."""

    __tablename__ = "event_registrants"
    __table_args__ = (UniqueConstraint("event_id", "subscriber_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    #: Erasing the person removes their registrations with them.
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    #: The platform's id of the registration (Zoom registrant, Eventbrite attendee, Luma guest).
    platform_id: Mapped[str | None] = mapped_column(String(100))
    registered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attendance: Mapped[Attendance] = mapped_column(_enum(Attendance, "attendance"), default=Attendance.UNKNOWN)
    checked_in_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InboundEvent(Base):
    """A platform delivery already handled: the same one delivered again changes nothing."""

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("source", "dedupe_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    #: The platform's delivery id, or a digest of what it said.
    dedupe_key: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WebhookEndpoint(Base):
    """A URL that outgoing webhooks are sent to, for the event types it asked for.

    ``secret`` (``whsec_…``) signs every call to it: a shared secret the
    receiver verifies with, so it is kept as it is (never hashed), shown once
    when the endpoint is added and never logged.
    """

    __tablename__ = "webhook_endpoints"
    # An id names an endpoint in commands and logs: a removed one's must never be given to another.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 (read once by SQLAlchemy)

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: "user:<email>" or "cli".
    created_by: Mapped[str] = mapped_column(String(400), default="")
    #: Failed calls since the last one answered 2xx; at NEWSLETTER_WEBHOOK_DISABLE_AFTER the endpoint is disabled.
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    disabled_at: Mapped[dt.datetime | None] = mapped_column()
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    last_success_at: Mapped[dt.datetime | None] = mapped_column()
    last_failure_at: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(500))


class WebhookMessage(Base):
    """One event for one endpoint: written in the transaction of the change it reports, sent until it is answered 2xx."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "message_id"),
        Index("ix_webhook_messages_due", "delivered_at", "next_attempt_at"),
        Index("ix_webhook_messages_failed_at", "failed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    #: The ``webhook-id`` header: one per event, the same on every attempt, so a receiver can drop a repeat.
    message_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    #: The JSON body exactly as signed and sent: ``{"type", "timestamp", "data"}``.
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    #: When it is next sent (or, while a worker holds it, when that worker's claim lapses); None once delivered.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    delivered_at: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(500))
    #: When it was given up on: still failing MESSAGE_MAX_AGE after it was written (publisher.outgoing_webhooks.messages).
    failed_at: Mapped[dt.datetime | None] = mapped_column()
    #: The person the event is about (subscriber, bounce and complaint events), so that erasing them deletes it
    #: (no foreign key: the erasure deletes the subscriber, and the message with it).
    subscriber_id: Mapped[int | None] = mapped_column(index=True)
    #: The ledger record a bounce or complaint is about, for the same reason.
    delivery_id: Mapped[int | None] = mapped_column(index=True)

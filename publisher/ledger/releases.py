"""Local-time sends: one release per time zone of a campaign, each letting its batches go at the local time there.

A campaign sent "at 09:00 local time" is written as usual, except that its
recipients are grouped by time zone (their ``timezone`` attribute, else
their list's) and each group's batches belong to that zone's release: a row
with the UTC instant at which it is 09:00 there (``publisher.core.zones``
says how daylight-saving gaps and repeats are resolved). A batch never mixes
zones. Releases whose instant has already passed are released at once.

The workers' periodic sweep marks due releases ``released`` in the same
transaction that releases scheduled campaigns
(``publisher.ledger.dispatch.release_due``); their batches, never enqueued,
are then due like any other and are enqueued after the commit. A sweep that
dies between the two leaves them un-enqueued, and the next sweep enqueues
them: nothing waits in Redis as an ETA task, and the claim keeps each
recipient to one send.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from publisher.core.zones import is_zone, local_instant
from publisher.db.models import Campaign, CampaignRelease, CampaignStatus, ReleaseState

#: A recipient as the audience query yields it: subscriber id, address, and their own ``timezone`` attribute if any.
ZonedMember = tuple[int | None, str, object]
Member = tuple[int | None, str]

#: Campaigns whose pending releases still count as ahead of them.
WAITING = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED)


class ZoneReleases:
    """The releases of one campaign being written, made as each zone first appears."""

    def __init__(self, session: Session, campaign_id: int, local: dt.datetime, default_zone: str, now: dt.datetime) -> None:
        self._session, self._campaign_id, self._local, self._now = session, campaign_id, local, now
        self._default = zone_of(None, default_zone)
        self._rows: dict[str, CampaignRelease] = {}

    def zone_of(self, own: object) -> str:
        """The subscriber's zone: their own when it is a known IANA name, else the list's."""
        return zone_of(own, self._default)

    def release_id(self, zone: str, recipients: int) -> int:
        """The id of ``zone``'s release (made on first use), counting ``recipients`` more in it."""
        row = self._rows.get(zone)
        if row is None:
            release_at = local_instant(self._local, zone)
            due = release_at <= self._now
            row = CampaignRelease(
                campaign_id=self._campaign_id,
                zone=zone,
                release_at=release_at,
                recipients=0,
                state=ReleaseState.RELEASED if due else ReleaseState.PENDING,
                released_at=self._now if due else None,
            )
            self._session.add(row)
            self._session.flush()
            self._rows[zone] = row
        row.recipients += recipients
        return row.id

    def group(self, rows: Iterable[Sequence[ZonedMember]], size: int) -> Iterator[tuple[int, list[Member]]]:
        """Cut the audience into batches of one zone each, ``size`` recipients at most; yield each with its release id.

        A batch is written as soon as it is full, so at most one part-filled
        batch per zone is held (a few hundred zones at most).
        """
        filling: dict[str, list[Member]] = {}
        for chunk in rows:
            for subscriber_id, email, own in chunk:
                zone = self.zone_of(own)
                batch = filling.setdefault(zone, [])
                batch.append((subscriber_id, email))
                if len(batch) >= size:
                    yield self.release_id(zone, len(batch)), batch
                    filling[zone] = []
        for zone, batch in sorted(filling.items()):
            if batch:
                yield self.release_id(zone, len(batch)), batch

    @property
    def first_release_at(self) -> dt.datetime | None:
        return min((row.release_at for row in self._rows.values()), default=None)

    @property
    def any_released(self) -> bool:
        return any(row.state is ReleaseState.RELEASED for row in self._rows.values())

    @property
    def pending_ids(self) -> frozenset[int]:
        return frozenset(row.id for row in self._rows.values() if row.state is ReleaseState.PENDING)


def zone_of(own: object, default_zone: str) -> str:
    """A subscriber's zone: their own ``timezone`` attribute when it is a known IANA name, else their list's (else UTC)."""
    if isinstance(own, str) and is_zone(own):
        return own
    return default_zone if is_zone(default_zone) else "UTC"


def last_release(local: dt.datetime, owns: Iterable[object], default_zone: str) -> tuple[dt.datetime, str] | None:
    """When the last of these zones reaches ``local``, and which zone that is; None when there are none."""
    zones = {zone_of(own, default_zone) for own in owns}
    return max(((local_instant(local, name), name) for name in zones), default=None)


def release_due(session: Session, now: dt.datetime) -> int:
    """Mark released every pending release whose time has come, of a campaign that is sending; return how many.

    A paused campaign's releases wait for it to be resumed; a cancelled one's are never released. The
    remainder of a subject test is released by its decision (``publisher.ledger.subject_test_decision``), not here.
    """
    sending = select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING).scalar_subquery()
    result = session.execute(
        update(CampaignRelease)
        .where(
            CampaignRelease.state == ReleaseState.PENDING,
            CampaignRelease.subject_test.is_(False),
            CampaignRelease.release_at <= now,
            CampaignRelease.campaign_id.in_(sending),
        )
        .values(state=ReleaseState.RELEASED, released_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class NextRelease:
    release_at: dt.datetime
    recipients: int
    #: The zones released then; none for a campaign scheduled at one instant for everyone.
    zones: tuple[str, ...] = ()
    #: A subject test's decision (``release_at`` is when it is due): its remainder goes out with the winner then.
    decision: bool = False


def next_releases(session: Session, campaigns: Sequence[Campaign], recipients: dict[int, int]) -> dict[int, NextRelease]:
    """The next release of each campaign that has one ahead: its earliest pending zone, or its ``send_at`` while scheduled.

    ``recipients`` gives each campaign's total, the size of a release for everyone at once. A
    subject test's remainder comes after its ``send_at`` (which sends the test's share), as a decision.
    """
    ids = [campaign.id for campaign in campaigns if campaign.status in WAITING]
    found: dict[int, NextRelease] = {}
    decisions: dict[int, NextRelease] = {}
    zoned: set[int] = set()
    if ids:
        zones = (CampaignRelease.campaign_id.in_(ids), CampaignRelease.subject_test.is_(False))
        first = (
            select(CampaignRelease.campaign_id, func.min(CampaignRelease.release_at).label("at"))
            .where(*zones, CampaignRelease.state == ReleaseState.PENDING)
            .group_by(CampaignRelease.campaign_id)
            .subquery()
        )
        rows = session.execute(
            select(CampaignRelease.campaign_id, CampaignRelease.release_at, CampaignRelease.recipients, CampaignRelease.zone)
            .join(first, (first.c.campaign_id == CampaignRelease.campaign_id) & (first.c.at == CampaignRelease.release_at))
            .where(*zones, CampaignRelease.state == ReleaseState.PENDING)
            .order_by(CampaignRelease.campaign_id, CampaignRelease.zone)
        ).all()
        for campaign_id, release_at, count, zone in rows:
            # Zones with the same offset are released at the same instant: one release for the reader.
            known = found.get(campaign_id, NextRelease(release_at, 0))
            zones_then = (*known.zones, zone) if zone is not None else known.zones
            found[campaign_id] = NextRelease(release_at, known.recipients + count, zones_then)
        zoned = set(session.scalars(select(CampaignRelease.campaign_id).where(*zones).distinct()))
        held = session.execute(
            select(CampaignRelease.campaign_id, CampaignRelease.release_at, CampaignRelease.recipients).where(
                CampaignRelease.campaign_id.in_(ids), CampaignRelease.subject_test.is_(True), CampaignRelease.state == ReleaseState.PENDING
            )
        ).all()
        decisions = {campaign_id: NextRelease(at, count, decision=True) for campaign_id, at, count in held}
    for campaign in campaigns:
        if campaign.id in found or campaign.id in zoned:
            continue
        never_released = campaign.status is CampaignStatus.PAUSED and campaign.released_at is None
        not_started = campaign.status is CampaignStatus.SCHEDULED or never_released
        if not_started and campaign.send_at is not None:
            remainder = decisions[campaign.id].recipients if campaign.id in decisions else 0
            found[campaign.id] = NextRelease(campaign.send_at, recipients.get(campaign.id, 0) - remainder)
        elif campaign.id in decisions and campaign.status is CampaignStatus.SENDING:
            # Paused: the decision is a full wait after the resume, not known yet.
            found[campaign.id] = decisions[campaign.id]
    return found

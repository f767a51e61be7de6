"""Local-time sends: one release per time zone, released by the sweep at the local time there, never mixed in a batch."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import redis
import time_machine
from sqlalchemy import func, select, update

from publisher.accounts.roles import CLI_ACTOR
from publisher.audience.lists import ListChange, update_list
from publisher.audience.subscribers import import_subscribers
from publisher.content.drafting import lint_draft
from publisher.content.recap import load_recap
from publisher.core.clock import utcnow
from publisher.core.errors import NotFoundError
from publisher.core.outcomes import Outcome, SendResult
from publisher.core.settings import Settings
from publisher.core.zones import check_zone, local_instant
from publisher.db.engine import Database
from publisher.db.models import (
    Batch,
    Campaign,
    CampaignRelease,
    CampaignStatus,
    Delivery,
    DeliveryState,
    ReleaseState,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from publisher.ledger import control
from publisher.ledger import status as ledger_status
from publisher.ledger.archive import archived_campaign, archived_issues
from publisher.ledger.campaigns import CampaignPlan, CreatedCampaign, create_campaign, write_local_time
from publisher.ledger.claims import claim_batch, record_results
from publisher.ledger.dispatch import release_due
from publisher.ledger.drafts import DraftContent, create_draft
from publisher.queue import QUEUE_SEND, QUEUED_KEY
from tests.support.cli import run_cli
from tests.support.recaps import RECAP
from tests.support.sweeps import LEASE, drain, queued_batches, sweep

#: Sunday 30 March 2025: clocks in Europe go forward at 01:00 UTC; New York changed three weeks before.
LOCAL = dt.datetime(2025, 3, 30, 9, 0)
PUBLISHED = dt.datetime(2025, 3, 29, 12, 0, tzinfo=dt.UTC)
#: 09:00 local on that day, in UTC: after the change in Paris (CEST, +2), EDT in New York (-4).
AT = {
    "Asia/Tokyo": dt.datetime(2025, 3, 30, 0, 0, tzinfo=dt.UTC),
    "Asia/Kolkata": dt.datetime(2025, 3, 30, 3, 30, tzinfo=dt.UTC),
    "Europe/Paris": dt.datetime(2025, 3, 30, 7, 0, tzinfo=dt.UTC),
    "America/New_York": dt.datetime(2025, 3, 30, 13, 0, tzinfo=dt.UTC),
}
ZONES = {
    "ny1@example.com": "America/New_York",
    "ny2@example.com": "America/New_York",
    "ny3@example.com": "America/New_York",
    "paris1@example.com": "Europe/Paris",
    "paris2@example.com": "Europe/Paris",
    "kolkata@example.com": "Asia/Kolkata",
    # No zone of their own: the list's (Asia/Tokyo below).
    "nozone1@example.com": "",
    "nozone2@example.com": "",
}


def audience(db: Database, tmp_path: Path, zones: dict[str, str] = ZONES, list_zone: str | None = "Asia/Tokyo") -> None:
    csv = tmp_path / "zones.csv"
    csv.write_text("email,first_name,timezone\n" + "".join(f"{email},Pat,{zone}\n" for email, zone in zones.items()), encoding="utf-8")
    report = import_subscribers(db, csv, "attendees")
    assert not report.problems
    if list_zone:
        update_list(db, "attendees", ListChange(timezone=list_zone))


def publish_local(settings: Settings, db: Database, local: dt.datetime = LOCAL, batch_size: int = 2) -> CreatedCampaign:
    plan = CampaignPlan(
        recap=load_recap(RECAP),
        list_name="attendees",
        provider=settings.provider,
        batch_size=batch_size,
        local_time=local,
        recap_text=RECAP.read_text(encoding="utf-8"),
    )
    return create_campaign(settings, db, plan)


def releases(db: Database, campaign_id: int) -> dict[str, tuple[dt.datetime, int, ReleaseState]]:
    with db.transaction() as session:
        rows = session.scalars(select(CampaignRelease).where(CampaignRelease.campaign_id == campaign_id)).all()
        return {row.zone: (row.release_at, row.recipients, row.state) for row in rows}


def enqueued_zones(db: Database, campaign_id: int) -> dict[str, int]:
    """Recipients whose batch was enqueued, by the zone of its release."""
    with db.transaction() as session:
        rows = session.execute(
            select(CampaignRelease.zone, Delivery.id)
            .join(Batch, Batch.release_id == CampaignRelease.id)
            .join(Delivery, Delivery.batch_id == Batch.id)
            .where(Batch.campaign_id == campaign_id, Batch.enqueued_at.is_not(None))
        ).all()
    counted: dict[str, int] = {}
    for zone, _ in rows:
        counted[zone] = counted.get(zone, 0) + 1
    return counted


def campaign_status(db: Database, campaign_id: int) -> CampaignStatus:
    with db.transaction() as session:
        found = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    assert found is not None
    return found


# --- Releases per zone, at the right UTC instants ---------------------------------------------------


def test_each_zone_is_released_by_the_sweep_at_its_local_time_across_a_dst_change(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    audience(db, tmp_path)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_local(settings, db)
    assert created.scheduled and created.recipients == 8 and created.due_batch_ids == []
    assert releases(db, created.id) == {
        "Asia/Tokyo": (AT["Asia/Tokyo"], 2, ReleaseState.PENDING),
        "Asia/Kolkata": (AT["Asia/Kolkata"], 1, ReleaseState.PENDING),
        "Europe/Paris": (AT["Europe/Paris"], 2, ReleaseState.PENDING),
        "America/New_York": (AT["America/New_York"], 3, ReleaseState.PENDING),
    }
    with db.transaction() as session:
        assert session.get(Campaign, created.id).send_at == AT["Asia/Tokyo"]  # type: ignore[union-attr]

    # A worker takes and sends what each sweep put on the queue, so nothing is re-enqueued as lost hours later.
    taken: list[int] = []
    sweep(settings, redis_url, AT["Asia/Tokyo"] - dt.timedelta(seconds=1))
    assert campaign_status(db, created.id) is CampaignStatus.SCHEDULED and enqueued_zones(db, created.id) == {}
    assert redis_client.llen(QUEUE_SEND) == 0
    sweep(settings, redis_url, AT["Asia/Tokyo"])
    assert campaign_status(db, created.id) is CampaignStatus.SENDING
    assert enqueued_zones(db, created.id) == {"Asia/Tokyo": 2}
    assert redis_client.llen(QUEUE_SEND) == 1  # Tokyo's one batch
    taken += drain(db, redis_client)
    sweep(settings, redis_url, AT["Europe/Paris"] - dt.timedelta(seconds=1))
    assert enqueued_zones(db, created.id) == {"Asia/Tokyo": 2, "Asia/Kolkata": 1}
    taken += drain(db, redis_client)
    sweep(settings, redis_url, AT["Europe/Paris"])
    assert enqueued_zones(db, created.id) == {"Asia/Tokyo": 2, "Asia/Kolkata": 1, "Europe/Paris": 2}
    taken += drain(db, redis_client)
    sweep(settings, redis_url, AT["America/New_York"])
    assert redis_client.llen(QUEUE_SEND) == 2  # New York's two batches, and nothing else
    taken += drain(db, redis_client)
    assert enqueued_zones(db, created.id) == {"Asia/Tokyo": 2, "Asia/Kolkata": 1, "Europe/Paris": 2, "America/New_York": 3}
    assert {state for _, _, state in releases(db, created.id).values()} == {ReleaseState.RELEASED}
    with db.transaction() as session:
        released = dict(session.execute(select(CampaignRelease.zone, CampaignRelease.released_at)).all())
    assert released["Europe/Paris"] == AT["Europe/Paris"]  # marked by the sweep that found it due
    # Every batch was on the send queue exactly once: as many messages as batches, and each batch among them.
    assert len(taken) == len(created.batch_ids) and sorted(taken) == sorted(created.batch_ids)


def test_no_batch_mixes_zones_and_every_recipient_is_in_their_own_zone(settings: Settings, db: Database, tmp_path: Path) -> None:
    audience(db, tmp_path)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_local(settings, db, batch_size=2)
    with db.transaction() as session:
        rows = session.execute(
            select(Batch.id, CampaignRelease.zone, Delivery.email)
            .join(CampaignRelease, CampaignRelease.id == Batch.release_id)
            .join(Delivery, Delivery.batch_id == Batch.id)
            .where(Batch.campaign_id == created.id)
        ).all()
    assert len(rows) == 8
    for _, zone, email in rows:
        assert zone == (ZONES[email] or "Asia/Tokyo")
    by_batch: dict[int, set[str]] = {}
    for batch_id, zone, _ in rows:
        by_batch.setdefault(batch_id, set()).add(zone)
    assert all(len(zones) == 1 for zones in by_batch.values())
    # New York's three need two batches of at most two (2 + 1); each other zone fits in one.
    assert sorted(len([1 for b, z, _ in rows if b == batch_id]) for batch_id in by_batch) == [1, 1, 2, 2, 2]


def test_a_local_time_in_the_spring_forward_gap_moves_forward_and_a_repeated_one_is_the_first() -> None:
    # Paris skips 02:00-03:00 on 30 March 2025: 02:30 is 03:30 CEST.
    assert local_instant(dt.datetime(2025, 3, 30, 2, 30), "Europe/Paris") == dt.datetime(2025, 3, 30, 1, 30, tzinfo=dt.UTC)
    # New York repeats 01:00-02:00 on 2 November 2025: 01:30 is the first, in EDT.
    assert local_instant(dt.datetime(2025, 11, 2, 1, 30), "America/New_York") == dt.datetime(2025, 11, 2, 5, 30, tzinfo=dt.UTC)
    # The same 09:00 before and after the change is an hour apart in UTC.
    assert local_instant(dt.datetime(2025, 3, 29, 9), "Europe/Paris") == dt.datetime(2025, 3, 29, 8, tzinfo=dt.UTC)
    assert local_instant(dt.datetime(2025, 3, 31, 9), "Europe/Paris") == dt.datetime(2025, 3, 31, 7, tzinfo=dt.UTC)


def test_zones_already_past_the_local_time_are_released_at_publish(settings: Settings, db: Database, tmp_path: Path) -> None:
    audience(db, tmp_path)
    now = AT["Asia/Kolkata"] + dt.timedelta(minutes=1)
    with time_machine.travel(now, tick=False):
        created = publish_local(settings, db)
        # The ledger's own view: only the released zones' batches are due, the rest wait.
        due = {batch.batch_id for batch in release_due(db, LEASE)}
    assert not created.scheduled and campaign_status(db, created.id) is CampaignStatus.SENDING
    assert set(created.due_batch_ids) == due
    assert {zone: state for zone, (_, _, state) in releases(db, created.id).items()} == {
        "Asia/Tokyo": ReleaseState.RELEASED,
        "Asia/Kolkata": ReleaseState.RELEASED,
        "Europe/Paris": ReleaseState.PENDING,
        "America/New_York": ReleaseState.PENDING,
    }
    with db.transaction() as session:
        zones_due = set(
            session.scalars(select(CampaignRelease.zone).join(Batch, Batch.release_id == CampaignRelease.id).where(Batch.id.in_(due)))
        )
    assert zones_due == {"Asia/Tokyo", "Asia/Kolkata"}


def test_subscribers_without_a_usable_zone_use_the_lists_and_a_list_without_one_is_utc(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    audience(db, tmp_path, {"a@example.com": "", "b@example.com": "Europe/Paris", "c@example.com": ""}, list_zone=None)
    with db.transaction() as session:
        # Stored before the import checked zones, or written some other way: not a zone, so the list's.
        session.execute(update(Subscriber).where(Subscriber.email == "c@example.com").values(attributes={"timezone": "Mars/Olympus"}))
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_local(settings, db)
    found = releases(db, created.id)
    assert set(found) == {"UTC", "Europe/Paris"}
    assert found["UTC"][:2] == (dt.datetime(2025, 3, 30, 9, tzinfo=dt.UTC), 2)


# --- A crash between marking a release and enqueuing its batches --------------------------------------


def test_a_release_marked_by_a_sweep_that_died_before_enqueuing_is_enqueued_once_by_the_next(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    audience(db, tmp_path)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_local(settings, db)
    # The first half of a sweep: releases marked and committed, then the process dies before enqueuing.
    release_due(db, LEASE, now=AT["Europe/Paris"])
    assert releases(db, created.id)["Europe/Paris"][2] is ReleaseState.RELEASED
    assert enqueued_zones(db, created.id) == {} and redis_client.hlen(QUEUED_KEY) == 0
    # A worker restarts: its sweep enqueues what was released, and only that.
    sweep(settings, redis_url, AT["Europe/Paris"] + dt.timedelta(seconds=15))
    assert enqueued_zones(db, created.id) == {"Asia/Tokyo": 2, "Asia/Kolkata": 1, "Europe/Paris": 2}
    marks = redis_client.hgetall(QUEUED_KEY)
    sweep(settings, redis_url, AT["Europe/Paris"] + dt.timedelta(seconds=30))
    assert redis_client.hgetall(QUEUED_KEY) == marks  # nothing put on the queue a second time
    with db.transaction() as session:
        assert session.scalar(select(CampaignRelease.released_at).where(CampaignRelease.zone == "Europe/Paris")) == AT["Europe/Paris"]


def batches_of(db: Database, campaign_id: int, zones: set[str]) -> set[int]:
    with db.transaction() as session:
        return set(
            session.scalars(
                select(Batch.id)
                .join(CampaignRelease, CampaignRelease.id == Batch.release_id)
                .where(Batch.campaign_id == campaign_id, CampaignRelease.zone.in_(zones))
            )
        )


def test_a_paused_campaigns_zones_wait_for_resume_and_a_cancelled_ones_are_never_released(
    settings: Settings, db: Database, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    audience(db, tmp_path)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_local(settings, db)
    sweep(settings, redis_url, AT["Asia/Tokyo"])
    with time_machine.travel(AT["Asia/Tokyo"] + dt.timedelta(minutes=1), tick=False):
        control.pause(db, created.id)
    sweep(settings, redis_url, AT["Europe/Paris"])
    assert releases(db, created.id)["Europe/Paris"][2] is ReleaseState.PENDING
    assert enqueued_zones(db, created.id) == {"Asia/Tokyo": 2}

    resumed = AT["Europe/Paris"] + dt.timedelta(minutes=5)
    with time_machine.travel(resumed, tick=False):
        control.resume(db, created.id)
    assert campaign_status(db, created.id) is CampaignStatus.SENDING
    sweep(settings, redis_url, resumed)
    sweep(settings, redis_url, resumed + dt.timedelta(seconds=15))
    # Kolkata and Paris, past while it was paused, are released by the first sweep after the resume.
    states = {zone: state for zone, (_, _, state) in releases(db, created.id).items()}
    assert states == {
        "Asia/Tokyo": ReleaseState.RELEASED,
        "Asia/Kolkata": ReleaseState.RELEASED,
        "Europe/Paris": ReleaseState.RELEASED,
        "America/New_York": ReleaseState.PENDING,
    }
    assert enqueued_zones(db, created.id) == {"Asia/Tokyo": 2, "Asia/Kolkata": 1, "Europe/Paris": 2}
    queued = queued_batches(redis_client)
    released_late = batches_of(db, created.id, {"Asia/Kolkata", "Europe/Paris"})
    assert sorted(batch for batch in queued if batch in released_late) == sorted(released_late)  # each on the queue once
    assert not set(queued) & batches_of(db, created.id, {"America/New_York"})

    with time_machine.travel(resumed + dt.timedelta(minutes=1), tick=False):
        control.cancel(db, created.id)
    sweep(settings, redis_url, AT["America/New_York"])
    assert releases(db, created.id)["America/New_York"][2] is ReleaseState.PENDING
    assert enqueued_zones(db, created.id) == {"Asia/Tokyo": 2, "Asia/Kolkata": 1, "Europe/Paris": 2}


def test_a_campaign_whose_released_zones_are_all_sent_stays_sending_until_the_last_zone(
    settings: Settings, db: Database, redis_url: str, tmp_path: Path
) -> None:
    audience(db, tmp_path)
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_local(settings, db)

    def send_released(moment: dt.datetime) -> None:
        sweep(settings, redis_url, moment)
        for batch_id in created.batch_ids:
            claim = claim_batch(db, batch_id, LEASE, "outbox", idempotent=False)
            if claim is not None and claim.deliveries:
                accepted = [SendResult(d.id, Outcome.ACCEPTED, provider_message_id=f"m{d.id}") for d in claim.deliveries]
                record_results(db, claim, accepted, 3)
        # A later sweep's backstop completes a sending campaign with nothing open, if it thought so.
        sweep(settings, redis_url, moment + dt.timedelta(seconds=15))

    send_released(AT["Europe/Paris"])
    with db.transaction() as session:
        sent = session.scalar(select(func.count()).where(Delivery.campaign_id == created.id, Delivery.state == DeliveryState.SENT))
    assert sent == 5  # Tokyo, Kolkata and Paris: everything released
    assert campaign_status(db, created.id) is CampaignStatus.SENDING
    send_released(AT["America/New_York"])
    assert campaign_status(db, created.id) is CampaignStatus.COMPLETE


def test_a_held_batch_claimed_before_its_release_sends_nothing_and_is_claimed_once_released(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    # A publisher that enqueues every batch (one older than the releases, say) must not send a zone early: the claim refuses it.
    audience(db, tmp_path)
    with time_machine.travel(AT["Asia/Kolkata"] + dt.timedelta(minutes=1), tick=False):
        created = publish_local(settings, db)
    assert campaign_status(db, created.id) is CampaignStatus.SENDING
    (held, *_) = sorted(created.held_batch_ids)
    (due, *_) = created.due_batch_ids
    assert claim_batch(db, held, LEASE, "outbox", idempotent=False) is None
    with db.transaction() as session:
        states = set(session.scalars(select(Delivery.state).where(Delivery.batch_id == held)))
    assert states == {DeliveryState.PENDING}
    claim = claim_batch(db, due, LEASE, "outbox", idempotent=False)
    assert claim is not None and claim.deliveries  # a released zone's batch is claimed as usual
    release_due(db, LEASE, now=AT["America/New_York"])
    claim = claim_batch(db, held, LEASE, "outbox", idempotent=False)
    assert claim is not None and claim.deliveries


def test_a_local_time_send_whose_audience_emptied_after_the_check_is_refused_and_writes_nothing(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    audience(db, tmp_path)
    recap = load_recap(RECAP)
    content = DraftContent(recap, RECAP.read_text(encoding="utf-8"), "attendees", settings.provider, lint_draft(settings, recap))
    draft_id = create_draft(settings, db, content, CLI_ACTOR)

    def everyone_leaves_then_write() -> None:
        with db.transaction() as session:
            campaign = session.get(Campaign, draft_id)
            assert campaign is not None and campaign.mailing_list is not None
            # Everyone leaves between the check for an audience and the stream of it.
            session.execute(update(Subscription).values(status=SubscriptionStatus.UNSUBSCRIBED))
            write_local_time(session, campaign, campaign.mailing_list, LOCAL, (2, "example.com"))

    with pytest.raises(NotFoundError, match="has no confirmed subscribers: nothing to send"):
        everyone_leaves_then_write()
    with db.transaction() as session:
        campaign = session.get(Campaign, draft_id)
        assert campaign is not None and (campaign.status, campaign.send_at) == (CampaignStatus.DRAFT, None)
        assert session.scalar(select(CampaignRelease.id)) is None and session.scalar(select(Batch.id)) is None
        assert set(session.scalars(select(Subscription.status))) == {SubscriptionStatus.CONFIRMED}  # all rolled back


def test_a_local_time_issue_is_archived_once_its_last_zone_is_released_and_dated_then(
    settings: Settings, db: Database, redis_url: str, tmp_path: Path
) -> None:
    audience(db, tmp_path)
    update_list(db, "attendees", ListChange(public=True))
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_local(settings, db)
    sweep(settings, redis_url, AT["Europe/Paris"])
    assert campaign_status(db, created.id) is CampaignStatus.SENDING
    with db.transaction() as session:
        # Going out in Tokyo, not yet in New York: not in the archive or the feed, which anyone may read.
        assert archived_issues(session) == [] and archived_campaign(session, created.id) is None
    sweep(settings, redis_url, AT["America/New_York"])
    with db.transaction() as session:
        assert [(issue.id, issue.published_at) for issue in archived_issues(session)] == [(created.id, AT["America/New_York"])]
        assert archived_campaign(session, created.id) is not None


# --- Status -----------------------------------------------------------------------------------------


def test_status_gives_the_next_release_and_its_recipients(settings: Settings, db: Database, redis_url: str, tmp_path: Path) -> None:
    audience(db, tmp_path, {**ZONES, "london@example.com": "Europe/London"})
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_local(settings, db)
    (progress,) = ledger_status.campaign_progress(db, created.id)
    fields = progress.as_dict()
    assert (fields["next_release_at"], fields["next_release_recipients"]) == ("2025-03-30T00:00:00+00:00", 2)
    sweep(settings, redis_url, AT["Asia/Kolkata"])
    (progress,) = ledger_status.campaign_progress(db, created.id)
    # London (BST, +1) and Paris (CEST, +2) differ: Paris is next, alone.
    assert progress.as_dict()["next_release_at"] == "2025-03-30T07:00:00+00:00"
    assert progress.as_dict()["next_release_recipients"] == 2
    sweep(settings, redis_url, AT["America/New_York"])
    (progress,) = ledger_status.campaign_progress(db, created.id)
    assert (progress.as_dict()["next_release_at"], progress.as_dict()["next_release_recipients"]) == (None, None)


def test_the_eta_counts_only_the_records_of_released_zones(settings: Settings, db: Database, tmp_path: Path) -> None:
    audience(db, tmp_path)
    with time_machine.travel(AT["Asia/Kolkata"] + dt.timedelta(minutes=1), tick=False):
        created = publish_local(settings, db)
    with db.transaction() as session:
        # One of Tokyo's records sent just now: one a minute.
        first = session.scalars(select(Delivery).where(Delivery.batch_id.in_(created.due_batch_ids)).order_by(Delivery.id).limit(1)).one()
        first.state, first.sent_at = DeliveryState.SENT, utcnow()
    (progress,) = ledger_status.campaign_progress(db, created.id)
    assert progress.open == 7 and progress.held == 5  # Paris and New York wait for their release
    # Two released records left at one a minute: two minutes, not seven.
    assert progress.eta_seconds == pytest.approx(120)
    assert progress.as_dict()["eta_seconds"] == 120


def test_zones_released_at_the_same_instant_are_one_next_release(settings: Settings, db: Database, tmp_path: Path) -> None:
    audience(db, tmp_path, {"p@example.com": "Europe/Paris", "b@example.com": "Europe/Berlin", "n@example.com": "America/New_York"})
    with time_machine.travel(PUBLISHED, tick=False):
        created = publish_local(settings, db)
    (progress,) = ledger_status.campaign_progress(db, created.id)
    assert progress.next_release is not None
    assert (progress.next_release.release_at, progress.next_release.recipients) == (AT["Europe/Paris"], 2)
    assert progress.next_release.zones == ("Europe/Berlin", "Europe/Paris")


# --- The command line -------------------------------------------------------------------------------


def test_publish_local_time_releases_past_zones_at_once_and_status_shows_the_next(
    settings: Settings, db: Database, env: dict[str, str], tmp_path: Path
) -> None:
    # Kiritimati is UTC+14, Pago Pago UTC-11: two hours from now in local time has passed in one, not the other.
    audience(db, tmp_path, {"early@example.com": "Pacific/Kiritimati", "late@example.com": "Pacific/Pago_Pago"}, list_zone=None)
    local = (utcnow() + dt.timedelta(hours=2)).replace(tzinfo=None, second=0, microsecond=0)
    result = run_cli(env, "publish", RECAP, "--list", "attendees", "--send-at", local.isoformat(), "--local-time")
    assert result.returncode == 0, result.output
    campaign_id = int(result.last_line.split()[1])
    assert "1 batch(es) wait for their time zone" in result.output
    assert "enqueued 1 batch(es)" in result.output
    assert enqueued_zones(db, campaign_id) == {"Pacific/Kiritimati": 1}

    shown = run_cli(env, "status", str(campaign_id), "--json")
    assert shown.returncode == 0, shown.output
    fields = json.loads(shown.output)["campaigns"][0]
    late = local_instant(local, "Pacific/Pago_Pago")
    assert (fields["next_release_at"], fields["next_release_recipients"]) == (late.isoformat(), 1)
    for columns in ("60", "250"):  # one block per campaign, or the table
        human = run_cli({**env, "COLUMNS": columns}, "status", str(campaign_id))
        said = " ".join(human.output.split())
        assert f"next release {late:%Y-%m-%d %H:%M} UTC: 1 recipient(s) (Pacific/Pago_Pago)" in said, human.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--local-time"], "--local-time needs --send-at"),
        (["--send-at", "2027-01-16T09:00Z", "--local-time"], "has an offset, but --local-time"),
        (["--send-at", "2027-01-16T09:00+02:00", "--local-time"], "give it without one (e.g. 2026-12-01T09:00)"),
        (["--send-at", "tomorrow at nine", "--local-time"], "is not an ISO 8601 time"),
        (["--send-at", "9" * 10_000, "--local-time"], "is not an ISO 8601 time"),
        (["--send-at", "9999-12-31T23:59", "--local-time"], "is not between 1970 and 2200"),
        (["--send-at", "2027-01-16T09:00", "--local-time", "--test-to", "a@example.com"], "a test send goes at once"),
        (["--send-at", "2027-01-16T09:00", "--local-time", "--draft"], "--send-at, --local-time cannot be given with --draft"),
    ],
)
def test_publish_refuses_a_local_time_it_cannot_use_with_exit_2_and_writes_nothing(
    settings: Settings, db: Database, env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    audience(db, tmp_path)
    result = run_cli(env, "publish", RECAP, "--list", "attendees", *args)
    assert result.returncode == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output and len(result.output) < 2_000
    with db.transaction() as session:
        assert session.scalars(select(Campaign.id)).all() == []


def test_send_local_time_schedules_a_draft_one_release_per_zone(db: Database, env: dict[str, str], tmp_path: Path) -> None:
    audience(db, tmp_path)
    drafted = run_cli(env, "publish", RECAP, "--list", "attendees", "--draft")
    assert drafted.returncode == 0, drafted.output
    draft_id = int(drafted.last_line.split()[-1])
    result = run_cli(env, "send", str(draft_id), "--send-at", "2031-07-01T09:00", "--local-time")
    assert result.returncode == 0, result.output
    assert result.last_line == f"campaign {draft_id}"
    said = " ".join(result.output.split())
    assert "scheduled at 2031-07-01T09:00:00 local time: 4 batch(es) wait for their time zone" in said, result.output
    assert "enqueued" not in said
    assert campaign_status(db, draft_id) is CampaignStatus.SCHEDULED
    assert {zone: (at, count) for zone, (at, count, _) in releases(db, draft_id).items()} == {
        "Asia/Tokyo": (dt.datetime(2031, 7, 1, 0, 0, tzinfo=dt.UTC), 2),
        "Asia/Kolkata": (dt.datetime(2031, 7, 1, 3, 30, tzinfo=dt.UTC), 1),
        "Europe/Paris": (dt.datetime(2031, 7, 1, 7, 0, tzinfo=dt.UTC), 2),
        "America/New_York": (dt.datetime(2031, 7, 1, 13, 0, tzinfo=dt.UTC), 3),
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_send_refuses_local_time_without_a_send_at_with_exit_2(env: dict[str, str]) -> None:
    result = run_cli(env, "send", "1", "--local-time")
    assert result.returncode == 2 and "--local-time needs --send-at" in result.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ("Mars/Olympus", "use an IANA name such as Europe/Paris"),
        ("europe/paris", "did you mean Europe/Paris?"),
        ("../../etc/passwd", "use an IANA name such as Europe/Paris"),
        ("localtime", "use an IANA name such as Europe/Paris"),
        ("x" * 5_000, "use an IANA name such as Europe/Paris"),
        ("", "use an IANA name such as Europe/Paris"),
    ],
)
def test_lists_set_refuses_an_unknown_time_zone_with_exit_2_and_an_example(
    db: Database, env: dict[str, str], tmp_path: Path, zone: str, message: str
) -> None:
    audience(db, tmp_path, list_zone="Asia/Tokyo")
    result = run_cli(env, "lists", "set", "attendees", "--timezone", zone)
    assert result.returncode == 2, result.output
    assert message in " ".join(result.output.split()) and len(result.output) < 1_000
    with db.transaction() as session:
        assert session.scalar(select(CampaignRelease.id)) is None
    shown = run_cli(env, "lists", "show")
    assert "Asia/Tokyo" in shown.output  # unchanged


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_lists_set_timezone_is_shown_and_used(db: Database, env: dict[str, str], tmp_path: Path) -> None:
    audience(db, tmp_path, list_zone=None)
    result = run_cli(env, "lists", "set", "attendees", "--timezone", "America/Sao_Paulo")
    assert result.returncode == 0, result.output
    assert "with no time zone of their own are in America/Sao_Paulo" in result.output
    assert "America/Sao_Paulo" in run_cli(env, "lists", "show").output


# --- The import -------------------------------------------------------------------------------------


def test_import_reports_a_row_with_a_bad_timezone_by_line_and_keeps_its_neighbours(db: Database, tmp_path: Path) -> None:
    csv = tmp_path / "zones.csv"
    csv.write_text(
        "email,timezone\n"
        "a@example.com,Europe/Paris\n"
        "b@example.com,Mars/Olympus\n"
        "c@example.com,\n"
        "d@example.com,europe/paris\n"
        f"e@example.com,{'x' * 500}\n"
        "f@example.com,America/New_York\n",
        encoding="utf-8",
    )
    report = import_subscribers(db, csv, "attendees")
    assert [(problem.line, problem.reason) for problem in report.problems] == [
        (3, "timezone: unknown time zone 'Mars/Olympus': use an IANA name such as Europe/Paris, America/New_York or UTC"),
        (5, "timezone: unknown time zone 'europe/paris': did you mean Europe/Paris?"),
        (6, f"timezone: unknown time zone '{'x' * 64}': use an IANA name such as Europe/Paris, America/New_York or UTC"),
    ]
    assert report.added == 3
    with db.transaction() as session:
        stored = dict(session.execute(select(Subscriber.email, Subscriber.attributes)).all())
    assert stored == {"a@example.com": {"timezone": "Europe/Paris"}, "c@example.com": {}, "f@example.com": {"timezone": "America/New_York"}}


def test_check_zone_accepts_only_iana_names() -> None:
    assert check_zone("UTC") == "UTC" and check_zone("Asia/Kathmandu") == "Asia/Kathmandu"
    for name in ("posixrules", "Factory/../UTC", "\x00", " UTC"):
        with pytest.raises(ValueError, match="unknown time zone"):
            check_zone(name)

"""A claim renews or gives back only the records it still holds, never those another claim took over after its lease ran out.

A worker whose lease ran out mid-batch may still be running (a slow provider
call, a long rate-limit wait). Its records, claimed again by another worker
under the next attempt, are that worker's: a late renewal would stretch the
new lease to the old worker's schedule, and a late give-back would put records
being sent back to pending, to be sent a second time. The clock is moved past
the lease (time-machine), never waited for.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from time_machine import TimeMachineFixture

from publisher.core.outcomes import Outcome, SendResult
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Delivery, DeliveryState
from publisher.ledger.claims import Claim, claim_batch, record_results
from publisher.ledger.dispatch import mark_enqueued
from publisher.ledger.leases import release_claim, renew_lease
from tests.support.campaigns import publish_to_attendees

LEASE = dt.timedelta(seconds=60)
PAST_THE_LEASE = LEASE + dt.timedelta(seconds=1)

pytestmark = pytest.mark.timing


@pytest.fixture
def clock(time_machine: TimeMachineFixture) -> TimeMachineFixture:
    time_machine.move_to(dt.datetime.now(dt.UTC))
    return time_machine


def taken_over(settings: Settings, db: Database, clock: TimeMachineFixture) -> tuple[int, Claim, Claim]:
    """A batch, its first claim, whose lease ran out, and the claim (the next attempt) that took its records over."""
    created = publish_to_attendees(settings, db)
    mark_enqueued(db, created.batch_ids)
    batch = created.batch_ids[0]
    stale = claim_batch(db, batch, LEASE, "postmark", idempotent=True)
    clock.shift(PAST_THE_LEASE)
    current = claim_batch(db, batch, LEASE, "postmark", idempotent=True)
    assert stale is not None and current is not None
    assert [d.id for d in current.deliveries] == [d.id for d in stale.deliveries] != []
    assert {d.attempts for d in current.deliveries} == {2}
    return batch, stale, current


def records(db: Database, claim: Claim) -> list[tuple[DeliveryState, int, dt.datetime | None]]:
    ids = [d.id for d in claim.deliveries]
    with db.reading() as session:
        rows = session.execute(
            select(Delivery.state, Delivery.attempts, Delivery.lease_until).where(Delivery.id.in_(ids)).order_by(Delivery.id)
        )
        return [(state, attempts, lease_until) for state, attempts, lease_until in rows]


def test_a_claim_taken_over_cannot_renew_the_lease_of_the_claim_that_holds_its_records(
    settings: Settings, db: Database, clock: TimeMachineFixture
) -> None:
    _, stale, current = taken_over(settings, db, clock)
    held = records(db, current)
    clock.shift(LEASE / 2)
    renew_lease(db, stale.deliveries, LEASE)
    assert records(db, current) == held
    renew_lease(db, current.deliveries, LEASE)
    renewed = records(db, current)
    assert [(state, attempts) for state, attempts, _ in renewed] == [(DeliveryState.SENDING, 2)] * len(held)
    assert all(after != before for (*_, after), (*_, before) in zip(renewed, held, strict=True))


def test_a_claim_taken_over_cannot_give_back_the_records_another_claim_holds(
    settings: Settings, db: Database, clock: TimeMachineFixture
) -> None:
    batch, stale, current = taken_over(settings, db, clock)
    held = records(db, current)
    release_claim(db, stale.deliveries)
    assert records(db, current) == held
    # Nothing to claim again while the current claim holds the records: each is sent once.
    again = claim_batch(db, batch, LEASE, "postmark", idempotent=True)
    assert again is not None and again.deliveries == []
    accepted = [SendResult(d.id, Outcome.ACCEPTED, provider_message_id=f"pm-{d.id}") for d in current.deliveries]
    assert record_results(db, current, accepted, max_attempts=3, idempotent=True).sent == len(held)


def test_the_current_claim_gives_its_records_back_and_the_attempt_does_not_count(
    settings: Settings, db: Database, clock: TimeMachineFixture
) -> None:
    *_, current = taken_over(settings, db, clock)
    release_claim(db, current.deliveries)
    assert records(db, current) == [(DeliveryState.PENDING, 1, None)] * len(current.deliveries)

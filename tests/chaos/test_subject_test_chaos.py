"""Subject tests under chaos: a worker killed while the winner is decided, another during the remainder's send.

Every recipient still gets exactly one email, with one subject: their own
variant's in the test, the winner's in the remainder. The kills land at exact
points (``tests/chaos/subject_test_hold.py``): inside the decision's
transaction, and between a provider call the provider accepted and the
writing of its results. The wait is moved in the ledger, not waited for.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import signal
from pathlib import Path

import pytest
import redis
from sqlalchemy import select, update

from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignRelease, Delivery
from tests.fakes import resend
from tests.fakes.server import FakeProviders
from tests.support.cli import run_cli
from tests.support.engagements import engage
from tests.support.recaps import RECAP
from tests.support.subject_tests import FIRST, OTHERS, audience, records
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess
from workers.sweeper import LOCK_NAME

RECIPIENTS = 200
#: A worker starts, sweeps and delivers within seconds; this bounds a very busy machine.
BOUND = 240.0

pytestmark = [
    pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True),
    pytest.mark.timing,
    pytest.mark.timeout(int(BOUND * 4)),
]


def _env(env: dict[str, str], fake: FakeProviders) -> dict[str, str]:
    return {
        **env,
        "NEWSLETTER_PROVIDER": "resend",
        "NEWSLETTER_RESEND_API_KEY": resend.TOKEN,
        "NEWSLETTER_RESEND_BASE_URL": fake.base_url,
        "NEWSLETTER_RESEND_REQUESTS_PER_SECOND": "100",
        "NEWSLETTER_BATCH_SIZE": "20",
        "NEWSLETTER_VISIBILITY_TIMEOUT": "5",
        "NEWSLETTER_LEASE_SECONDS": "3",
        "NEWSLETTER_SWEEP_INTERVAL": "1",
        "NEWSLETTER_MAX_COUNTDOWN": "2",
        "NEWSLETTER_HTTP_TIMEOUT": "1.5",
    }


def _kill(worker: WorkerProcess) -> None:
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait()


def _sent(db: Database, campaign_id: int) -> int:
    return sum(1 for row in records(db, campaign_id) if row[4] == "sent")


def _winner(db: Database, campaign_id: int) -> int | None:
    with db.reading() as session:
        return session.scalar(select(Campaign.ab_winner).where(Campaign.id == campaign_id))


def test_workers_killed_while_deciding_and_while_sending_the_remainder_send_everyone_one_email_with_one_subject(
    settings: Settings, db: Database, env: dict[str, str], fake_provider: FakeProviders, redis_client: redis.Redis, tmp_path: Path
) -> None:
    env = _env(env, fake_provider)
    people = audience(db, tmp_path, RECIPIENTS)
    # A wait no run reaches: the test moves it past itself (step 2), so a slow machine never decides early.
    published = run_cli(env, "publish", RECAP, "--list", "attendees", "--subject-variant", OTHERS[0], "--test-wait", "2h")
    assert published.returncode == 0, published.output
    campaign_id = int(published.last_line.split()[1])
    decided_inside, results_held = tmp_path / "deciding", tmp_path / "sending"
    workers: list[WorkerProcess] = []
    try:
        # 1. The test's share (40: 20 per variant) goes out; variant 2 is read far more.
        victim = WorkerProcess(
            {**env, "SUBJECT_HOLD": "decision", "SUBJECT_HOLD_FILE": str(decided_inside)},
            tmp_path / "decider.log",
            "--include=tests.chaos.subject_test_hold",
        )
        workers.append(victim)
        victim.wait_ready()
        wait_until(lambda: _sent(db, campaign_id) == 40, timeout=BOUND)
        tested = {email: variant for _, email, variant, release, _ in records(db, campaign_id) if release is None}
        by_variant = collections.defaultdict(list)
        for delivery_id, _, variant, release, _ in records(db, campaign_id):
            if release is None:
                by_variant[variant].append(delivery_id)
        engage(db, campaign_id, by_variant[2])
        engage(db, campaign_id, by_variant[1][:2])

        # 2. The wait passes; the worker is killed inside the decision's transaction.
        with db.transaction() as session:
            session.execute(update(CampaignRelease).values(release_at=utcnow() - dt.timedelta(seconds=1)))
        wait_until(decided_inside.exists, timeout=BOUND)
        _kill(victim)
        assert _winner(db, campaign_id) is None  # nothing of the decision was kept
        assert {variant for _, _, variant, release, _ in records(db, campaign_id) if release is not None} == {None}
        redis_client.delete(LOCK_NAME)  # the dead worker's sweep lock would lapse within a minute

        # 3. The next worker decides once and starts the remainder; it is killed after a call the provider accepted.
        sender = WorkerProcess(
            {**env, "SUBJECT_HOLD": "results", "SUBJECT_HOLD_FILE": str(results_held)},
            tmp_path / "sender.log",
            "--include=tests.chaos.subject_test_hold",
        )
        workers.append(sender)
        sender.wait_ready()
        wait_until(results_held.exists, timeout=BOUND)
        _kill(sender)
        assert _winner(db, campaign_id) == 2
        redis_client.delete(LOCK_NAME)

        # 4. A last worker finishes: the held records' lease runs out and the provider answers their repeat from its key.
        workers.append(WorkerProcess(env, tmp_path / "finisher.log"))
        workers[-1].wait_ready()
        finished = run_cli(env, "status", str(campaign_id), "--wait", "--timeout", str(BOUND), timeout=BOUND + 60)
        assert finished.returncode == 0, finished.output
    finally:
        for worker in workers:
            worker.stop()

    counts = json.loads(run_cli(env, "status", str(campaign_id), "--json").output)["campaigns"][0]["deliveries"]
    assert counts["sent"] == RECIPIENTS and counts["in_doubt"] == 0
    with db.reading() as session:
        variants = dict(session.execute(select(Delivery.email, Delivery.variant).where(Delivery.campaign_id == campaign_id)).all())
        decided_at = session.scalar(select(Campaign.ab_decided_at).where(Campaign.id == campaign_id))
    assert decided_at is not None
    accepted = collections.defaultdict(list)
    for message in fake_provider.accepted:
        accepted[message.to].append(message.subject)
    subjects = (FIRST, *OTHERS)
    assert sorted(accepted) == sorted(people)
    for address in people:
        assert accepted[address] == [subjects[variants[address] - 1]]  # one email, with its variant's subject
    assert all(variants[address] == variant for address, variant in tested.items())  # the test's own, kept
    assert collections.Counter(variants.values()) == {1: 20, 2: 180}  # the remainder, all the winner's

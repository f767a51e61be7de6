"""A worker killed (SIGKILL) while it writes an event's recap: nothing is left half-written, and the next sweep makes it once.

The killed worker is stopped inside the transaction that writes the drafts
(``tests/chaos/recap_hold.py``): it has written the first draft and nothing
is committed. Another worker's sweep then makes exactly two drafts and one
notice, and each editor gets the notice once.
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
from pathlib import Path

import pytest
import redis

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import CampaignStatus, Role
from publisher.ledger.drafts import load_draft
from tests.support.console import add_person
from tests.support.recap_events import notice_recipients, product_meetup, written
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess
from workers.sweeper import LOCK_NAME

#: A worker starts, sweeps and delivers within seconds; this bounds a very busy machine.
BOUND = 120.0
EDITORS = ("eve@modu.example", "sam@modu.example", "ada@modu.example")

pytestmark = pytest.mark.timeout(int(BOUND * 4))


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_worker_killed_while_writing_the_recap_leaves_nothing_and_the_next_sweep_makes_it_once(
    settings: Settings, db: Database, env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    for address, role in zip(EDITORS, (Role.EDITOR, Role.SENDER, Role.ADMIN), strict=True):
        add_person(db, address, role)
    slug = product_meetup(db, settings)  # ended two days ago: due at the first sweep
    env = {**env, "NEWSLETTER_EVENT_RECAP_DELAY": "0", "NEWSLETTER_SWEEP_INTERVAL": "1"}
    inside = tmp_path / "inside-the-recap"
    workers: list[WorkerProcess] = []
    try:
        victim = WorkerProcess({**env, "RECAP_HOLD_FILE": str(inside)}, tmp_path / "victim.log", "--include=tests.chaos.recap_hold")
        workers.append(victim)
        victim.wait_ready()
        wait_until(inside.exists, timeout=BOUND)
        os.killpg(victim.process.pid, signal.SIGKILL)
        victim.process.wait()

        before = written(db, slug)
        assert (before.drafts, before.notices, before.done) == ({}, [], False)  # the transaction died with the worker
        # The dead worker's sweep lock would lapse within a minute; let it go now instead of waiting.
        redis_client.delete(LOCK_NAME)

        survivor = WorkerProcess(env, tmp_path / "survivor.log")
        workers.append(survivor)
        survivor.wait_ready()
        outbox = settings.resolved_outbox_dir
        wait_until(lambda: written(db, slug).done, timeout=BOUND)
        [notice] = written(db, slug).notices
        wait_until(lambda: load_draft(db, notice.id).status is CampaignStatus.COMPLETE, timeout=BOUND)
    finally:
        for worker in workers:
            worker.stop()
    after = written(db, slug)
    assert set(after.drafts) == {f"event:{slug}:attended", f"event:{slug}:no-show"}
    assert len(after.notices) == 1
    assert notice_recipients(db) == sorted(EDITORS)
    delivered = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["To"] for path in outbox.glob("*.eml")]
    assert sorted(map(str, delivered)) == sorted(EDITORS)  # each editor once

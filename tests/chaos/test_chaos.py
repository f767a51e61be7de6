"""Chaos tests with real processes: a real Redis, two real worker processes, the fake provider.

Small timeouts (visibility 5 s, lease 3 s, sweep 1 s) make recovery quick
enough to test; the mechanisms are the ones that run with the defaults.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.core.broker import EmbeddedRedis
from tests.fakes import resend
from tests.fakes.postmark import TOKEN as POSTMARK_TOKEN
from tests.fakes.server import FakeProviders
from tests.support.campaigns import publish_with_cli
from tests.support.cli import run_cli
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess

RECIPIENTS = 5000

#: How long a campaign may take to finish: a minute or so on a quiet machine, several on a busy one.
FINISH_BOUND = 480

#: Recovery runs on leases, the sweep and the rate limit: every test here depends on the clock.
pytestmark = [
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    pytest.mark.timing,
    pytest.mark.timeout(FINISH_BOUND + 120),
]


def chaos_env(env: dict[str, str], fake: FakeProviders, provider: str) -> dict[str, str]:
    env = {
        **env,
        "NEWSLETTER_PROVIDER": provider,
        "NEWSLETTER_BATCH_SIZE": "20",
        "NEWSLETTER_VISIBILITY_TIMEOUT": "5",
        "NEWSLETTER_LEASE_SECONDS": "3",
        "NEWSLETTER_SWEEP_INTERVAL": "1",
        "NEWSLETTER_MAX_COUNTDOWN": "2",
        # Fifteen times the fake's 0.1 s delay: a call slowed by a busy CPU
        # (the suite runs in two processes) must not time out into in_doubt.
        "NEWSLETTER_HTTP_TIMEOUT": "1.5",
    }
    if provider == "resend":
        env.update(
            {
                "NEWSLETTER_RESEND_API_KEY": resend.TOKEN,
                "NEWSLETTER_RESEND_BASE_URL": fake.base_url,
                "NEWSLETTER_RESEND_REQUESTS_PER_SECOND": "100",
            }
        )
    else:
        env.update({"NEWSLETTER_POSTMARK_API_KEY": POSTMARK_TOKEN, "NEWSLETTER_POSTMARK_BASE_URL": fake.base_url})
    return env


def audience(tmp_path: Path, env: dict[str, str]) -> None:
    csv = tmp_path / "many.csv"
    csv.write_text("email,first_name,last_name\n" + "".join(f"p{i}@example.com,P{i},Q\n" for i in range(RECIPIENTS)), encoding="utf-8")
    assert run_cli(env, "subscribers", "import", str(csv), "--list", "big").returncode == 0


def counts(env: dict[str, str], cid: int) -> dict[str, int]:
    result = run_cli(env, "status", str(cid), "--json")
    return dict(json.loads(result.output)["campaigns"][0]["deliveries"])


@pytest.fixture
def pool() -> Iterator[list[WorkerProcess]]:
    """Every worker a test starts; all are stopped afterwards, whatever happened."""
    workers: list[WorkerProcess] = []
    yield workers
    for worker in workers:
        worker.stop()


def addresses_by_state(env: dict[str, str], state: str) -> set[str]:
    from sqlalchemy import select

    from publisher.db.engine import open_database
    from publisher.db.models import Delivery

    database = open_database(env["NEWSLETTER_DATABASE_URL"])
    with database.transaction() as session:
        found = set(session.scalars(select(Delivery.email).where(Delivery.state == state)))
    database.dispose()
    return found


def kill_hard(worker: WorkerProcess) -> None:
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait()


def kill_repeatedly(env: dict[str, str], tmp_path: Path, cid: int, kills: int, pool: list[WorkerProcess]) -> int:
    """Keep one worker running steadily; SIGKILL and restart the other several times mid-campaign; return the kills."""
    pool.append(WorkerProcess(env, tmp_path / "steady.log"))
    pool.append(WorkerProcess(env, tmp_path / "victim-0.log"))
    for worker in pool:
        worker.wait_ready()
    done = 0
    for round_ in range(kills):
        time.sleep(random.uniform(0.5, 1.5))
        if counts(env, cid)["pending"] == 0:
            break
        kill_hard(pool[-1])
        done += 1
        pool.append(WorkerProcess(env, tmp_path / f"victim-{round_ + 1}.log"))
        pool[-1].wait_ready()
    return done


def wait_finished(env: dict[str, str], cid: int) -> dict[str, int]:
    result = run_cli(env, "status", str(cid), "--wait", "--timeout", str(FINISH_BOUND), timeout=FINISH_BOUND + 60)
    assert result.returncode == 0, result.output
    return counts(env, cid)


def test_sigkilled_workers_with_an_idempotent_provider_deliver_everyone_exactly_once(
    env: dict[str, str], fake_provider: FakeProviders, tmp_path: Path, pool: list[WorkerProcess]
) -> None:
    env = chaos_env(env, fake_provider, "resend")
    fake_provider.faults.delay = 0.1
    audience(tmp_path, env)
    cid = publish_with_cli(env, "big")
    kills = kill_repeatedly(env, tmp_path, cid, 4, pool)
    assert kills >= 1, "no worker was killed before the campaign finished"
    final = wait_finished(env, cid)
    accepted = collections.Counter(fake_provider.recipients("resend"))
    assert final["sent"] == RECIPIENTS and final["in_doubt"] == 0
    assert len(accepted) == RECIPIENTS
    assert max(accepted.values()) == 1


def test_sigkilled_workers_with_a_plain_provider_lose_nobody_and_account_for_duplicates(
    env: dict[str, str], fake_provider: FakeProviders, tmp_path: Path, pool: list[WorkerProcess]
) -> None:
    env = chaos_env(env, fake_provider, "postmark")
    fake_provider.faults.delay = 0.1
    audience(tmp_path, env)
    cid = publish_with_cli(env, "big")
    kills = kill_repeatedly(env, tmp_path, cid, 4, pool)
    assert kills >= 1, "no worker was killed before the campaign finished"
    final = wait_finished(env, cid)
    accepted = collections.Counter(fake_provider.recipients("postmark"))
    print(f"chaos (postmark): {kills} kill(s), final {final}, {sum(accepted.values())} accepted")
    assert final["sent"] + final["in_doubt"] == RECIPIENTS  # nobody lost
    sent, in_doubt = addresses_by_state(env, "sent"), addresses_by_state(env, "in_doubt")
    duplicated = {address for address, count in accepted.items() if count > 1}
    assert duplicated <= in_doubt  # every duplicate is accounted for as in doubt
    assert sent <= set(accepted)  # every record marked sent reached the provider


def test_redis_restart_mid_campaign_loses_nobody(
    env: dict[str, str], fake_provider: FakeProviders, tmp_path: Path, pool: list[WorkerProcess]
) -> None:
    embedded = EmbeddedRedis(tmp_path / "chaos-redis")
    embedded.start()
    env = chaos_env({**env, "NEWSLETTER_REDIS_URL": embedded.url}, fake_provider, "resend")
    fake_provider.faults.delay = 0.1
    audience(tmp_path, env)
    cid = publish_with_cli(env, "big")
    pool.extend(WorkerProcess(env, tmp_path / f"w{i}.log") for i in range(2))
    try:
        for worker in pool:
            worker.wait_ready()
        time.sleep(1.5)
        embedded.stop()  # AOF is flushed on shutdown; queued work survives the restart
        time.sleep(1)
        embedded.start()
        final = wait_finished(env, cid)
    finally:
        for worker in pool:
            worker.stop()
        embedded.stop()
    assert final["sent"] == RECIPIENTS
    assert max(collections.Counter(fake_provider.recipients("resend")).values()) == 1


def test_faulty_throttling_provider_gets_no_more_than_the_rate_limit(
    env: dict[str, str], fake_provider: FakeProviders, tmp_path: Path, pool: list[WorkerProcess]
) -> None:
    env = {**chaos_env(env, fake_provider, "resend"), "NEWSLETTER_RESEND_REQUESTS_PER_SECOND": "10", "NEWSLETTER_MAX_ATTEMPTS": "50"}
    fake_provider.faults.error_rate = 0.2
    fake_provider.faults.throttle = 3
    audience(tmp_path, env)
    cid = publish_with_cli(env, "big")
    pool.extend(WorkerProcess(env, tmp_path / f"w{i}.log") for i in range(2))
    try:
        for worker in pool:
            worker.wait_ready()
        final = wait_finished(env, cid)
    finally:
        for worker in pool:
            worker.stop()
    assert final["sent"] == RECIPIENTS
    accepted = collections.Counter(fake_provider.recipients("resend"))
    assert len(accepted) == RECIPIENTS and max(accepted.values()) == 1
    times = sorted(fake_provider.call_times("resend"))
    worst = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    print(f"chaos (rate limit 10/s): {len(times)} calls, {worst} in the busiest second")
    assert worst <= 11  # 10 requests per second, +10%


def test_pause_and_resume_mid_campaign_send_nobody_twice(
    env: dict[str, str], fake_provider: FakeProviders, tmp_path: Path, pool: list[WorkerProcess]
) -> None:
    env = chaos_env(env, fake_provider, "postmark")
    fake_provider.faults.delay = 0.1
    audience(tmp_path, env)
    cid = publish_with_cli(env, "big")
    pool.extend(WorkerProcess(env, tmp_path / f"w{i}.log") for i in range(2))
    try:
        for worker in pool:
            worker.wait_ready()
        time.sleep(1.5)
        assert run_cli(env, "pause", str(cid)).returncode == 0
        # Batches claimed before the pause finish their call; once none is
        # being sent, every call made has been answered and recorded.
        wait_until(lambda: addresses_by_state(env, "sending") == set())
        calls_when_paused = len(fake_provider.calls_to("postmark"))
        time.sleep(2)
        assert len(fake_provider.calls_to("postmark")) == calls_when_paused  # nothing new while paused
        assert counts(env, cid)["pending"] > 0
        assert run_cli(env, "resume", str(cid)).returncode == 0
        final = wait_finished(env, cid)
    finally:
        for worker in pool:
            worker.stop()
    accepted = collections.Counter(fake_provider.recipients("postmark"))
    assert final["sent"] == RECIPIENTS and final["in_doubt"] == 0
    assert len(accepted) == RECIPIENTS and max(accepted.values()) == 1

"""Growing past one machine: workers on several hosts share one database and one Redis; Redis behind Sentinel.

docs/operations.md, "Scaling out".
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from publisher.core.broker import check_reachable, connect
from publisher.core.errors import BrokerUnavailableError
from publisher.core.settings import SHARED_SETTINGS, Settings
from tests.fakes.postmark import TOKEN
from tests.fakes.server import FakeProviders, Reply, Request
from tests.support.audience import CSV
from tests.support.cli import run_cli
from tests.support.environment import environment_for
from tests.support.paths import PROJECT
from tests.support.recaps import RECAP
from tests.support.types import StartWorker
from tests.support.waiting import wait_until
from tests.support.web import free_port

MASTER = "newsletter-primary"
#: Generous: a Sentinel answers within a second once started, however busy the machine.
SERVER_BOUND = 60.0


def postmark(env: dict[str, str], fake: FakeProviders, **extra: str) -> dict[str, str]:
    return {
        **env,
        "NEWSLETTER_PROVIDER": "postmark",
        "NEWSLETTER_POSTMARK_API_KEY": TOKEN,
        "NEWSLETTER_POSTMARK_BASE_URL": fake.base_url,
        "NEWSLETTER_METRICS_PORT": "0",
        **extra,
    }


def publish(env: dict[str, str]) -> int:
    assert run_cli(env, "subscribers", "import", str(CSV), "--list", "attendees").returncode == 0
    published = run_cli(env, "publish", RECAP, "--list", "attendees")
    assert published.returncode == 0, published.output
    return int(published.last_line.split()[1])


def batches_logged(log: str) -> set[int]:
    """The batches a worker logged a delivery line for (NEWSLETTER_LOG_FORMAT=json)."""
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return {int(r["batch_id"]) for r in records if "outcome" in r}


class HeldFirstCall:
    """The fake provider's first call waits until ``release``; every other call is answered at once."""

    def __init__(self, fake: FakeProviders, monkeypatch: pytest.MonkeyPatch) -> None:
        self.held, self.released = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._answer = fake.answer
        monkeypatch.setattr(fake, "answer", self.answer)

    def answer(self, request: Request) -> Reply:
        with self._lock:
            first = not self.held.is_set()
            self.held.set()
        if first:
            self.released.wait(SERVER_BOUND)
        return self._answer(request)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_with_their_own_hostname_and_data_dir_send_one_campaign_exactly_once(
    env: dict[str, str], fake_provider: FakeProviders, start_worker: StartWorker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing is shared but the settings every host must agree on: the database, Redis, the secret key.
    shared = postmark(env, fake_provider, NEWSLETTER_BATCH_SIZE="5", NEWSLETTER_LOG_FORMAT="json", NEWSLETTER_HTTP_TIMEOUT="120")
    host_a = {**shared, "NEWSLETTER_DATA_DIR": str(tmp_path / "host-a")}
    host_b = {**shared, "NEWSLETTER_DATA_DIR": str(tmp_path / "host-b")}
    hold = HeldFirstCall(fake_provider, monkeypatch)
    cid = publish(host_a)  # 25 recipients: five batches of five
    worker_a = start_worker(host_a, "--concurrency=1", "--hostname=a@host-a")
    assert hold.held.wait(SERVER_BOUND)  # host a is stuck in its first batch: host b must take the others
    worker_b = start_worker(host_b, "--concurrency=1", "--hostname=b@host-b")
    wait_until(lambda: len(fake_provider.recipients()) == 20, SERVER_BOUND)
    hold.released.set()
    done = run_cli(host_a, "status", str(cid), "--wait", "--timeout", "60")
    assert done.returncode == 0, done.output
    recipients = fake_provider.recipients()
    assert len(recipients) == len(set(recipients)) == 25
    wait_until(lambda: len(batches_logged(worker_a.log()) | batches_logged(worker_b.log())) == 5, SERVER_BOUND)
    assert len(batches_logged(worker_a.log())) == 1 and len(batches_logged(worker_b.log())) == 4
    assert not (tmp_path / "host-b" / "newsletter.db").exists()  # the campaign lives in the shared PostgreSQL only


@dataclass(frozen=True)
class Sentinel:
    primary: int
    sentinel: int

    @property
    def url(self) -> str:
        return f"sentinel://127.0.0.1:{self.sentinel}"


@pytest.fixture
def redis_sentinel(tmp_path: Path) -> Iterator[Sentinel]:
    """A Redis primary and one Sentinel watching it, each a real redis-server on a free loopback port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    directory = tmp_path / "sentinel"
    directory.mkdir()
    ports = Sentinel(primary=free_port(), sentinel=free_port())
    config = directory / "sentinel.conf"  # Sentinel rewrites its own file: it must be writable
    config.write_text(
        f"port {ports.sentinel}\nbind 127.0.0.1\ndir {directory}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {ports.primary} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 60000\n",
        encoding="utf-8",
    )
    logs = [open(directory / name, "wb") for name in ("primary.log", "sentinel.log")]  # noqa: SIM115 (closed below)
    options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]
    servers = [
        subprocess.Popen([binary, "--port", str(ports.primary), *options], stdout=logs[0], stderr=subprocess.STDOUT),
        subprocess.Popen([binary, str(config), "--sentinel"], stdout=logs[1], stderr=subprocess.STDOUT),
    ]
    try:
        sentinel = redis.Redis(port=ports.sentinel, socket_connect_timeout=2)

        def knows_the_primary() -> bool:
            try:
                return sentinel.execute_command("SENTINEL", "get-master-addr-by-name", MASTER) is not None
            except redis.ConnectionError:
                return False

        wait_until(knows_the_primary, SERVER_BOUND)
        yield ports
    finally:
        for server in servers:
            server.terminate()
            server.wait(30)
        for log in logs:
            log.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_send_completes_through_redis_sentinel(
    settings: Settings, redis_sentinel: Sentinel, fake_provider: FakeProviders, start_worker: StartWorker
) -> None:
    through_sentinel = settings.model_copy(update={"redis_url": redis_sentinel.url})
    env = postmark(environment_for(through_sentinel), fake_provider, NEWSLETTER_REDIS_SENTINEL_MASTER=MASTER, NEWSLETTER_BATCH_SIZE="10")
    start_worker(env)
    cid = publish(env)
    done = run_cli(env, "status", str(cid), "--wait", "--timeout", "60")
    assert done.returncode == 0, done.output
    recipients = fake_provider.recipients()
    assert len(recipients) == len(set(recipients)) == 25
    # The queues lived on the primary the Sentinel named: kombu's bindings and the queue markers are there.
    primary = redis.Redis(port=redis_sentinel.primary)
    assert primary.keys("_kombu.binding.*")
    shown = run_cli(env, "status", str(cid))
    assert "queues: Redis not reachable" not in shown.output and "provider postmark:" in shown.output


def test_the_one_redis_client_reaches_the_master_a_sentinel_names(redis_sentinel: Sentinel) -> None:
    client = connect(f"sentinel://127.0.0.1:1;{redis_sentinel.url}", MASTER)  # the first Sentinel is down: the next one answers
    client.set("newsletter:probe", "1")
    assert redis.Redis(port=redis_sentinel.primary).get("newsletter:probe") == b"1"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"NEWSLETTER_REDIS_URL": "sentinel://127.0.0.1:26379"}, "NEWSLETTER_REDIS_SENTINEL_MASTER: Value error, NEWSLETTER_REDIS_URL"),
        ({"NEWSLETTER_REDIS_SENTINEL_MASTER": MASTER}, "NEWSLETTER_REDIS_SENTINEL_MASTER: Value error, set only with a sentinel://"),
    ],
    ids=["url without master", "master without url"],
)
def test_a_sentinel_url_and_its_master_name_come_together_or_the_command_exits_3(
    tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    env = environment_for(Settings(data_dir=tmp_path / "var", secret_key="x" * 20), **variables)
    result = run_cli(env, "status")
    assert result.returncode == 3, result.output
    assert message in result.output


def test_the_scaling_out_docs_list_exactly_the_settings_every_host_shares() -> None:
    text = (PROJECT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("### Settings every host shares", 1)[1].split("The rest may differ per host", 1)[0]
    named = set(re.findall(r"`(NEWSLETTER_[A-Z0-9_]+\*?)`", section))
    variables = {
        name: field.alias or f"NEWSLETTER_{name.upper()}" for name, field in Settings.model_fields.items()
    }  # from_address is NEWSLETTER_FROM

    def documented(variable: str) -> bool:
        return any(fnmatch.fnmatchcase(variable, pattern) for pattern in named)

    assert {name for name, variable in variables.items() if documented(variable)} == SHARED_SETTINGS
    assert all(pattern in variables.values() or pattern.endswith("*") for pattern in named), named


def test_unreachable_sentinels_are_reported_without_their_password() -> None:
    url = "sentinel://:hunter2-password@127.0.0.1:1;sentinel://:hunter2-password@127.0.0.1:2"
    with pytest.raises(BrokerUnavailableError) as raised:
        check_reachable(url, MASTER)
    assert "hunter2" not in str(raised.value)
    assert "sentinel://:***@127.0.0.1:1;sentinel://:***@127.0.0.1:2" in str(raised.value)

"""Data at rest: what the service writes to disk is for its owner only, whatever the umask."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from publisher.broker import EmbeddedRedis
from publisher.settings import Settings
from tests.conftest import EXAMPLES
from tests.helpers import WorkerProcess, run_cli

RECAP = str(EXAMPLES / "recaps" / "modu-product-vs-tech.md")
CSV = str(EXAMPLES / "subscribers.csv")


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The common default umask (group and others may read): the modes below must not depend on a stricter one."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def assert_owner_only(root: Path, *, besides: str | None = None) -> None:
    """``root`` and everything under it (but the files under ``besides``): directories 0700, files 0600, sockets the owner's."""
    assert mode(root) == 0o700, root
    for path in root.rglob("*"):
        kind = path.lstat().st_mode
        if besides and path.is_relative_to(root / besides) and not stat.S_ISDIR(kind):
            continue
        if stat.S_ISDIR(kind):
            assert mode(path) == 0o700, path
        elif stat.S_ISREG(kind):
            assert mode(path) == 0o600, path
        else:
            assert mode(path) & 0o077 == 0, path


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_import_and_a_send_leave_the_data_directory_for_the_owner_only(
    env: dict[str, str], settings: Settings, start_worker: Callable[..., WorkerProcess], permissive_umask: None
) -> None:
    data_dir = settings.data_dir
    assert not data_dir.exists()
    assert run_cli(env, "subscribers", "import", CSV, "--list", "attendees").returncode == 0
    start_worker(env)
    published = run_cli(env, "publish", RECAP, "--list", "attendees")
    assert published.returncode == 0, published.output
    campaign = published.last_line.split()[1]
    done = run_cli(env, "status", campaign, "--wait", "--timeout", "60")
    assert done.returncode == 0, done.output
    assert json.loads(run_cli(env, "status", campaign, "--json").output)["campaigns"][0]["deliveries"]["sent"] == 25

    # The worker still has the database open: its WAL and shared-memory files exist.
    database = data_dir / "newsletter.db"
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        assert path.exists() and mode(path) == 0o600, path
    assert len(list((data_dir / "outbox").glob("*.eml"))) == 25
    # The workers' Prometheus counters (prometheus_client's own files) hold
    # no personal data; the 0700 directories above them keep others out.
    assert_owner_only(data_dir, besides="metrics")


def test_the_embedded_redis_keeps_its_files_for_the_owner_only(tmp_path: Path, permissive_umask: None) -> None:
    embedded = EmbeddedRedis(tmp_path / "var")
    embedded.start()
    try:
        client = redis.Redis(unix_socket_path=str(embedded.socket))
        client.rpush("queue", "a task")  # something in the append-only file
        client.close()
        assert_owner_only(tmp_path / "var")
        assert mode(embedded.socket) & 0o077 == 0
    finally:
        embedded.stop()


def test_the_generated_secret_key_and_its_directory_are_for_the_owner_only(tmp_path: Path, permissive_umask: None) -> None:
    settings = Settings(data_dir=tmp_path / "var" / "state")
    assert len(settings.secret) > 16
    assert_owner_only(tmp_path / "var")

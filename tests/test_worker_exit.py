"""``newsletter worker`` exits with the worker's own exit code: a worker that cannot start is never a success.

A supervisor (systemd, compose, Kubernetes) reads the exit code to tell a
worker that stopped on request from one that could not start; every case here
runs the real command in a subprocess, against the test Redis and database.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.types import StartWorker

#: Celery's exit code when the pidfile is held by a live process (os.EX_CANTCREAT).
PIDFILE_HELD = 73
#: Celery's exit code after a warm shutdown asked for with Ctrl-C (SIGINT): EX_FAILURE.
CTRL_C = 1

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def worker_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "NEWSLETTER_METRICS_PORT": "0"}


def test_a_worker_stopped_on_request_exits_0(worker_env: dict[str, str], start_worker: StartWorker) -> None:
    worker = start_worker(worker_env)
    worker.stop()  # SIGTERM: Celery's warm shutdown
    assert worker.process.returncode == 0, worker.log()[-2000:]


def test_a_worker_stopped_with_ctrl_c_exits_with_celerys_code_for_it(worker_env: dict[str, str], start_worker: StartWorker) -> None:
    """Ctrl-C is a warm shutdown too, but Celery ends it with 1: only SIGTERM is a stop a supervisor counts as clean."""
    worker = start_worker(worker_env)
    os.killpg(worker.process.pid, signal.SIGINT)  # as a terminal sends it: to the whole foreground group
    assert worker.process.wait(60) == CTRL_C, worker.log()[-2000:]


def test_a_worker_that_cannot_start_exits_with_its_failure_code(worker_env: dict[str, str], tmp_path: Path) -> None:
    pidfile = tmp_path / "worker.pid"
    pidfile.write_text(f"{os.getpid()}\n")  # this test process: alive, so the pidfile is held
    result = run_cli(worker_env, "worker", f"--pidfile={pidfile}")
    assert result.returncode == PIDFILE_HELD, result.output
    assert "already exists" in result.output


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("--concurrency=abc", "'abc'"),
        ("--pool=nonexistent", "'nonexistent'"),
        ("--no-such-option", "--no-such-option"),
        ("--autoscale=" + "9" * 5000, "autoscale"),
    ],
    ids=["bad-value", "bad-choice", "unknown", "oversized"],
)
def test_a_bad_worker_option_is_a_usage_error(worker_env: dict[str, str], option: str, said: str) -> None:
    result = run_cli(worker_env, "worker", option)
    assert result.returncode == 2, result.output
    assert said in result.output
    assert "Traceback" not in result.output and "╭" not in result.output, result.output


#: A password in three pieces: none of them may be printed, whatever cuts the URL apart.
PIECES = ("Zq9", "Wx7", "Kp4")
PASSWORD = "".join(PIECES)


@pytest.mark.parametrize(
    ("url", "master"),
    [
        (f"bogus://:{PASSWORD}@127.0.0.1:6379/0", None),
        (f"redis://user:{PASSWORD}@127.0.0.1:notaport/0", None),
        (f"user:{PASSWORD}@127.0.0.1:6379", None),
        # Characters a password must percent-encode, written as they are: the URL's parser ends its host part early.
        ("redis://:{}/{}#{}@127.0.0.1:6379/0".format(*PIECES), None),
        ("redis://:{}?{}@{}@127.0.0.1:6379/0".format(*PIECES), None),
        (f"redis://:{PASSWORD}@[::1:6379/0", None),
        (f"sentinel://:{PASSWORD}@127.0.0.1:notaport", "mymaster"),
        (f"sentinel://:{PASSWORD}@127.0.0.1:26379/notadb", "mymaster"),
    ],
    ids=["scheme", "port", "no-scheme", "slash-and-hash", "question-mark-and-at", "ipv6", "sentinel-port", "sentinel-db"],
)
def test_a_malformed_broker_url_is_refused_naming_the_setting_and_hiding_its_password(
    worker_env: dict[str, str], url: str, master: str | None
) -> None:
    env = {**worker_env, "NEWSLETTER_REDIS_URL": url}
    if master is not None:
        env["NEWSLETTER_REDIS_SENTINEL_MASTER"] = master
    result = run_cli(env, "worker")
    assert result.returncode == 3, result.output
    assert "NEWSLETTER_REDIS_URL" in result.output
    assert not [piece for piece in PIECES if piece in result.output], result.output
    assert "Traceback" not in result.output and "╭" not in result.output, result.output


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:1/0", f"redis://127.0.0.1:1/0?password={PASSWORD}&db=0"], ids=["no-password", "password-in-query"]
)
def test_an_unreachable_broker_stops_the_worker_before_it_starts(worker_env: dict[str, str], url: str) -> None:
    result = run_cli({**worker_env, "NEWSLETTER_REDIS_URL": url}, "worker")
    assert result.returncode == 3, result.output
    assert "cannot reach Redis" in result.output
    assert not [piece for piece in PIECES if piece in result.output], result.output

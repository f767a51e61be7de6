"""``newsletter status --watch``: redrawn until the watched campaign is done (exit 0) or Ctrl-C (exit 130)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.audience import CSV
from tests.support.cli import run_cli
from tests.support.recaps import RECAP
from tests.support.types import StartWorker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: Only a broken watch gets near this: the campaign is done, or the signal sent, well before.
EXIT_BOUND = 60

# The command as a terminal runs it, Ctrl-C included: a test run started in
# the background (nohup, a CI runner's job) ignores SIGINT, its children
# inherit that, and Python then keeps ignoring it.
WITH_CTRL_C = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'newsletter'; runpy.run_module('publisher', run_name='__main__')"
)


class Watch:
    """``newsletter status … --watch`` in a subprocess, its output in a file the test reads as it grows."""

    def __init__(self, env: dict[str, str], output: Path, *args: str) -> None:
        self.output = output
        with open(output, "wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-c", WITH_CTRL_C, "status", *args, "--watch", "--interval", "1"],
                env={**env, "COLUMNS": "80"},
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8")

    def wait_watching(self) -> None:
        """Until the watch has drawn once: it prints its first line before, and reads the ledger right after."""
        wait_until(lambda: "Ctrl-C stops" in self.text() or self.process.poll() is not None)
        assert self.process.poll() is None, self.text()


@pytest.fixture
def watches(tmp_path: Path) -> Iterator[list[Watch]]:
    started: list[Watch] = []
    yield started
    for watch in started:
        if watch.process.poll() is None:
            watch.process.kill()
            watch.process.wait()


def publish(env: dict[str, str]) -> int:
    assert run_cli(env, "subscribers", "import", str(CSV), "--list", "attendees").returncode == 0
    published = run_cli(env, "publish", RECAP, "--list", "attendees")
    assert published.returncode == 0, published.output
    return int(published.last_line.split()[1])


def test_watching_a_campaign_returns_0_once_a_worker_has_sent_it(
    env: dict[str, str], start_worker: StartWorker, watches: list[Watch], tmp_path: Path
) -> None:
    cid = publish(env)
    watch = Watch(env, tmp_path / "watch.out", str(cid))
    watches.append(watch)
    watch.wait_watching()
    # No worker runs yet: nothing can finish the campaign, so the watch keeps going.
    assert watch.process.poll() is None
    start_worker(env)
    assert watch.process.wait(EXIT_BOUND) == 0, watch.text()
    shown = watch.text()
    assert f"#{cid}" in shown
    assert "sent 25" in shown and "pending 0" in shown and "100%" in shown
    assert "queues:" in shown and "provider outbox:" in shown


def test_ctrl_c_stops_the_watch_with_exit_130_and_the_last_view_shown(env: dict[str, str], watches: list[Watch], tmp_path: Path) -> None:
    cid = publish(env)
    watch = Watch(env, tmp_path / "watch.out")
    watches.append(watch)
    watch.wait_watching()
    watch.process.send_signal(signal.SIGINT)
    assert watch.process.wait(EXIT_BOUND) == 130
    shown = watch.text()
    assert f"#{cid}" in shown and "pending 25" in shown
    assert "Traceback" not in shown and "Aborted" not in shown


@pytest.mark.parametrize("other", ["--json", "--wait"])
def test_watch_with_json_or_wait_is_a_usage_error(env: dict[str, str], other: str) -> None:
    result = run_cli(env, "status", "1", "--watch", other)
    assert result.returncode == 2
    assert "error: --watch" in result.output


def test_watching_an_unknown_campaign_exits_2_before_drawing(env: dict[str, str]) -> None:
    result = run_cli(env, "status", "999", "--watch")
    assert result.returncode == 2
    assert "no campaign with id 999" in result.output
    assert "Ctrl-C" not in result.output

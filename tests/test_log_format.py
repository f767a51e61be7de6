"""NEWSLETTER_LOG_FORMAT=json: every log line of workers, the web app and commands is one JSON object.

Delivery lines carry campaign_id, batch_id, provider and outcome; a traceback
stays inside its line; secrets never appear.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.fakes.postmark import TOKEN
from tests.fakes.server import FakeProviders
from tests.support.audience import CSV
from tests.support.cli import run_cli
from tests.support.environment import TEST_SECRET
from tests.support.recaps import RECAP
from tests.support.waiting import wait_until
from tests.support.web import free_port

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

JSON_LOGS = {"NEWSLETTER_LOG_FORMAT": "json"}
DELIVERY_KEYS = {"campaign_id", "batch_id", "provider", "outcome"}
#: Only a broken process gets near it.
START_BOUND = 60.0


def json_lines(text: str) -> list[dict[str, object]]:
    """Every line of ``text`` as a JSON object with the four keys every line has; fails on any other line."""
    records = []
    for line in text.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= record.keys(), line
        records.append(record)
    return records


@contextmanager
def running(env: dict[str, str], stderr: Path, ready: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``newsletter ARGS`` with stderr alone in a file, until ``ready`` shows in it; stopped with SIGTERM after."""
    with open(stderr, "wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "publisher", *args], env=env, stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True
        )
    try:
        wait_until(lambda: ready in stderr.read_text(errors="replace") or process.poll() is not None, START_BOUND)
        assert process.poll() is None, stderr.read_text()
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)


@sqlite_only
def test_a_worker_logs_one_json_object_per_line_with_the_delivery_fields_and_no_secret(
    postmark_env: dict[str, str], fake_postmark: FakeProviders, tmp_path: Path
) -> None:
    env = {**postmark_env, **JSON_LOGS, "NEWSLETTER_BATCH_SIZE": "10"}
    stderr = tmp_path / "worker.err"
    with running(env, stderr, " ready.", "worker", "--concurrency=1"):
        assert run_cli(env, "subscribers", "import", str(CSV), "--list", "attendees").returncode == 0
        published = run_cli(env, "publish", RECAP, "--list", "attendees")
        cid = int(published.last_line.split()[1])
        assert run_cli(env, "status", str(cid), "--wait", "--timeout", "60").returncode == 0
        # The worker logs a batch's line after recording it: wait for all three.
        wait_until(lambda: stderr.read_text().count('"outcome"') >= 3)
    records = json_lines(stderr.read_text())
    deliveries = [r for r in records if "outcome" in r]
    assert all(r.keys() >= DELIVERY_KEYS for r in deliveries)
    assert {(r["campaign_id"], r["provider"], r["outcome"]) for r in deliveries} == {(cid, "postmark", "sent")}
    assert len({r["batch_id"] for r in deliveries}) == 3  # 25 recipients in batches of 10
    assert sum(int(str(r["count"])) for r in deliveries) == len(fake_postmark.recipients()) == 25
    assert any(r["logger"].startswith("celery") and "ready" in str(r["message"]) for r in records)  # type: ignore[union-attr]
    text = stderr.read_text()
    assert TOKEN not in text and TEST_SECRET not in text


def test_an_exception_is_logged_on_one_line_with_its_traceback_inside() -> None:
    code = (
        "import logging\n"
        "from publisher.core.logs import configure_logging\n"
        "configure_logging('json')\n"
        "try:\n    1 / 0\n"
        "except ZeroDivisionError:\n    logging.getLogger('newsletter.test').exception('the sum failed')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    [record] = json_lines(result.stderr)
    assert record["level"] == "ERROR" and record["logger"] == "newsletter.test" and record["message"] == "the sum failed"
    assert "Traceback (most recent call last)" in str(record["exc_info"])
    assert "ZeroDivisionError: division by zero" in str(record["exc_info"])
    assert str(record["time"]).endswith("Z")


@sqlite_only
def test_the_web_app_and_its_access_log_write_json_lines_without_tokens(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, **JSON_LOGS}
    port = free_port()
    stderr = tmp_path / "web.err"
    token = "capability-token-0123456789"
    with running(env, stderr, "Uvicorn running on", "serve", "--port", str(port)):
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        requests.get(f"http://127.0.0.1:{port}/unsubscribe/{token}", timeout=10)
        wait_until(lambda: stderr.read_text().count('"uvicorn.access"') >= 2)
    records = json_lines(stderr.read_text())
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert {(r["method"], r["path"]) for r in access} == {("GET", "/healthz"), ("GET", "/unsubscribe/[token]")}
    assert any(r["status"] == 200 and r["path"] == "/healthz" for r in access)
    assert any(r["logger"] == "uvicorn.error" for r in records)
    text = stderr.read_text()
    assert token not in text and TEST_SECRET not in text


@sqlite_only
def test_a_command_logs_json_lines_when_asked(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from publisher.cli.common import cli_settings

    monkeypatch.setenv("NEWSLETTER_LOG_FORMAT", "json")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        cli_settings()
        logging.getLogger("publisher.sending").info("not shown: commands log warnings and worse")
        logging.getLogger("publisher.sending").warning("3 batch(es) could not be enqueued")
        [record] = json_lines(capsys.readouterr().err)
    finally:
        root.handlers[:], root.level = handlers, level
    assert record["level"] == "WARNING" and record["logger"] == "publisher.sending"
    assert record["message"] == "3 batch(es) could not be enqueued"


@sqlite_only
@pytest.mark.parametrize("value", ["yaml", "JSON ", ""])
def test_an_unknown_log_format_is_refused_at_start_naming_the_variable(env: dict[str, str], value: str) -> None:
    result = run_cli({**env, "NEWSLETTER_LOG_FORMAT": value}, "status")
    assert result.returncode == 3
    assert "invalid configuration: NEWSLETTER_LOG_FORMAT: Input should be 'text' or 'json'" in result.output


@sqlite_only
def test_a_worker_refuses_an_unknown_log_format(env: dict[str, str]) -> None:
    result = run_cli({**env, "NEWSLETTER_LOG_FORMAT": "xml"}, "worker", timeout=60)
    assert result.returncode == 3, result.output
    assert "NEWSLETTER_LOG_FORMAT" in result.output

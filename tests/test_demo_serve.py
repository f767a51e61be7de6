"""`newsletter demo --serve`: the demo, then the web app on its data with an admin account whose password it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from publisher.accounts.users import authenticate
from publisher.cli.demo_run import DEMO_ADMIN
from publisher.core.broker import EmbeddedRedis
from publisher.db.engine import open_database
from publisher.db.models import Role
from tests.support.waiting import wait_until
from tests.support.web import free_port

#: The demo delivers a whole campaign through a real worker before it serves: give a busy machine time.
DEMO_BOUND = 150.0


def printed_password(output: str) -> str | None:
    """The line after the one naming the console: the demo admin's password."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for number, line in enumerate(lines[:-1]):
        if line.startswith("console:"):
            return lines[number + 1]
    return None


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=10).status_code == 200
    except requests.ConnectionError:
        return False


def test_demo_serve_keeps_the_web_app_up_with_a_demo_admin(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSLETTER_")}
    port = free_port()
    demo_dir = tmp_path / "var" / "demo"
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "publisher", "demo", "--serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: process.poll() is not None or answers(f"{base}/healthz"), timeout=DEMO_BOUND)
        shown = log.read_text(encoding="utf-8", errors="replace")
        assert process.poll() is None, shown
        password = printed_password(shown)
        assert password, shown
        assert f"http://localhost:{port}/console" in shown

        db = open_database(f"sqlite:///{demo_dir / 'newsletter.db'}")
        try:
            admin = authenticate(db, DEMO_ADMIN, password)
        finally:
            db.dispose()
        assert admin is not None and admin.role is Role.ADMIN
        # The links in the demo's emails lead to the app it serves.
        email = next(demo_dir.glob("outbox/*.eml")).read_text(encoding="utf-8", errors="replace")
        assert f"http://localhost:{port}/" in email

        process.terminate()
        assert process.wait(timeout=30) == 0, log.read_text(encoding="utf-8", errors="replace")
        assert not EmbeddedRedis(demo_dir).is_running()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

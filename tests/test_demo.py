"""`newsletter demo`: one .eml per example subscriber, each a proper newsletter, nothing left running."""

from __future__ import annotations

import csv
import email
import email.policy
import re
from pathlib import Path

from publisher.content.rendering.plaintext import PLACEHOLDER
from publisher.core.broker import EmbeddedRedis
from tests.support.cli import run_cli
from tests.support.paths import EXAMPLES


def test_demo_delivers_one_valid_eml_per_subscriber_and_stops_everything(tmp_path: Path) -> None:
    import os

    env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSLETTER_")}
    result = run_cli(env, "demo", cwd=tmp_path, timeout=90)
    assert result.returncode == 0, result.output
    demo_dir = tmp_path / "var" / "demo"
    with open(EXAMPLES / "subscribers.csv", encoding="utf-8") as handle:
        expected = {row["email"].lower() for row in csv.DictReader(handle)}
    emls = sorted(tmp_path.rglob("*.eml"))
    assert len(emls) == len(expected)
    seen = set()
    for path in emls:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        assert message.get_content_type() == "multipart/alternative"
        text, html = (part.get_content() for part in message.iter_parts())
        assert message["List-Unsubscribe"].strip().startswith("<http") and message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Message-ID"] and message["Date"]
        assert len(html.encode()) < 102 * 1024
        for leftover in (re.compile(r"\{\{"), re.compile(r"\{%"), PLACEHOLDER):
            assert not leftover.search(html) and not leftover.search(text)
        seen.add(message["To"].addresses[0].addr_spec.lower())
    assert seen == expected
    assert (demo_dir / "preview.html").exists()
    assert str(demo_dir / "outbox") in result.output
    assert not EmbeddedRedis(demo_dir).is_running()
    # How a newcomer learns that the demo can go on into the console.
    assert "newsletter demo --serve" in result.output

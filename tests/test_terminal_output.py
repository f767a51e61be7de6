"""Stored text reaches the terminal escaped: the real commands print hostile values from a real database.

A bounce text relays a remote server's words verbatim; titles, list names and
reasons are typed by people. None of their control characters (C0, C1, ESC,
separators, bidi overrides) may reach the terminal raw, in text or in
``--json``, and nothing in them is taken for rich markup or an emoji code.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import select, update

from publisher.audience.suppressions import email_hash
from publisher.db.engine import Database
from publisher.db.models import Campaign, Delivery, DeliveryState, MailingList, Suppression
from tests.support.cli import run_cli
from tests.support.paths import EXAMPLES
from tests.support.recaps import RECAP

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

TITLE = "[/] Recap \x1b]0;pwned\x07 [bold]loud[/bold] :thumbs_up: \x9b2J end"
LIST = "news\x1b[31m[red]x[/red]\u2028y"
ERROR = "550 5.1.1 \x1b[2J\x1b[31mspoofed\x85 line \r\nBcc: x"
REASON = "hard bounce: \x1b[8m hidden \x9b31m \u202e desrever"
PAUSE = "paused by \x1b[1m[blink]ops[/blink]"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def hostile(env: dict[str, str], db: Database, tmp_path: object) -> int:
    """A campaign, its list, a dead letter and a suppression whose stored text is hostile; the campaign's id."""
    people = EXAMPLES / "subscribers.csv"
    assert run_cli(env, "subscribers", "import", str(people), "--list", "attendees").returncode == 0
    published = run_cli(env, "publish", RECAP, "--list", "attendees")
    assert published.returncode == 0, published.output
    campaign_id = int(published.last_line.split()[1])
    with db.transaction() as session:
        session.execute(update(MailingList).values(name=LIST))
        session.execute(update(Campaign).values(title=TITLE, pause_reason=PAUSE))
        first = session.scalars(select(Delivery).order_by(Delivery.id).limit(1)).one()
        first.state, first.last_error, first.dead_lettered_at, first.attempts = (
            DeliveryState.FAILED,
            ERROR,
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            5,
        )
        session.add(Suppression(email=first.email, email_hash=email_hash(first.email), reason=REASON, source="provider:\x1b[31mpm"))
    return campaign_id


def assert_clean(output: str) -> None:
    """No raw control character (newline aside, which separates lines); a visible escape instead."""
    assert "\x1b" not in output and "\x07" not in output
    assert not RAW.search(output), repr(RAW.search(output))
    assert "\\x1b" in output


def cli(env: dict[str, str], *args: str) -> str:
    # Wide enough that rich never folds a table cell: the checks look for whole escapes.
    result = run_cli({**env, "COLUMNS": "400"}, *args)
    assert result.returncode == 0, result.output
    return result.output


def test_status_shows_hostile_titles_list_names_and_pause_reasons_escaped(env: dict[str, str], hostile: int) -> None:
    output = cli(env, "status")
    assert_clean(output)
    assert "[/] Recap \\x1b]0;pwned\\x07" in output  # markup and all, as stored
    assert "news\\x1b[31m[red]x[/red]\\u2028y" in output
    assert "paused by \\x1b[1m[blink]ops[/blink]" in output


def test_report_shows_a_hostile_title_and_list_name_escaped(env: dict[str, str], hostile: int) -> None:
    output = cli(env, "report", str(hostile))
    assert_clean(output)
    assert "[/] Recap \\x1b]0;pwned\\x07 [bold]loud[/bold] :thumbs_up: \\x9b2J end" in output
    assert "list news\\x1b[31m[red]x[/red]\\u2028y" in output


def test_dlq_list_shows_a_providers_last_error_escaped_on_one_line(env: dict[str, str], hostile: int) -> None:
    output = cli(env, "dlq", "list")
    assert_clean(output)
    assert "550 5.1.1 \\x1b[2J\\x1b[31mspoofed\\x85 line \\r\\nBcc: x" in output
    assert output.count("\n") == 2  # the record and the total


def test_suppressions_list_shows_a_bounce_text_escaped(env: dict[str, str], hostile: int) -> None:
    output = cli(env, "suppressions", "list")
    assert_clean(output)
    assert "hard bounce: \\x1b[8m hidden \\x9b31m \\u202e desrever  provider:\\x1b[31mpm" in output


def test_lists_show_shows_a_hostile_list_name_escaped(env: dict[str, str], hostile: int) -> None:
    output = cli(env, "lists", "show")
    assert_clean(output)
    assert "news\\x1b[31m[red]x[/red]\\u2028y" in output


def test_lists_show_shows_a_stored_time_zone_escaped(env: dict[str, str], db: Database, hostile: int) -> None:
    with db.transaction() as session:
        session.execute(update(MailingList).values(timezone="Zone\x1b[8m\u202e"))
    output = cli(env, "lists", "show")
    assert_clean(output)
    assert "Zone\\x1b[8m\\u202e" in output


@pytest.mark.parametrize(
    "command",
    [["status", "--json"], ["report", "{id}", "--json"], ["suppressions", "list", "--json"], ["subscribers", "export", "{email}"]],
    ids=["status", "report", "suppressions", "export"],
)
def test_json_output_escapes_every_control_character_and_keeps_the_stored_text_exactly(
    env: dict[str, str], db: Database, hostile: int, command: list[str]
) -> None:
    with db.transaction() as session:
        email = session.scalars(select(Delivery.email).where(Delivery.last_error == ERROR)).one()
    output = cli(env, *(part.format(id=hostile, email=email) for part in command))
    assert not RAW.search(output), repr(RAW.search(output))
    assert "\x1b" not in output
    data = json.dumps(json.loads(output), ensure_ascii=False)  # parses, and holds the stored values exactly
    assert any(value in data for value in (json.dumps(TITLE, ensure_ascii=False)[1:-1], json.dumps(REASON, ensure_ascii=False)[1:-1]))


def test_an_error_message_naming_stored_list_names_is_escaped(env: dict[str, str], hostile: int) -> None:
    result = run_cli({**env, "COLUMNS": "400"}, "lists", "set", "nobody", "--public")
    assert result.returncode == 2
    assert_clean(result.output)
    assert "no list named 'nobody' (lists: news\\x1b[31m[red]x[/red]\\u2028y)" in result.output

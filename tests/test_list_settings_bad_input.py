"""A list's tracking and welcome issue, and imports that welcome, fed hostile, oversized and malformed input: refused, nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from publisher.accounts.audit import entries
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignKind, MailingList, Role, Subscriber, WelcomeSend
from tests.support.audience import list_id, people
from tests.support.campaigns import choose_welcome, publish
from tests.support.cli import assert_plain, run_cli
from tests.support.console import TIMEOUT
from tests.support.console_pages import console_as

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SCRIPT = '<script>alert("x")</script>'
NEWCOMER = "mira.k@example.net"


def settings_of(db: Database, name: str = "attendees") -> tuple[bool, bool, int | None]:
    """The list's (public, tracking, welcome issue)."""
    with db.reading() as session:
        row = session.execute(
            select(MailingList.public, MailingList.tracking, MailingList.welcome_campaign_id).where(MailingList.name == name)
        ).one()
        return row[0], row[1], row[2]


def welcomes(db: Database) -> tuple[int, int]:
    """How many welcome campaigns and welcome sends exist."""
    with db.reading() as session:
        campaigns = session.scalar(select(func.count()).select_from(Campaign).where(Campaign.kind == CampaignKind.WELCOME))
        return int(campaigns or 0), int(session.scalar(select(func.count()).select_from(WelcomeSend)) or 0)


# --- lists set ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["attendees", "--tracking", "of\x1b]0;owned\x07f"],
        ["attendees", "--tracking", "on" * 5000],
        ["attendees", "--tracking", "1"],
        ["attendees", "--welcome", "1\r\n"],
        ["attendees", "--welcome", SCRIPT],
        ["attendees", "--welcome", "\x1b[2J1"],
        ["attendees", "--welcome", "1" * 5000],
        ["attendees", "--welcome", "0x1"],
        ["attendees", "--welcome", "1_0"],
        [f"{SCRIPT}\x1b[2J", "--tracking", "off"],
        ["x" * 5000, "--tracking", "off"],
        ["event:launch:attended", "--tracking", "off"],
        ["", "--welcome", "none"],
    ],
)
def test_lists_set_refuses_hostile_and_oversized_values_with_exit_2_and_changes_nothing(
    db: Database, env: dict[str, str], args: list[str]
) -> None:
    people(db)
    before = settings_of(db)
    result = run_cli({**env, "COLUMNS": "400"}, "lists", "set", *args, "--public")
    assert result.returncode == 2, result.output
    assert_plain(result.output)
    assert settings_of(db) == before
    assert entries(db) == []


def test_a_refused_welcome_leaves_the_tracking_given_with_it_unchanged(settings: Settings, db: Database, env: dict[str, str]) -> None:
    people(db)
    test_send = publish(settings, db, test_to="check@example.com")
    result = run_cli(env, "lists", "set", "attendees", "--tracking", "off", "--welcome", str(test_send.id))
    assert result.returncode == 2 and "is a test send" in result.output
    assert settings_of(db) == (False, True, None)


# --- subscribers import --welcome -----------------------------------------------------------------


@pytest.fixture
def welcoming(settings: Settings, db: Database) -> int:
    """The attendees list with a welcome issue; returns the issue's id."""
    people(db)
    issue = publish(settings, db).id
    choose_welcome(db, list_id(db, "attendees"), issue)
    return issue


def subscribers(db: Database) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Subscriber)) or 0)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"email,first_name\n" + NEWCOMER.encode() + b",Mira\nbad\xff@example.com,X\n", "not UTF-8"),
        (b"first_name,last_name\nMira,K\n", "no 'email' column"),
        (b"email,first_name\n" + NEWCOMER.encode() + b',"' + b"x" * 200_000 + b"\n", "hostile.csv:2:"),
        (b"", "the file is empty"),
    ],
)
def test_import_welcome_of_a_file_unusable_as_a_whole_is_exit_2_and_writes_no_welcome(
    db: Database, env: dict[str, str], tmp_path: Path, welcoming: int, content: bytes, reason: str
) -> None:
    before = subscribers(db)
    csv = tmp_path / "hostile.csv"
    csv.write_bytes(content)
    result = run_cli({**env, "COLUMNS": "400"}, "subscribers", "import", csv, "--list", "attendees", "--welcome")
    assert result.returncode == 2, result.output
    assert reason in " ".join(result.output.split())
    assert_plain(result.output)
    assert (subscribers(db), welcomes(db)) == (before, (0, 0))


@pytest.mark.parametrize("path", ["{tmp}", "{tmp}/missing.csv", "{tmp}/../../../../../../dev/null", "/etc/passwd"])
def test_import_welcome_of_a_path_that_is_no_csv_file_is_exit_2_and_writes_nothing(
    db: Database, env: dict[str, str], tmp_path: Path, welcoming: int, path: str
) -> None:
    before = subscribers(db)
    result = run_cli({**env, "COLUMNS": "400"}, "subscribers", "import", path.format(tmp=tmp_path), "--list", "attendees", "--welcome")
    assert result.returncode == 2, result.output
    assert_plain(result.output)
    assert (subscribers(db), welcomes(db)) == (before, (0, 0))


@pytest.mark.parametrize("list_name", [SCRIPT, "event:launch:attended", "l" * 5000, "news\x1b[2J", ""])
def test_import_welcome_to_a_list_no_list_can_be_is_exit_2_and_writes_nothing(
    db: Database, env: dict[str, str], tmp_path: Path, welcoming: int, list_name: str
) -> None:
    before = subscribers(db)
    csv = tmp_path / "people.csv"
    csv.write_text(f"email\n{NEWCOMER}\n", encoding="utf-8")
    result = run_cli({**env, "COLUMNS": "400"}, "subscribers", "import", csv, "--list", list_name, "--welcome")
    assert result.returncode == 2, result.output
    assert_plain(result.output)
    assert (subscribers(db), welcomes(db)) == (before, (0, 0))


def test_import_welcome_skips_hostile_rows_and_welcomes_only_the_valid_ones(
    db: Database, env: dict[str, str], tmp_path: Path, welcoming: int
) -> None:
    csv = tmp_path / "hostile.csv"
    rows = [
        "email,first_name",
        f"{NEWCOMER},Mira",
        '"evil@example.com\r\nBcc: victim@example.com",X',
        f"named@example.com,{SCRIPT}\u2028x",
        f"markup@example.com,{SCRIPT}",
        "<b>@example.com,Bold",
        f"{'a' * 300}@example.com,Long",
        "second@example.com,Second",
    ]
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run_cli({**env, "COLUMNS": "400"}, "subscribers", "import", csv, "--list", "attendees", "--welcome")
    assert result.returncode == 0, result.output
    assert result.output.count(": skipped: ") == 4
    assert "welcome issue: campaign" in result.last_line and "to 3 subscriber(s)" in result.last_line
    with db.reading() as session:
        welcomed = session.scalars(
            select(Subscriber.email).join(WelcomeSend, WelcomeSend.subscriber_id == Subscriber.id).order_by(Subscriber.email)
        ).all()
    assert welcomed == ["markup@example.com", NEWCOMER, "second@example.com"]  # markup in a name is text, kept as typed


# --- The console's tracking switch ----------------------------------------------------------------


def test_the_console_tracking_switch_refuses_hostile_oversized_and_malformed_forms(db: Database, web_url: str) -> None:
    people(db)
    admin = console_as(db, web_url, Role.ADMIN)
    other = console_as(db, web_url, Role.ADMIN, "root@modu.example")
    path = "/console/lists/tracking"
    # Another admin's session token is no token of this session.
    forged = admin.client.post(web_url + path, data={"list": "attendees", "tracking": "off", "csrf_token": other.csrf}, timeout=TIMEOUT)
    assert forged.status_code == 403
    refused = [
        ({"list": "attendees", "tracking": "off\r\n"}, 400),
        ({"list": "attendees", "tracking": "OFF"}, 400),
        ({"list": "attendees", "tracking": "o" * 11}, 400),
        ({"list": "attendees", "tracking": SCRIPT}, 400),
        ({"list": "attendees"}, 400),
        ({"tracking": "off"}, 400),
        ({"list": "a" * 1001, "tracking": "off"}, 400),
        ({"list": SCRIPT, "tracking": "off"}, 404),
        ({"list": "attendees\x00", "tracking": "off"}, 400),
        ({"list": "event:launch:attended", "tracking": "off"}, 400),
        ({"list": "Attendees ", "tracking": "off"}, 404),
    ]
    problems = []
    for form, status in refused:
        answer = admin.post(path, form)
        if answer.status_code != status or SCRIPT in answer.text:
            problems.append(f"{form!r:.80}: {answer.status_code}")
    assert problems == []
    headers = {"X-CSRF-Token": admin.csrf, "Content-Type": "application/json"}
    as_json = admin.client.post(web_url + path, data=b'{"list": "attendees", "tracking": "off"}', headers=headers, timeout=TIMEOUT)
    assert as_json.status_code == 400
    assert admin.client.get(web_url + path + "?list=attendees&tracking=off", timeout=TIMEOUT).status_code == 405
    oversized = admin.client.post(web_url + path, data={"list": "attendees", "tracking": "off", "x": "y" * 2_000_000}, timeout=TIMEOUT)
    assert oversized.status_code == 413
    assert settings_of(db) == (False, True, None)
    assert entries(db) == []
    assert requests.get(web_url + "/console/lists", timeout=TIMEOUT, allow_redirects=False).status_code == 303  # signed out: sign in first

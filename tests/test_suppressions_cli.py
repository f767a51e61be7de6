"""The suppression list for operators: list, add, remove, import; global and per-list scope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from publisher.audience.subscribers import import_subscribers
from publisher.audience.suppression_list import SuppressionError, add, import_file, list_entries, remove
from publisher.audience.suppressions import email_hash, is_suppressed
from publisher.content.recap import load_recap
from publisher.core.errors import ImportFileError, NotFoundError
from publisher.core.settings import Settings
from publisher.ledger.campaigns import CampaignPlan, create_campaign
from sqlalchemy import select

from publisher.db.engine import Database
from publisher.db.models import Delivery, Suppression
from tests.conftest import EXAMPLES
from tests.helpers import run_cli

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

RECAP = EXAMPLES / "recaps" / "modu-product-vs-tech.md"


@pytest.fixture
def lists(db: Database, tmp_path: Path) -> Database:
    """Two lists, "attendees" and "speakers", with ada and grace on both."""
    people = tmp_path / "people.csv"
    people.write_text("email,first_name\nada@example.com,Ada\ngrace@example.com,Grace\n", encoding="utf-8")
    import_subscribers(db, people, "attendees")
    import_subscribers(db, people, "speakers")
    return db


def entries(db: Database) -> list[tuple[str | None, int | None, str, str]]:
    with db.transaction() as session:
        rows = session.scalars(select(Suppression).order_by(Suppression.id))
        return [(s.email, s.list_id, s.reason, s.source) for s in rows]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_list_shows_global_entries_and_a_lists_own_entries(lists: Database) -> None:
    assert add(lists, "ada@example.com")
    assert add(lists, "grace@example.com", "attendees", "asked at the door")
    everything = list_entries(lists)
    assert [(e.email, e.scope, e.reason, e.source) for e in everything] == [
        ("ada@example.com", "global", "added by an operator", "operator"),
        ("grace@example.com", "list attendees", "asked at the door", "operator"),
    ]
    assert [e.email for e in list_entries(lists, "attendees")] == ["ada@example.com", "grace@example.com"]
    assert [e.email for e in list_entries(lists, "speakers")] == ["ada@example.com"]


def test_adding_twice_in_one_scope_keeps_one_entry(lists: Database) -> None:
    assert add(lists, "ada@example.com", "attendees")
    assert not add(lists, "ada@example.com", "attendees", "again")
    assert add(lists, "ada@example.com")  # the global scope is another scope
    assert [(email, list_id is None) for email, list_id, _, _ in entries(lists)] == [("ada@example.com", False), ("ada@example.com", True)]


def test_remove_takes_only_the_entry_in_that_scope(lists: Database) -> None:
    add(lists, "ada@example.com")
    add(lists, "ada@example.com", "attendees")
    removal = remove(lists, "ada@example.com", "attendees")
    assert (removal.removed, removal.still_global) == (1, True)
    assert [(email, list_id) for email, list_id, _, _ in entries(lists)] == [("ada@example.com", None)]
    with pytest.raises(SuppressionError, match="not suppressed on list 'attendees'"):
        remove(lists, "ada@example.com", "attendees")
    assert remove(lists, "ada@example.com").removed == 1
    assert entries(lists) == []


def test_an_erased_entry_is_removed_only_with_the_explicit_flag(lists: Database) -> None:
    with lists.transaction() as session:
        session.add(Suppression(email=None, email_hash=email_hash("ada@example.com"), reason="erased on request", source="privacy"))
    assert [e.label for e in list_entries(lists)] == [f"erased (hash {email_hash('ada@example.com')[:12]}…)"]
    with pytest.raises(SuppressionError, match=r"erased on request.*--include-erased"):
        remove(lists, "ada@example.com")
    assert len(entries(lists)) == 1
    assert remove(lists, "ada@example.com", include_erased=True).removed == 1
    assert entries(lists) == []


def test_an_unknown_list_is_refused_and_nothing_is_written(lists: Database, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"no list named 'nope'.*attendees, speakers"):
        add(lists, "ada@example.com", "nope")
    with pytest.raises(NotFoundError, match="no list named 'nope'"):
        import_file(lists, write(tmp_path, "s.csv", "email\nada@example.com\n"), "nope")
    with pytest.raises(NotFoundError, match="no list named 'nope'"):
        list_entries(lists, "nope")
    assert entries(lists) == []


def test_import_reports_bad_rows_by_line_and_writes_the_valid_ones(lists: Database, tmp_path: Path) -> None:
    add(lists, "grace@example.com", "attendees", "earlier")
    path = write(
        tmp_path,
        "bounces.csv",
        "Email,Reason,bounced_at\n"
        "ADA@Example.com,hard bounce,2026-01-01\n"  # 2: valid, own reason
        "not-an-address,x,\n"  # 3
        ",empty,\n"  # 4
        "zoe@example.com,,\n"  # 5: valid, default reason
        '"bad\r\n@example.com",line break,\n'  # 6-7: address with a line break
        'joe@example.com,"two\nlines",\n'  # 8-9: reason with a line break
        "ada@example.com,again,\n"  # 10: repeats line 2
        "too@many.example,a,b,c\n"  # 11
        "grace@example.com,already there,\n",  # 12: suppressed on the list already
    )
    report = import_file(lists, path, "attendees", "from the old system")
    problems = {p.line: p.reason for p in report.problems}
    assert set(problems) == {3, 4, 6, 8, 10, 11}
    assert "not-an-address" in problems[3]
    assert "empty" in problems[4]
    assert "line break" in problems[6]
    assert "line break" in problems[8]
    assert "line 2" in problems[10]
    assert "fields" in problems[11]
    assert (report.added, report.already) == (2, 1)
    assert [(e.email, e.scope, e.reason, e.source) for e in list_entries(lists, "attendees")] == [
        ("grace@example.com", "list attendees", "earlier", "operator"),
        ("ada@example.com", "list attendees", "hard bounce", "import:bounces.csv"),
        ("zoe@example.com", "list attendees", "from the old system", "import:bounces.csv"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"address,reason\nada@example.com,x\n", "no 'email' column"),
        (b"email,reason\nada@example.com,caf\xe9\n", "line 2 is not UTF-8"),
        (b"", "empty"),
        (None, "cannot read file"),
    ],
)
def test_unusable_import_files_are_refused_whole(lists: Database, tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "suppress.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        import_file(lists, path)
    assert entries(lists) == []


def test_a_list_suppression_leaves_the_address_out_of_that_lists_campaigns_only(lists: Database, settings: Settings) -> None:
    add(lists, "ada@example.com", "attendees")
    assert is_suppressed_on(lists, "attendees") and not is_suppressed_on(lists, "speakers")
    recap = load_recap(RECAP)
    to_attendees = create_campaign(settings, lists, CampaignPlan(recap=recap, list_name="attendees", provider="outbox", batch_size=10))
    to_speakers = create_campaign(settings, lists, CampaignPlan(recap=recap, list_name="speakers", provider="outbox", batch_size=10))
    with lists.transaction() as session:
        recipients = {
            campaign.id: set(session.scalars(select(Delivery.email).where(Delivery.campaign_id == campaign.id)))
            for campaign in (to_attendees, to_speakers)
        }
    assert recipients[to_attendees.id] == {"grace@example.com"}
    assert recipients[to_speakers.id] == {"ada@example.com", "grace@example.com"}


def is_suppressed_on(db: Database, list_name: str) -> bool:
    from publisher.db.models import MailingList

    with db.transaction() as session:
        list_id = session.scalar(select(MailingList.id).where(MailingList.name == list_name))
        return is_suppressed(session, "ada@example.com", list_id)


def test_cli_add_list_and_remove(env: dict[str, str], lists: Database) -> None:
    added = run_cli(env, "suppressions", "add", "Ada@Example.COM", "--reason", "asked by phone")
    assert added.returncode == 0, added.output
    assert "ada@example.com suppressed everywhere" in added.output
    again = run_cli(env, "suppressions", "add", "ada@example.com")
    assert again.returncode == 0, again.output
    assert "already suppressed everywhere; nothing changed" in again.output
    run_cli(env, "suppressions", "add", "grace@example.com", "--list", "attendees")
    listed = run_cli(env, "suppressions", "list", "--list", "attendees")
    assert listed.returncode == 0, listed.output
    assert "ada@example.com  global  asked by phone  operator" in listed.output
    assert "grace@example.com  list attendees  added by an operator  operator" in listed.output
    as_json = run_cli(env, "suppressions", "list", "--json")
    assert [(e["email"], e["scope"], e["list"]) for e in json.loads(as_json.output)] == [
        ("ada@example.com", "global", None),
        ("grace@example.com", "list", "attendees"),
    ]
    removed = run_cli(env, "suppressions", "remove", "ada@example.com")
    assert removed.returncode == 0, removed.output
    assert "ada@example.com is no longer suppressed everywhere" in removed.output
    assert [email for email, _, _, _ in entries(lists)] == ["grace@example.com"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "not-an-address"), "'not-an-address' is not a valid email address"),
        (("remove", "ada@example.com\r\nBcc: x@example.com"), "contains a line break"),
        (("add", "ada@example.com", "--list", "nope"), "no list named 'nope'"),
        (("add", "ada@example.com", "--reason", "two\nlines"), "--reason: the reason contains a line break"),
        (("remove", "grace@example.com", "--list", "attendees"), "grace@example.com is not suppressed on list 'attendees'"),
        (("import", "{no_email}"), "line 1 has no 'email' column"),
    ],
)
def test_cli_bad_input_exits_2_and_changes_nothing(
    env: dict[str, str], lists: Database, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    add(lists, "grace@example.com")
    no_email = write(tmp_path, "no-email.csv", "address\nada@example.com\n")
    result = run_cli(env, "suppressions", *(arg.format(no_email=no_email) for arg in args))
    assert result.returncode == 2, result.output
    assert message in result.output
    assert [(email, list_id) for email, list_id, _, _ in entries(lists)] == [("grace@example.com", None)]


def test_cli_refuses_to_remove_an_erased_entry_without_the_flag(env: dict[str, str], lists: Database) -> None:
    with lists.transaction() as session:
        session.add(Suppression(email=None, email_hash=email_hash("ada@example.com"), reason="erased on request", source="privacy"))
    refused = run_cli(env, "suppressions", "remove", "ada@example.com")
    assert refused.returncode == 2
    assert "--include-erased" in refused.output
    assert len(entries(lists)) == 1
    lifted = run_cli(env, "suppressions", "remove", "ada@example.com", "--include-erased")
    assert lifted.returncode == 0, lifted.output
    assert entries(lists) == []


def test_cli_import_reports_bad_lines_and_exits_zero(env: dict[str, str], lists: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "bounces.csv", "email,reason\nada@example.com,hard bounce\nnope,x\n")
    result = run_cli(env, "suppressions", "import", str(path), "--list", "speakers", "--reason", "unused: rows have their own")
    assert result.returncode == 0, result.output
    assert "bounces.csv:3: skipped: 'nope' is not a valid email address" in result.output
    assert "on list 'speakers': 1 added, 0 already suppressed, 1 skipped" in result.output
    assert [(e.email, e.reason, e.source) for e in list_entries(lists, "speakers")] == [
        ("ada@example.com", "hard bounce", "import:bounces.csv")
    ]


@pytest.mark.parametrize("command", [["suppressions", "add", "a@example.com"], ["suppressions", "list"], ["lists", "set", "--public"]])
def test_cli_a_list_name_no_list_can_have_exits_2_and_changes_nothing(env: dict[str, str], lists: Database, command: list[str]) -> None:
    before = entries(lists)
    if command[0] == "lists":
        result = run_cli(env, *command[:2], "news\x1b]0;pwned\x07", *command[2:])
    else:
        result = run_cli(env, *command, "--list", "news\x1b]0;pwned\x07")
    assert result.returncode == 2, result.output
    assert "the list name must be a single line of text: it contains a control character (U+001B)" in result.output
    assert "\x1b" not in result.output
    assert entries(lists) == before


def test_cli_import_of_an_overlong_field_exits_2_and_writes_nothing(env: dict[str, str], lists: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "long.csv", 'email,reason\nada@example.com,ok\nbob@example.com,"' + "x" * 200_000 + '"\n')
    result = run_cli(env, "suppressions", "import", str(path))
    assert result.returncode == 2, result.output
    assert f"error: {path}:3: a field is longer than 131072 characters" in result.output
    assert entries(lists) == []

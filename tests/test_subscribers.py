"""Subscriber import: valid rows upserted by normalised address, bad rows reported by line and skipped."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, make_url, select, text, update

from publisher.audience.lists import ListNameError
from publisher.audience.subscriber_rows import normalise_email, read_rows
from publisher.audience.subscribers import import_subscribers
from publisher.core.errors import ImportFileError
from publisher.db.engine import Database
from publisher.db.models import ConsentEvent, MailingList, Subscriber, Subscription, SubscriptionStatus
from tests.support.cli import run_cli
from tests.support.paths import EXAMPLES, FIXTURES

EXAMPLE_CSV = EXAMPLES / "subscribers.csv"


def _count(db: Database, model: type) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_example_file_holds_about_25_distinct_valid_people() -> None:
    rows, problems = read_rows(EXAMPLE_CSV)
    assert problems == []
    assert 20 <= len(rows) <= 30
    assert len({row.email for row in rows}) == len(rows)


def test_import_keeps_names_and_extra_columns(db: Database) -> None:
    report = import_subscribers(db, EXAMPLE_CSV, "attendees")
    assert report.added == 25
    with db.transaction() as session:
        zoe = session.scalar(select(Subscriber).where(Subscriber.email == "zoe.obrien@example.com"))
        assert zoe is not None
        assert (zoe.first_name, zoe.last_name) == ("Zoë", "O'Brien")
        assert zoe.attributes == {"company": "Domestic & General", "role": "Product Manager"}
        statuses = set(session.scalars(select(Subscription.status)))
    assert statuses == {SubscriptionStatus.CONFIRMED}


def test_reimport_is_idempotent(db: Database) -> None:
    import_subscribers(db, EXAMPLE_CSV, "attendees")
    again = import_subscribers(db, EXAMPLE_CSV, "attendees")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 25)
    assert _count(db, Subscriber) == 25
    assert _count(db, Subscription) == 25


def test_bad_rows_are_reported_with_line_numbers_and_skipped(db: Database) -> None:
    report = import_subscribers(db, FIXTURES / "subscribers-bad-rows.csv", "attendees")
    problems = {problem.line: problem.reason for problem in report.problems}
    assert set(problems) == {3, 4, 6, 8, 9}
    assert "not-an-address" in problems[3]
    assert "empty" in problems[4]
    assert "bob@@example.com" in problems[6]
    assert "line 2" in problems[8]  # ADA@EXAMPLE.COM is ada@example.com again
    assert "fields" in problems[9]
    with db.transaction() as session:
        emails = set(session.scalars(select(Subscriber.email)))
        grace = session.scalar(select(Subscriber).where(Subscriber.email == "grace@example.com"))
        assert grace is not None and grace.last_name == "Hopper, Rear Admiral"
    assert emails == {"ada@example.com", "zoe.obrien@example.com", "grace@example.com"}


def test_reimport_updates_changed_names_and_keeps_one_row(db: Database, tmp_path: Path) -> None:
    first = tmp_path / "first.csv"
    first.write_text("email,first_name,last_name\nAda@Example.com,Ada,Lovelace\n", encoding="utf-8")
    second = tmp_path / "second.csv"
    second.write_text("email,first_name,last_name\nada@example.com,Augusta Ada,King\n", encoding="utf-8")
    import_subscribers(db, first, "attendees")
    report = import_subscribers(db, second, "attendees")
    assert (report.added, report.updated) == (0, 1)
    with db.transaction() as session:
        people = session.scalars(select(Subscriber)).all()
    assert [(p.email, p.first_name, p.last_name) for p in people] == [("ada@example.com", "Augusta Ada", "King")]


def test_import_never_resubscribes_someone_who_left(db: Database) -> None:
    import_subscribers(db, EXAMPLE_CSV, "attendees")
    with db.transaction() as session:
        membership = session.scalars(select(Subscription)).first()
        assert membership is not None
        membership.status = SubscriptionStatus.UNSUBSCRIBED
    report = import_subscribers(db, EXAMPLE_CSV, "attendees")
    assert report.kept_unsubscribed == 1
    with db.transaction() as session:
        assert session.scalar(select(func.count()).where(Subscription.status == SubscriptionStatus.UNSUBSCRIBED)) == 1


@pytest.mark.parametrize(
    ("fixture", "message"),
    [("subscribers-latin1.csv", "line 3 is not UTF-8"), ("subscribers-no-email-column.csv", "no 'email' column")],
)
def test_unusable_files_are_refused_whole(db: Database, fixture: str, message: str) -> None:
    with pytest.raises(ImportFileError, match=message):
        import_subscribers(db, FIXTURES / fixture, "attendees")
    assert _count(db, Subscriber) == 0


@pytest.mark.parametrize("address", ["a@b", "x\r\n@example.com", "two@@example.com", "spaces in@example.com"])
def test_invalid_addresses_are_rejected(address: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        normalise_email(address)


def test_addresses_are_normalised_for_identity() -> None:
    assert normalise_email("Ada@Example.COM") == "ada@example.com"
    assert normalise_email("josé@bücher.example") == "josé@bücher.example"


def test_an_import_skips_addresses_with_a_non_ascii_local_part_and_says_why(env: dict[str, str], db: Database, tmp_path: Path) -> None:
    csv = tmp_path / "international.csv"
    csv.write_text("email,first_name\n用户@例子.广告,Yong\nada@bücher.example,Ada\njosé@example.com,José\n", encoding="utf-8")
    result = run_cli(env, "subscribers", "import", str(csv), "--list", "attendees")
    assert result.returncode == 0, result.output
    for line in (2, 4):
        assert f"international.csv:{line}: skipped: " in result.output
    skipped = [line for line in result.output.splitlines() if ": skipped: " in line]
    assert len(skipped) == 2 and all("before the @" in line and "SMTPUTF8" in line for line in skipped)
    with db.transaction() as session:
        assert session.scalars(select(Subscriber.email)).all() == ["ada@bücher.example"]


def test_cli_import_reports_bad_lines_and_exits_zero(env: dict[str, str]) -> None:
    result = run_cli(env, "subscribers", "import", str(FIXTURES / "subscribers-bad-rows.csv"), "--list", "attendees")
    assert result.returncode == 0, result.output
    for line in (3, 4, 6, 8, 9):
        assert f"subscribers-bad-rows.csv:{line}: skipped" in result.output
    assert "3 added" in result.output


def test_cli_refuses_a_file_without_email_column_with_exit_2(env: dict[str, str]) -> None:
    result = run_cli(env, "subscribers", "import", str(FIXTURES / "subscribers-no-email-column.csv"), "--list", "attendees")
    assert result.returncode == 2
    assert "no 'email' column" in result.output


def people(path: Path, numbers: range, first_name: str = "P") -> Path:
    path.write_text("email,first_name\n" + "".join(f"p{n}@example.com,{first_name}{n}\n" for n in numbers), encoding="utf-8")
    return path


def test_an_import_of_many_chunks_adds_updates_and_keeps_decisions_across_them(db: Database, tmp_path: Path) -> None:
    """1,200 rows span three chunks of 500; each chunk has new, changed, unchanged and unsubscribed people."""
    assert import_subscribers(db, people(tmp_path / "first.csv", range(1000)), "big").added == 1000
    left = {f"p{n}@example.com" for n in (3, 650, 999)}  # one in each chunk of the next import
    with db.transaction() as session:
        ids = session.scalars(select(Subscriber.id).where(Subscriber.email.in_(left))).all()
        session.execute(update(Subscription).where(Subscription.subscriber_id.in_(ids)).values(status=SubscriptionStatus.UNSUBSCRIBED))
    again = tmp_path / "again.csv"
    again.write_text(
        "email,first_name\n" + "".join(f"p{n}@example.com,{'Renamed' if n % 100 == 0 else 'P'}{n}\n" for n in range(1200)),
        encoding="utf-8",
    )
    report = import_subscribers(db, again, "big")
    assert (report.added, report.updated, report.kept_unsubscribed) == (200, 10, 3)  # p0, p100 … p900 renamed
    assert report.unchanged == 1000 - 10
    with db.transaction() as session:
        assert session.scalar(select(Subscriber.first_name).where(Subscriber.email == "p500@example.com")) == "Renamed500"
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 1200
        statuses = dict(session.execute(select(Subscription.status, func.count()).group_by(Subscription.status)).all())
        assert statuses == {SubscriptionStatus.CONFIRMED: 1197, SubscriptionStatus.UNSUBSCRIBED: 3}
        # One consent event per subscription the imports created, none for the people who left.
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 1200


def test_an_import_confirms_each_membership_it_adds_or_completes_with_one_consent_event(db: Database, tmp_path: Path) -> None:
    """New people, people already on another list and a pending sign-up: each ends confirmed with the import as its proof."""
    import_subscribers(db, people(tmp_path / "other.csv", range(4)), "other")
    import_subscribers(db, people(tmp_path / "pending.csv", range(1, 2)), "big")
    with db.transaction() as session:
        session.execute(update(Subscription).where(Subscription.source == "import:pending.csv").values(status=SubscriptionStatus.PENDING))
    report = import_subscribers(db, people(tmp_path / "big.csv", range(6)), "big")
    assert (report.added, report.updated, report.unchanged) == (2, 4, 0)
    with db.transaction() as session:
        big = session.scalar(select(MailingList.id).where(MailingList.name == "big"))
        found = session.execute(
            select(
                Subscriber.email,
                Subscription.id,
                Subscription.status,
                Subscription.source,
                Subscription.consented_at,
                Subscription.confirmed_at,
            )
            .join(Subscription)
            .where(Subscription.list_id == big)
            .order_by(Subscriber.email)
        ).all()
        events = session.execute(
            select(ConsentEvent.subscription_id, ConsentEvent.action, ConsentEvent.source, ConsentEvent.created_at).where(
                ConsentEvent.source == "import:big.csv"
            )
        ).all()
    assert [(row.email, row.status, row.source) for row in found] == [
        (f"p{n}@example.com", SubscriptionStatus.CONFIRMED, "import:big.csv") for n in range(6)
    ]
    assert all(row.consented_at == row.confirmed_at == found[0].consented_at for row in found)
    assert sorted(events) == sorted((row.id, "imported", "import:big.csv", row.consented_at) for row in found)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_import_keeps_postgresqls_planner_statistics_current(db: Database, tmp_path: Path) -> None:
    """Without statistics the foreign-key checks of a growing import scan whole tables (100,000 rows: 145 s instead of 21 s)."""
    import_subscribers(db, people(tmp_path / "people.csv", range(1200)), "big")
    with db.transaction() as session:
        counted = session.execute(
            text("SELECT relname, reltuples FROM pg_class WHERE relname IN ('subscribers', 'subscriptions', 'consent_events')")
        )
        # Analysed inside the import after 500 and 1,000 rows (then it would be 2,000).
        assert dict(counted.all()) == {"subscribers": 1000, "subscriptions": 1000, "consent_events": 1000}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_import_does_not_wait_for_another_holding_the_statistics_lock(db: Database, database_url: str, tmp_path: Path) -> None:
    """Another import's ANALYZE holds its lock to that import's commit; waiting for it could deadlock the two."""
    other = create_engine(make_url(database_url))
    try:
        with other.connect() as blocker:
            blocker.execute(text("ANALYZE subscribers"))  # in a transaction that stays open: the lock is held
            importing = threading.Thread(target=import_subscribers, args=(db, people(tmp_path / "people.csv", range(600)), "big"))
            importing.start()
            importing.join(timeout=20)
            assert not importing.is_alive(), "the import waited for the other transaction's statistics lock"
            blocker.rollback()
    finally:
        other.dispose()
    assert _count(db, Subscriber) == 600


def test_names_with_control_characters_or_separators_are_skipped_and_their_neighbours_import(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "hostile-names.csv"
    rows = [
        "email,first_name,last_name,website",
        "ada@example.com,Ada,Lovelace,https://ada.example",
        "vt@example.com,Ann\x0bMarie,Smith,",
        "nel@example.com,Bob,Jones\x85Bcc,",
        "ls@example.com,Cy\u2028Bcc,Lee,",
        "tab@example.com,Di\tAna,Ross,",
        "esc@example.com,\x1b[2JEve,Moss,",
        "nul@example.com,Fay,Hill,https://x.example/\x00",
        'multi@example.com,Gus,King,"first line\nsecond line"',
        "grace@example.com,Grace,Hopper,",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = import_subscribers(db, path, "attendees")
    assert [(problem.line, problem.reason) for problem in report.problems] == [
        (3, "first_name must be a single line of text: it contains a control character (U+000B)"),
        (4, "last_name must be a single line of text: it contains a line break (U+0085)"),
        (5, "first_name must be a single line of text: it contains a line break (U+2028)"),
        (6, "first_name must be a single line of text: it contains a tab (U+0009)"),
        (7, "first_name must be a single line of text: it contains a control character (U+001B)"),
        (8, "website contains a control character (U+0000)"),
    ]
    with db.transaction() as session:
        stored = {s.email: s.attributes for s in session.scalars(select(Subscriber))}
    assert stored == {
        "ada@example.com": {"website": "https://ada.example"},
        "multi@example.com": {"website": "first line\nsecond line"},
        "grace@example.com": {},
    }


def test_cli_import_reports_a_name_with_a_control_character_as_file_line_skipped(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "names.csv"
    path.write_text("email,first_name\nada@example.com,Ada\nff@example.com,Form\x0cfeed\n", encoding="utf-8")
    result = run_cli(env, "subscribers", "import", str(path), "--list", "attendees")
    assert result.returncode == 0, result.output
    assert f"{path}:3: skipped: first_name must be a single line of text: it contains a control character (U+000C)" in result.output
    assert "1 added" in result.output


BAD_LIST_NAMES = {
    "line-break": ("news\nletter", "the list name must be a single line of text: it contains a line break (U+000A)"),
    "escape": ("\x1b[31mnews", "the list name must be a single line of text: it contains a control character (U+001B)"),
    "separator": ("news\u2028letter", "the list name must be a single line of text: it contains a line break (U+2028)"),
    "too-long": ("n" * 101, "the list name is 101 characters long; at most 100 fit"),
    "empty": ("  ", "the list name is empty"),
}


@pytest.mark.parametrize(("name", "message"), BAD_LIST_NAMES.values(), ids=BAD_LIST_NAMES.keys())
def test_an_import_into_a_list_name_no_list_can_have_is_refused_and_writes_nothing(db: Database, name: str, message: str) -> None:
    with pytest.raises(ListNameError) as caught:
        import_subscribers(db, EXAMPLE_CSV, name)
    assert str(caught.value) == message
    assert (_count(db, MailingList), _count(db, Subscriber)) == (0, 0)


def test_cli_import_with_a_bad_list_name_exits_2_and_writes_nothing(env: dict[str, str], db: Database) -> None:
    result = run_cli(env, "subscribers", "import", str(EXAMPLE_CSV), "--list", "attendees\r\nBcc")
    assert result.returncode == 2, result.output
    assert "error: the list name must be a single line of text: it contains a line break (U+000D)" in result.output
    assert (_count(db, MailingList), _count(db, Subscriber)) == (0, 0)


def test_a_field_longer_than_the_csv_readers_limit_refuses_the_file_with_its_line_and_writes_nothing(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "open-quote.csv"
    # An opening quote never closed makes the rest of the file one field.
    path.write_text('email,first_name\nada@example.com,Ada\ngrace@example.com,"Grace\n' + "x" * 200_000 + "\n", encoding="utf-8")
    with pytest.raises(ImportFileError) as caught:
        import_subscribers(db, path, "attendees")
    assert str(caught.value).startswith(f"{path}:3: a field is longer than 131072 characters")
    assert (_count(db, MailingList), _count(db, Subscriber)) == (0, 0)


def test_cli_import_of_an_overlong_field_exits_2_with_file_and_line(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text('email,first_name\nada@example.com,Ada\nbob@example.com,"' + "x" * 200_000 + '"\n', encoding="utf-8")
    result = run_cli(env, "subscribers", "import", str(path), "--list", "attendees")
    assert result.returncode == 2, result.output
    assert f"error: {path}:3: a field is longer than 131072 characters" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1

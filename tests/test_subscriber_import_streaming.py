"""Subscriber import streams its file: chunk by chunk, with the rules of a whole-file import, and still all or nothing.

Small chunks (``chunk_rows``) stand in for a large file; the real SQLite and
PostgreSQL databases of the ``db`` fixture run every test.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from publisher.audience.csv_file import RowProblem
from publisher.audience.subscribers import ERASED, ImportReport, _import_stream, import_subscribers
from publisher.audience.suppressions import email_hash
from publisher.core.errors import ImportFileError
from publisher.db.engine import Database
from publisher.db.models import ConsentEvent, MailingList, Subscriber, Subscription, Suppression
from tests.support.cli import run_cli

HEADER = "email,first_name,last_name,company\n"


def person(n: int) -> str:
    return f'p{n}@example.com,Zoë{n},O\'Brien,"Café Noir, Ltd"\n'


def counts(db: Database) -> dict[str, int]:
    with db.transaction() as session:
        return {
            model.__name__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (MailingList, Subscriber, Subscription, ConsentEvent)
        }


NOTHING = {"MailingList": 0, "Subscriber": 0, "Subscription": 0, "ConsentEvent": 0}


def test_an_import_of_more_rows_than_a_chunk_imports_every_row_once(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(HEADER + "".join(person(n) for n in range(25)), encoding="utf-8")
    report = import_subscribers(db, path, "big", chunk_rows=4)
    assert (report.added, report.updated, report.unchanged, report.skipped) == (25, 0, 0, 0)
    assert counts(db) == {"MailingList": 1, "Subscriber": 25, "Subscription": 25, "ConsentEvent": 25}
    with db.transaction() as session:
        zoe = session.scalar(select(Subscriber).where(Subscriber.email == "p24@example.com"))
        assert zoe is not None
        assert (zoe.first_name, zoe.last_name, zoe.attributes) == ("Zoë24", "O'Brien", {"company": "Café Noir, Ltd"})


def test_a_reimport_in_chunks_changes_nothing(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(HEADER + "".join(person(n) for n in range(25)), encoding="utf-8")
    import_subscribers(db, path, "big", chunk_rows=4)
    before = counts(db)
    again = import_subscribers(db, path, "big", chunk_rows=7)
    assert (again.added, again.updated, again.unchanged, again.skipped) == (0, 0, 25, 0)
    assert counts(db) == before


def test_bad_rows_are_skipped_with_their_lines_in_every_chunk_while_their_neighbours_import(db: Database, tmp_path: Path) -> None:
    with db.transaction() as session:
        session.add(Suppression(email=None, email_hash=email_hash("erased@example.com"), reason="erased on request", source="privacy"))
    lines = [
        HEADER,
        person(1),  # line 2
        "not-an-address,Bad,Row,\n",  # 3
        person(2),  # 4
        person(3),  # 5: the first chunk of three rows ends here
        "P1@Example.com,Again,Later,\n",  # 6: line 2's address, one chunk later
        "Erased@Example.com,Gone,Person,\n",  # 7
        "p4@example.com,Too,Few\n",  # 8
        person(5),  # 9
        "p5@example.com,Twice,In a chunk,\n",  # 10: line 9's address, same chunk
        "erased@example.com,Gone,Again,\n",  # 11
        "\n",  # 12: blank, left out
        "p1@example.com,Third,Time,\n",  # 13
        person(6),  # 14
    ]
    path = tmp_path / "mixed.csv"
    path.write_text("".join(lines), encoding="utf-8")
    seen: list[RowProblem] = []
    report = import_subscribers(db, path, "attendees", chunk_rows=3, on_problem=seen.append)
    assert [(problem.line, problem.reason) for problem in seen] == [
        (3, "'not-an-address' is not a valid email address: An email address must have an @-sign."),
        (6, "p1@example.com already appears on line 2"),
        (7, ERASED),
        (8, "has 3 fields, the header has 4"),
        (10, "p5@example.com already appears on line 9"),
        (11, ERASED),  # an erased address is never shown, repeated or not
        (13, "p1@example.com already appears on line 2"),
    ]
    assert report.problems == [] and report.skipped == 7
    assert report.added == 5
    with db.transaction() as session:
        stored = dict(session.execute(select(Subscriber.email, Subscriber.first_name)).all())
    assert stored == {f"p{n}@example.com": f"Zoë{n}" for n in (1, 2, 3, 5, 6)}


def test_an_address_repeated_twice_in_a_later_chunk_names_its_first_line_both_times(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "repeats.csv"
    rows = [person(1), person(2), person(3), "P1@example.com,A,B,\n", person(4), "p1@Example.com,C,D,\n", "p4@example.com,E,F,\n"]
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    report = import_subscribers(db, path, "big", chunk_rows=3)
    assert [(problem.line, problem.reason) for problem in report.problems] == [
        (5, "p1@example.com already appears on line 2"),
        (7, "p1@example.com already appears on line 2"),
        (8, "p4@example.com already appears on line 6"),
    ]
    assert report.added == 4
    with db.transaction() as session:
        assert session.scalar(select(Subscriber.first_name).where(Subscriber.email == "p1@example.com")) == "Zoë1"


def test_without_a_receiver_the_report_keeps_the_skipped_rows_in_line_order(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    rows = [person(n) if n % 5 else "nobody,at,all,\n" for n in range(1, 21)]
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    report = import_subscribers(db, path, "big", chunk_rows=3)
    assert [problem.line for problem in report.problems] == [6, 11, 16, 21]
    assert report.skipped == 4 and report.added == 16


LATE_FAULTS = {
    "not-utf8": (b"p99@example.com,Ren\xe9e,Dubois,\n", "line 52 is not UTF-8"),
    "quote-left-open": (b'p99@example.com,"Ren\xc3\xa9e,Dubois,\n' + b"x" * 140_000 + b"\n", ":52: a field is longer than 131072"),
    "quote-left-open-near-the-end": (
        b'p99@example.com,"Ren\xc3\xa9e,Dubois,\np100@example.com,Ana,Lee,\n',
        ":52: a quoted field is followed by more text",
    ),
}


@pytest.mark.parametrize(("fault", "message"), LATE_FAULTS.values(), ids=LATE_FAULTS.keys())
def test_a_file_level_fault_after_many_good_rows_writes_nothing(db: Database, tmp_path: Path, fault: bytes, message: str) -> None:
    path = tmp_path / "late.csv"
    path.write_bytes((HEADER + "".join(person(n) for n in range(50))).encode() + fault + person(100).encode())
    with pytest.raises(ImportFileError, match=message):
        import_subscribers(db, path, "big", chunk_rows=4)
    assert counts(db) == NOTHING
    # Nothing of the refused import is left over either: the next one works as if it never happened.
    path.write_text(HEADER + person(1) + person(1), encoding="utf-8")
    report = import_subscribers(db, path, "big", chunk_rows=4)
    assert (report.added, [problem.line for problem in report.problems]) == (1, [3])


def test_a_byte_that_is_not_utf8_is_found_on_its_line_far_into_a_large_file(db: Database, tmp_path: Path) -> None:
    """The file is decoded a block at a time; the line is counted across the blocks before the bad byte."""
    path = tmp_path / "large.csv"
    good = "".join(person(n) for n in range(40_000))  # about 1.8 MB: the bad byte is beyond the first block
    path.write_bytes(HEADER.encode() + good.encode() + b"p\xff@example.com,A,B,\n")
    with pytest.raises(ImportFileError, match="line 40002 is not UTF-8"):
        import_subscribers(db, path, "big")
    assert counts(db) == NOTHING


class _ChangesWhenReadAgain(io.BytesIO):
    """A file that is rewritten (here: cut short) between the import's first reading and the second."""

    def __init__(self, first: bytes, second: bytes) -> None:
        super().__init__(first)
        self._second = second

    def seek(self, offset: int, whence: int = 0) -> int:
        if self._second:
            second, self._second = self._second, b""
            self.__init__(second, b"")  # type: ignore[misc]
        return super().seek(offset, whence)


def test_a_fault_found_only_while_writing_still_writes_nothing(db: Database) -> None:
    # 300 rows: more than is decoded ahead at once, so chunks are written before the fault is reached.
    good = (HEADER + "".join(person(n) for n in range(300))).encode()
    changed = good + b"p99@example.com,Ren\xe9e,Dubois,\n"
    stream = _ChangesWhenReadAgain(good, changed)
    report = ImportReport()
    with pytest.raises(ImportFileError, match="line 302 is not UTF-8"):
        _import_stream(db, stream, "changing.csv", "big", "import:changing.csv", report, chunk_rows=4)
    assert report.added > 0  # rows had been written in the transaction …
    assert counts(db) == NOTHING  # … and went with it


def test_cli_prints_each_skipped_row_and_counts_them(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(HEADER + person(1) + "bad,row,here,\n" + person(1) + person(2), encoding="utf-8")
    result = run_cli(env, "subscribers", "import", str(path), "--list", "attendees")
    assert result.returncode == 0, result.output
    assert f"{path}:3: skipped: 'bad' is not a valid email address" in result.output
    assert f"{path}:4: skipped: p1@example.com already appears on line 2" in result.output
    assert "list 'attendees': 2 added, 0 updated, 0 unchanged, 2 skipped" in result.output


def test_a_quote_never_closed_before_the_end_of_the_file_refuses_it(db: Database, tmp_path: Path) -> None:
    """Without a later quote the open one runs to the end of the file: the rows after it are not taken as one field."""
    path = tmp_path / "open.csv"
    path.write_bytes(f'{HEADER}{person(1)}p2@example.com,"Ana,Lee,\np3@example.com,Bo,Li,\n'.encode())
    with pytest.raises(ImportFileError, match=":3: a quote opened on this line is never closed"):
        import_subscribers(db, path, "big", chunk_rows=4)
    assert counts(db) == NOTHING

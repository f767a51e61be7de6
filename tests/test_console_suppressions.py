"""The console's suppressions page: search, add, remove and import (editors and above), each audited."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from publisher.accounts.audit import entries
from publisher.audience import suppression_list
from publisher.audience.privacy import erase
from publisher.db.engine import Database
from publisher.db.models import Role, Suppression
from tests.support.audience import RAJ, ZOE, people
from tests.support.console_pages import console_as, csv_file

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _entries(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Suppression)) or 0)


def test_an_editor_adds_and_removes_a_suppression(db: Database, web_url: str) -> None:
    people(db)
    editor = console_as(db, web_url, Role.EDITOR)
    added = editor.post("/console/suppressions/add", {"email": " Zoe.OBrien@Example.com ", "list": "attendees", "reason": "asked by phone"})
    assert added.status_code == 303 and added.headers["location"] == "/console/suppressions?done=added"
    (entry,) = suppression_list.list_entries(db)
    assert (entry.email, entry.list_name, entry.reason) == (ZOE, "attendees", "asked by phone")
    again = editor.post("/console/suppressions/add", {"email": ZOE, "list": "attendees"})
    assert again.headers["location"] == "/console/suppressions?done=already"
    page = editor.get("/console/suppressions", q="obrien")
    assert ZOE in page.text and "list attendees" in page.text and "Remove" in page.text
    assert ZOE not in editor.get("/console/suppressions", q="patel").text
    removed = editor.post("/console/suppressions/remove", {"email": ZOE, "list": "attendees"})
    assert removed.status_code == 303
    assert _entries(db) == 0
    assert [(e.action, e.target) for e in entries(db)] == [("unsuppressed", ZOE), ("suppressed", ZOE)]


def test_bad_input_is_shown_next_to_its_field_and_nothing_is_written(db: Database, web_url: str) -> None:
    people(db)
    editor = console_as(db, web_url, Role.EDITOR)
    bad_address = editor.post("/console/suppressions/add", {"email": "<script>x</script>", "reason": "spam"})
    assert bad_address.status_code == 400
    assert 'id="email-error"' in bad_address.text and "not a valid email address" in bad_address.text
    assert "<script>x</script>" not in bad_address.text and 'value="&lt;script&gt;x&lt;/script&gt;"' in bad_address.text
    long_reason = editor.post("/console/suppressions/add", {"email": ZOE, "reason": "r" * 501})
    assert long_reason.status_code == 400 and 'id="reason-error"' in long_reason.text
    no_list = editor.post("/console/suppressions/add", {"email": ZOE, "list": "nowhere"})
    assert no_list.status_code == 400 and 'id="list-error"' in no_list.text and "no list named" in no_list.text
    oversized = editor.post("/console/suppressions/add", {"email": "a" * 1001})
    assert oversized.status_code == 400
    not_there = editor.post("/console/suppressions/remove", {"email": RAJ})
    assert not_there.status_code == 400 and "is not suppressed everywhere" in not_there.text
    assert _entries(db) == 0 and entries(db) == []


def test_an_erased_address_is_shown_by_its_hash_and_cannot_be_removed_here(db: Database, web_url: str) -> None:
    people(db)
    erase(db, ZOE)
    editor = console_as(db, web_url, Role.EDITOR)
    page = editor.get("/console/suppressions", q=ZOE).text
    assert "erased (hash" in page and "erased on request" in page
    refused = editor.post("/console/suppressions/remove", {"email": ZOE})
    assert refused.status_code == 400 and "--include-erased" in refused.text
    assert _entries(db) == 1


def test_import_suppresses_the_valid_rows_and_lists_the_rejected_ones(db: Database, web_url: str) -> None:
    editor = console_as(db, web_url, Role.EDITOR)
    text = "email,reason\nzoe@example.com,complained by letter\nnot an address,x\nraj@example.org,\n"
    answer = editor.post("/console/suppressions/import", {"reason": "old provider"}, csv_file(text, "old.csv"))
    assert answer.status_code == 200, answer.text
    assert "Rejected rows of old.csv" in answer.text and "<tr><td>3</td>" in answer.text
    assert {(e.email, e.reason) for e in suppression_list.list_entries(db)} == {
        ("zoe@example.com", "complained by letter"),
        ("raj@example.org", "old provider"),
    }
    (entry,) = entries(db)
    assert entry.action == "imported" and entry.target == "suppressions" and "2 added" in entry.detail
    broken = editor.post("/console/suppressions/import", {}, csv_file("address\nzoe@example.com\n", "broken.csv"))
    assert broken.status_code == 400 and 'id="file-error"' in broken.text and "no &#39;email&#39; column" in broken.text
    assert _entries(db) == 2


def test_a_viewer_sees_the_suppressions_but_may_not_change_them(db: Database, web_url: str) -> None:
    people(db)
    suppression_list.add(db, ZOE)
    viewer = console_as(db, web_url, Role.VIEWER)
    page = viewer.get("/console/suppressions").text
    assert ZOE in page
    assert "Add suppression" not in page and "Import CSV" not in page and "Remove" not in page
    assert viewer.post("/console/suppressions/add", {"email": RAJ}).status_code == 403
    assert viewer.post("/console/suppressions/remove", {"email": ZOE}).status_code == 403
    assert viewer.post("/console/suppressions/import", {}, csv_file(f"email\n{RAJ}\n")).status_code == 403
    editor = console_as(db, web_url, Role.EDITOR)
    assert editor.post("/console/suppressions/add", {"email": RAJ}, csrf=False).status_code == 403
    assert _entries(db) == 1

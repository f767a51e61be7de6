"""The console's lists page: counts by status, the public/private switch (admin) and `Import CSV` (editors and above)."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from sqlalchemy import func, select

from publisher.accounts.audit import entries
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import MailingList, Role, Subscriber, Subscription
from tests.support.audience import people
from tests.support.console_pages import console_as, csv_file
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

GOOD_AND_BAD = "email,first_name\nnew.one@example.com,New\nnot-an-address,Bad\nnew.two@example.com,Two\n,Empty\n"


def _count(db: Database, model: type) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_lists_page_counts_subscriptions_by_status(db: Database, web_url: str) -> None:
    people(db)
    page = console_as(db, web_url, Role.VIEWER).get("/console/lists")
    assert page.status_code == 200
    assert '<th scope="row">attendees' in page.text
    assert ">25<" in page.text  # the example's 25 confirmed subscribers
    assert "Import CSV" not in page.text and "Make public" not in page.text


def test_an_admin_switches_a_list_public_and_the_change_is_audited(db: Database, web_url: str) -> None:
    people(db)
    admin = console_as(db, web_url, Role.ADMIN)
    assert "Make public" in admin.get("/console/lists").text
    answer = admin.post("/console/lists/visibility", {"list": "attendees", "public": "yes"})
    assert answer.status_code == 303
    with db.transaction() as session:
        assert session.scalar(select(MailingList.public).where(MailingList.name == "attendees")) is True
    assert "Make private" in admin.get("/console/lists").text
    (entry,) = entries(db)
    assert (entry.action, entry.target, entry.detail, entry.actor) == (
        "list-changed",
        "list:attendees",
        "public",
        "user:admin@modu.example",
    )
    assert admin.post("/console/lists/visibility", {"list": "nowhere", "public": "yes"}).status_code == 404


def test_only_an_admin_may_switch_a_list(db: Database, web_url: str) -> None:
    people(db)
    for role in (Role.VIEWER, Role.EDITOR, Role.SENDER):
        user = console_as(db, web_url, role)
        assert "Make public" not in user.get("/console/lists").text
        assert user.post("/console/lists/visibility", {"list": "attendees", "public": "yes"}).status_code == 403
    admin = console_as(db, web_url, Role.ADMIN)
    assert admin.post("/console/lists/visibility", {"list": "attendees", "public": "yes"}, csrf=False).status_code == 403
    with db.transaction() as session:
        assert session.scalar(select(MailingList.public)) is False
    assert entries(db) == []


def test_import_csv_lists_the_rejected_rows_and_imports_the_rest(
    db: Database, web_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app runs in this process: its temporary files go where this test can look.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    editor = console_as(db, web_url, Role.EDITOR)
    form = editor.get("/console/lists/import", list="speakers")
    assert form.status_code == 200 and 'value="speakers"' in form.text
    answer = editor.post("/console/lists/import", {"list": "speakers"}, csv_file(GOOD_AND_BAD, "march.csv"))
    assert answer.status_code == 200, answer.text
    assert "2 added" in answer.text and "2 rejected" in answer.text
    assert '<th scope="col">Line</th><th scope="col">Reason</th>' in answer.text
    assert "<tr><td>3</td><td>&#39;not-an-address&#39; is not a valid email address" in answer.text
    assert "<tr><td>5</td><td>email is empty</td></tr>" in answer.text
    with db.transaction() as session:
        sources = set(session.scalars(select(Subscription.source)))
    assert sources == {"import:march.csv"}
    (entry,) = entries(db)
    assert (entry.action, entry.target) == ("imported", "list:speakers")
    assert entry.detail.startswith("march.csv: 2 added")
    assert not list(tmp_path.glob("console-upload-*")), "the uploaded file is deleted after the import"


def test_an_unreadable_file_is_refused_next_to_its_field_and_nothing_is_written(db: Database, web_url: str) -> None:
    editor = console_as(db, web_url, Role.EDITOR)
    for content, problem in (
        ("name\nada\n", "line 1 has no &#39;email&#39; column"),
        ('email\n"never closed\n' + "x" * 200_000, "a field is longer than"),
    ):
        answer = editor.post("/console/lists/import", {"list": "speakers"}, csv_file(content, "bad.csv"))
        assert answer.status_code == 400
        assert 'id="file-error"' in answer.text and problem in answer.text
        assert "bad.csv" in answer.text and "console-upload-" not in answer.text  # the file's name, not where it was kept
        assert 'value="speakers"' in answer.text  # what was typed is kept
    latin1 = {"file": ("latin.csv", "email\nzoë@example.com\n".encode("latin-1"), "text/csv")}
    answer = editor.post("/console/lists/import", {"list": "speakers"}, latin1)
    assert answer.status_code == 400 and "is not UTF-8" in answer.text
    assert answer.status_code == 400
    assert _count(db, MailingList) == _count(db, Subscriber) == 0
    assert entries(db) == []


def test_import_checks_the_list_name(db: Database, web_url: str) -> None:
    editor = console_as(db, web_url, Role.EDITOR)
    for name, problem in (
        ("event:march", "reserved"),
        ("x" * 101, "at most 100 fit"),
        ("", "the list name is empty"),
        ("a\u001bb", "list name"),
    ):
        answer = editor.post("/console/lists/import", {"list": name}, csv_file(GOOD_AND_BAD))
        assert answer.status_code == 400, name
        assert 'id="list-error"' in answer.text and problem in answer.text
    assert _count(db, MailingList) == 0


def test_a_hostile_list_name_is_shown_as_text(db: Database, web_url: str) -> None:
    editor = console_as(db, web_url, Role.EDITOR)
    name = "<script>alert(1)</script>"
    assert editor.post("/console/lists/import", {"list": name}, csv_file(GOOD_AND_BAD)).status_code == 200
    page = editor.get("/console/lists").text
    assert name not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_viewer_may_not_import(db: Database, web_url: str) -> None:
    viewer = console_as(db, web_url, Role.VIEWER)
    assert viewer.get("/console/lists/import").status_code == 403
    assert viewer.post("/console/lists/import", {"list": "speakers"}, csv_file(GOOD_AND_BAD)).status_code == 403
    editor = console_as(db, web_url, Role.EDITOR)
    assert editor.post("/console/lists/import", {"list": "speakers"}, csv_file(GOOD_AND_BAD), csrf=False).status_code == 403
    assert _count(db, Subscriber) == 0


def test_the_import_routes_take_files_up_to_the_import_limit_and_other_forms_do_not(
    db: Database, settings: Settings, serve_web: ServeWeb
) -> None:
    base = serve_web(settings.model_copy(update={"max_request_bytes": 4096, "max_import_bytes": 64_000}))
    editor = console_as(db, base, Role.EDITOR)
    rows = "".join(f"person{n}@example.com\n" for n in range(1000))  # about 23 kB
    assert editor.post("/console/lists/import", {"list": "big"}, csv_file("email\n" + rows)).status_code == 200
    assert editor.post("/console/suppressions/add", {"email": "a@example.com", "reason": "x" * 10_000}).status_code == 413
    too_big = "email\n" + "".join(f"person{n}@example.com\n" for n in range(4000))  # about 95 kB
    assert editor.post("/console/lists/import", {"list": "big"}, csv_file(too_big)).status_code == 413
    assert _count(db, Subscriber) == 1000


@pytest.mark.parametrize("path", ["/console/lists/import", "/console/suppressions/import", "/console/attendees/import"])
def test_an_upload_without_a_session_is_refused_before_its_body_is_read(
    path: str, settings: Settings, serve_web: ServeWeb, redis_client: redis.Redis
) -> None:
    # A body deadline well past the client's wait: only an answer given without reading the body arrives in time.
    base = urlsplit(serve_web(settings.model_copy(update={"request_body_timeout": 60.0})))
    boundary = "b0undary"
    start = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\nContent-Type: text/csv\r\n\r\nemail\r\n'
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {base.netloc}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {settings.max_import_bytes}\r\n\r\n"
    )
    with socket.create_connection((base.hostname, base.port), timeout=10) as client:
        client.sendall((head + start).encode())
        answer = client.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 403 "), answer[:200]

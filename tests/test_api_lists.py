"""The HTTP API's lists: reading them, importing subscribers (JSON and CSV, rows refused), the import's size limit, unsubscribing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from publisher.accounts.audit import entries
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Subscriber, SubscriptionStatus
from tests.support.api import Api, assert_problem, token, wheres
from tests.support.audience import CSV, ZOE, people, statuses
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def subscriber(db: Database, email: str) -> Subscriber | None:
    with db.transaction() as session:
        found = session.scalar(select(Subscriber).where(Subscriber.email == email))
        if found is not None:
            session.expunge(found)
        return found


def test_lists_show_their_subscriptions_by_status(api: Api, db: Database) -> None:
    people(db)
    [attendees] = api.get("/lists").json()
    assert attendees["name"] == "attendees"
    assert attendees["subscriptions"]["confirmed"] == 25
    assert set(attendees["subscriptions"]) == {status.value for status in SubscriptionStatus}


def test_a_json_import_adds_the_valid_rows_and_names_each_refused_one_by_position(api: Api, db: Database) -> None:
    rows = [
        {"email": "Ada@Example.com", "first_name": "Ada", "last_name": "Lovelace", "company": "Analytical", "seats": 2},
        {"email": "not an address"},
        "just a string",
        {"first_name": "No address"},
        {"email": "ada@example.com", "first_name": "Again"},
        {"email": "bob@example.com", "nested": {"a": 1}},
        {"email": "cy@example.com"},
    ]
    answer = api.post("/lists/speakers/subscribers", json=rows)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["list"], result["added"], result["updated"], result["unchanged"]) == ("speakers", 2, 0, 0)
    assert [rejected["line"] for rejected in result["rejected"]] == [2, 3, 4, 5, 6]
    assert "not a valid email address" in result["rejected"][0]["reason"]
    assert "already appears on line 1" in result["rejected"][3]["reason"]
    ada = subscriber(db, "ada@example.com")
    assert ada is not None and (ada.first_name, ada.last_name) == ("Ada", "Lovelace")
    assert ada.attributes == {"company": "Analytical", "seats": "2"}
    # The list did not exist: the import made it, as the CLI does.
    assert [item["name"] for item in api.get("/lists").json()] == ["speakers"]
    [entry] = [e for e in entries(db) if e.action == "imported"]
    assert (entry.actor, entry.target, entry.ip) == ("token:marketing", "speakers", "127.0.0.1")
    assert "2 added" in entry.detail and "5 rejected" in entry.detail


def test_a_csv_import_follows_the_cli_rules_and_names_refused_rows_by_line(api: Api, db: Database) -> None:
    body = CSV.read_text(encoding="utf-8") + "bad-address,Bad,Row,X,Y\nzoe.obrien@example.com,Zoe,Again,X,Y\n"
    answer = api.post("/lists/attendees/subscribers", data=body.encode(), headers={"Content-Type": "text/csv; charset=utf-8"})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["added"] == 25
    assert [(rejected["line"], rejected["reason"][:13]) for rejected in result["rejected"]] == [
        (27, "'bad-address'"),
        (28, "zoe.obrien@ex"),
    ]
    again = api.post("/lists/attendees/subscribers", data=CSV.read_bytes(), headers={"Content-Type": "text/csv"}).json()
    assert (again["added"], again["unchanged"], again["rejected"]) == (0, 25, [])
    no_email = assert_problem(api.post("/lists/attendees/subscribers", data=b"name\nx\n", headers={"Content-Type": "text/csv"}), 422)
    assert "no 'email' column" in no_email["detail"]


def test_imports_refuse_event_lists_bad_bodies_and_other_media_types(api: Api, db: Database) -> None:
    refused = assert_problem(api.post("/lists/event:summit-2026/subscribers", json=[{"email": "a@example.com"}]), 422)
    assert wheres(refused) == {"name"}
    assert_problem(api.post("/lists/Event:Other/subscribers", json=[]), 422)
    assert wheres(assert_problem(api.post("/lists/x/subscribers", json={"email": "a@example.com"}), 422)) == {"body"}
    assert wheres(assert_problem(api.post("/lists/x/subscribers", data=b"[{", headers={"Content-Type": "application/json"}), 422)) == {
        "body"
    }
    assert_problem(api.post("/lists/x/subscribers", data=b"a@example.com", headers={"Content-Type": "text/plain"}), 415)
    assert api.get("/lists").json() == []


def test_an_import_may_be_larger_than_other_requests_up_to_its_own_limit(
    settings: Settings, db: Database, serve_web: ServeWeb, redis_client: object
) -> None:
    base_url = serve_web(settings.model_copy(update={"max_request_bytes": 2048, "max_import_bytes": 20_000}))
    api = Api(base_url, token(db))
    rows = [{"email": f"person{n}@example.com"} for n in range(200)]  # about 7 KB
    answer = api.post("/lists/big/subscribers", json=rows)
    assert answer.status_code == 200 and answer.json()["added"] == 200
    too_big = [{"email": f"person{n}@example.com"} for n in range(1000)]  # about 33 KB
    problem = assert_problem(api.post("/lists/big/subscribers", json=too_big), 413)
    assert "20000 bytes" in problem["detail"]
    # Every other route keeps the general limit.
    assert "2048 bytes" in assert_problem(api.post("/campaigns", json={"list": "big", "title": "x", "body": "y" * 5000}), 413)["detail"]
    streamed = api.post(
        "/lists/big/subscribers", data=iter([b"[" + b" " * 15_000, b" " * 15_000 + b"]"]), headers={"Content-Type": "application/json"}
    )
    assert_problem(streamed, 413)


def test_unsubscribing_takes_the_address_off_the_list_and_keeps_the_subscriber(api: Api, db: Database) -> None:
    ids = people(db)
    answer = api.delete(f"/lists/attendees/subscribers/{ZOE.upper()}")
    assert answer.status_code == 200
    assert answer.json() == {"list": "attendees", "email": ZOE, "status": "unsubscribed", "changed": True}
    assert statuses(db, ids[ZOE]) == {"attendees": SubscriptionStatus.UNSUBSCRIBED}
    assert subscriber(db, ZOE) is not None
    assert api.delete(f"/lists/attendees/subscribers/{ZOE}").json()["changed"] is False
    # An import never brings back someone who left.
    again = api.post("/lists/attendees/subscribers", json=[{"email": ZOE}]).json()
    assert again["kept_unsubscribed"] == 1
    assert statuses(db, ids[ZOE]) == {"attendees": SubscriptionStatus.UNSUBSCRIBED}
    assert_problem(api.delete("/lists/attendees/subscribers/nobody@example.com"), 404)
    assert_problem(api.delete(f"/lists/nolist/subscribers/{ZOE}"), 404)
    assert wheres(assert_problem(api.delete("/lists/attendees/subscribers/not-an-address"), 422)) == {"email"}
    [entry] = [e for e in entries(db) if e.action == "unsubscribed"]
    assert entry.actor == "token:marketing" and entry.target == f"attendees: {ZOE}"

"""Requests at once, on SQLite and PostgreSQL: two sends of a draft give one 202 and one 409; one Idempotency-Key makes one draft."""

from __future__ import annotations

import threading

from publisher.accounts.audit import entries
from publisher.db.engine import Database
from tests.support.api import Api, token
from tests.support.audience import people
from tests.support.recaps import RECAP


def test_two_sends_at_once_send_the_draft_once(web_url: str, db: Database) -> None:
    audience = people(db)
    api = Api(web_url, token(db))
    created = api.post("/campaigns", json={"list": "attendees", "recap": RECAP.read_text(encoding="utf-8")})
    assert created.status_code == 201
    campaign = created.json()
    start = threading.Barrier(2)
    answers: list[int] = []

    def send() -> None:
        start.wait()
        answers.append(api.post(f"/campaigns/{campaign['id']}/send").status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [202, 409]
    assert api.get(f"/campaigns/{campaign['id']}").json()["total"] == len(audience)
    assert [e.action for e in entries(db, campaign["id"])].count("sent") == 1


def test_one_idempotency_key_sent_four_times_at_once_makes_one_draft(web_url: str, db: Database) -> None:
    people(db)
    api = Api(web_url, token(db))
    body = {"list": "attendees", "recap": RECAP.read_text(encoding="utf-8")}
    start = threading.Barrier(4)
    answers: list[tuple[int, int]] = []

    def create() -> None:
        start.wait()
        response = api.post("/campaigns", json=body, headers={"Idempotency-Key": "launch"})
        answers.append((response.status_code, response.json().get("id", 0)))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [200, 200, 200, 201]
    assert len({campaign_id for _, campaign_id in answers}) == 1
    assert [entry.action for entry in entries(db)] == ["created"]

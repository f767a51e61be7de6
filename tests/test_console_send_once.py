"""Two senders confirming the same draft at once, on SQLite and PostgreSQL: one sends it, the other gets "sent already"."""

from __future__ import annotations

import threading

import requests
from sqlalchemy import select

from publisher.db.engine import Database
from publisher.db.models import Delivery, Role
from tests.support.audience import people
from tests.support.console import TIMEOUT, add_person, csrf_token, sign_in
from tests.support.console_drafts import save_draft

ADA = "ada@modu.example"
BOB = "bob@modu.example"
ATTENDEES = 25


def test_two_senders_confirming_at_once_send_once(db: Database, web_url: str) -> None:
    people(db)
    add_person(db, ADA, Role.SENDER)
    add_person(db, BOB, Role.SENDER)
    ada, bob = sign_in(web_url, ADA), sign_in(web_url, BOB)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    tokens = {client: csrf_token(client, page) for client in (ada, bob)}
    start = threading.Barrier(2)
    answers: list[requests.Response] = []

    def confirm(client: requests.Session) -> None:
        start.wait()
        answers.append(
            client.post(
                f"{page}/send/confirm", data={"recipients": "25", "csrf_token": tokens[client]}, allow_redirects=False, timeout=TIMEOUT
            )
        )

    threads = [threading.Thread(target=confirm, args=(client,)) for client in (ada, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status_code for answer in answers) == [303, 409]
    assert "sent already" in next(a for a in answers if a.status_code == 409).text
    with db.transaction() as session:
        assert len(session.scalars(select(Delivery).where(Delivery.campaign_id == cid)).all()) == ATTENDEES

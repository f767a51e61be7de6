"""The console's subscriber search and page: consent, deliveries, `Export`, and `Erase` (admin, behind `Confirm erase`)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from publisher.accounts.audit import entries
from publisher.audience.privacy import export
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import AuditEntry, Delivery, Role, Subscriber
from tests.support.audience import RAJ, ZOE, people
from tests.support.campaigns import publish_to_attendees
from tests.support.console_pages import console_as

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_search_finds_subscribers_by_part_of_the_address(db: Database, web_url: str) -> None:
    ids = people(db)
    viewer = console_as(db, web_url, Role.VIEWER)
    found = viewer.get("/console/subscribers", q="OBRIEN")
    assert found.status_code == 200
    assert f'<a href="/console/subscribers/{ids[ZOE]}">{ZOE}</a>' in found.text
    assert RAJ not in found.text
    # The user's % and _ are letters, not wildcards.
    assert "No subscriber" in viewer.get("/console/subscribers", q="%").text
    assert viewer.get("/console/subscribers", q="x" * 321).status_code == 400


def test_a_search_shows_a_bounded_number_of_results(db: Database, web_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    people(db)
    viewer = console_as(db, web_url, Role.VIEWER)
    assert viewer.get("/console/subscribers", q="@").text.count('<a href="/console/subscribers/') == 25
    # The app runs in this process: a smaller bound shows what a large list does.
    monkeypatch.setattr("publisher.web.console.subscribers.SEARCH_LIMIT", 10)
    bounded = viewer.get("/console/subscribers", q="@").text
    assert bounded.count('<a href="/console/subscribers/') == 10
    assert "The first 10 addresses" in bounded


def test_the_subscriber_page_shows_consent_deliveries_and_exports_everything(db: Database, settings: Settings, web_url: str) -> None:
    publish_to_attendees(settings, db)
    with db.transaction() as session:
        zoe = session.scalar(select(Subscriber.id).where(Subscriber.email == ZOE))
    viewer = console_as(db, web_url, Role.VIEWER)
    page = viewer.get(f"/console/subscribers/{zoe}")
    assert page.status_code == 200
    assert f"<h1>{ZOE}</h1>" in page.text
    assert "import:subscribers.csv" in page.text  # the consent's source
    assert "Consent history: attendees" in page.text
    assert "Deliveries and events" in page.text and "pending" in page.text
    assert ">Export</a>" in page.text
    assert ">Erase</a>" not in page.text
    exported = viewer.get(f"/console/subscribers/{zoe}/export")
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == f'attachment; filename="subscriber-{zoe}.json"'
    assert exported.json() == json.loads(json.dumps(export(db, ZOE)))
    assert viewer.get("/console/subscribers/999999").status_code == 404


def test_only_an_admin_may_erase(db: Database, web_url: str) -> None:
    ids = people(db)
    for role in (Role.VIEWER, Role.EDITOR, Role.SENDER):
        user = console_as(db, web_url, role)
        assert ">Erase</a>" not in user.get(f"/console/subscribers/{ids[ZOE]}").text
        assert user.get(f"/console/subscribers/{ids[ZOE]}/erase").status_code == 403
        assert user.post(f"/console/subscribers/{ids[ZOE]}/erase").status_code == 403
    admin = console_as(db, web_url, Role.ADMIN)
    assert admin.post(f"/console/subscribers/{ids[ZOE]}/erase", csrf=False).status_code == 403
    assert export(db, ZOE) is not None and entries(db) == []


def test_erase_asks_for_confirmation_and_leaves_no_address_in_the_audit_log(db: Database, settings: Settings, web_url: str) -> None:
    publish_to_attendees(settings, db)
    with db.transaction() as session:
        zoe = session.scalar(select(Subscriber.id).where(Subscriber.email == ZOE))
    admin = console_as(db, web_url, Role.ADMIN)
    # An earlier entry that names the address: a suppression added by hand.
    assert admin.post("/console/suppressions/add", {"email": ZOE, "reason": "asked by phone"}).status_code == 303
    page = admin.get(f"/console/subscribers/{zoe}")
    assert f'href="/console/subscribers/{zoe}/erase"' in page.text
    confirm = admin.get(f"/console/subscribers/{zoe}/erase")
    assert confirm.status_code == 200 and '<button type="submit" class="danger">Confirm erase</button>' in confirm.text
    done = admin.post(f"/console/subscribers/{zoe}/erase")
    assert done.status_code == 200 and "Subscriber erased" in done.text
    assert ZOE not in done.text
    with db.transaction() as session:
        assert session.scalar(select(Subscriber.id).where(Subscriber.id == zoe)) is None
        assert ZOE not in set(session.scalars(select(Delivery.email)))
        stored = [(e.target, e.detail) for e in session.scalars(select(AuditEntry))]
    erased = entries(db)[0]
    assert (erased.action, erased.target) == ("erased", f"subscriber:{zoe}")
    assert all(ZOE not in target and ZOE not in detail for target, detail in stored)
    assert admin.get(f"/console/subscribers/{zoe}").status_code == 404

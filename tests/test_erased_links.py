"""An erased person's links reach nobody: subscriber ids are never handed out again, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from alembic import command
from publisher.audience.privacy import erase
from publisher.core.clock import utcnow
from publisher.core.links import PREFERENCES, UNSUBSCRIBE, VIEW, LinkTarget
from publisher.core.settings import Settings
from sqlalchemy import Connection, func, select, text

from publisher.db.engine import Database, alembic_config, migrate, schema_change
from publisher.db.models import Subscriber, Subscription
from publisher.db.models import SubscriptionStatus as Status
from tests.web_helpers import WORKSHOP, link, list_id, people, publish, statuses

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
ADA = "ada@example.com"
GRACE = "grace@example.com"
NEWPERSON = "newperson@example.com"
NOW = {"now": utcnow()}


def csv_file(tmp_path: Path, name: str, *rows: str) -> Path:
    path = tmp_path / name
    path.write_text("email,first_name,company\n" + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def test_the_links_of_an_erased_subscriber_never_reach_the_next_one(settings: Settings, db: Database, tmp_path: Path, web_url: str) -> None:
    ids = people(db, csv_file(tmp_path, "first.csv", f"{ADA},Ada,Engines", f"{GRACE},Grace,Navy"))
    attendees = list_id(db, "attendees")
    issue = publish(settings, db, "attendees", WORKSHOP)
    with db.transaction() as session:
        assert ids[GRACE] == session.scalar(select(func.max(Subscriber.id)))
    grace = LinkTarget(ids[GRACE], attendees, issue)
    grace_view, grace_unsubscribe, grace_preferences = (link(settings, web_url, p, grace) for p in (VIEW, UNSUBSCRIBE, PREFERENCES))
    assert "Grace" in requests.get(grace_view, timeout=5).text

    erase(db, GRACE)
    newcomer = people(db, csv_file(tmp_path, "second.csv", f"{NEWPERSON},Newperson,Initech"))[NEWPERSON]
    assert newcomer != ids[GRACE]

    view = requests.get(grace_view, timeout=5)
    assert view.status_code == 200 and "Newperson" not in view.text and "Initech" not in view.text
    assert "Hi there" in view.text  # the neutral copy, as for any subscriber who is gone
    for method in ("GET", "POST"):
        page = requests.request(method, grace_unsubscribe, data=ONE_CLICK, timeout=5)
        assert page.status_code == 200 and "Nothing to unsubscribe" in page.text
        preferences = requests.request(method, grace_preferences, data={"all": "1"}, timeout=5)
        assert preferences.status_code == 200 and "Nothing to manage" in preferences.text and "n***@example.com" not in preferences.text
    assert statuses(db, newcomer) == {"attendees": Status.CONFIRMED}

    # Links already sent keep working for their own subscribers.
    assert "Ada" in requests.get(link(settings, web_url, VIEW, LinkTarget(ids[ADA], attendees, issue)), timeout=5).text
    left = requests.post(link(settings, web_url, UNSUBSCRIBE, LinkTarget(ids[ADA], attendees, issue)), data=ONE_CLICK, timeout=5)
    assert left.status_code == 200 and "You have been unsubscribed from attendees" in left.text
    assert statuses(db, ids[ADA]) == {"attendees": Status.UNSUBSCRIBED}
    assert statuses(db, newcomer) == {"attendees": Status.CONFIRMED}


def seed_at_0007(connection: Connection) -> None:
    """Rows as the schema of revision 0007 holds them: five subscribers on one list, the newest two erased since."""
    people = range(1, 6)
    connection.execute(
        text("INSERT INTO mailing_lists (id, name, public, description, created_at) VALUES (1, 'attendees', false, '', :now)"), NOW
    )
    connection.execute(
        text(
            "INSERT INTO subscribers (id, email, first_name, last_name, attributes, created_at, updated_at)"
            " VALUES (:id, :email, :name, '', '{}', :now, :now)"
        ),
        [{"id": n, "email": f"person{n}@example.com", "name": f"Person{n}", **NOW} for n in people],
    )
    connection.execute(
        text(
            "INSERT INTO subscriptions (list_id, subscriber_id, status, source, consented_at, created_at)"
            " VALUES (1, :id, 'confirmed', 'import:people.csv', :now, :now)"
        ),
        [{"id": n, **NOW} for n in people],
    )
    # What an erasure leaves: the subscriber is gone, a hash-only entry stays.
    connection.execute(text("DELETE FROM subscribers WHERE id IN (4, 5)"))
    connection.execute(
        text(
            "INSERT INTO suppressions (email, email_hash, list_id, reason, source, created_at)"
            " VALUES (NULL, :digest, NULL, 'erased on request', 'privacy', :now)"
        ),
        [{"digest": f"{n:064x}", **NOW} for n in (4, 5)],
    )


# PostgreSQL's sequences never went back, so its upgrade changes nothing (and
# rows inserted with explicit ids would not move its sequence).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_upgrading_never_hands_out_an_id_erased_before_the_upgrade(db: Database, tmp_path: Path) -> None:
    config = alembic_config()
    with schema_change(db.engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    with db.engine.begin() as connection:
        seed_at_0007(connection)

    migrate(db.engine)

    with db.transaction() as session:
        assert session.scalars(select(Subscription.subscriber_id).order_by(Subscription.subscriber_id)).all() == [1, 2, 3]
    newcomer = people(db, csv_file(tmp_path, "new.csv", f"{NEWPERSON},Newperson,Initech"))[NEWPERSON]
    assert newcomer > 5
    assert statuses(db, 3) == {"attendees": Status.CONFIRMED}

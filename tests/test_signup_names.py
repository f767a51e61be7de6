"""Names given at sign-up: a stranger cannot choose the name stored for someone else's address.

Each request keeps its own names in the consent history and sends its own
confirmation email; the names that become the subscriber's are those of the
request whose confirm link was used, and only if the subscriber was not
confirmed already (a confirmed subscriber's names change only by import).
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from alembic import command
from sqlalchemy import func, select, text

from publisher.audience.privacy import erase, export
from publisher.audience.signup import ConfirmState, confirm_subscription
from publisher.audience.subscribers import import_subscribers
from publisher.core.links import CONFIRM, LinkTarget, signer_for
from publisher.core.settings import Settings
from publisher.db.engine import Database, alembic_config, schema_change
from publisher.db.models import ConsentEvent, Delivery, MailingList, Subscriber, Subscription, SubscriptionStatus
from publisher.ledger.confirmation import write_confirmation
from workers.delivery.batch import deliver_batch
from workers.runtime import build_context

VICTIM = "zoe@example.com"


@pytest.fixture
def news(db: Database) -> int:
    with db.transaction() as session:
        mailing_list = MailingList(name="news", public=True)
        session.add(mailing_list)
        session.flush()
        return mailing_list.id


def sign_up(web_url: str, address: str, first_name: str = "", last_name: str = "", list_name: str = "news") -> None:
    fields = {"email": address, "list": list_name, "first_name": first_name, "last_name": last_name}
    assert requests.post(f"{web_url}/subscribe", json=fields, timeout=10).status_code == 202


def names(db: Database, address: str = VICTIM) -> tuple[str, str]:
    with db.transaction() as session:
        person = session.scalar(select(Subscriber).where(Subscriber.email == address))
    assert person is not None
    return person.first_name, person.last_name


def status(db: Database, list_id: int, address: str = VICTIM) -> SubscriptionStatus:
    with db.transaction() as session:
        found = session.scalar(
            select(Subscription.status).join(Subscriber).where(Subscriber.email == address, Subscription.list_id == list_id)
        )
    assert found is not None
    return SubscriptionStatus(found)


def confirmation_emails(settings: Settings, db: Database, tmp_path: Path, address: str = VICTIM) -> list[EmailMessage]:
    """Send every confirmation written for ``address`` to the outbox, as a worker would; return the emails in request order."""
    with db.transaction() as session:
        batch_ids = list(session.scalars(select(Delivery.batch_id).where(Delivery.email == address).order_by(Delivery.id)))
    messages = []
    for batch_id in batch_ids:
        outbox = tmp_path / f"outbox-{batch_id}"
        ctx = build_context(settings.model_copy(update={"outbox_dir": outbox}))
        try:
            assert deliver_batch(ctx, batch_id, max_countdown=60).sent == 1
        finally:
            ctx.close()
        [path] = outbox.glob("*.eml")
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def confirm_link(settings: Settings, message: EmailMessage) -> str:
    """The path of the one confirm link in a confirmation email."""
    body = message.get_body(("plain",))
    assert body is not None
    links = set(re.findall(r"http://localhost:8000(/confirm/[A-Za-z0-9_.-]+)", body.get_content()))
    assert len(links) == 1
    return links.pop()


def confirm(web_url: str, link: str) -> None:
    assert requests.post(f"{web_url}{link}", timeout=10).status_code == 200


def import_csv(db: Database, tmp_path: Path, rows: str, list_name: str) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text(f"email,first_name,last_name\n{rows}\n", encoding="utf-8")
    assert import_subscribers(db, csv, list_name).problems == []


def test_a_strangers_request_does_not_choose_the_name_of_an_address_whose_owner_confirms_their_own(
    settings: Settings, web_url: str, db: Database, news: int, tmp_path: Path
) -> None:
    sign_up(web_url, VICTIM, "Mallory", "Spam")  # a stranger, first
    sign_up(web_url, VICTIM, "Zoë", "O'Brien")  # the address's owner
    strangers, owners = confirmation_emails(settings, db, tmp_path)
    confirm(web_url, confirm_link(settings, owners))
    assert status(db, news) == SubscriptionStatus.CONFIRMED
    assert names(db) == ("Zoë", "O'Brien")
    # Each request sent its own confirmation, and no request's names are in either (not even the To header).
    assert confirm_link(settings, strangers) != confirm_link(settings, owners)
    assert all("Mallory" not in message.as_string() for message in (strangers, owners))
    # The stranger's link, used later, changes nothing: a confirmed subscriber's names change only by import.
    confirm(web_url, confirm_link(settings, strangers))
    assert names(db) == ("Zoë", "O'Brien")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unconfirmed_requests_leave_the_stored_names_alone(web_url: str, db: Database, news: int) -> None:
    sign_up(web_url, VICTIM, "Mallory", "Spam")
    assert names(db) == ("", "")  # a new address: the names wait for a confirm link
    sign_up(web_url, VICTIM, "Eve", "Other")
    assert names(db) == ("", "")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_names_that_become_active_are_those_of_the_request_whose_link_confirms(
    settings: Settings, web_url: str, db: Database, news: int, tmp_path: Path
) -> None:
    sign_up(web_url, VICTIM, "Zoë", "O'Brien")
    sign_up(web_url, VICTIM, "Mallory", "Spam")  # later: the latest request is not the one that wins
    owners, _strangers = confirmation_emails(settings, db, tmp_path)
    confirm(web_url, confirm_link(settings, owners))
    assert names(db) == ("Zoë", "O'Brien")


def test_a_confirmed_subscribers_names_change_only_by_import(
    settings: Settings, web_url: str, db: Database, news: int, tmp_path: Path
) -> None:
    import_csv(db, tmp_path, f"{VICTIM},Zoë,O'Brien", "other")
    sign_up(web_url, VICTIM, "Mallory", "Spam")  # a pending request for another list
    assert names(db) == ("Zoë", "O'Brien")
    [strangers] = confirmation_emails(settings, db, tmp_path)
    confirm(web_url, confirm_link(settings, strangers))  # the owner clicks it: they want the list, not the name
    assert status(db, news) == SubscriptionStatus.CONFIRMED
    assert names(db) == ("Zoë", "O'Brien")
    import_csv(db, tmp_path, f"{VICTIM},Zoe,Obrien", "other")
    assert names(db) == ("Zoe", "Obrien")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_export_shows_each_requests_names_and_erasure_removes_them(
    settings: Settings, web_url: str, db: Database, news: int, tmp_path: Path
) -> None:
    sign_up(web_url, VICTIM, "Mallory", "Spam")
    sign_up(web_url, VICTIM, "Zoë", "O'Brien")
    data = export(db, VICTIM)
    assert data is not None
    [subscription] = data["subscriptions"]  # type: ignore[misc]
    history = [(e["action"], e["first_name"], e["last_name"]) for e in subscription["consent_history"]]
    assert history == [("requested", "Mallory", "Spam"), ("requested", "Zoë", "O'Brien")]
    erase(db, VICTIM)
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 0


# --- Confirm links signed before requests kept their names ------------------------------------------


def test_a_confirm_link_signed_before_the_upgrade_still_confirms_and_keeps_the_stored_names(settings: Settings, db: Database) -> None:
    """A pending sign-up written by the previous version (revision 0007), confirmed with the link that version sent."""
    with db.transaction() as session:
        mailing_list = MailingList(name="news", public=True)
        person = Subscriber(email=VICTIM, first_name="Zoë", last_name="O'Brien")
        session.add_all([mailing_list, person])
        session.flush()
        pending = Subscription(list_id=mailing_list.id, subscriber_id=person.id, status=SubscriptionStatus.PENDING, source="form")
        session.add(pending)
        session.flush()
        # Written with today's models (they name columns later revisions added), then taken back to 0007.
        campaign_id = write_confirmation(session, settings, mailing_list, person).campaign_id
    config = alembic_config()
    with schema_change(db.engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    with db.transaction() as session:
        # The consent history as 0007 had it: no names, no confirmation email.
        session.execute(
            text(
                "INSERT INTO consent_events (subscription_id, action, source, ip, user_agent, created_at)"
                " VALUES (:id, 'requested', 'form', '203.0.113.7', 'Browser/1', CURRENT_TIMESTAMP)"
            ),
            {"id": pending.id},
        )
        target = LinkTarget(person.id, mailing_list.id, campaign_id)
    # As the previous version signed it: subscriber, list and its confirmation campaign, with the time.
    old_link = signer_for(settings).token(CONFIRM, target)
    with schema_change(db.engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    confirmed = confirm_subscription(db, signer_for(settings).verify(CONFIRM, old_link))
    assert confirmed.state == ConfirmState.CONFIRMED
    assert names(db) == ("Zoë", "O'Brien")
    with db.transaction() as session:
        history = session.execute(select(ConsentEvent.action, ConsentEvent.first_name, ConsentEvent.campaign_id).order_by(ConsentEvent.id))
        assert [(str(action), first, campaign) for action, first, campaign in history] == [
            ("requested", None, None),
            ("confirmed", None, None),
        ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_confirm_link_without_a_campaign_confirms_and_keeps_the_stored_names(
    settings: Settings, web_url: str, db: Database, news: int, tmp_path: Path
) -> None:
    import_csv(db, tmp_path, f"{VICTIM},Zoë,O'Brien", "other")
    sign_up(web_url, VICTIM, "Mallory", "Spam")
    with db.transaction() as session:
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == VICTIM))
    confirm(web_url, signer_for(settings).url(CONFIRM, LinkTarget(subscriber_id, news, None)).removeprefix(settings.public_url))
    assert status(db, news) == SubscriptionStatus.CONFIRMED
    assert names(db) == ("Zoë", "O'Brien")


# --- Names with control characters ---------------------------------------------------------------

HOSTILE_NAMES = {
    "NUL": "Ada\x00",
    "C0": "Ada\x1cLovelace",
    "C1 (NEL)": "Ada\x85Lovelace",
    "line separator": "Ada\u2028Bcc: x",
    "paragraph separator": "Ada\u2029Lovelace",
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize("value", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_a_name_with_a_control_character_or_separator_is_a_422_as_json_and_a_400_page_as_a_form(
    web_url: str, db: Database, news: int, field: str, value: str
) -> None:
    as_json = requests.post(f"{web_url}/subscribe", json={"email": VICTIM, "list": "news", field: value}, timeout=10)
    assert as_json.status_code == 422
    [problem] = as_json.json()["detail"]
    assert problem.startswith(f"body.{field}: must be a single line of text: it contains ") and "U+" in problem
    as_form = requests.post(f"{web_url}/subscribe", data={"email": VICTIM, "list": "news", field: value}, timeout=10)
    assert as_form.status_code == 400 and as_form.headers["content-type"].startswith("text/html")
    assert f"{field}: must be a single line of text: it contains " in as_form.text
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0

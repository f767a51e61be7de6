"""Export everything held about an address; erase it, keeping only its hash on the suppression list."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, update

from publisher.audience.lists import leave_list
from publisher.audience.privacy import ERASED_REASON, PLACEHOLDER_PREFIX, erase, export
from publisher.audience.subscribers import import_subscribers
from publisher.audience.suppressions import address_hash, is_suppressed, suppress_address
from publisher.core.errors import NewsletterError
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import (
    Base,
    Delivery,
    DeliveryState,
    EventType,
    MailingList,
    Subscriber,
    Subscription,
    Suppression,
    WebhookMessage,
)
from publisher.feedback.recording import ProviderEvent, record_events
from tests.support.campaigns import publish
from tests.support.cli import run_cli
from tests.support.outgoing_webhooks import add

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ADA = "ada@example.com"
#: Every piece of Ada's personal data the seed stores somewhere.
ADA_TRACES = (ADA, "lovelace", "analytical engines", "203.0.113.7", "ada-agent/1.0")
SENT_AT = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Seed:
    db: Database
    to_attendees: int
    to_speakers: int


def people_csv(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(
        "email,first_name,last_name,company\nada@example.com,Ada,Lovelace,Analytical Engines\ngrace@example.com,Grace,Hopper,US Navy\n",
        encoding="utf-8",
    )
    return path


def kept_hash(db: Database, address: str) -> str:
    """The hash a suppression entry keeps for ``address`` (keyed with the deployment's secret key)."""
    with db.transaction() as session:
        return address_hash(session, address)


def ada_delivery(db: Database, campaign_id: int) -> Delivery:
    with db.transaction() as session:
        delivery = session.scalar(select(Delivery).where(Delivery.campaign_id == campaign_id, Delivery.email == ADA))
        assert delivery is not None
        return delivery


@pytest.fixture
def seed(db: Database, settings: Settings, tmp_path: Path) -> Seed:
    """Ada on two lists with consent proof, sent one issue (delivered, soft-bounced once), failed on another, suppressed on one list.

    An outgoing webhook endpoint was told of the bounce (delivered to it) and of Ada leaving the speakers list (still waiting).
    """
    add(db, "http://127.0.0.1:8080/hooks")
    import_subscribers(db, people_csv(tmp_path), "attendees")
    import_subscribers(db, people_csv(tmp_path), "speakers")
    with db.transaction() as session:
        attendees = session.scalar(select(MailingList.id).where(MailingList.name == "attendees"))
        speakers = session.scalar(select(MailingList.id).where(MailingList.name == "speakers"))
        ada_id = session.scalar(select(Subscriber.id).where(Subscriber.email == ADA))
        session.execute(
            update(Subscription)
            .where(Subscription.subscriber_id == ada_id, Subscription.list_id == attendees)
            .values(consent_ip="203.0.113.7", consent_user_agent="ada-agent/1.0", confirmed_at=SENT_AT)
        )
    to_attendees, to_speakers = publish(settings, db, "attendees").id, publish(settings, db, "speakers").id
    sent, failed = ada_delivery(db, to_attendees), ada_delivery(db, to_speakers)
    with db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == sent.id)
            .values(state=DeliveryState.SENT, sent_at=SENT_AT, provider="postmark", provider_message_id="pm-1")
        )
        session.execute(
            update(Delivery)
            .where(Delivery.id == failed.id)
            .values(state=DeliveryState.FAILED, last_error="550 <ADA@example.com>: no such user", dead_lettered_at=SENT_AT)
        )
        record_events(
            session,
            settings,
            [
                ProviderEvent(
                    "postmark", EventType.BOUNCED_SOFT, SENT_AT, message_id=sent.message_id, detail="452 ada@example.com is full"
                ),
                ProviderEvent("postmark", EventType.DELIVERED, SENT_AT + dt.timedelta(minutes=5), message_id=sent.message_id),
            ],
        )
        suppress_address(session, ADA, "provider: 550 <ADA@example.com>: no such user", "provider:postmark", speakers)
        assert ada_id is not None and speakers is not None
        leave_list(session, ada_id, speakers)
        session.execute(update(WebhookMessage).where(WebhookMessage.event_type == "delivery.bounced").values(delivered_at=SENT_AT))
    return Seed(db, to_attendees, to_speakers)


def every_stored_value(db: Database) -> str:
    """Every value of every row of every table, as one lower-cased text."""
    with db.transaction() as session:
        return "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables for row in session.execute(select(table)).all()).lower()


def test_export_holds_the_subscriber_consent_suppressions_deliveries_and_events(seed: Seed) -> None:
    data = export(seed.db, ADA)
    assert data is not None
    assert data["email_hash"] == kept_hash(seed.db, ADA)
    assert data["subscriber"] == {
        "email": ADA,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "attributes": {"company": "Analytical Engines"},
        "created_at": data["subscriber"]["created_at"],
        "updated_at": data["subscriber"]["updated_at"],
    }
    subscriptions = {s["list"]: s for s in data["subscriptions"]}
    assert set(subscriptions) == {"attendees", "speakers"}
    assert subscriptions["attendees"]["status"] == "confirmed"
    assert subscriptions["attendees"]["source"] == "import:people.csv"
    assert subscriptions["attendees"]["consent_ip"] == "203.0.113.7"
    assert subscriptions["attendees"]["consent_user_agent"] == "ada-agent/1.0"
    assert subscriptions["attendees"]["confirmed_at"] == SENT_AT.isoformat()
    assert [(s["email"], s["scope"], s["list"], s["source"]) for s in data["suppressions"]] == [
        (ADA, "list", "speakers", "provider:postmark")
    ]
    deliveries = {d["campaign_id"]: d for d in data["deliveries"]}
    assert set(deliveries) == {seed.to_attendees, seed.to_speakers}
    sent = deliveries[seed.to_attendees]
    assert (sent["state"], sent["sent_at"], sent["provider_message_id"]) == ("sent", SENT_AT.isoformat(), "pm-1")
    assert sent["campaign_title"] and sent["list"] == "attendees" and sent["message_id"]
    assert [(e["type"], e["detail"]) for e in sent["events"]] == [("bounced_soft", "452 ada@example.com is full"), ("delivered", "")]
    assert deliveries[seed.to_speakers]["last_error"] == "550 <ADA@example.com>: no such user"
    json.dumps(data)  # JSON-ready as it is


def test_export_of_an_unknown_address_is_none(seed: Seed) -> None:
    assert export(seed.db, "nobody@example.com") is None


def test_erase_leaves_no_personal_data_in_any_table_but_a_hash_suppression(seed: Seed) -> None:
    before = every_stored_value(seed.db)
    assert all(trace in before for trace in ADA_TRACES)  # the check below can see each of them
    with seed.db.transaction() as session:
        told = session.execute(select(WebhookMessage.event_type, WebhookMessage.delivered_at.is_not(None))).all()
        assert sorted(told) == [
            ("campaign.sending", False),
            ("campaign.sending", False),
            ("delivery.bounced", True),
            ("subscriber.unsubscribed", False),
        ]
    erased = erase(seed.db, ADA)
    assert (erased.subscriber, erased.subscriptions, erased.deliveries, erased.events, erased.suppressions) == (True, 2, 2, 1, 1)
    assert erased.webhook_messages == 2
    assert erased.suppression_added
    stored = every_stored_value(seed.db)
    assert [trace for trace in ADA_TRACES if trace in stored] == []
    with seed.db.transaction() as session:
        entries = session.execute(select(Suppression.email, Suppression.email_hash, Suppression.list_id, Suppression.reason)).all()
        assert {(email, digest, list_id is None) for email, digest, list_id, _ in entries} == {
            (None, kept_hash(seed.db, ADA), False),
            (None, kept_hash(seed.db, ADA), True),
        }
        assert ("provider: 550 <[erased]>: no such user") in {reason for *_, reason in entries}
        assert is_suppressed(session, ADA)
        ledger = session.execute(select(Delivery.campaign_id, Delivery.email, Delivery.subscriber_id)).all()
        grace = session.scalar(select(Subscriber).where(Subscriber.email == "grace@example.com"))
        assert grace is not None and grace.last_name == "Hopper"
    anonymised = [email for _, email, _ in ledger if email.startswith(PLACEHOLDER_PREFIX)]
    assert len(anonymised) == 2 and len(set(anonymised)) == 2
    assert len(ledger) == 4  # the campaigns' figures keep every record
    assert all(subscriber_id is None for _, email, subscriber_id in ledger if email in anonymised)


def test_erase_stops_records_still_to_be_sent_and_drops_dead_letters(seed: Seed, settings: Settings) -> None:
    third = publish(settings, seed.db, "attendees").id
    erase(seed.db, ADA)
    with seed.db.transaction() as session:
        rows = session.execute(select(Delivery.campaign_id, Delivery.state, Delivery.last_error, Delivery.dead_lettered_at)).all()
    erased = {cid: (state, error, dead) for cid, state, error, dead in rows if error and "erase" in error}
    assert erased == {
        third: (DeliveryState.SUPPRESSED, ERASED_REASON, None),
        seed.to_speakers: (DeliveryState.FAILED, "550 <[erased]>: no such user", None),
    }


def test_after_erasure_export_finds_only_the_hash_and_no_campaign_includes_the_address(seed: Seed, settings: Settings) -> None:
    erase(seed.db, ADA)
    data = export(seed.db, ADA)
    assert data is not None
    assert (data["subscriber"], data["subscriptions"], data["deliveries"]) == (None, [], [])
    assert [(s["email"], s["scope"]) for s in data["suppressions"]] == [(None, "list"), (None, "global")]
    assert ADA not in json.dumps({key: value for key, value in data.items() if key != "email"})
    later = publish(settings, seed.db, "attendees").id
    with seed.db.transaction() as session:
        assert list(session.scalars(select(Delivery.email).where(Delivery.campaign_id == later))) == ["grace@example.com"]


def test_erasing_an_address_we_do_not_hold_still_suppresses_it_by_hash(db: Database) -> None:
    erased = erase(db, "stranger@example.com")
    assert not erased.held_anything and erased.suppression_added
    with db.transaction() as session:
        entry = session.scalars(select(Suppression)).one()
        assert (entry.email, entry.email_hash, entry.list_id) == (None, kept_hash(db, "stranger@example.com"), None)
        assert (entry.reason, entry.source) == (ERASED_REASON, "privacy")
    again = erase(db, "stranger@example.com")
    assert not again.suppression_added  # one entry is enough


def test_an_existing_global_entry_is_reduced_to_the_hash_instead_of_adding_another(db: Database) -> None:
    with db.transaction() as session:
        suppress_address(session, ADA, "hard bounce: <ada@example.com> unknown", "webhook:postmark")
    erased = erase(db, ADA)
    assert (erased.suppressions, erased.suppression_added) == (1, False)
    with db.transaction() as session:
        assert session.execute(select(Suppression.email, Suppression.reason)).all() == [(None, "hard bounce: <[erased]> unknown")]


def test_erase_deletes_the_outbox_files_of_the_records(seed: Seed, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    ada = ada_delivery(seed.db, seed.to_attendees)
    mine = outbox / f"{seed.to_attendees}-{ada.id}.eml"
    other = outbox / f"{seed.to_attendees}-{ada.id + 1000}.eml"
    mine.write_text("To: ada@example.com\n", encoding="utf-8")
    other.write_text("To: grace@example.com\n", encoding="utf-8")
    assert erase(seed.db, ADA, outbox).outbox_files == 1
    assert not mine.exists() and other.exists()


def test_cli_export_prints_json_and_an_unknown_address_exits_2(env: dict[str, str], seed: Seed) -> None:
    result = run_cli(env, "subscribers", "export", "Ada@Example.com")
    assert result.returncode == 0, result.output
    data = json.loads(result.output)
    assert data["subscriber"]["last_name"] == "Lovelace" and len(data["deliveries"]) == 2
    unknown = run_cli(env, "subscribers", "export", "nobody@example.com")
    assert unknown.returncode == 2
    assert "no data held for nobody@example.com" in unknown.output


def test_cli_erase_with_yes_reports_what_was_erased(env: dict[str, str], seed: Seed) -> None:
    result = run_cli(env, "subscribers", "erase", ADA, "--yes")
    assert result.returncode == 0, result.output
    assert "erased ada@example.com:" in result.output
    assert "subscriber record and 2 subscription(s)" in result.output
    assert "2 delivery record(s) anonymised" in result.output
    assert "1 suppression entr(ies) reduced to the address's hash" in result.output
    assert "now suppressed everywhere by its hash" in result.output
    assert export(seed.db, ADA)["subscriber"] is None


def test_cli_erase_without_yes_outside_a_terminal_changes_nothing(env: dict[str, str], seed: Seed) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "publisher", "subscribers", "erase", ADA],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "pass --yes" in completed.stderr
    assert export(seed.db, ADA)["subscriber"] is not None


def test_cli_erase_refuses_an_invalid_address(env: dict[str, str], seed: Seed) -> None:
    result = run_cli(env, "subscribers", "erase", "ada@example.com\nBcc: x@example.com", "--yes")
    assert result.returncode == 2
    assert "contains a line break" in result.output
    assert export(seed.db, ADA)["subscriber"] is not None


def test_webhooks_arriving_after_erasure_store_no_detail_and_suppress_no_placeholder(seed: Seed, settings: Settings) -> None:
    message_id = ada_delivery(seed.db, seed.to_attendees).message_id
    erase(seed.db, ADA)
    with seed.db.transaction() as session:
        late = [
            ProviderEvent(
                "postmark",
                EventType.BOUNCED_HARD,
                SENT_AT + dt.timedelta(hours=1),
                message_id=message_id,
                detail="550 ada@example.com gone",
            ),
            ProviderEvent(
                "postmark", EventType.COMPLAINED, SENT_AT + dt.timedelta(hours=2), message_id=message_id, detail="abuse ada@example.com"
            ),
        ]
        report = record_events(session, settings, late)
    assert (report.recorded, report.suppressed) == (2, 0)
    assert [trace for trace in ADA_TRACES if trace in every_stored_value(seed.db)] == []
    with seed.db.transaction() as session:
        assert session.scalar(select(Suppression.id).where(Suppression.email.like(f"{PLACEHOLDER_PREFIX}%"))) is None


def test_a_test_send_to_an_erased_address_is_refused(seed: Seed, settings: Settings) -> None:
    erase(seed.db, ADA)
    with pytest.raises(NewsletterError, match="erased on request"):
        publish(settings, seed.db, None, test_to=ADA)
    # Another address still takes a test send.
    assert publish(settings, seed.db, None, test_to="grace@example.com").recipients == 1

"""The campaign report: ledger states and provider events per recipient, with rates."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, update

from publisher.audience.subscribers import import_subscribers
from publisher.core.clock import utcnow
from publisher.core.errors import NotFoundError
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Delivery, DeliveryState, EventType, Subscriber, Subscription, SubscriptionStatus
from publisher.feedback.recording import ProviderEvent, record_events
from publisher.ledger.report import campaign_report
from tests.support.campaigns import publish
from tests.support.cli import run_cli

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PEOPLE = [f"p{n}@example.com" for n in range(10)]
#: When the first issue went out; the second went out a day later.
FIRST = utcnow().replace(microsecond=0) - dt.timedelta(days=10)
SECOND = FIRST + dt.timedelta(days=1)


@dataclass(frozen=True)
class Seeded:
    first: int
    second: int


def set_state(db: Database, campaign_id: int, email: str, state: DeliveryState, sent_at: dt.datetime | None = None) -> str:
    """Put one record in ``state``; return its message id."""
    with db.transaction() as session:
        session.execute(
            update(Delivery).where(Delivery.campaign_id == campaign_id, Delivery.email == email).values(state=state, sent_at=sent_at)
        )
        message_id = session.scalar(select(Delivery.message_id).where(Delivery.campaign_id == campaign_id, Delivery.email == email))
    assert message_id is not None
    return message_id


def leave(db: Database, email: str, at: dt.datetime) -> None:
    with db.transaction() as session:
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == email))
        session.execute(
            update(Subscription)
            .where(Subscription.subscriber_id == subscriber_id)
            .values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=at)
        )


@pytest.fixture
def seeded(db: Database, settings: Settings, tmp_path: Path) -> Seeded:
    """Two issues to one list of ten; the first's records in every state, with provider events and departures."""
    people = tmp_path / "people.csv"
    people.write_text("email\n" + "\n".join(PEOPLE) + "\n", encoding="utf-8")
    import_subscribers(db, people, "attendees")
    first, second = publish(settings, db).id, publish(settings, db).id
    ids = {email: set_state(db, first, email, DeliveryState.SENT, FIRST) for email in PEOPLE[:6]}
    set_state(db, first, PEOPLE[6], DeliveryState.FAILED)
    set_state(db, first, PEOPLE[7], DeliveryState.IN_DOUBT)
    set_state(db, first, PEOPLE[8], DeliveryState.SUPPRESSED)  # PEOPLE[9] stays pending
    later = {email: set_state(db, second, email, DeliveryState.SENT, SECOND) for email in PEOPLE[:2]}

    def at(minutes: int) -> dt.datetime:
        return FIRST + dt.timedelta(minutes=minutes)

    events = [
        *(ProviderEvent("postmark", EventType.DELIVERED, at(1), message_id=ids[e]) for e in (PEOPLE[0], PEOPLE[1], PEOPLE[2], PEOPLE[5])),
        *(ProviderEvent("postmark", EventType.OPENED, at(n), message_id=ids[PEOPLE[0]]) for n in (2, 3, 4)),
        *(ProviderEvent("postmark", EventType.CLICKED, at(n), message_id=ids[PEOPLE[0]], detail="https://modu.example/") for n in (5, 6)),
        ProviderEvent("postmark", EventType.OPENED, at(2), message_id=ids[PEOPLE[1]]),
        ProviderEvent("postmark", EventType.COMPLAINED, at(9), message_id=ids[PEOPLE[2]]),
        # A soft bounce, then delivered: bounced (soft) and delivered.
        *(ProviderEvent("postmark", EventType.BOUNCED_SOFT, at(n), message_id=ids[PEOPLE[3]], detail="mailbox full") for n in (1, 2)),
        ProviderEvent("postmark", EventType.DELIVERED, at(30), message_id=ids[PEOPLE[3]]),
        # Soft then hard: one bounced record, counted as hard only.
        ProviderEvent("postmark", EventType.BOUNCED_SOFT, at(1), message_id=ids[PEOPLE[4]]),
        ProviderEvent("postmark", EventType.BOUNCED_HARD, at(2), message_id=ids[PEOPLE[4]]),
        # The provider's unsubscribe also unsubscribes from the list: still one record.
        ProviderEvent("postmark", EventType.UNSUBSCRIBED, at(20), message_id=ids[PEOPLE[5]]),
        ProviderEvent("postmark", EventType.DELIVERED, SECOND, message_id=later[PEOPLE[0]]),
    ]
    with db.transaction() as session:
        assert record_events(session, settings, events).recorded == len(events)
    leave(db, PEOPLE[1], FIRST + dt.timedelta(hours=1))  # after the first issue: the first's
    leave(db, PEOPLE[0], SECOND + dt.timedelta(hours=1))  # after the second issue: the second's, not the first's
    leave(db, PEOPLE[6], FIRST + dt.timedelta(hours=1))  # never sent the first: nobody's
    return Seeded(first, second)


def test_figures_and_rates_come_from_the_ledger_and_the_events(seeded: Seeded, db: Database) -> None:
    report = campaign_report(db, seeded.first)
    figures = report.figures
    assert figures == {
        "recipients": 10,
        "sent": 6,
        "delivered": 5,
        "bounced": 2,
        "bounced_hard": 1,
        "bounced_soft": 1,
        "complained": 1,
        "unsubscribed": 2,
        "opened": 2,
        "opens": 4,
        "clicked": 1,
        "clicks": 2,
        # The engagements ledger: the campaign is tracked, so the provider's opens and clicks above are
        # there too, each recipient once, and minutes after the send: human.
        "opened_human": 2,
        "opened_machine": 0,
        "clicked_human": 1,
        "clicked_machine": 0,
        "deferred": 0,
        "failed": 1,
        "in_doubt": 1,
        "suppressed": 1,
        "cancelled": 0,
        "pending": 1,
    }
    assert report.rates == {
        "delivered": pytest.approx(5 / 6),
        "bounced": pytest.approx(2 / 6),
        "complained": pytest.approx(1 / 6),
        "unsubscribed": pytest.approx(2 / 6),
        "opened": pytest.approx(2 / 6),
        "clicked": pytest.approx(1 / 6),
        "opened_human": pytest.approx(2 / 6),
        "opened_machine": 0,
        "clicked_human": pytest.approx(1 / 6),
        "clicked_machine": 0,
        "failed": pytest.approx(1 / 10),
    }
    second = campaign_report(db, seeded.second).figures
    assert (second["recipients"], second["sent"], second["delivered"], second["unsubscribed"]) == (10, 2, 1, 1)


@SQLITE_ONLY
def test_a_campaign_with_nothing_sent_has_no_rates_but_a_failure_rate(db: Database, settings: Settings, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("email\na@example.com\nb@example.com\n", encoding="utf-8")
    import_subscribers(db, people, "attendees")
    campaign = publish(settings, db).id
    set_state(db, campaign, "a@example.com", DeliveryState.FAILED)
    report = campaign_report(db, campaign)
    shares_of_sent = ("delivered", "bounced", "complained", "unsubscribed", "opened", "clicked")
    engagement = ("opened_human", "opened_machine", "clicked_human", "clicked_machine")
    assert report.rates == dict.fromkeys((*shares_of_sent, *engagement)) | {"failed": 0.5}
    assert report.as_dict()["rates"]["failed"] == 0.5


@SQLITE_ONLY
def test_an_unknown_campaign_is_not_found(db: Database) -> None:
    with pytest.raises(NotFoundError, match="no campaign with id 999"):
        campaign_report(db, 999)


@SQLITE_ONLY
def test_cli_report_as_text_and_json(env: dict[str, str], seeded: Seeded) -> None:
    text = run_cli(env, "report", str(seeded.first))
    assert text.returncode == 0, text.output
    assert f"campaign {seeded.first}: " in text.output and "list attendees" in text.output
    rows = {line.split()[0]: line.split()[1:] for line in text.output.splitlines() if line.strip() and line.split()[0].isalpha()}
    assert rows["delivered"] == ["5", "83.3%", "of", "sent"]
    assert rows["failed"] == ["1", "10.0%", "of", "recipients"]
    assert rows["hard"] == ["1"]
    assert "opened 2 (33.3%), clicked 1 (16.7%); events: opens 4, clicks 2" in text.output
    as_json = run_cli(env, "report", str(seeded.first), "--json")
    assert as_json.returncode == 0, as_json.output
    data = json.loads(as_json.output)
    assert (data["campaign"]["id"], data["sent"], data["unsubscribed"], data["rates"]["complained"]) == (seeded.first, 6, 2, 0.1667)
    assert data["ledger"]["in_doubt"] == 1


@SQLITE_ONLY
def test_cli_report_on_an_unknown_campaign_exits_2(env: dict[str, str]) -> None:
    result = run_cli(env, "report", "999")
    assert result.returncode == 2
    assert "no campaign with id 999" in result.output

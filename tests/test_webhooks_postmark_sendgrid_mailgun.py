"""Provider webhooks for Postmark, SendGrid and Mailgun, through the real app over HTTP.

Every call is built as the provider builds it: real basic auth for Postmark,
a real ECDSA P-256 signature (from a key pair made here) for SendGrid, a real
HMAC for Mailgun. The ledger is seeded with real rows, so events match
deliveries we sent; every refusal is checked to have changed nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import SecretStr
from sqlalchemy import select

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import (
    Delivery,
    DeliveryEvent,
    EventType,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from publisher.feedback.recording import ProviderEvent, record_events
from tests.support.campaigns import sent_batch, sent_delivery
from tests.support.types import ServeWeb

POSTMARK_USER, POSTMARK_PASSWORD = "postmark-hooks", "correct horse battery staple"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(SENDGRID_KEY.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()
#: SendGrid answers a send with one X-Message-Id for the whole call; Mailgun with one id in angle brackets.
SENDGRID_CALL_ID = "W86EgYT6SQKk0lRflfLRsA"
MAILGUN_CALL_ID = "<20261130192912.1.7A5B2C@mg.modu.example>"
ADA, BOB = "ada@example.com", "bob@example.com"
SOFT_BOUNCE_LIMIT = 2


# --- the ledger ----------------------------------------------------------------


@dataclass
class Sent:
    delivery_id: int
    subscriber_id: int
    email: str
    message_id: str
    provider_message_id: str


@dataclass
class Ledger:
    list_id: int
    other_list_id: int
    campaign_id: int
    sent: dict[str, Sent] = field(default_factory=dict)


def seed(db: Database, provider: str) -> Ledger:
    """A list, two confirmed subscribers, a campaign sent to both through ``provider``."""
    with db.transaction() as session:
        readers, other = MailingList(name="readers"), MailingList(name="other")
        session.add_all([readers, other])
        session.flush()
        batch = sent_batch(session, readers.id, provider)
        ledger = Ledger(list_id=readers.id, other_list_id=other.id, campaign_id=batch.campaign_id)
        for email in (ADA, BOB):
            subscriber = Subscriber(email=email)
            session.add(subscriber)
            session.flush()
            for mailing_list in (readers, other):
                session.add(
                    Subscription(list_id=mailing_list.id, subscriber_id=subscriber.id, status=SubscriptionStatus.CONFIRMED, source="test")
                )
            provider_message_id = {
                "postmark": f"{secrets.token_hex(4)}-6105-42a2-a16a-77a8eac79483",
                "sendgrid": SENDGRID_CALL_ID,
                "mailgun": MAILGUN_CALL_ID,
            }[provider]
            delivery = sent_delivery(session, batch, subscriber.id, email, provider, provider_message_id)
            ledger.sent[email] = Sent(delivery.id, subscriber.id, email, delivery.message_id, provider_message_id)
    return ledger


@dataclass
class Stored:
    email: str
    type: EventType
    provider: str
    dedupe_key: str
    occurred_at: dt.datetime
    detail: str


def stored_events(db: Database) -> list[Stored]:
    with db.transaction() as session:
        rows = session.execute(select(DeliveryEvent, Delivery.email).join(Delivery).order_by(DeliveryEvent.id)).all()
        return [Stored(email, event.type, event.provider, event.dedupe_key, event.occurred_at, event.detail) for event, email in rows]


def suppressions(db: Database) -> list[tuple[str | None, int | None, str, str]]:
    with db.transaction() as session:
        rows = session.scalars(select(Suppression).order_by(Suppression.id)).all()
        return [(row.email, row.list_id, row.source, row.reason) for row in rows]


def subscription_status(db: Database, email: str, list_id: int) -> SubscriptionStatus:
    with db.transaction() as session:
        query = select(Subscription.status).join(Subscriber).where(Subscriber.email == email, Subscription.list_id == list_id)
        return session.scalars(query).one()


def nothing_changed(db: Database, ledger: Ledger) -> bool:
    return (
        stored_events(db) == []
        and suppressions(db) == []
        and all(subscription_status(db, email, ledger.list_id) is SubscriptionStatus.CONFIRMED for email in ledger.sent)
    )


# --- the app -------------------------------------------------------------------


@pytest.fixture
def configured(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "postmark_webhook_username": POSTMARK_USER,
            "postmark_webhook_password": SecretStr(POSTMARK_PASSWORD),
            "sendgrid_webhook_public_key": SENDGRID_PUBLIC,
            "mailgun_webhook_signing_key": SecretStr(MAILGUN_KEY),
            "soft_bounce_limit": SOFT_BOUNCE_LIMIT,
        }
    )


@pytest.fixture
def app(configured: Settings, redis_client: redis.Redis, serve_web: ServeWeb) -> str:
    return serve_web(configured)


@pytest.fixture
def postmark_ledger(db: Database) -> Ledger:
    return seed(db, "postmark")


@pytest.fixture
def sendgrid_ledger(db: Database) -> Ledger:
    return seed(db, "sendgrid")


@pytest.fixture
def mailgun_ledger(db: Database) -> Ledger:
    return seed(db, "mailgun")


# --- Postmark --------------------------------------------------------------------


def postmark_record(sent: Sent, record_type: str, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "RecordType": record_type,
        "MessageID": sent.provider_message_id,
        "MessageStream": "broadcast",
        "Recipient": sent.email,
        "Tag": "campaign-1",
        "Metadata": {"delivery_id": str(sent.delivery_id), "message_id": sent.message_id},
    }
    record.update(fields)
    return record


def postmark_bounce(sent: Sent, bounce_type: str, bounce_id: int, **fields: Any) -> dict[str, Any]:
    bounce: dict[str, Any] = {
        "ID": bounce_id,
        "Type": bounce_type,
        "TypeCode": 1,
        "Name": bounce_type,
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": sent.email,
        "BouncedAt": "2026-11-30T13:28:10.2735393-04:00",
        "Inactive": True,
    }
    return postmark_record(sent, "Bounce", **{**bounce, **fields})


def post_postmark(
    url: str,
    record: object,
    *,
    auth: tuple[str, str] | None = (POSTMARK_USER, POSTMARK_PASSWORD),
    content_type: str = "application/json",
    body: bytes | None = None,
) -> requests.Response:
    data = json.dumps(record).encode() if body is None else body
    return requests.post(f"{url}/webhooks/postmark", data=data, auth=auth, headers={"Content-Type": content_type}, timeout=10)


def test_postmark_delivery_is_recorded_and_normalised(app: str, db: Database, postmark_ledger: Ledger) -> None:
    ada = postmark_ledger.sent[ADA]
    record = postmark_record(ada, "Delivery", DeliveredAt="2026-11-30T19:35:00Z", Details="Test delivery webhook details")
    response = post_postmark(app, record)
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": 1, "duplicates": 0, "unknown": [], "suppressed": 0, "unsubscribed": 0}
    [event] = stored_events(db)
    assert (event.email, event.type, event.provider) == (ADA, EventType.DELIVERED, "postmark")
    assert event.occurred_at == dt.datetime(2026, 11, 30, 19, 35, tzinfo=dt.UTC)
    assert event.detail == "Test delivery webhook details"
    assert event.dedupe_key.startswith("sha256:")
    assert suppressions(db) == []


def test_postmark_open_and_click_are_recorded(app: str, db: Database, postmark_ledger: Ledger) -> None:
    bob = postmark_ledger.sent[BOB]
    opened = postmark_record(bob, "Open", ReceivedAt="2026-11-30T20:00:00Z", FirstOpen=True)
    clicked = postmark_record(bob, "Click", ReceivedAt="2026-11-30T20:01:00Z", OriginalLink="https://modu.example/talks")
    assert post_postmark(app, opened).status_code == 200
    assert post_postmark(app, clicked).status_code == 200
    assert [(e.type, e.detail) for e in stored_events(db)] == [
        (EventType.OPENED, "first open"),
        (EventType.CLICKED, "https://modu.example/talks"),
    ]


def test_postmark_hard_bounce_suppresses_the_address_everywhere_at_once(app: str, db: Database, postmark_ledger: Ledger) -> None:
    response = post_postmark(app, postmark_bounce(postmark_ledger.sent[ADA], "HardBounce", 4242))
    assert response.status_code == 200, response.text
    assert response.json()["suppressed"] == 1
    [event] = stored_events(db)
    assert (event.type, event.dedupe_key) == (EventType.BOUNCED_HARD, "bounce:4242")
    assert event.occurred_at == dt.datetime(2026, 11, 30, 17, 28, 10, 273539, tzinfo=dt.UTC)
    assert event.detail.startswith("HardBounce: The server was unable to deliver")
    [(email, list_id, source, reason)] = suppressions(db)
    assert (email, list_id, source) == (ADA, None, "webhook:postmark")
    assert reason.startswith("hard bounce: HardBounce")


def test_postmark_spam_complaint_suppresses_the_address(app: str, db: Database, postmark_ledger: Ledger) -> None:
    bob = postmark_ledger.sent[BOB]
    record = postmark_record(bob, "SpamComplaint", ID=77, Type="SpamComplaint", Email=BOB, BouncedAt="2026-11-30T21:00:00Z")
    response = post_postmark(app, record)
    assert response.status_code == 200, response.text
    assert [(e.type, e.dedupe_key) for e in stored_events(db)] == [(EventType.COMPLAINED, "bounce:77")]
    assert [(email, list_id) for email, list_id, _, _ in suppressions(db)] == [(BOB, None)]


def test_postmark_soft_bounces_suppress_only_at_the_limit_and_a_redelivery_counts_once(
    app: str, db: Database, postmark_ledger: Ledger
) -> None:
    ada = postmark_ledger.sent[ADA]
    first = postmark_bounce(ada, "SoftBounce", 1001, Description="Mailbox full")
    assert post_postmark(app, first).json()["recorded"] == 1
    assert suppressions(db) == []
    # Postmark delivers the same webhook again: stored once, not counted twice.
    again = post_postmark(app, first)
    assert again.status_code == 200
    assert again.json() == {"recorded": 0, "duplicates": 1, "unknown": [], "suppressed": 0, "unsubscribed": 0}
    assert suppressions(db) == []
    assert len(stored_events(db)) == 1
    second = post_postmark(app, postmark_bounce(ada, "DnsError", 1002, Description="A temporary DNS error"))
    assert second.json()["suppressed"] == 1
    [(email, list_id, _, reason)] = suppressions(db)
    assert (email, list_id) == (ADA, None)
    assert reason.startswith(f"{SOFT_BOUNCE_LIMIT} soft bounces")
    assert [e.type for e in stored_events(db)] == [EventType.BOUNCED_SOFT, EventType.BOUNCED_SOFT]


def test_postmark_delays_and_auto_replies_are_not_soft_bounces(app: str, db: Database, postmark_ledger: Ledger) -> None:
    ada = postmark_ledger.sent[ADA]
    auto_reply = post_postmark(app, postmark_bounce(ada, "AutoResponder", 2001))
    assert auto_reply.status_code == 200
    assert auto_reply.json()["recorded"] == 0
    for bounce_id in (2002, 2003, 2004):
        assert post_postmark(app, postmark_bounce(ada, "Transient", bounce_id)).status_code == 200
    assert [e.type for e in stored_events(db)] == [EventType.DEFERRED] * 3
    assert suppressions(db) == []


def test_postmark_subscription_change_unsubscribes_from_the_campaigns_list_only(app: str, db: Database, postmark_ledger: Ledger) -> None:
    bob = postmark_ledger.sent[BOB]
    record = postmark_record(
        bob,
        "SubscriptionChange",
        ChangedAt="2026-11-30T22:00:00Z",
        Origin="Recipient",
        SuppressSending=True,
        SuppressionReason="ManualSuppression",
    )
    response = post_postmark(app, record)
    assert response.status_code == 200, response.text
    assert response.json()["unsubscribed"] == 1
    assert subscription_status(db, BOB, postmark_ledger.list_id) is SubscriptionStatus.UNSUBSCRIBED
    assert subscription_status(db, BOB, postmark_ledger.other_list_id) is SubscriptionStatus.CONFIRMED
    assert subscription_status(db, ADA, postmark_ledger.list_id) is SubscriptionStatus.CONFIRMED
    assert suppressions(db) == []
    # A reactivation never re-subscribes anyone.
    record.update(SuppressSending=False, ChangedAt="2026-11-30T23:00:00Z")
    assert post_postmark(app, record).json()["recorded"] == 0
    assert subscription_status(db, BOB, postmark_ledger.list_id) is SubscriptionStatus.UNSUBSCRIBED


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (None, "missing basic-auth credentials"),
        ((POSTMARK_USER, "wrong password"), "wrong webhook user name or password"),
        (("someone-else", POSTMARK_PASSWORD), "wrong webhook user name or password"),
    ],
)
def test_postmark_without_the_right_credentials_is_refused_and_changes_nothing(
    app: str, db: Database, postmark_ledger: Ledger, auth: tuple[str, str] | None, message: str
) -> None:
    response = post_postmark(app, postmark_bounce(postmark_ledger.sent[ADA], "HardBounce", 1), auth=auth)
    assert response.status_code == 401
    assert message in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Basic")
    assert nothing_changed(db, postmark_ledger)


def test_postmark_webhook_is_refused_while_no_credentials_are_configured(
    settings: Settings, redis_client: redis.Redis, serve_web: ServeWeb, db: Database
) -> None:
    ledger = seed(db, "postmark")
    url = serve_web(settings)
    response = post_postmark(url, postmark_bounce(ledger.sent[ADA], "HardBounce", 1))
    assert response.status_code == 401
    assert "webhook credentials are not configured" in response.json()["detail"]
    assert "NEWSLETTER_POSTMARK_WEBHOOK_PASSWORD" in response.json()["detail"]
    assert nothing_changed(db, ledger)


def test_an_event_for_a_message_we_never_sent_is_404_and_nothing_is_stored(app: str, db: Database, postmark_ledger: Ledger) -> None:
    stranger = Sent(999_999, 0, "nobody@example.com", "never-sent@modu.example", "00000000-0000-0000-0000-000000000000")
    response = post_postmark(app, postmark_bounce(stranger, "HardBounce", 5))
    assert response.status_code == 404
    assert response.json()["detail"].startswith("no delivery matches bounced_hard for never-sent@modu.example")
    assert nothing_changed(db, postmark_ledger)


def test_postmark_malformed_json_is_400_with_the_position(app: str, db: Database, postmark_ledger: Ledger) -> None:
    response = post_postmark(app, None, body=b'{"RecordType": "Bounce",\n "ID": }')
    assert response.status_code == 400
    assert response.json()["detail"] == "body is not valid JSON: Expecting value at line 2 column 8 (char 32)"
    assert nothing_changed(db, postmark_ledger)


def test_postmark_wrong_content_type_is_415(app: str, db: Database, postmark_ledger: Ledger) -> None:
    record = postmark_record(postmark_ledger.sent[ADA], "Delivery", DeliveredAt="2026-11-30T19:35:00Z")
    response = post_postmark(app, record, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["detail"] == "postmark webhooks must be sent as application/json, not application/x-www-form-urlencoded"
    assert nothing_changed(db, postmark_ledger)


@pytest.mark.parametrize(
    "body",
    [
        [],
        "a string",
        {"RecordType": 5},
        {"RecordType": "Delivery", "Metadata": "not an object", "MessageID": "\u0000abc", "DeliveredAt": "2026-11-30T00:00:00Z"},
        {"RecordType": "Delivery", "Metadata": {"delivery_id": "99999999999999999999"}, "DeliveredAt": "2026-11-30T00:00:00Z"},
        {"RecordType": "Delivery", "Metadata": {"delivery_id": 2**40, "message_id": ["x"]}, "MessageID": None, "DeliveredAt": "x"},
        {"RecordType": "Bounce", "Type": "HardBounce", "ID": {"a": 1}, "MessageID": "x", "BouncedAt": 1e30},
        {"RecordType": "Bounce", "Type": None, "ID": True, "Metadata": {"message_id": "\u0000"}, "BouncedAt": "2026-11-30T00:00:00Z"},
    ],
)
def test_postmark_odd_bodies_with_the_right_credentials_are_refused_not_crashed_on(
    app: str, db: Database, postmark_ledger: Ledger, body: object
) -> None:
    response = post_postmark(app, body)
    assert response.status_code in (400, 404), response.text
    assert nothing_changed(db, postmark_ledger)


def test_unknown_provider_is_404_naming_the_known_ones(app: str) -> None:
    response = requests.post(f"{app}/webhooks/sparkpost", json=[], timeout=10)
    assert response.status_code == 404
    body = response.json()
    assert {"postmark", "sendgrid", "mailgun"} <= set(body["providers"])
    assert "'sparkpost'" in body["detail"]
    assert "postmark" in body["detail"]


# --- SendGrid --------------------------------------------------------------------


def sendgrid_event(sent: Sent, event: str, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "email": sent.email,
        "timestamp": 1_796_068_800,
        "event": event,
        "sg_event_id": secrets.token_urlsafe(16),
        "sg_message_id": f"{sent.provider_message_id}.filterdrecv-5bd9f8f4-8xkbz-1-6930A1B2-5.0",
        "smtp-id": f"<{sent.message_id}>",
        "campaign_id": "1",
        "delivery_id": str(sent.delivery_id),
        "message_id": sent.message_id,
    }
    item.update(fields)
    return item


def sign_sendgrid(body: bytes, timestamp: str, key: ec.EllipticCurvePrivateKey = SENDGRID_KEY) -> str:
    return base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()


def post_sendgrid(
    url: str,
    events: object = None,
    *,
    body: bytes | None = None,
    key: ec.EllipticCurvePrivateKey = SENDGRID_KEY,
    timestamp: int | None = None,
    signed_body: bytes | None = None,
    signed: bool = True,
    content_type: str = "application/json",
) -> requests.Response:
    data = json.dumps(events).encode() if body is None else body
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"Content-Type": content_type}
    if signed:
        headers["X-Twilio-Email-Event-Webhook-Signature"] = sign_sendgrid(data if signed_body is None else signed_body, stamp, key)
        headers["X-Twilio-Email-Event-Webhook-Timestamp"] = stamp
    return requests.post(f"{url}/webhooks/sendgrid", data=data, headers=headers, timeout=10)


def test_sendgrid_batch_is_recorded_and_normalised(app: str, db: Database, sendgrid_ledger: Ledger) -> None:
    ada, bob = sendgrid_ledger.sent[ADA], sendgrid_ledger.sent[BOB]
    # Bob's events name only SendGrid's id and our delivery id: the part of
    # sg_message_id before the first dot must agree with the ledger.
    bob_ids = {"message_id": None}
    events = [
        sendgrid_event(ada, "processed"),
        sendgrid_event(ada, "delivered", response="250 2.0.0 OK", sg_event_id="evt-delivered-ada"),
        sendgrid_event(ada, "open", useragent="Mozilla/5.0"),
        sendgrid_event(ada, "click", url="https://modu.example/talks?a=1"),
        sendgrid_event(bob, "deferred", response="400 try again later", attempt="5", **bob_ids),
        sendgrid_event(bob, "bounce", type="blocked", status="4.0.0", reason="550 blocked by policy", **bob_ids),
        sendgrid_event(bob, "dropped", reason="Invalid SMTPAPI header", **bob_ids),
        sendgrid_event(bob, "group_resubscribe", asm_group_id=1, **bob_ids),
    ]
    response = post_sendgrid(app, events)
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": 5, "duplicates": 0, "unknown": [], "suppressed": 0, "unsubscribed": 0}
    stored = stored_events(db)
    assert [(e.email, e.type, e.detail) for e in stored] == [
        (ADA, EventType.DELIVERED, "250 2.0.0 OK"),
        (ADA, EventType.OPENED, ""),
        (ADA, EventType.CLICKED, "https://modu.example/talks?a=1"),
        (BOB, EventType.DEFERRED, "400 try again later"),
        (BOB, EventType.BOUNCED_SOFT, "blocked: 4.0.0 550 blocked by policy"),
    ]
    assert stored[0].dedupe_key == "evt-delivered-ada"
    assert stored[0].occurred_at == dt.datetime.fromtimestamp(1_796_068_800, dt.UTC)
    assert {e.provider for e in stored} == {"sendgrid"}
    assert suppressions(db) == []


def test_sendgrid_bounce_spamreport_and_unsubscribe_act_at_once(app: str, db: Database, sendgrid_ledger: Ledger) -> None:
    ada, bob = sendgrid_ledger.sent[ADA], sendgrid_ledger.sent[BOB]
    events = [
        sendgrid_event(ada, "bounce", type="bounce", status="5.1.1", reason="550 5.1.1 user unknown"),
        sendgrid_event(bob, "spamreport"),
        sendgrid_event(bob, "group_unsubscribe", asm_group_id=42),
    ]
    response = post_sendgrid(app, events)
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": 3, "duplicates": 0, "unknown": [], "suppressed": 2, "unsubscribed": 1}
    assert [(e.email, e.type) for e in stored_events(db)] == [
        (ADA, EventType.BOUNCED_HARD),
        (BOB, EventType.COMPLAINED),
        (BOB, EventType.UNSUBSCRIBED),
    ]
    assert [(email, list_id, source) for email, list_id, source, _ in suppressions(db)] == [
        (ADA, None, "webhook:sendgrid"),
        (BOB, None, "webhook:sendgrid"),
    ]
    assert subscription_status(db, BOB, sendgrid_ledger.list_id) is SubscriptionStatus.UNSUBSCRIBED
    assert subscription_status(db, BOB, sendgrid_ledger.other_list_id) is SubscriptionStatus.CONFIRMED


def test_sendgrid_dropped_for_a_known_bad_address_counts_as_a_hard_bounce(app: str, db: Database, sendgrid_ledger: Ledger) -> None:
    response = post_sendgrid(app, [sendgrid_event(sendgrid_ledger.sent[ADA], "dropped", reason="Bounced Address")])
    assert response.json()["suppressed"] == 1
    assert [(e.type, e.detail) for e in stored_events(db)] == [(EventType.BOUNCED_HARD, "dropped by SendGrid: Bounced Address")]


def test_sendgrid_same_call_delivered_twice_is_stored_once(app: str, db: Database, sendgrid_ledger: Ledger) -> None:
    bob = sendgrid_ledger.sent[BOB]
    body = json.dumps([sendgrid_event(bob, "bounce", type="blocked", reason="try later")]).encode()
    assert post_sendgrid(app, body=body).json()["recorded"] == 1
    again = post_sendgrid(app, body=body)
    assert again.status_code == 200
    assert again.json()["duplicates"] == 1
    assert len(stored_events(db)) == 1
    assert suppressions(db) == []  # one soft bounce, whatever the redeliveries


def test_sendgrid_some_unknown_events_are_reported_the_rest_recorded(app: str, db: Database, sendgrid_ledger: Ledger) -> None:
    stranger = Sent(999_999, 0, "x@example.com", "other-system@example.com", "OtherCallId")
    events = [sendgrid_event(sendgrid_ledger.sent[ADA], "delivered"), sendgrid_event(stranger, "delivered")]
    response = post_sendgrid(app, events)
    assert response.status_code == 200
    assert response.json()["recorded"] == 1
    assert response.json()["unknown"] == ["delivered for other-system@example.com"]


def test_sendgrid_batch_of_only_unknown_messages_is_404(app: str, db: Database, sendgrid_ledger: Ledger) -> None:
    stranger = Sent(999_999, 0, "x@example.com", "other-system@example.com", "OtherCallId")
    response = post_sendgrid(app, [sendgrid_event(stranger, "bounce", type="bounce")])
    assert response.status_code == 404
    assert "no delivery matches" in response.json()["detail"]
    assert nothing_changed(db, sendgrid_ledger)


@pytest.mark.timing
def test_sendgrid_calls_without_a_valid_signature_are_refused_and_change_nothing(app: str, db: Database, sendgrid_ledger: Ledger) -> None:
    events = [sendgrid_event(sendgrid_ledger.sent[ADA], "bounce", type="bounce"), sendgrid_event(sendgrid_ledger.sent[BOB], "spamreport")]
    original = json.dumps(events).encode()
    tampered = original.replace(b"spamreport", b"unsubscribe")
    now = int(time.time())
    refusals = {
        "unsigned": post_sendgrid(app, events, signed=False),
        "someone else's key": post_sendgrid(app, events, key=OTHER_KEY),
        "tampered body": post_sendgrid(app, body=tampered, signed_body=original),
        "stale": post_sendgrid(app, events, timestamp=now - 11 * 60),
        "future": post_sendgrid(app, events, timestamp=now + 11 * 60),
    }
    for case, response in refusals.items():
        assert response.status_code == 401, case
    assert "missing signature" in refusals["unsigned"].json()["detail"]
    assert refusals["tampered body"].json()["detail"] == "signature does not match the body and timestamp"
    assert "old" in refusals["stale"].json()["detail"]
    assert "future" in refusals["future"].json()["detail"]
    assert nothing_changed(db, sendgrid_ledger)


def test_sendgrid_signature_with_a_changed_timestamp_is_refused(app: str, db: Database, sendgrid_ledger: Ledger) -> None:
    body = json.dumps([sendgrid_event(sendgrid_ledger.sent[ADA], "spamreport")]).encode()
    old = str(int(time.time()) - 3600)
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": sign_sendgrid(body, old),
        "X-Twilio-Email-Event-Webhook-Timestamp": str(int(time.time())),
    }
    response = requests.post(f"{app}/webhooks/sendgrid", data=body, headers=headers, timeout=10)
    assert response.status_code == 401
    assert nothing_changed(db, sendgrid_ledger)


def test_sendgrid_signed_malformed_json_is_400(app: str, db: Database, sendgrid_ledger: Ledger) -> None:
    response = post_sendgrid(app, body=b'[{"event": "bounce",}]')
    assert response.status_code == 400
    assert response.json()["detail"].startswith(
        "body is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 21"
    )
    not_an_array = post_sendgrid(app, body=b'{"event": "bounce"}')
    assert not_an_array.status_code == 400
    assert "JSON array" in not_an_array.json()["detail"]
    assert nothing_changed(db, sendgrid_ledger)


@pytest.mark.parametrize(
    "events",
    [
        [1, 2],
        [{"event": None}],
        [{"event": "bounce", "timestamp": True, "sg_message_id": "x"}],
        [{"event": "open", "timestamp": 1e30, "sg_message_id": "x"}],
        [{"event": "click", "timestamp": 1_796_068_800, "delivery_id": "99999999999999999999", "message_id": "\u0000"}],
        [{"event": "delivered", "timestamp": 1_796_068_800, "sg_message_id": {"a": 1}, "delivery_id": -4}],
    ],
)
def test_sendgrid_odd_signed_bodies_are_refused_not_crashed_on(app: str, db: Database, sendgrid_ledger: Ledger, events: object) -> None:
    response = post_sendgrid(app, events)
    assert response.status_code in (400, 404), response.text
    assert nothing_changed(db, sendgrid_ledger)


def test_sendgrid_unsigned_call_with_the_wrong_content_type_is_refused(app: str, db: Database, sendgrid_ledger: Ledger) -> None:
    response = post_sendgrid(app, [sendgrid_event(sendgrid_ledger.sent[ADA], "spamreport")], content_type="text/plain")
    assert response.status_code == 415
    assert nothing_changed(db, sendgrid_ledger)


# --- Mailgun ---------------------------------------------------------------------


def mailgun_event(sent: Sent, event: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": secrets.token_urlsafe(16),
        "timestamp": 1796068800.25,
        "event": event,
        "recipient": sent.email,
        "message": {"headers": {"message-id": sent.provider_message_id.strip("<>"), "to": sent.email}},
        "user-variables": {"campaign_id": "1", "delivery_id": str(sent.delivery_id), "message_id": sent.message_id},
    }
    data.update(fields)
    return data


def mailgun_signature(*, key: str = MAILGUN_KEY, timestamp: int | None = None, token: str | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": stamp, "token": token, "signature": signature}


def post_mailgun(url: str, event_data: object, signature: dict[str, str] | None = None, *, body: bytes | None = None) -> requests.Response:
    payload: dict[str, Any] = {"event-data": event_data}
    if signature is not None:
        payload["signature"] = signature
    data = json.dumps(payload).encode() if body is None else body
    return requests.post(f"{url}/webhooks/mailgun", data=data, headers={"Content-Type": "application/json"}, timeout=10)


def test_mailgun_delivered_is_recorded_and_normalised(app: str, db: Database, mailgun_ledger: Ledger) -> None:
    data = mailgun_event(
        mailgun_ledger.sent[ADA], "delivered", id="CPgfbmQMTCKtHW6uIWtuVe", **{"delivery-status": {"code": 250, "message": "OK"}}
    )
    response = post_mailgun(app, data, mailgun_signature())
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 1
    [event] = stored_events(db)
    assert (event.email, event.type, event.provider, event.detail) == (ADA, EventType.DELIVERED, "mailgun", "250 OK")
    assert event.dedupe_key == "CPgfbmQMTCKtHW6uIWtuVe@1796068800.25"
    assert event.occurred_at == dt.datetime.fromtimestamp(1796068800.25, dt.UTC)


def test_mailgun_permanent_failure_suppresses_and_temporary_one_is_a_deferral(app: str, db: Database, mailgun_ledger: Ledger) -> None:
    ada, bob = mailgun_ledger.sent[ADA], mailgun_ledger.sent[BOB]
    status = {"code": 550, "description": "No such user"}
    for _ in range(SOFT_BOUNCE_LIMIT + 1):
        retry = mailgun_event(
            bob, "failed", severity="temporary", reason="generic", **{"delivery-status": {"code": 452, "message": "try later"}}
        )
        assert post_mailgun(app, retry, mailgun_signature()).status_code == 200
    assert suppressions(db) == []
    hard = post_mailgun(
        app, mailgun_event(ada, "failed", severity="permanent", reason="bounce", **{"delivery-status": status}), mailgun_signature()
    )
    assert hard.json()["suppressed"] == 1
    assert [(e.email, e.type) for e in stored_events(db)] == [(BOB, EventType.DEFERRED)] * 3 + [(ADA, EventType.BOUNCED_HARD)]
    assert stored_events(db)[-1].detail == "permanent failure (bounce) 550 No such user"
    assert [(email, list_id, source) for email, list_id, source, _ in suppressions(db)] == [(ADA, None, "webhook:mailgun")]


def test_mailgun_complaint_and_unsubscribe(app: str, db: Database, mailgun_ledger: Ledger) -> None:
    ada, bob = mailgun_ledger.sent[ADA], mailgun_ledger.sent[BOB]
    assert post_mailgun(app, mailgun_event(ada, "complained"), mailgun_signature()).json()["suppressed"] == 1
    assert post_mailgun(app, mailgun_event(bob, "unsubscribed"), mailgun_signature()).json()["unsubscribed"] == 1
    assert subscription_status(db, BOB, mailgun_ledger.list_id) is SubscriptionStatus.UNSUBSCRIBED
    assert subscription_status(db, BOB, mailgun_ledger.other_list_id) is SubscriptionStatus.CONFIRMED
    assert [(email, list_id) for email, list_id, _, _ in suppressions(db)] == [(ADA, None)]
    clicked = mailgun_event(bob, "clicked", url="https://modu.example/x")
    assert post_mailgun(app, clicked, mailgun_signature()).status_code == 200
    accepted = post_mailgun(app, mailgun_event(bob, "accepted"), mailgun_signature())
    assert accepted.status_code == 200
    assert accepted.json()["recorded"] == 0
    assert [e.type for e in stored_events(db)] == [EventType.COMPLAINED, EventType.UNSUBSCRIBED, EventType.CLICKED]


def test_mailgun_event_without_our_variables_matches_on_the_message_id_header(app: str, db: Database, mailgun_ledger: Ledger) -> None:
    ada = mailgun_ledger.sent[ADA]
    # Our Message-ID header, no user-variables.
    ours = mailgun_event(ada, "opened", **{"user-variables": {}, "message": {"headers": {"message-id": ada.message_id}}})
    assert post_mailgun(app, ours, mailgun_signature()).json()["recorded"] == 1
    # Mailgun's id and our delivery id: both must agree with the ledger.
    theirs = mailgun_event(ada, "opened", **{"user-variables": {"delivery_id": str(ada.delivery_id)}})
    assert post_mailgun(app, theirs, mailgun_signature()).json()["recorded"] == 1
    wrong = mailgun_event(ada, "opened", **{"user-variables": {"delivery_id": str(mailgun_ledger.sent[BOB].delivery_id)}})
    wrong["message"]["headers"]["message-id"] = "another-call@mg.modu.example"
    assert post_mailgun(app, wrong, mailgun_signature()).status_code == 404
    assert len(stored_events(db)) == 2


def test_a_guessed_delivery_id_alone_matches_nothing(app: str, db: Database, mailgun_ledger: Ledger) -> None:
    """Mailgun signs only timestamp and token: a forged event naming a delivery id, without our or Mailgun's message id, acts on nothing."""
    forged = mailgun_event(
        mailgun_ledger.sent[ADA],
        "complained",
        **{"user-variables": {"delivery_id": str(mailgun_ledger.sent[ADA].delivery_id)}, "message": {}},
    )
    response = post_mailgun(app, forged, mailgun_signature())
    assert response.status_code == 404
    assert nothing_changed(db, mailgun_ledger)


def test_mailgun_replayed_token_is_refused(app: str, db: Database, mailgun_ledger: Ledger) -> None:
    bob = mailgun_ledger.sent[BOB]
    signature = mailgun_signature()
    original = mailgun_event(bob, "opened")
    assert post_mailgun(app, original, signature).status_code == 200
    replay = post_mailgun(app, original, signature)
    assert replay.status_code == 401
    assert "token already used" in replay.json()["detail"]
    # Mailgun signs only timestamp + token: a captured call with other
    # event-data is refused the same way once its token has been seen.
    forged = mailgun_event(bob, "complained")
    assert post_mailgun(app, forged, signature).status_code == 401
    assert [e.type for e in stored_events(db)] == [EventType.OPENED]
    assert suppressions(db) == []


@pytest.mark.timing
def test_mailgun_calls_without_a_valid_signature_are_refused_and_change_nothing(
    app: str, db: Database, mailgun_ledger: Ledger, redis_client: redis.Redis
) -> None:
    data = mailgun_event(mailgun_ledger.sent[ADA], "failed", severity="permanent", reason="bounce")
    good = mailgun_signature()
    refusals = {
        "unsigned": post_mailgun(app, data),
        "wrong key": post_mailgun(app, data, mailgun_signature(key="key-somebody-else")),
        "signature of another token": post_mailgun(app, data, {**good, "token": secrets.token_hex(25)}),
        "stale": post_mailgun(app, data, mailgun_signature(timestamp=int(time.time()) - 11 * 60)),
        "future": post_mailgun(app, data, mailgun_signature(timestamp=int(time.time()) + 11 * 60)),
        "signature not a string": post_mailgun(app, data, {**good, "signature": 12}),  # type: ignore[dict-item]
    }
    for case, response in refusals.items():
        assert response.status_code == 401, case
    assert refusals["wrong key"].json()["detail"] == "signature does not match"
    assert nothing_changed(db, mailgun_ledger)
    # None of the refused calls used up a token.
    assert redis_client.keys("newsletter:webhook:mailgun:token:*") == []
    assert post_mailgun(app, data, good).status_code == 200


def test_mailgun_token_of_a_call_that_matched_nothing_is_given_back(app: str, db: Database, mailgun_ledger: Ledger) -> None:
    stranger = Sent(999_999, 0, "x@example.com", "never@modu.example", "<never@mg.modu.example>")
    signature = mailgun_signature()
    data = mailgun_event(stranger, "delivered")
    assert post_mailgun(app, data, signature).status_code == 404
    # Mailgun retries a call that was not accepted: the retry is judged again, not refused as a replay.
    assert post_mailgun(app, data, signature).status_code == 404
    assert nothing_changed(db, mailgun_ledger)


def test_mailgun_signed_malformed_json_is_400_and_event_data_is_checked(app: str, db: Database, mailgun_ledger: Ledger) -> None:
    broken = post_mailgun(app, None, body=b'{"signature": {"timestamp": "1", "token": "t", "signature": "s"}, "event-data": [}')
    assert broken.status_code == 400
    assert "at line 1 column 82" in broken.json()["detail"]
    no_data = post_mailgun(app, "not an object", mailgun_signature())
    assert no_data.status_code == 400
    assert no_data.json()["detail"] == "the body has no 'event-data' object"
    assert nothing_changed(db, mailgun_ledger)


@pytest.mark.parametrize(
    "event_data",
    [
        {"event": 7},
        {"event": "failed", "severity": ["permanent"], "timestamp": "soon", "user-variables": {"message_id": "m"}},
        {"event": "opened", "timestamp": 1e30, "user-variables": {"message_id": "m"}},
        {"event": "opened", "timestamp": 1, "user-variables": "x", "message": "y"},
        {"event": "opened", "timestamp": 1, "user-variables": {"delivery_id": "99999999999999999999"}, "message": {"headers": []}},
        {"event": "delivered", "timestamp": 1, "delivery-status": {"code": {"a": 1}}, "message": {"headers": {"message-id": "\u0000"}}},
    ],
)
def test_mailgun_odd_signed_bodies_are_refused_not_crashed_on(app: str, db: Database, mailgun_ledger: Ledger, event_data: object) -> None:
    response = post_mailgun(app, event_data, mailgun_signature())
    assert response.status_code in (400, 404), response.text
    assert nothing_changed(db, mailgun_ledger)


def test_mailgun_form_posts_of_the_legacy_webhooks_get_415(app: str, mailgun_ledger: Ledger) -> None:
    response = requests.post(f"{app}/webhooks/mailgun", data={"event": "delivered", **mailgun_signature()}, timeout=10)
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


# --- through publisher.feedback.recording directly ---------------------------------------------


def test_events_from_different_providers_never_collide_on_their_ids(configured: Settings, db: Database) -> None:
    ledger = seed(db, "postmark")
    ada = ledger.sent[ADA]
    moment = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    events = [
        ProviderEvent("postmark", EventType.OPENED, moment, message_id=ada.message_id, event_id="same-id"),
        ProviderEvent("mailgun", EventType.OPENED, moment, message_id=ada.message_id, event_id="same-id"),
    ]
    with db.transaction() as session:
        report = record_events(session, configured, events)
    assert (report.recorded, report.duplicates) == (2, 0)

"""Resend (Svix-signed) and Amazon SES (over SNS) webhooks, over HTTP against the real app.

Resend calls are signed with a real ``whsec_`` secret. SES calls are real SNS
envelopes signed with a throwaway RSA key whose self-signed certificate is
served by a loopback "AWS" server (tests/fakes/aws.py); that server also
records every request, so the tests see which certificates were fetched and
which SubscribeURLs visited.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from pydantic import SecretStr
from sqlalchemy import select
from svix.webhooks import Webhook

from publisher.audience.suppressions import is_suppressed
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import DeliveryEvent, MailingList, Subscriber
from publisher.web.webhooks import sns
from publisher.web.webhooks.base import WebhookRejected
from tests.fakes.aws import FakeAws, SigningIdentity, make_identity, running_fake_aws
from tests.support.campaigns import sent_batch, sent_delivery
from tests.support.types import ServeWeb
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

RESEND_SECRET = "whsec_" + base64.b64encode(b"resend-test-signing-key-0123").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"somebody-elses-signing-key-9").decode()
TOPIC = "arn:aws:sns:eu-west-1:123456789012:newsletter-events"
SOFT_BOUNCE_LIMIT = 2


# --- the ledger ----------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """A delivery we sent, as the ledger has it."""

    delivery_id: int
    email: str
    provider_message_id: str


def send_record(db: Database, provider: str, email: str = "ada@example.com") -> Sent:
    """Put one sent delivery in the ledger, as the workers leave it."""
    provider_message_id = f"{provider}-{uuid.uuid4()}"
    with db.transaction() as session:
        mailing_list = MailingList(name=f"list-{uuid.uuid4().hex[:8]}")
        subscriber = Subscriber(email=email)
        session.add_all([mailing_list, subscriber])
        session.flush()
        batch = sent_batch(session, mailing_list.id, provider)
        delivery = sent_delivery(session, batch, subscriber.id, email, provider, provider_message_id)
        return Sent(delivery.id, email, provider_message_id)


def stored_events(db: Database) -> list[tuple[str, str]]:
    with db.transaction() as session:
        rows = session.execute(select(DeliveryEvent.type, DeliveryEvent.detail).order_by(DeliveryEvent.id)).all()
    return [(str(kind), detail) for kind, detail in rows]


def suppressed(db: Database, email: str) -> bool:
    with db.transaction() as session:
        return is_suppressed(session, email)


# --- Resend --------------------------------------------------------------------


@pytest.fixture
def resend_url(settings: Settings, redis_client: redis.Redis, serve_web: ServeWeb) -> str:
    return serve_web(
        settings.model_copy(update={"resend_webhook_secret": SecretStr(RESEND_SECRET), "soft_bounce_limit": SOFT_BOUNCE_LIMIT})
    )


def resend_event(kind: str, sent: Sent, *, tags: Any = None, **extra: Any) -> dict[str, Any]:
    if tags is None:
        tags = [{"name": "delivery_id", "value": str(sent.delivery_id)}, {"name": "campaign_id", "value": "1"}]
    data = {
        "email_id": sent.provider_message_id,
        "from": "Modu Events <events@modu.example>",
        "to": [sent.email],
        "subject": "Issue 1",
        "created_at": "2026-11-30T10:00:00.000Z",
        "tags": tags,
        **extra,
    }
    return {"type": kind, "created_at": "2026-11-30T10:05:00.000Z", "data": data}


def post_resend(
    url: str,
    payload: dict[str, Any] | bytes,
    *,
    secret: str = RESEND_SECRET,
    svix_id: str | None = None,
    at: dt.datetime | None = None,
    tamper: Callable[[bytes], bytes] | None = None,
) -> requests.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    svix_id = svix_id or f"msg_{uuid.uuid4().hex}"
    at = at or dt.datetime.now(dt.UTC)
    headers = {
        "Content-Type": "application/json",
        "svix-id": svix_id,
        "svix-timestamp": str(int(at.timestamp())),
        "svix-signature": Webhook(secret).sign(svix_id, at, body.decode()),
    }
    return requests.post(f"{url}/webhooks/resend", data=tamper(body) if tamper else body, headers=headers, timeout=10)


def test_resend_delivery_open_click_and_delay_are_recorded_normalised(resend_url: str, db: Database) -> None:
    sent = send_record(db, "resend")
    calls = [
        resend_event("email.delivered", sent),
        resend_event("email.opened", sent),
        resend_event("email.clicked", sent, click={"link": "https://modu.example/talks", "ipAddress": "192.0.2.1"}),
        resend_event("email.delivery_delayed", sent),
    ]
    for payload in calls:
        response = post_resend(resend_url, payload)
        assert response.status_code == 200, response.text
        assert response.json()["recorded"] == 1
    assert stored_events(db) == [("delivered", ""), ("opened", ""), ("clicked", "https://modu.example/talks"), ("deferred", "")]
    assert not suppressed(db, sent.email)


def test_resend_permanent_bounce_suppresses_at_once(resend_url: str, db: Database) -> None:
    sent = send_record(db, "resend")
    # Tags as a {name: value} object, the other shape Resend documents.
    bounce = {"type": "Permanent", "subType": "General", "message": "550 5.1.1 user unknown"}
    payload = resend_event("email.bounced", sent, tags={"delivery_id": str(sent.delivery_id)}, bounce=bounce)
    response = post_resend(resend_url, payload)
    assert response.status_code == 200, response.text
    assert response.json()["suppressed"] == 1
    assert stored_events(db) == [("bounced_hard", "Permanent/General: 550 5.1.1 user unknown")]
    assert suppressed(db, sent.email)


def test_resend_nul_characters_in_text_fields_are_dropped(resend_url: str, db: Database) -> None:
    sent = send_record(db, "resend")
    payload = resend_event("email.bounced", sent, bounce={"type": "Permanent", "subType": "Gen\u0000eral", "message": "550\u0000 gone"})
    response = post_resend(resend_url, payload)
    assert response.status_code == 200, response.text
    assert stored_events(db) == [("bounced_hard", "Permanent/General: 550 gone")]


def test_resend_transient_bounce_suppresses_only_at_the_limit(resend_url: str, db: Database) -> None:
    sent = send_record(db, "resend")
    payload = resend_event("email.bounced", sent, bounce={"type": "Transient", "subType": "MailboxFull", "message": "mailbox full"})
    assert post_resend(resend_url, payload).status_code == 200
    assert not suppressed(db, sent.email)
    second = post_resend(resend_url, payload)
    assert second.json()["suppressed"] == 1
    assert [kind for kind, _ in stored_events(db)] == ["bounced_soft"] * SOFT_BOUNCE_LIMIT
    assert suppressed(db, sent.email)


def test_resend_complaint_suppresses_at_once(resend_url: str, db: Database) -> None:
    sent = send_record(db, "resend")
    response = post_resend(resend_url, resend_event("email.complained", sent))
    assert response.status_code == 200, response.text
    assert stored_events(db) == [("complained", "")]
    assert suppressed(db, sent.email)


def test_resend_retried_call_is_stored_once(resend_url: str, db: Database) -> None:
    sent = send_record(db, "resend")
    payload = resend_event("email.delivered", sent)
    first = post_resend(resend_url, payload, svix_id="msg_retried")
    again = post_resend(resend_url, payload, svix_id="msg_retried")
    assert (first.json()["recorded"], again.json()["recorded"], again.json()["duplicates"]) == (1, 0, 1)
    assert stored_events(db) == [("delivered", "")]


def test_resend_sent_event_is_ignored(resend_url: str, db: Database) -> None:
    sent = send_record(db, "resend")
    response = post_resend(resend_url, resend_event("email.sent", sent))
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 0
    assert stored_events(db) == []


def test_resend_unsigned_call_is_401(resend_url: str, db: Database) -> None:
    sent = send_record(db, "resend")
    body = json.dumps(resend_event("email.complained", sent))
    response = requests.post(f"{resend_url}/webhooks/resend", data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 401
    assert "svix-signature" in response.json()["detail"]
    assert stored_events(db) == []
    assert not suppressed(db, sent.email)


def test_resend_wrong_signature_is_401_and_changes_nothing(resend_url: str, db: Database) -> None:
    sent = send_record(db, "resend")
    response = post_resend(resend_url, resend_event("email.complained", sent), secret=OTHER_SECRET)
    assert response.status_code == 401
    assert "signature" in response.json()["detail"].lower()
    assert stored_events(db) == []
    assert not suppressed(db, sent.email)


def test_resend_tampered_body_is_401(resend_url: str, db: Database) -> None:
    sent = send_record(db, "resend")
    payload = resend_event("email.bounced", sent, bounce={"type": "Transient", "subType": "General", "message": "try later"})
    response = post_resend(resend_url, payload, tamper=lambda body: body.replace(b'"Transient"', b'"Permanent"'))
    assert response.status_code == 401
    assert stored_events(db) == []
    assert not suppressed(db, sent.email)


@pytest.mark.timing
def test_resend_stale_timestamp_is_401(resend_url: str, db: Database) -> None:
    sent = send_record(db, "resend")
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
    response = post_resend(resend_url, resend_event("email.complained", sent), at=stale)
    assert response.status_code == 401
    assert "too old" in response.json()["detail"]
    assert stored_events(db) == []


def test_resend_without_a_secret_setting_is_401_naming_it(web_url: str, db: Database) -> None:
    sent = send_record(db, "resend")
    response = post_resend(web_url, resend_event("email.complained", sent))
    assert response.status_code == 401
    assert "NEWSLETTER_RESEND_WEBHOOK_SECRET" in response.json()["detail"]
    assert stored_events(db) == []


def test_resend_email_we_never_sent_is_404(resend_url: str, db: Database) -> None:
    stranger = Sent(delivery_id=999_999, email="stranger@example.com", provider_message_id="not-ours")
    response = post_resend(resend_url, resend_event("email.complained", stranger, tags=[]))
    assert response.status_code == 404
    assert stored_events(db) == []


def test_resend_email_id_contradicting_the_delivery_tag_is_404(resend_url: str, db: Database) -> None:
    sent = send_record(db, "resend")
    # Our delivery id, but another email's Resend id: the event is not about our delivery.
    payload = resend_event("email.complained", sent)
    payload["data"]["email_id"] = "someone-elses-email"
    response = post_resend(resend_url, payload)
    assert response.status_code == 404
    assert not suppressed(db, sent.email)


def test_resend_signed_body_that_is_not_an_event_is_400(resend_url: str, db: Database) -> None:
    response = post_resend(resend_url, b'["not", "an", "event"]')
    assert response.status_code == 400
    assert stored_events(db) == []


# --- Amazon SES over SNS -------------------------------------------------------


@pytest.fixture(scope="module")
def sns_identity() -> SigningIdentity:
    return make_identity()


@pytest.fixture(scope="module")
def impostor() -> SigningIdentity:
    return make_identity()


@pytest.fixture
def aws(sns_identity: SigningIdentity) -> Iterator[FakeAws]:
    with running_fake_aws(sns_identity) as fake:
        yield fake


@pytest.fixture(autouse=True)
def fresh_certificate_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with an empty certificate cache, and no fetches or failures of other tests counted."""
    monkeypatch.setattr(sns, "_cache", sns.CertificateCache())


@pytest.fixture
def ses_url(settings: Settings, aws: FakeAws, redis_client: redis.Redis, serve_web: ServeWeb) -> str:
    update = {
        "sns_certificate_url_pattern": rf"http://127\.0\.0\.1:{aws.port}/[A-Za-z0-9-]+\.pem",
        "ses_sns_topic_arns": f"arn:aws:sns:eu-west-1:123456789012:other, {TOPIC}",
        "soft_bounce_limit": SOFT_BOUNCE_LIMIT,
    }
    return serve_web(settings.model_copy(update=update))


def string_to_sign(envelope: dict[str, Any]) -> bytes:
    """The canonical string of the AWS documentation, written out independently of the app."""
    if envelope["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{name}\n{envelope[name]}\n" for name in names if name in envelope).encode()


def sns_envelope(
    aws: FakeAws,
    message: dict[str, Any] | str,
    *,
    kind: str = "Notification",
    version: str = "2",
    signer: SigningIdentity | None = None,
    topic: str = TOPIC,
    message_id: str | None = None,
    cert_url: str | None = None,
    subject: str | None = None,
    subscribe_url: str | None = None,
) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "Type": kind,
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "SignatureVersion": version,
        "SigningCertURL": cert_url or aws.cert_url,
    }
    if subject is not None:
        envelope["Subject"] = subject
    if kind != "Notification":
        envelope["Token"] = "2336412f37fb687f5d51e6e2425c464de"
        envelope["SubscribeURL"] = subscribe_url or f"{aws.origin}/?Action=ConfirmSubscription&TopicArn={topic}&Token=2336412f37fb"
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 (SNS SignatureVersion 1 is SHA1withRSA)
    key = (signer or aws.identity).key
    envelope["Signature"] = base64.b64encode(key.sign(string_to_sign(envelope), padding.PKCS1v15(), digest)).decode()
    return envelope


def post_sns(url: str, envelope: dict[str, Any] | str) -> requests.Response:
    body = envelope if isinstance(envelope, str) else json.dumps(envelope)
    headers = {"Content-Type": "text/plain; charset=UTF-8"}
    if isinstance(envelope, dict):
        headers["x-amz-sns-message-type"] = str(envelope.get("Type"))
    return requests.post(f"{url}/webhooks/ses", data=body.encode(), headers=headers, timeout=10)


def ses_record(event_type: str, sent: Sent, *, tagged: bool = True, **sections: Any) -> dict[str, Any]:
    mail: dict[str, Any] = {
        "timestamp": "2026-11-30T10:00:00.000Z",
        "source": "events@modu.example",
        "messageId": sent.provider_message_id,
        "destination": [sent.email],
    }
    if tagged:
        mail["tags"] = {"ses:configuration-set": ["newsletter"], "delivery_id": [str(sent.delivery_id)], "campaign_id": ["1"]}
    return {"eventType": event_type, "mail": mail, **sections}


def bounce(sent: Sent, bounce_type: str, sub_type: str, code: str) -> dict[str, Any]:
    recipient = {"emailAddress": sent.email, "action": "failed", "status": "5.1.1", "diagnosticCode": code}
    return {"bounceType": bounce_type, "bounceSubType": sub_type, "bouncedRecipients": [recipient], "timestamp": "2026-11-30T10:01:00.000Z"}


def test_ses_permanent_bounce_signed_v2_suppresses_at_once(ses_url: str, aws: FakeAws, db: Database) -> None:
    sent = send_record(db, "ses")
    record = ses_record("Bounce", sent, bounce=bounce(sent, "Permanent", "General", "smtp; 550 5.1.1 user unknown"))
    response = post_sns(ses_url, sns_envelope(aws, record, version="2"))
    assert response.status_code == 200, response.text
    assert response.json()["suppressed"] == 1
    assert stored_events(db) == [("bounced_hard", "Permanent/General: smtp; 550 5.1.1 user unknown")]
    assert suppressed(db, sent.email)


def test_ses_transient_bounce_signed_v1_suppresses_only_at_the_limit(ses_url: str, aws: FakeAws, db: Database) -> None:
    sent = send_record(db, "ses")
    record = ses_record("Bounce", sent, bounce=bounce(sent, "Transient", "MailboxFull", "smtp; 452 4.2.2 mailbox full"))
    assert post_sns(ses_url, sns_envelope(aws, record, version="1", subject="Amazon SES Email Event Notification")).status_code == 200
    assert not suppressed(db, sent.email)
    assert post_sns(ses_url, sns_envelope(aws, record, version="1")).status_code == 200
    assert [kind for kind, _ in stored_events(db)] == ["bounced_soft"] * SOFT_BOUNCE_LIMIT
    assert suppressed(db, sent.email)


def test_ses_identity_complaint_without_tags_is_matched_by_message_id(ses_url: str, aws: FakeAws, db: Database) -> None:
    sent = send_record(db, "ses")
    record = ses_record("Complaint", sent, tagged=False)
    record["notificationType"] = record.pop("eventType")
    record["complaint"] = {"complainedRecipients": [{"emailAddress": sent.email}], "complaintFeedbackType": "abuse"}
    response = post_sns(ses_url, sns_envelope(aws, record))
    assert response.status_code == 200, response.text
    assert stored_events(db) == [("complained", "abuse")]
    assert suppressed(db, sent.email)


def test_ses_delivery_open_click_and_delay_are_recorded_normalised(ses_url: str, aws: FakeAws, db: Database) -> None:
    sent = send_record(db, "ses")
    records = [
        ses_record("Delivery", sent, delivery={"timestamp": "2026-11-30T10:00:02Z", "recipients": [sent.email], "smtpResponse": "250 ok"}),
        ses_record("Open", sent, open={"timestamp": "2026-11-30T11:00:00Z", "ipAddress": "192.0.2.1"}),
        ses_record("Click", sent, click={"timestamp": "2026-11-30T11:01:00Z", "link": "https://modu.example/talks"}),
        ses_record(
            "DeliveryDelay",
            sent,
            deliveryDelay={"delayType": "MailboxFull", "delayedRecipients": [{"emailAddress": sent.email, "status": "4.2.2"}]},
        ),
    ]
    for record in records:
        response = post_sns(ses_url, sns_envelope(aws, record))
        assert response.status_code == 200, response.text
    assert stored_events(db) == [
        ("delivered", "250 ok"),
        ("opened", ""),
        ("clicked", "https://modu.example/talks"),
        ("deferred", "MailboxFull: 4.2.2"),
    ]
    assert not suppressed(db, sent.email)


def test_ses_retried_notification_is_stored_once_and_the_certificate_fetched_once(ses_url: str, aws: FakeAws, db: Database) -> None:
    sent = send_record(db, "ses")
    envelope = sns_envelope(aws, ses_record("Delivery", sent, delivery={"timestamp": "2026-11-30T10:00:02Z"}))
    first, again = post_sns(ses_url, envelope), post_sns(ses_url, envelope)
    assert (first.json()["recorded"], again.json()["recorded"], again.json()["duplicates"]) == (1, 0, 1)
    assert stored_events(db) == [("delivered", "")]
    assert len(aws.fetched("/SimpleNotificationService")) == 1


def test_ses_send_event_is_ignored(ses_url: str, aws: FakeAws, db: Database) -> None:
    sent = send_record(db, "ses")
    response = post_sns(ses_url, sns_envelope(aws, ses_record("Send", sent, send={})))
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 0
    assert stored_events(db) == []


def test_ses_unsigned_message_is_401(ses_url: str, aws: FakeAws, db: Database) -> None:
    sent = send_record(db, "ses")
    envelope = sns_envelope(aws, ses_record("Complaint", sent, complaint={}))
    del envelope["Signature"]
    response = post_sns(ses_url, envelope)
    assert response.status_code == 401
    assert "unsigned" in response.json()["detail"]
    assert stored_events(db) == []
    assert not suppressed(db, sent.email)


def test_ses_wrong_signature_is_401_and_changes_nothing(ses_url: str, aws: FakeAws, impostor: SigningIdentity, db: Database) -> None:
    sent = send_record(db, "ses")
    record = ses_record("Bounce", sent, bounce=bounce(sent, "Permanent", "General", "550"))
    response = post_sns(ses_url, sns_envelope(aws, record, signer=impostor))
    assert response.status_code == 401
    assert "signature does not match" in response.json()["detail"]
    assert stored_events(db) == []
    assert not suppressed(db, sent.email)


def test_ses_tampered_message_is_401(ses_url: str, aws: FakeAws, db: Database) -> None:
    sent = send_record(db, "ses")
    envelope = sns_envelope(aws, ses_record("Bounce", sent, bounce=bounce(sent, "Transient", "General", "451")))
    envelope["Message"] = envelope["Message"].replace('"Transient"', '"Permanent"')
    response = post_sns(ses_url, envelope)
    assert response.status_code == 401
    assert stored_events(db) == []
    assert not suppressed(db, sent.email)


@pytest.mark.parametrize(
    "cert_url", ["http://localhost:{port}/{name}", "http://127.0.0.1:{port}/{name}.txt", "http://127.0.0.1:{port}/{name}?x.pem"]
)
def test_ses_certificate_url_outside_the_pattern_is_401_and_never_fetched(ses_url: str, aws: FakeAws, db: Database, cert_url: str) -> None:
    sent = send_record(db, "ses")
    record = ses_record("Bounce", sent, bounce=bounce(sent, "Permanent", "General", "550"))
    response = post_sns(ses_url, sns_envelope(aws, record, cert_url=cert_url.format(port=aws.port, name=aws.cert_name)))
    assert response.status_code == 401
    assert "NEWSLETTER_SNS_CERTIFICATE_URL_PATTERN" in response.json()["detail"]
    assert aws.requests == []
    assert stored_events(db) == []


def test_ses_topic_not_configured_is_401(ses_url: str, aws: FakeAws, db: Database) -> None:
    sent = send_record(db, "ses")
    record = ses_record("Bounce", sent, bounce=bounce(sent, "Permanent", "General", "550"))
    response = post_sns(ses_url, sns_envelope(aws, record, topic="arn:aws:sns:eu-west-1:999999999999:someone-else"))
    assert response.status_code == 401
    assert "NEWSLETTER_SES_SNS_TOPIC_ARNS" in response.json()["detail"]
    assert stored_events(db) == []
    assert not suppressed(db, sent.email)


def test_ses_without_topics_configured_refuses_every_call(
    settings: Settings, aws: FakeAws, db: Database, redis_client: redis.Redis, serve_web: ServeWeb
) -> None:
    url = serve_web(settings.model_copy(update={"sns_certificate_url_pattern": rf"http://127\.0\.0\.1:{aws.port}/[A-Za-z0-9-]+\.pem"}))
    sent = send_record(db, "ses")
    complaint = {"complainedRecipients": [{"emailAddress": sent.email}], "complaintFeedbackType": "abuse"}
    response = post_sns(url, sns_envelope(aws, ses_record("Complaint", sent, complaint=complaint)))
    assert response.status_code == 401
    assert "NEWSLETTER_SES_SNS_TOPIC_ARNS" in response.json()["detail"]
    assert stored_events(db) == []
    assert not suppressed(db, sent.email)
    assert aws.fetched("/") == []


def test_ses_subscription_confirmation_visits_the_subscribe_url(ses_url: str, aws: FakeAws, db: Database) -> None:
    envelope = sns_envelope(aws, f"You have chosen to subscribe to the topic {TOPIC}.", kind="SubscriptionConfirmation")
    response = post_sns(ses_url, envelope)
    assert response.status_code == 200, response.text
    assert aws.fetched("/?Action=ConfirmSubscription") == [envelope["SubscribeURL"].removeprefix(aws.origin)]
    assert stored_events(db) == []


def test_ses_forged_subscription_confirmation_is_not_visited(ses_url: str, aws: FakeAws, impostor: SigningIdentity) -> None:
    envelope = sns_envelope(aws, "Subscribe me", kind="SubscriptionConfirmation", signer=impostor)
    assert post_sns(ses_url, envelope).status_code == 401
    assert aws.fetched("/?Action") == []


def test_ses_subscribe_url_on_another_host_is_not_visited(ses_url: str, aws: FakeAws) -> None:
    elsewhere = f"http://localhost:{aws.port}/?Action=ConfirmSubscription&Token=1"
    response = post_sns(ses_url, sns_envelope(aws, "Subscribe me", kind="SubscriptionConfirmation", subscribe_url=elsewhere))
    assert response.status_code == 400
    assert "SubscribeURL" in response.json()["detail"]
    assert aws.fetched("/?Action") == []


def test_ses_unsubscribe_confirmation_is_accepted_without_visiting(ses_url: str, aws: FakeAws) -> None:
    response = post_sns(ses_url, sns_envelope(aws, "You have unsubscribed", kind="UnsubscribeConfirmation"))
    assert response.status_code == 200, response.text
    assert aws.fetched("/?Action") == []


def test_ses_message_we_never_sent_is_404(ses_url: str, aws: FakeAws, db: Database) -> None:
    stranger = Sent(delivery_id=999_999, email="stranger@example.com", provider_message_id="not-ours")
    record = ses_record("Bounce", stranger, tagged=False, bounce=bounce(stranger, "Permanent", "General", "550"))
    response = post_sns(ses_url, sns_envelope(aws, record))
    assert response.status_code == 404
    assert stored_events(db) == []


def test_ses_body_that_is_not_an_sns_message_is_400(ses_url: str, aws: FakeAws) -> None:
    response = post_sns(ses_url, json.dumps({"Type": "Bounce", "hello": "world"}))
    assert response.status_code == 400
    assert aws.requests == []


# --- where certificates come from, and how long they are kept ----------------


SNS_CERT = "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"


@pytest.mark.parametrize(
    "url",
    [
        f"https://sns.us-east-1.amazonaws.com/{SNS_CERT}",
        f"https://sns.eu-west-1.amazonaws.com/{SNS_CERT}",
        f"https://sns.ap-southeast-2.amazonaws.com/{SNS_CERT}",
        f"https://sns.us-gov-west-1.amazonaws.com/{SNS_CERT}",
        f"https://sns.cn-north-1.amazonaws.com.cn/{SNS_CERT}",
        f"https://sns.cn-northwest-1.amazonaws.com.cn/{SNS_CERT}",
    ],
)
def test_default_pattern_accepts_sns_certificate_urls(settings: Settings, url: str) -> None:
    sns.check_certificate_url(url, settings)


@pytest.mark.parametrize(
    "url",
    [
        f"http://sns.us-east-1.amazonaws.com/{SNS_CERT}",  # not https
        f"https://sns.s3.amazonaws.com/{SNS_CERT}",  # an S3 bucket named "sns"
        f"https://s3.amazonaws.com/sns/{SNS_CERT}",
        f"https://sns.s3.us-east-1.amazonaws.com/{SNS_CERT}",
        f"https://sns.us-east-1.amazonaws.com.s3.amazonaws.com/{SNS_CERT}",  # a bucket named like the SNS host
        f"https://sns.execute-api.amazonaws.com/{SNS_CERT}",
        f"https://sns-fips.us-east-1.amazonaws.com/{SNS_CERT}",
        f"https://sns.us-east-1.amazonaws.com.evil.example/{SNS_CERT}",
        f"https://sns.us-east-1.amazonaws.com@evil.example/{SNS_CERT}",  # userinfo: the host is evil.example
        f"https://user@sns.us-east-1.amazonaws.com/{SNS_CERT}",
        f"https://sns.us-east-1.amazonaws.com\\@evil.example/{SNS_CERT}",
        f"https://sns.us-east-1.amazonaws.com%2eevil.example/{SNS_CERT}",
        f"https://sns.us-east-1.amazonaws.com./{SNS_CERT}",
        f"https://SNS.US-EAST-1.AMAZONAWS.COM/{SNS_CERT}",  # SNS sends lower case; nothing else is needed
        f"https://sns.us-east-1.amazonaws.com:443/{SNS_CERT}",
        f"https://sns.us-east-1.amazonaws.com:8443/{SNS_CERT}",
        f"https://sns.us-east-1.amazonaws.com.cn/{SNS_CERT}",  # the China partition has China regions only
        f"https://sns.cn-north-1.amazonaws.com.cn.evil.example/{SNS_CERT}",
        f"https://sns.us-east-1.amazonaws.com/{SNS_CERT}?x.pem",
        f"https://sns.us-east-1.amazonaws.com/{SNS_CERT}#x.pem",
        f"https://sns.us-east-1.amazonaws.com/{SNS_CERT}\n",
        "https://sns.us-east-1.amazonaws.com/a b.pem",
        "https://sns.us-east-1.amazonaws.com/certificate.txt",
        "https://sns.amazonaws.com/certificate.pem",
    ],
)
def test_default_pattern_refuses_every_other_host(settings: Settings, url: str) -> None:
    with pytest.raises(WebhookRejected) as refused:
        sns.check_certificate_url(url, settings)
    assert refused.value.status == 401
    assert "NEWSLETTER_SNS_CERTIFICATE_URL_PATTERN" in refused.value.message


SNS_HOST = "https://sns.us-east-1.amazonaws.com"


@pytest.mark.parametrize(
    "path",
    [
        "/x.pem",
        "/certificate.pem",
        "/SimpleNotificationService-zz.pem",
        "/SimpleNotificationService-.pem",
        "/SimpleNotificationService-9C6465FA7F48F5CACD23014631EC1136.pem",  # SNS names its certificates in lower case
        "/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem.pem",
        "/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136-x.pem",
        "/x/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "//SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "/./SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "/../SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.txt",
        "/simplenotificationservice-9c6465fa7f48f5cacd23014631ec1136.pem",
    ],
)
def test_default_pattern_refuses_certificate_paths_sns_does_not_use(settings: Settings, path: str) -> None:
    """Only SNS's own certificate names are fetched, so a caller cannot pick a new URL per call by varying the path."""
    with pytest.raises(WebhookRejected) as refused:
        sns.check_certificate_url(SNS_HOST + path, settings)
    assert refused.value.status == 401
    assert "NEWSLETTER_SNS_CERTIFICATE_URL_PATTERN" in refused.value.message


def test_ses_failed_certificate_fetch_is_not_repeated_for_every_call(ses_url: str, aws: FakeAws, db: Database) -> None:
    """Unauthenticated calls naming a certificate that is not there make one fetch, not one each."""
    aws.missing.add(f"/{aws.cert_name}")
    sent = send_record(db, "ses")
    answers = [post_sns(ses_url, sns_envelope(aws, ses_record("Complaint", sent, complaint={}))) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [401] * 5
    assert "HTTP 404" in answers[-1].json()["detail"]
    assert aws.fetched(f"/{aws.cert_name}") == [f"/{aws.cert_name}"]
    assert stored_events(db) == []


def test_full_certificate_cache_evicts_the_least_recently_used_key_only(settings: Settings, aws: FakeAws) -> None:
    urls = [f"{aws.origin}/cert-{number}.pem" for number in range(sns.CACHE_SIZE + 1)]
    for url in urls:
        sns.signing_key(url, settings)
    for url in urls[1:]:
        sns.signing_key(url, settings)
    assert len(aws.requests) == sns.CACHE_SIZE + 1  # the last one pushed out the first, and nothing else
    sns.signing_key(urls[0], settings)
    assert aws.requests[-1] == "/cert-0.pem"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.timing
def test_cached_certificate_expires(settings: Settings, aws: FakeAws) -> None:
    clock = Clock()
    cache = sns.CertificateCache(clock=clock)
    cache.key(aws.cert_url, settings.http_timeout)
    clock.now += sns.CERTIFICATE_TTL - 1
    cache.key(aws.cert_url, settings.http_timeout)
    assert len(aws.fetched(f"/{aws.cert_name}")) == 1
    clock.now += 2
    cache.key(aws.cert_url, settings.http_timeout)
    assert len(aws.fetched(f"/{aws.cert_name}")) == 2


@pytest.mark.timing
def test_failed_certificate_fetch_is_remembered_briefly(settings: Settings, aws: FakeAws) -> None:
    clock = Clock()
    cache = sns.CertificateCache(clock=clock)
    aws.missing.add(f"/{aws.cert_name}")
    for _ in range(3):
        with pytest.raises(WebhookRejected, match="HTTP 404"):
            cache.key(aws.cert_url, settings.http_timeout)
    assert len(aws.fetched(f"/{aws.cert_name}")) == 1
    clock.now += sns.FAILURE_TTL + 1
    aws.missing.clear()  # the certificate is there now: the next call fetches and succeeds
    cache.key(aws.cert_url, settings.http_timeout)
    assert len(aws.fetched(f"/{aws.cert_name}")) == 2


def call_in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``call`` in a thread; the list receives its result or the exception it raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_concurrent_calls_for_one_certificate_fetch_it_once(settings: Settings, aws: FakeAws) -> None:
    cache = sns.CertificateCache(clock=Clock())
    aws.hold = True
    calls = [call_in_thread(lambda: cache.key(aws.cert_url, settings.http_timeout))]
    aws.await_requests(1)  # the first call is fetching; the others find its fetch running
    calls += [call_in_thread(lambda: cache.key(aws.cert_url, settings.http_timeout)) for _ in range(sns.MAX_WAITERS)]
    wait_until(lambda: cache.waiting(aws.cert_url) == sns.MAX_WAITERS)
    aws.release.set()
    for thread, _ in calls:
        thread.join()
    keys = [outcome[0] for _, outcome in calls]
    assert all(isinstance(key, RSAPublicKey) for key in keys)
    assert len(aws.fetched(f"/{aws.cert_name}")) == 1


def test_calls_beyond_the_waiting_limit_for_one_certificate_get_503_at_once(settings: Settings, aws: FakeAws) -> None:
    """A burst naming one slow certificate parks a few threads at most; the rest are answered at once."""
    cache = sns.CertificateCache(clock=Clock())
    aws.hold = True
    calls = [call_in_thread(lambda: cache.key(aws.cert_url, settings.http_timeout))]
    aws.await_requests(1)
    calls += [call_in_thread(lambda: cache.key(aws.cert_url, settings.http_timeout)) for _ in range(sns.MAX_WAITERS)]
    wait_until(lambda: cache.waiting(aws.cert_url) == sns.MAX_WAITERS)
    with pytest.raises(WebhookRejected) as refused:
        cache.key(aws.cert_url, settings.http_timeout)  # returns while the fetch is still held
    assert refused.value.status == 503
    assert int(refused.value.headers["Retry-After"]) > 0
    aws.release.set()
    for thread, outcome in calls:
        thread.join()
        assert isinstance(outcome[0], RSAPublicKey)
    assert len(aws.fetched(f"/{aws.cert_name}")) == 1


def test_call_for_another_certificate_while_fetches_are_busy_is_503_without_fetching(settings: Settings, aws: FakeAws) -> None:
    cache = sns.CertificateCache(clock=Clock())
    aws.hold = True
    busy = [aws.new_cert_url() for _ in range(sns.MAX_CONCURRENT_FETCHES)]
    calls = [call_in_thread(lambda url=url: cache.key(url, settings.http_timeout)) for url in busy]
    aws.await_requests(len(busy))  # every fetch slot is taken, and held
    other = aws.new_cert_url()
    with pytest.raises(WebhookRejected) as refused:
        cache.key(other, settings.http_timeout)
    assert refused.value.status == 503
    assert int(refused.value.headers["Retry-After"]) > 0
    assert aws.fetched(other.removeprefix(aws.origin)) == []
    aws.release.set()
    for thread, outcome in calls:
        thread.join()
        assert isinstance(outcome[0], RSAPublicKey)
    assert isinstance(cache.key(other, settings.http_timeout), RSAPublicKey)  # once a slot is free it is fetched


def test_ses_call_while_certificate_fetches_are_busy_is_503_with_retry_after(ses_url: str, aws: FakeAws) -> None:
    """Over HTTP: the web app's threads are not parked behind fetches of other certificates."""
    aws.hold = True
    busy = [aws.new_cert_url() for _ in range(sns.MAX_CONCURRENT_FETCHES)]
    calls = [
        call_in_thread(lambda url=url: post_sns(ses_url, sns_envelope(aws, "bye", kind="UnsubscribeConfirmation", cert_url=url)))
        for url in busy
    ]
    aws.await_requests(len(busy))
    other = aws.new_cert_url()
    response = post_sns(ses_url, sns_envelope(aws, "bye", kind="UnsubscribeConfirmation", cert_url=other))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert aws.fetched(other.removeprefix(aws.origin)) == []
    aws.release.set()
    for thread, outcome in calls:
        thread.join()
        assert outcome[0].status_code == 200, outcome[0].text


def fail_fetches(cache: sns.CertificateCache, aws: FakeAws, settings: Settings, count: int) -> None:
    for _ in range(count):
        url = aws.new_cert_url()
        aws.missing.add(url.removeprefix(aws.origin))
        with pytest.raises(WebhookRejected, match="HTTP 404"):
            cache.key(url, settings.http_timeout)


@pytest.mark.timing
def test_failed_fetch_budget_refuses_new_certificates_without_fetching_until_the_window_passes(settings: Settings, aws: FakeAws) -> None:
    clock = Clock()
    cache = sns.CertificateCache(clock=clock)
    fail_fetches(cache, aws, settings, sns.MAX_FAILED_FETCHES)
    assert len(aws.requests) == sns.MAX_FAILED_FETCHES
    clock.now += 20
    new = aws.new_cert_url()
    with pytest.raises(WebhookRejected) as refused:
        cache.key(new, settings.http_timeout)
    assert refused.value.status == 503
    assert refused.value.headers["Retry-After"] == str(int(sns.FAILURE_WINDOW) - 20)
    assert len(aws.requests) == sns.MAX_FAILED_FETCHES  # not fetched
    clock.now += sns.FAILURE_WINDOW - 20
    assert isinstance(cache.key(new, settings.http_timeout), RSAPublicKey)
    assert aws.requests[-1] == new.removeprefix(aws.origin)


@pytest.mark.timing
def test_certificate_fetched_before_is_fetched_again_while_the_failure_budget_is_spent(settings: Settings, aws: FakeAws) -> None:
    """A flood of failing URLs cannot stop the refresh of a certificate this process has used."""
    clock = Clock()
    cache = sns.CertificateCache(clock=clock)
    cache.key(aws.cert_url, settings.http_timeout)
    clock.now += sns.CERTIFICATE_TTL + 1  # its key is no longer kept
    fail_fetches(cache, aws, settings, sns.MAX_FAILED_FETCHES)
    assert isinstance(cache.key(aws.cert_url, settings.http_timeout), RSAPublicKey)
    assert len(aws.fetched(f"/{aws.cert_name}")) == 2

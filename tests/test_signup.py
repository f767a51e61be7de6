"""Double opt-in over the real web app: sign-up, one answer for every address, limits, the confirm link, imports.

The confirmation email is sent in-process here (``deliver_batch`` with the
outbox provider); tests/test_signup_pipeline.py sends it through a real worker.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import time_machine
from sqlalchemy import func, select
from time_machine import TimeMachineFixture

from publisher.audience.lists import leave_list
from publisher.audience.subscribers import ERASED, import_subscribers
from publisher.audience.suppressions import email_hash, suppress_address
from publisher.content.recap import load_recap
from publisher.core.clock import utcnow
from publisher.core.errors import NotFoundError
from publisher.core.links import CONFIRM, UNSUBSCRIBE, LinkSigner, LinkTarget, signer_for
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import (
    Campaign,
    CampaignKind,
    ConsentEvent,
    Delivery,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from publisher.ledger.campaigns import CampaignPlan, create_campaign
from publisher.queue import QUEUE_PRIORITY
from tests.support.paths import EXAMPLES
from tests.support.recaps import RECAP
from tests.support.types import ServeWeb
from tests.support.waiting import wait_until
from workers.delivery.batch import deliver_batch
from workers.runtime import build_context

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ACCEPTED_JSON = {
    "status": "pending_confirmation",
    "detail": (
        "If this address can be subscribed, a confirmation link is on its way to it. The subscription starts when the link is confirmed."
    ),
}


@pytest.fixture
def news(db: Database) -> int:
    """A public list, the only kind that takes sign-ups."""
    with db.transaction() as session:
        mailing_list = MailingList(name="news", public=True, description="Monthly notes from the Modu team.")
        session.add(mailing_list)
        session.flush()
        return mailing_list.id


def post_json(url: str, body: Any, **headers: str) -> requests.Response:
    return requests.post(f"{url}/subscribe", json=body, headers=headers, timeout=10)


def post_form(url: str, fields: dict[str, str], **headers: str) -> requests.Response:
    return requests.post(f"{url}/subscribe", data=fields, headers=headers, timeout=10)


def subscription(db: Database, address: str, list_id: int) -> Subscription | None:
    with db.transaction() as session:
        return session.scalar(select(Subscription).join(Subscriber).where(Subscriber.email == address, Subscription.list_id == list_id))


def confirmations(db: Database, address: str | None = None) -> int:
    """Confirmation emails written to the ledger (for one address, or in all)."""
    query = select(func.count()).select_from(Delivery).join(Campaign, Campaign.id == Delivery.campaign_id)
    query = query.where(Campaign.kind == CampaignKind.CONFIRMATION)
    if address is not None:
        query = query.where(Delivery.email == address)
    with db.transaction() as session:
        return int(session.scalar(query) or 0)


def count(db: Database, model: type) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def confirm_url(settings: Settings, db: Database, address: str, list_id: int) -> str:
    found = subscription(db, address, list_id)
    assert found is not None
    return signer_for(settings).url(CONFIRM, LinkTarget(found.subscriber_id, list_id, None)).replace(settings.public_url, "")


def import_confirmed(db: Database, tmp_path: Path, address: str, list_name: str = "news") -> None:
    csv = tmp_path / "people.csv"
    csv.write_text(f"email,first_name,last_name\n{address},Ada,Lovelace\n", encoding="utf-8")
    assert import_subscribers(db, csv, list_name).problems == []


# --- Sign-up --------------------------------------------------------------------------------------


def test_form_sign_up_creates_a_pending_subscriber_with_consent_proof(
    web_url: str, db: Database, news: int, redis_client: redis.Redis
) -> None:
    before = utcnow()
    agent = "Mozilla/5.0 " + "x" * 600
    response = post_form(
        web_url, {"email": "Zoe@Example.com", "list": "news", "first_name": "Zoë", "last_name": "O'Brien"}, **{"User-Agent": agent}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Check your inbox" in response.text and "news" in response.text
    found = subscription(db, "zoe@example.com", news)
    assert found is not None
    assert found.status == SubscriptionStatus.PENDING
    assert (found.source, found.consent_ip) == ("form", "127.0.0.1")
    assert found.consent_user_agent == agent[:500]
    assert before <= found.consented_at <= utcnow()
    assert found.confirmed_at is None
    with db.transaction() as session:
        person = session.scalar(select(Subscriber).where(Subscriber.email == "zoe@example.com"))
        # The names wait with the request until its confirm link is used (tests/test_signup_names.py).
        assert person is not None and (person.first_name, person.last_name) == ("", "")
        request = session.scalar(select(ConsentEvent))
        assert request is not None and (request.first_name, request.last_name) == ("Zoë", "O'Brien")
        campaign = session.scalar(select(Campaign).where(Campaign.kind == CampaignKind.CONFIRMATION))
        assert campaign is not None
        assert (campaign.list_id, campaign.title) == (news, "Confirm your subscription to news")
    assert confirmations(db, "zoe@example.com") == 1
    # Enqueued as publish does, on the priority queue, once the answer has gone.
    wait_until(lambda: redis_client.llen(QUEUE_PRIORITY) > 0)
    assert redis_client.llen(QUEUE_PRIORITY) == 1


def test_json_sign_up_answers_202_and_records_api_consent(web_url: str, db: Database, news: int) -> None:
    response = post_json(web_url, {"email": "ada@example.com", "list": "news"}, **{"User-Agent": "newsletter-client/1.0"})
    assert response.status_code == 202
    assert response.json() == ACCEPTED_JSON
    found = subscription(db, "ada@example.com", news)
    assert found is not None and found.status == SubscriptionStatus.PENDING
    assert (found.source, found.consent_ip, found.consent_user_agent) == ("api", "127.0.0.1", "newsletter-client/1.0")
    assert confirmations(db, "ada@example.com") == 1


def test_the_answer_is_the_same_for_new_pending_confirmed_suppressed_and_erased_addresses(
    settings: Settings, serve_web: ServeWeb, db: Database, news: int, tmp_path: Path, redis_client: redis.Redis
) -> None:
    web_url = serve_web(settings.model_copy(update={"subscribe_ip_limit": 20}))
    import_confirmed(db, tmp_path, "confirmed@example.com")
    post_json(web_url, {"email": "pending@example.com", "list": "news"})
    with db.transaction() as session:
        suppress_address(session, "bounced@example.com", "hard bounce", "provider:postmark")
        session.add(Suppression(email=None, email_hash=email_hash("erased@example.com"), reason="erased on request", source="privacy"))
    addresses = ["new@example.com", "pending@example.com", "confirmed@example.com", "bounced@example.com", "erased@example.com"]
    as_json = [post_json(web_url, {"email": a, "list": "news"}) for a in addresses]
    as_form = [post_form(web_url, {"email": a, "list": "news"}) for a in addresses]
    assert len({(r.status_code, r.text) for r in as_json}) == 1
    assert (as_json[0].status_code, as_json[0].json()) == (202, ACCEPTED_JSON)
    assert len({(r.status_code, r.text) for r in as_form}) == 1
    assert as_form[0].status_code == 200 and "Check your inbox" in as_form[0].text
    # Behind the one answer: mail only for the new and the pending address (once per request each).
    assert confirmations(db, "new@example.com") == 2
    assert confirmations(db, "pending@example.com") == 3
    assert confirmations(db, "confirmed@example.com") == 0
    assert confirmations(db) == 5
    with db.transaction() as session:
        stored = set(session.scalars(select(Subscriber.email)))
    assert stored == {"new@example.com", "pending@example.com", "confirmed@example.com"}  # nothing kept of the suppressed ones
    confirmed = subscription(db, "confirmed@example.com", news)
    assert confirmed is not None and confirmed.status == SubscriptionStatus.CONFIRMED


@pytest.mark.timing
def test_every_accepted_sign_up_is_answered_after_the_same_delay(
    settings: Settings, serve_web: ServeWeb, db: Database, news: int, tmp_path: Path
) -> None:
    """A new address costs a write and an email; a confirmed one costs nothing. The answer's time must not show which."""
    import_confirmed(db, tmp_path, "confirmed@example.com")
    url = serve_web(settings.model_copy(update={"subscribe_answer_seconds": 0.4}))
    took = {}
    for address in ("new@example.com", "confirmed@example.com"):
        started = time.monotonic()
        assert post_json(url, {"email": address, "list": "news"}).status_code == 202
        took[address] = time.monotonic() - started
    # Unpadded, both answered in 10-20 ms, the new address about twice as slow
    # (a write, and queueing its email): padding both to the same floor far
    # above that hides which is which. Comparing the two times directly would
    # also measure how busy the machine is, so only the floor is asserted.
    assert min(took.values()) >= 0.4, took
    assert (confirmations(db, "new@example.com"), confirmations(db, "confirmed@example.com")) == (1, 0)


def test_a_sign_up_never_changes_an_existing_subscribers_names(web_url: str, db: Database, news: int, tmp_path: Path) -> None:
    import_confirmed(db, tmp_path, "ada@example.com", list_name="other")
    post_json(web_url, {"email": "ada@example.com", "list": "news", "first_name": "Mallory", "last_name": "Spam"})
    with db.transaction() as session:
        person = session.scalar(select(Subscriber).where(Subscriber.email == "ada@example.com"))
    assert person is not None and (person.first_name, person.last_name) == ("Ada", "Lovelace")
    found = subscription(db, "ada@example.com", news)
    assert found is not None and found.status == SubscriptionStatus.PENDING


def test_an_unsubscribed_address_that_asks_again_is_pending_with_new_consent(web_url: str, db: Database, news: int, tmp_path: Path) -> None:
    import_confirmed(db, tmp_path, "back@example.com")
    before = subscription(db, "back@example.com", news)
    assert before is not None
    with db.transaction() as session:
        assert leave_list(session, before.subscriber_id, news)
    post_form(web_url, {"email": "back@example.com", "list": "news"}, **{"User-Agent": "Browser/2"})
    after = subscription(db, "back@example.com", news)
    assert after is not None and after.status == SubscriptionStatus.PENDING
    assert (after.source, after.consent_user_agent, after.unsubscribed_at, after.confirmed_at) == ("form", "Browser/2", None, None)
    assert after.consented_at > before.consented_at
    assert confirmations(db, "back@example.com") == 1


def test_the_confirmation_email_carries_a_confirm_link_and_nothing_from_the_request(
    settings: Settings, web_url: str, db: Database, news: int, tmp_path: Path
) -> None:
    post_json(web_url, {"email": "zoe@example.com", "list": "news", "first_name": "Buy cheap pills at spam.example"})
    with db.transaction() as session:
        batch_id = session.scalar(select(Delivery.batch_id).where(Delivery.email == "zoe@example.com"))
    assert batch_id is not None
    ctx = build_context(settings.model_copy(update={"outbox_dir": tmp_path / "outbox"}))
    try:
        assert deliver_batch(ctx, batch_id, max_countdown=60).sent == 1
    finally:
        ctx.close()
    [path] = (tmp_path / "outbox").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "Confirm your subscription to news"
    assert message["List-Unsubscribe"].strip().startswith("<http://localhost:8000/unsubscribe/")
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "spam.example" not in html + text
    assert "Monthly notes from the Modu team." in text
    links = set(re.findall(r"http://localhost:8000/confirm/[A-Za-z0-9_.-]+", html + text))
    assert len(links) == 1
    path_only = links.pop().removeprefix(settings.public_url)
    assert requests.post(f"{web_url}{path_only}", timeout=10).status_code == 200
    found = subscription(db, "zoe@example.com", news)
    assert found is not None and found.status == SubscriptionStatus.CONFIRMED


def test_an_issue_signs_no_confirm_token(settings: Settings, db: Database, tmp_path: Path) -> None:
    class CountingSigner(LinkSigner):
        purposes: list[str] = []  # noqa: RUF012 (test bookkeeping)

        def url(self, purpose: str, target: LinkTarget) -> str:
            self.purposes.append(purpose)
            return super().url(purpose, target)

    import_subscribers(db, EXAMPLES / "subscribers.csv", "attendees")
    created = create_campaign(settings, db, CampaignPlan(recap=load_recap(RECAP), list_name="attendees", provider="outbox", batch_size=5))
    ctx = build_context(settings.model_copy(update={"outbox_dir": tmp_path / "outbox"}))
    ctx.signer = CountingSigner(settings.secret, settings.public_url)
    try:
        assert deliver_batch(ctx, created.batch_ids[0], max_countdown=60).sent == 5
    finally:
        ctx.close()
    assert CONFIRM not in CountingSigner.purposes
    assert CountingSigner.purposes.count(UNSUBSCRIBE) == 5


# --- Confirming -----------------------------------------------------------------------------------


def test_get_confirm_shows_a_button_and_confirms_nothing(settings: Settings, web_url: str, db: Database, news: int) -> None:
    post_json(web_url, {"email": "ada@example.com", "list": "news"})
    link = confirm_url(settings, db, "ada@example.com", news)
    for _ in range(2):  # a mail scanner, then the person
        page = requests.get(f"{web_url}{link}", timeout=10)
        assert page.status_code == 200
        assert '<form method="post">' in page.text and "Yes, subscribe me" in page.text
    found = subscription(db, "ada@example.com", news)
    assert found is not None and (found.status, found.confirmed_at) == (SubscriptionStatus.PENDING, None)


def test_post_confirm_confirms_once_and_is_idempotent(settings: Settings, web_url: str, db: Database, news: int) -> None:
    post_form(web_url, {"email": "ada@example.com", "list": "news"})
    link = confirm_url(settings, db, "ada@example.com", news)
    first = requests.post(f"{web_url}{link}", timeout=10)
    assert first.status_code == 200 and "You are subscribed to news" in first.text
    confirmed = subscription(db, "ada@example.com", news)
    assert confirmed is not None and confirmed.status == SubscriptionStatus.CONFIRMED
    assert confirmed.confirmed_at is not None
    again = requests.post(f"{web_url}{link}", timeout=10)
    assert (again.status_code, again.text) == (first.status_code, first.text)
    later = subscription(db, "ada@example.com", news)
    assert later is not None and later.confirmed_at == confirmed.confirmed_at
    assert later.source == "form"  # the consent proof of the request survives the confirmation


def test_a_confirm_link_does_not_bring_back_a_subscription_unsubscribed_since(
    settings: Settings, web_url: str, db: Database, news: int
) -> None:
    post_json(web_url, {"email": "ada@example.com", "list": "news"})
    link = confirm_url(settings, db, "ada@example.com", news)
    found = subscription(db, "ada@example.com", news)
    assert found is not None
    with db.transaction() as session:
        leave_list(session, found.subscriber_id, news)
    response = requests.post(f"{web_url}{link}", timeout=10)
    assert response.status_code == 200 and "This subscription was cancelled" in response.text
    after = subscription(db, "ada@example.com", news)
    assert after is not None and (after.status, after.confirmed_at) == (SubscriptionStatus.UNSUBSCRIBED, None)


def test_a_confirm_link_of_an_address_suppressed_since_confirms_nothing(settings: Settings, web_url: str, db: Database, news: int) -> None:
    post_json(web_url, {"email": "ada@example.com", "list": "news"})
    link = confirm_url(settings, db, "ada@example.com", news)
    with db.transaction() as session:
        suppress_address(session, "ada@example.com", "complaint", "provider:postmark")
    response = requests.post(f"{web_url}{link}", timeout=10)
    assert response.status_code == 200 and "Nothing to confirm" in response.text
    found = subscription(db, "ada@example.com", news)
    assert found is not None and found.status == SubscriptionStatus.PENDING


@pytest.mark.timing
def test_a_confirm_link_older_than_its_days_gets_a_410_page_and_confirms_nothing(
    settings: Settings, serve_web: ServeWeb, web_url: str, db: Database, news: int
) -> None:
    post_json(web_url, {"email": "ada@example.com", "list": "news"})
    with time_machine.travel(utcnow() - dt.timedelta(days=8)):  # the link as it was signed eight days ago
        link = confirm_url(settings, db, "ada@example.com", news)
    for method in ("GET", "POST"):
        response = requests.request(method, f"{web_url}{link}", timeout=10)
        assert response.status_code == 410
        assert "This link has expired" in response.text and "Sign up again" in response.text
    found = subscription(db, "ada@example.com", news)
    assert found is not None and (found.status, found.confirmed_at) == (SubscriptionStatus.PENDING, None)
    # A link of the same age that the settings still allow confirms.
    patient = serve_web(settings.model_copy(update={"confirm_link_days": 9}))
    assert requests.post(f"{patient}{link}", timeout=10).status_code == 200
    found = subscription(db, "ada@example.com", news)
    assert found is not None and found.status == SubscriptionStatus.CONFIRMED


def test_forged_or_wrong_purpose_confirm_tokens_get_a_400_page(settings: Settings, web_url: str, db: Database, news: int) -> None:
    post_json(web_url, {"email": "ada@example.com", "list": "news"})
    found = subscription(db, "ada@example.com", news)
    assert found is not None
    target = LinkTarget(found.subscriber_id, news, None)
    genuine = signer_for(settings).token(CONFIRM, target)
    forged = [
        genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"),
        signer_for(settings).token(UNSUBSCRIBE, target),
        LinkSigner("another-secret", settings.public_url).token(CONFIRM, target),
    ]
    for token in forged:
        for method in ("GET", "POST"):
            response = requests.request(method, f"{web_url}/confirm/{token}", timeout=10)
            assert response.status_code == 400, (method, token)
            assert response.headers["content-type"].startswith("text/html")
            assert "This link is not valid" in response.text
    after = subscription(db, "ada@example.com", news)
    assert after is not None and after.status == SubscriptionStatus.PENDING


def test_pending_subscribers_are_not_in_an_audience_and_confirmed_ones_are(
    settings: Settings, web_url: str, db: Database, news: int
) -> None:
    post_json(web_url, {"email": "ada@example.com", "list": "news"})
    plan = CampaignPlan(recap=load_recap(RECAP), list_name="news", provider="outbox", batch_size=10)
    with pytest.raises(NotFoundError, match="no confirmed subscribers"):
        create_campaign(settings, db, plan)
    requests.post(f"{web_url}{confirm_url(settings, db, 'ada@example.com', news)}", timeout=10)
    post_json(web_url, {"email": "grace@example.com", "list": "news"})  # still pending
    created = create_campaign(settings, db, plan)
    with db.transaction() as session:
        audience = list(session.scalars(select(Delivery.email).where(Delivery.campaign_id == created.id)))
    assert audience == ["ada@example.com"]


# --- Limits ---------------------------------------------------------------------------------------


@pytest.fixture
def half_past(time_machine: TimeMachineFixture) -> TimeMachineFixture:
    """Half past noon: the limits count per clock hour, and this one has half an hour left however long a test takes."""
    time_machine.move_to(dt.datetime(2026, 3, 2, 12, 30, tzinfo=dt.UTC))
    return time_machine


@pytest.mark.timing
def test_over_the_ip_limit_answers_429_with_retry_after_until_the_hour_is_over(
    settings: Settings, serve_web: ServeWeb, db: Database, news: int, redis_client: redis.Redis, half_past: TimeMachineFixture
) -> None:
    url = serve_web(settings.model_copy(update={"subscribe_ip_limit": 3}))
    answers = [post_json(url, {"email": f"p{n}@example.com", "list": "news"}).status_code for n in range(3)]
    assert answers == [202, 202, 202]
    refused = post_json(url, {"email": "p3@example.com", "list": "news"})
    assert refused.status_code == 429
    assert 1700 <= int(refused.headers["Retry-After"]) <= 1800  # the rest of the hour
    assert "too many sign-ups" in refused.json()["detail"]
    page = post_form(url, {"email": "p4@example.com", "list": "news"})
    assert page.status_code == 429 and page.headers["content-type"].startswith("text/html") and "Retry-After" in page.headers
    assert confirmations(db) == 3
    assert subscription(db, "p3@example.com", news) is None
    half_past.shift(int(refused.headers["Retry-After"]))
    assert post_json(url, {"email": "p3@example.com", "list": "news"}).status_code == 202  # a new hour, a new count


@pytest.mark.timing
def test_over_the_address_limit_the_answer_is_the_same_and_no_more_email_goes(
    settings: Settings, serve_web: ServeWeb, db: Database, news: int, redis_client: redis.Redis, half_past: TimeMachineFixture
) -> None:
    url = serve_web(settings.model_copy(update={"subscribe_address_limit": 2}))
    answers = {(r.status_code, r.text) for r in (post_json(url, {"email": "ADA@example.com", "list": "news"}) for _ in range(4))}
    assert len(answers) == 1 and next(iter(answers))[0] == 202
    assert confirmations(db, "ada@example.com") == 2  # the spelling does not matter: the normalised address is counted
    assert post_json(url, {"email": "grace@example.com", "list": "news"}).status_code == 202
    assert confirmations(db, "grace@example.com") == 1


@pytest.mark.timing
def test_rate_limit_keys_name_no_address_and_no_ip(web_url: str, news: int, redis_client: redis.Redis) -> None:
    post_json(web_url, {"email": "ada@example.com", "list": "news"})
    keys = [key.decode() for key in redis_client.scan_iter("newsletter:limit:*")]
    assert len(keys) == 2
    assert not any("ada" in key or "@" in key or "127.0.0.1" in key for key in keys)
    assert all(0 < int(redis_client.ttl(key)) <= 3660 for key in keys)


# --- Bad requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["ada@example.com\r\nBcc: all@example.com", "ada@example.com\n", "not-an-address"])
def test_a_bad_address_is_refused_with_the_reason_and_nothing_is_written(web_url: str, db: Database, news: int, address: str) -> None:
    as_json = post_json(web_url, {"email": address, "list": "news"})
    assert as_json.status_code == 422
    [problem] = as_json.json()["detail"]
    assert problem.startswith("body.email: ")
    assert ("line break" in problem) if "\n" in address else ("not a valid email address" in problem)
    as_form = post_form(web_url, {"email": address, "list": "news"})
    assert as_form.status_code == 400 and as_form.headers["content-type"].startswith("text/html")
    assert "email: " in as_form.text
    assert (count(db, Subscriber), count(db, Subscription), count(db, Campaign)) == (0, 0, 0)


@pytest.mark.parametrize("address", ["用户@例子.广告", "josé@bücher.example"])
def test_an_address_with_a_non_ascii_local_part_is_refused_with_why(web_url: str, db: Database, news: int, address: str) -> None:
    as_json = post_json(web_url, {"email": address, "list": "news"})
    assert as_json.status_code == 422
    [problem] = as_json.json()["detail"]
    assert problem.startswith("body.email: ") and "before the @" in problem and "SMTPUTF8" in problem
    as_form = post_form(web_url, {"email": address, "list": "news"})
    assert as_form.status_code == 400 and as_form.headers["content-type"].startswith("text/html")
    assert "SMTPUTF8" in as_form.text
    assert (count(db, Subscriber), count(db, Subscription), count(db, Campaign)) == (0, 0, 0)


def test_an_address_with_an_international_domain_is_accepted(web_url: str, db: Database, news: int) -> None:
    assert post_json(web_url, {"email": "ada@bücher.example", "list": "news"}).status_code == 202
    assert subscription(db, "ada@bücher.example", news) is not None


def test_a_name_with_a_line_break_is_refused(web_url: str, db: Database, news: int) -> None:
    response = post_json(web_url, {"email": "ada@example.com", "list": "news", "first_name": "Ada\r\nBcc: x"})
    assert response.status_code == 422
    assert response.json()["detail"] == ["body.first_name: must be a single line of text: it contains a line break (U+000D)"]
    assert count(db, Subscriber) == 0


def test_malformed_json_is_a_400(web_url: str, db: Database, news: int) -> None:
    response = requests.post(
        f"{web_url}/subscribe", data=b'{"email": "ada@example.com", ', headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("the body is not valid JSON")
    assert count(db, Subscriber) == 0


def test_missing_or_unexpected_fields_are_a_422_as_json_and_a_400_page_as_a_form(web_url: str, db: Database, news: int) -> None:
    missing = post_json(web_url, {"list": "news"})
    assert missing.status_code == 422 and missing.json()["detail"] == ["body.email: Field required"]
    unexpected = post_json(web_url, {"email": "ada@example.com", "list": "news", "firstname": "Ada"})
    assert unexpected.status_code == 422 and "body.firstname" in unexpected.json()["detail"][0]
    not_an_object = post_json(web_url, ["ada@example.com"])
    assert not_an_object.status_code == 422
    form = post_form(web_url, {"list": "news"})
    assert form.status_code == 400 and "email: Field required" in form.text
    assert count(db, Subscriber) == 0


def test_another_content_type_is_a_415(web_url: str, news: int) -> None:
    response = requests.post(f"{web_url}/subscribe", data="email=ada@example.com", headers={"Content-Type": "text/plain"}, timeout=10)
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"] and "text/plain" in response.json()["detail"]


def test_unknown_and_private_lists_are_both_404_and_never_created(web_url: str, db: Database, tmp_path: Path) -> None:
    import_confirmed(db, tmp_path, "someone@example.com", list_name="attendees")  # a private list
    for name in ("nobody", "attendees"):
        as_json = post_json(web_url, {"email": "ada@example.com", "list": name})
        assert as_json.status_code == 404 and as_json.json() == {"detail": f"no list named '{name}' takes sign-ups"}
        assert post_form(web_url, {"email": "ada@example.com", "list": name}).status_code == 404
        assert requests.get(f"{web_url}/subscribe", params={"list": name}, timeout=10).status_code == 404
    with db.transaction() as session:
        assert set(session.scalars(select(MailingList.name))) == {"attendees"}
        assert set(session.scalars(select(Subscriber.email))) == {"someone@example.com"}


def test_get_subscribe_shows_a_form_for_a_public_list(web_url: str, news: int) -> None:
    response = requests.get(f"{web_url}/subscribe", params={"list": "news"}, timeout=10)
    assert response.status_code == 200
    assert '<input type="hidden" name="list" value="news">' in response.text
    assert 'name="email"' in response.text and "Monthly notes from the Modu team." in response.text


def test_the_openapi_document_describes_both_bodies(web_url: str) -> None:
    operation = requests.get(f"{web_url}/openapi.json", timeout=10).json()["paths"]["/subscribe"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-www-form-urlencoded", "multipart/form-data"}
    schema = content["application/json"]["schema"]
    assert schema["title"] == "SubscribeBody" and set(schema["required"]) == {"email", "list"}
    assert {"202", "415", "422", "429"} <= set(operation["responses"])


# --- Imports --------------------------------------------------------------------------------------


def test_an_erased_address_is_a_row_problem_on_import_and_other_suppressions_still_import(db: Database, tmp_path: Path) -> None:
    with db.transaction() as session:
        session.add(Suppression(email=None, email_hash=email_hash("erased@example.com"), reason="erased on request", source="privacy"))
        suppress_address(session, "bounced@example.com", "hard bounce", "provider:postmark")
    csv = tmp_path / "people.csv"
    csv.write_text("email\nada@example.com\nErased@Example.com\nbounced@example.com\nnot-an-address\n", encoding="utf-8")
    report = import_subscribers(db, csv, "attendees")
    assert [problem.line for problem in report.problems] == [3, 5]
    assert report.problems[0].reason == ERASED
    assert "erased@example.com" not in report.problems[0].reason.lower()  # the address itself is not shown
    assert report.added == 2
    with db.transaction() as session:
        assert set(session.scalars(select(Subscriber.email))) == {"ada@example.com", "bounced@example.com"}


def test_an_import_records_its_consent_proof(db: Database, tmp_path: Path) -> None:
    before = utcnow()
    import_confirmed(db, tmp_path, "ada@example.com", list_name="attendees")
    with db.transaction() as session:
        found = session.scalar(select(Subscription))
    assert found is not None
    assert (found.status, found.source, found.consent_ip, found.consent_user_agent) == (
        SubscriptionStatus.CONFIRMED,
        "import:people.csv",
        None,
        None,
    )
    assert found.confirmed_at is not None and before <= found.consented_at == found.confirmed_at <= utcnow()


def test_an_import_confirms_a_pending_sign_up_with_its_own_proof(web_url: str, db: Database, news: int, tmp_path: Path) -> None:
    post_json(web_url, {"email": "ada@example.com", "list": "news"}, **{"User-Agent": "Browser/1"})
    import_confirmed(db, tmp_path, "ada@example.com")
    found = subscription(db, "ada@example.com", news)
    assert found is not None
    assert (found.status, found.source, found.consent_ip, found.consent_user_agent) == (
        SubscriptionStatus.CONFIRMED,
        "import:people.csv",
        None,
        None,
    )
    assert found.confirmed_at is not None and found.confirmed_at - found.consented_at < dt.timedelta(seconds=1)


@pytest.mark.timing
def test_a_confirmation_the_sweep_sends_again_goes_on_the_priority_queue(web_url: str, db: Database, news: int) -> None:
    from publisher.ledger.dispatch import release_due

    assert post_json(web_url, {"email": "late@example.com", "list": "news"}).status_code == 202
    # A lease later the batch is still pending (no worker ran): its message may be lost.
    later = utcnow() + dt.timedelta(minutes=5)
    due = release_due(db, lease=dt.timedelta(seconds=60), now=later)
    assert len(due) == 1
    assert due[0].priority


def test_the_consent_history_keeps_every_request_the_confirmation_and_imports(
    settings: Settings, web_url: str, db: Database, news: int, tmp_path: Path
) -> None:
    from publisher.audience.privacy import export

    post_form(web_url, {"email": "ada@example.com", "list": "news"}, **{"User-Agent": "ada-browser/1"})
    # Someone else asks for the same address later: the latest proof is theirs, the first is kept.
    post_json(web_url, {"email": "ada@example.com", "list": "news"}, **{"User-Agent": "someone-else/2"})
    link = confirm_url(settings, db, "ada@example.com", news)
    assert requests.post(f"{web_url}{link}", headers={"User-Agent": "ada-browser/1"}, timeout=10).status_code == 200
    assert requests.post(f"{web_url}{link}", timeout=10).status_code == 200  # idempotent: no second entry
    import_confirmed(db, tmp_path, "grace@example.com")
    data = export(db, "ada@example.com")
    assert data is not None
    [news_subscription] = data["subscriptions"]
    history = [(e["action"], e["source"], e["ip"], e["user_agent"]) for e in news_subscription["consent_history"]]
    assert history == [
        ("requested", "form", "127.0.0.1", "ada-browser/1"),
        ("requested", "api", "127.0.0.1", "someone-else/2"),
        ("confirmed", "confirm link", "127.0.0.1", "ada-browser/1"),
    ]
    imported = export(db, "grace@example.com")
    assert imported is not None
    assert [(e["action"], e["source"]) for e in imported["subscriptions"][0]["consent_history"]] == [("imported", "import:people.csv")]

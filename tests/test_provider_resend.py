"""Resend over real HTTP against the fake provider: batch, failure classes, idempotency, credential check."""

from __future__ import annotations

import dataclasses

import pytest

from publisher.core.outcomes import Outcome
from publisher.core.settings import Settings
from publisher.core.signals import Halt, RateLimit
from tests.fakes.resend import SENDING_ONLY_TOKEN, TOKEN
from tests.fakes.server import CannedAnswer, FakeProviders
from tests.support.outgoing import emails
from tests.support.providers import RESEND
from tests.support.waiting import wait_until
from workers.providers.base import idempotency_key
from workers.providers.resend import ResendProvider


def canned(fake: FakeProviders, status: int, name: str, message: str, headers: dict[str, str] | None = None) -> None:
    body = f'{{"statusCode": {status}, "name": "{name}", "message": "{message}"}}'
    fake.faults.canned.append(CannedAnswer(status, body, headers or {}))


def test_documented_rate() -> None:
    assert ResendProvider.default_requests_per_second == 2.0
    assert ResendProvider.idempotent
    assert ResendProvider(Settings(resend_api_key=TOKEN)).requests_per_second == 2.0


def test_a_batch_is_one_call_with_key_idempotency_key_and_tags(fake_provider: FakeProviders) -> None:
    batch = emails(3)
    results = RESEND.build(fake_provider).send(batch, batch_key="newsletter-9-1-0")
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert [r.provider_message_id for r in results] == [a.message_id for a in fake_provider.accepted]
    assert fake_provider.recipients("resend") == ["person0@example.com", "person1@example.com", "person2@example.com"]
    assert results[0].rate_limit == RateLimit(limit=2, remaining=1, reset_after=1.0)
    (call,) = fake_provider.calls_to("resend")
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.headers["idempotency-key"] == idempotency_key("newsletter-9-1-0", batch)
    assert call.headers["x-batch-validation"] == "permissive"
    first = call.json()[0]
    assert first["to"] == ["Person 0 <person0@example.com>"]
    assert first["headers"]["List-Unsubscribe"] == "<https://news.example/unsubscribe/t0>"
    assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["tags"] == [{"name": "delivery_id", "value": "1"}, {"name": "campaign_id", "value": "9"}]


def test_a_rejected_recipient_fails_alone_in_permissive_mode(fake_provider: FakeProviders) -> None:
    fake_provider.faults.reject["person1@example.com"] = (422, "The `to` field contains an invalid email address.")
    results = RESEND.build(fake_provider).send(emails(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.PERMANENT, Outcome.ACCEPTED]
    assert "invalid email address" in (results[1].error or "")
    assert fake_provider.recipients("resend") == ["person0@example.com", "person2@example.com"]


def test_validation_error_is_permanent_and_keeps_the_reason(fake_provider: FakeProviders) -> None:
    canned(fake_provider, 422, "validation_error", "Invalid `from` field. The email address needs to follow the format.")
    results = RESEND.build(fake_provider).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.PERMANENT] * 2
    assert results[0].error == "HTTP 422 validation_error: Invalid `from` field. The email address needs to follow the format."


@pytest.mark.parametrize("key", ["re_wrong", ""])
def test_rejected_or_missing_key_halts_for_credentials(fake_provider: FakeProviders, key: str) -> None:
    provider = RESEND.build(fake_provider)
    provider.key = key
    results = provider.send(emails(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert results[0].halt == Halt.CREDENTIALS
    assert "credentials rejected" in (results[0].error or "")


def test_unverified_domain_403_halts_too(fake_provider: FakeProviders) -> None:
    canned(fake_provider, 403, "validation_error", "The modu.example domain is not verified. Please, add and verify your domain.")
    results = RESEND.build(fake_provider).send(emails(1))
    assert results[0].outcome == Outcome.TRANSIENT
    assert results[0].halt == Halt.CREDENTIALS


def test_concurrent_idempotent_request_is_retried(fake_provider: FakeProviders) -> None:
    canned(fake_provider, 409, "concurrent_idempotent_requests", "Same idempotency key used while original request is still in progress.")
    results = RESEND.build(fake_provider).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert results[0].halt is None


def test_same_key_with_another_body_is_permanent(fake_provider: FakeProviders) -> None:
    provider = RESEND.build(fake_provider)
    batch = emails(2)
    assert [r.outcome for r in provider.send(batch, batch_key="b")] == [Outcome.ACCEPTED] * 2
    changed = [dataclasses.replace(email, subject="Another subject") for email in batch]
    results = provider.send(changed, batch_key="b")
    assert [r.outcome for r in results] == [Outcome.PERMANENT] * 2
    assert "invalid_idempotent_request" in (results[0].error or "")
    assert len(fake_provider.accepted) == 2


def test_rate_limit_429_carries_retry_after_and_ratelimit_headers(fake_provider: FakeProviders) -> None:
    fake_provider.faults.throttle = 1
    fake_provider.faults.retry_after = "7"
    results = RESEND.build(fake_provider).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert results[0].retry_after == 7
    assert results[0].rate_limit == RateLimit(limit=2, remaining=0, reset_after=1.0)
    assert results[0].halt is None


def test_daily_quota_pauses_instead_of_retrying(fake_provider: FakeProviders) -> None:
    canned(fake_provider, 429, "daily_quota_exceeded", "You have reached your daily email sending quota.")
    results = RESEND.build(fake_provider).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert results[0].halt == Halt.QUOTA


@pytest.mark.parametrize(
    "answer",
    [
        CannedAnswer(500, '{"statusCode": 500, "name": "application_error", "message": "An unexpected error occurred."}'),
        CannedAnswer(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", {"Content-Type": "text/html"}),
        CannedAnswer(200, "<html>captive portal</html>", {"Content-Type": "text/html"}),
        CannedAnswer(200, '{"data": [{"id": "only-one"}]}'),
    ],
)
def test_server_errors_and_unreadable_answers_are_transient(fake_provider: FakeProviders, answer: CannedAnswer) -> None:
    fake_provider.faults.canned.append(answer)
    results = RESEND.build(fake_provider).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert results[0].error


def test_the_same_batch_sent_twice_is_delivered_once(fake_provider: FakeProviders) -> None:
    provider = RESEND.build(fake_provider)
    batch = emails(3)
    first = provider.send(batch, batch_key="newsletter-9-4-0")
    second = provider.send(batch, batch_key="newsletter-9-4-0")
    assert [r.outcome for r in first + second] == [Outcome.ACCEPTED] * 6
    assert [r.provider_message_id for r in first] == [r.provider_message_id for r in second]
    assert len(fake_provider.calls_to("resend")) == 2
    assert len(fake_provider.accepted) == 3


@pytest.mark.timing
def test_a_batch_whose_answer_was_lost_is_not_delivered_again(fake_provider: FakeProviders) -> None:
    # The fake handles the hung call after the client gave up: sent, but the answer never arrived.
    fake_provider.faults.hang = 1
    fake_provider.faults.hang_seconds = 4.0
    provider = RESEND.build(fake_provider, http_timeout=1.0)
    batch = emails(2)
    lost = provider.send(batch, batch_key="newsletter-9-5-0")
    assert [r.outcome for r in lost] == [Outcome.TRANSIENT] * 2
    wait_until(lambda: len(fake_provider.accepted) == 2)
    retried = provider.send(batch, batch_key="newsletter-9-5-0")
    assert [r.outcome for r in retried] == [Outcome.ACCEPTED] * 2
    assert [r.provider_message_id for r in retried] == [a.message_id for a in fake_provider.accepted]
    assert len(fake_provider.accepted) == 2


def test_an_overlong_batch_key_still_fits_resends_limit(fake_provider: FakeProviders) -> None:
    results = RESEND.build(fake_provider).send(emails(1), batch_key="k" * 300)
    assert results[0].outcome == Outcome.ACCEPTED
    assert len(fake_provider.calls_to("resend")[0].headers["idempotency-key"]) <= 256


def test_check_accepts_a_sending_only_key_without_sending(fake_provider: FakeProviders) -> None:
    assert "sending-only API key accepted" in RESEND.build(fake_provider, resend_api_key=SENDING_ONLY_TOKEN).check()
    assert [r.method for r in fake_provider.calls_to("resend")] == ["GET"]
    assert fake_provider.accepted == []

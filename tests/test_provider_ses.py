"""Amazon SES v2 over real HTTP against the fake provider: signed calls, one per email, error types mapped."""

from __future__ import annotations

import dataclasses
import time

import pytest

from publisher.core.outcomes import Outcome
from publisher.core.settings import Settings
from publisher.core.signals import Halt
from tests.fakes.server import CannedAnswer, FakeProviders
from tests.fakes.ses import ACCESS_KEY_ID, REGION
from tests.support.outgoing import emails
from tests.support.providers import SES
from workers.providers import ses as ses_module
from workers.providers.ses import SesProvider


def canned(fake: FakeProviders, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
    type_header = {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"}
    fake.faults.canned.append(CannedAnswer(status, f'{{"message": "{message}"}}', {**type_header, **(headers or {})}))


def test_endpoint_and_no_default_rate() -> None:
    provider = SesProvider(Settings(ses_access_key_id="AKID", ses_secret_access_key="s", ses_region="us-east-2"))
    assert provider.endpoint == "https://email.us-east-2.amazonaws.com"
    assert provider.requests_per_second is None


def test_each_email_is_one_signed_sendemail_call(fake_provider: FakeProviders) -> None:
    results = SES.build(fake_provider, ses_configuration_set="newsletter-events").send(emails(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert [r.provider_message_id for r in results] == [a.message_id for a in fake_provider.accepted]
    calls = fake_provider.calls_to("ses")
    assert [(c.method, c.path) for c in calls] == [("POST", "/v2/email/outbound-emails")] * 3
    authorization = calls[0].headers["authorization"]
    assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/")
    assert f"/{REGION}/ses/aws4_request" in authorization
    body = calls[0].json()
    assert body["FromEmailAddress"] == "Modu Events <events@modu.example>"
    assert body["Destination"] == {"ToAddresses": ["Person 0 <person0@example.com>"]}
    simple = body["Content"]["Simple"]
    assert simple["Subject"] == {"Data": "Subject", "Charset": "UTF-8"}
    headers = {h["Name"]: h["Value"] for h in simple["Headers"]}
    assert headers["List-Unsubscribe"] == "<https://news.example/unsubscribe/t0>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["EmailTags"] == [{"Name": "delivery_id", "Value": "1"}, {"Name": "campaign_id", "Value": "9"}]
    assert body["ConfigurationSetName"] == "newsletter-events"


def test_temporary_credentials_send_their_session_token(fake_provider: FakeProviders) -> None:
    assert SES.build(fake_provider).send(emails(1))[0].outcome == Outcome.ACCEPTED
    assert "x-amz-security-token" not in fake_provider.calls_to("ses")[0].headers
    assert SES.build(fake_provider, ses_session_token="session-token-1").send(emails(1))[0].outcome == Outcome.ACCEPTED
    call = fake_provider.calls_to("ses")[1]
    assert call.headers["x-amz-security-token"] == "session-token-1"
    # The token is part of what was signed, so it cannot be swapped in transit.
    assert "x-amz-security-token" in call.headers["authorization"]


def test_non_ascii_names_are_encoded_words(fake_provider: FakeProviders) -> None:
    email = dataclasses.replace(emails(1)[0], sender="Événements Modu <events@modu.example>", to_name="Zoë")
    assert SES.build(fake_provider).send([email])[0].outcome == Outcome.ACCEPTED
    body = fake_provider.calls_to("ses")[0].json()
    assert body["FromEmailAddress"].startswith("=?utf-8?") and body["FromEmailAddress"].endswith("<events@modu.example>")
    assert body["Destination"]["ToAddresses"][0].startswith("=?utf-8?")


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [({"ses_secret_access_key": "not-the-secret"}, "SignatureDoesNotMatch"), ({"ses_access_key_id": "AKIDUNKNOWN"}, "UnrecognizedClient")],
)
def test_rejected_signature_halts_and_stops_the_batch(fake_provider: FakeProviders, overrides: dict[str, object], kind: str) -> None:
    results = SES.build(fake_provider, **overrides).send(emails(3))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 3
    assert {r.halt for r in results} == {Halt.CREDENTIALS}
    assert kind in (results[0].error or "")
    assert "not sent" in (results[2].error or "")
    assert len(fake_provider.calls_to("ses")) == 1


def test_a_rejected_message_fails_alone(fake_provider: FakeProviders) -> None:
    fake_provider.faults.reject["person1@example.com"] = (400, "Email address is not verified.")
    results = SES.build(fake_provider).send(emails(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.PERMANENT, Outcome.ACCEPTED]
    assert results[1].error == "HTTP 400 MessageRejected: Email address is not verified."
    assert fake_provider.recipients("ses") == ["person0@example.com", "person2@example.com"]


def test_bad_request_is_permanent_for_that_message_only(fake_provider: FakeProviders) -> None:
    canned(fake_provider, 400, "BadRequestException", "Header value is not valid.")
    results = SES.build(fake_provider).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.PERMANENT, Outcome.ACCEPTED]


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (429, "TooManyRequestsException", "Too many requests."),
        (400, "Throttling", "Maximum sending rate exceeded."),
        (500, "InternalFailure", "Internal failure."),
    ],
)
def test_throttling_and_server_errors_are_transient(fake_provider: FakeProviders, status: int, kind: str, message: str) -> None:
    canned(fake_provider, status, kind, message, {"Retry-After": "3"})
    results = SES.build(fake_provider).send(emails(3))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 3
    assert results[0].halt is None
    assert results[0].retry_after == 3
    assert kind in (results[0].error or "")
    assert len(fake_provider.calls_to("ses")) == 1


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("LimitExceededException", "Daily sending quota exceeded."),
        ("SendingPausedException", "Sending is paused for this account."),
        ("AccountSuspendedException", "The account has been suspended."),
        ("Throttling", "Daily message quota exceeded."),
    ],
)
def test_quota_and_paused_account_pause_the_provider(fake_provider: FakeProviders, kind: str, message: str) -> None:
    canned(fake_provider, 400, kind, message)
    results = SES.build(fake_provider).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert {r.halt for r in results} == {Halt.QUOTA}
    assert len(fake_provider.calls_to("ses")) == 1


def test_unverified_mail_from_domain_stops_for_an_operator(fake_provider: FakeProviders) -> None:
    canned(fake_provider, 400, "MailFromDomainNotVerifiedException", "The sending domain is not verified.")
    results = SES.build(fake_provider).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert results[0].halt == Halt.CREDENTIALS
    assert "configuration rejected" in (results[0].error or "")


@pytest.mark.parametrize(
    "answer",
    [
        CannedAnswer(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", {"Content-Type": "text/html"}),
        CannedAnswer(200, "<html>captive portal</html>", {"Content-Type": "text/html"}),
    ],
)
def test_proxy_pages_are_transient(fake_provider: FakeProviders, answer: CannedAnswer) -> None:
    fake_provider.faults.canned.append(answer)
    results = SES.build(fake_provider).send(emails(1))
    assert results[0].outcome == Outcome.TRANSIENT
    assert "HTTP" in (results[0].error or "")


@pytest.mark.timing
def test_timeout_is_transient_and_stops_the_batch(fake_provider: FakeProviders) -> None:
    fake_provider.faults.hang = 1
    fake_provider.faults.hang_seconds = 10.0
    results = SES.build(fake_provider, http_timeout=1.0).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert "timed out" in (results[0].error or "")
    assert "not sent" in (results[1].error or "")


@pytest.mark.timing
def test_calls_are_paced_at_the_configured_rate(fake_provider: FakeProviders) -> None:
    started = time.monotonic()
    results = SES.build(fake_provider, ses_requests_per_second=10).send(emails(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert time.monotonic() - started >= 0.2


@pytest.mark.timing
def test_a_slow_batch_stops_within_its_time_budget(fake_provider: FakeProviders, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each call takes 1 s, a second inside the 2 s timeout even on a busy CPU;
    # twelve of them would take 12 s, more than a budget of one timeout (the
    # product's four would make the test take 8 s for the same verdict).
    monkeypatch.setattr(ses_module, "BUDGET_TIMEOUTS", 1)
    fake_provider.faults.delay = 1.0
    results = SES.build(fake_provider, http_timeout=2.0).send(emails(12))
    sent = [r for r in results if r.outcome == Outcome.ACCEPTED]
    assert 0 < len(sent) < 12
    assert results[len(sent) :] == [r for r in results if r.outcome == Outcome.TRANSIENT]
    assert "time budget" in (results[-1].error or "")
    assert len(fake_provider.calls_to("ses")) == len(sent)

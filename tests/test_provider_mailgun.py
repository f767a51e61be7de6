"""Mailgun: spoken to over real HTTP (the fake provider, multipart forms), with real personalised bodies."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest
from publisher.core.errors import ConfigurationError, PermanentDeliveryError
from publisher.core.outcomes import Outcome
from publisher.core.settings import Settings
from publisher.core.signals import Halt

from tests.fakes.mailgun import API_KEY, DOMAIN, form_fields
from tests.fakes.server import CannedAnswer, FakeProviders
from tests.test_provider_sendgrid import assert_each_got_their_own, personalised, received
from workers.providers import provider_class
from workers.providers.mailgun import MailgunProvider


def mailgun(fake: FakeProviders, **overrides: object) -> MailgunProvider:
    values: dict[str, object] = {
        "mailgun_api_key": API_KEY,
        "mailgun_domain": DOMAIN,
        "mailgun_base_url": fake.base_url,
        "http_timeout": 2.0,
    }
    values.update(overrides)
    return MailgunProvider(Settings(**values))  # type: ignore[arg-type]


def sent_to(fake: FakeProviders) -> list[list[str]]:
    """The `to` fields of every send call, in order."""
    return [[v for n, v in form_fields(call) if n == "to"] for call in fake.calls_to("mailgun") if call.method == "POST"]


def test_registry_finds_mailgun() -> None:
    assert provider_class("mailgun") is MailgunProvider


def test_a_batch_goes_in_one_call_and_each_recipient_gets_their_own_body(fake_provider: FakeProviders) -> None:
    batch = personalised(6)
    results = mailgun(fake_provider).send(batch)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 6
    assert len({r.provider_message_id for r in results}) == 1 and results[0].provider_message_id
    (call,) = fake_provider.calls_to("mailgun")
    assert call.path == f"/v3/{DOMAIN}/messages"
    assert call.headers["authorization"] == "Basic " + base64.b64encode(f"api:{API_KEY}".encode()).decode()
    assert call.headers["content-type"].startswith("multipart/form-data; boundary=")
    fields = form_fields(call)
    form = dict(fields)
    assert [v for n, v in fields if n == "to"][:2] == ["Ann <person0@example.com>", "Bartholomew <person1@example.com>"]
    assert form["h:List-Unsubscribe"] == "%recipient.h_list_unsubscribe%"
    assert form["v:delivery_id"] == "%recipient.delivery_id%"
    assert form["o:tag"] == "campaign-9"
    variables = json.loads(form["recipient-variables"])
    assert list(variables) == [email.to_address for email in batch]
    assert variables["person2@example.com"]["delivery_id"] == "3"
    assert variables["person2@example.com"]["h_list_unsubscribe"] == f"<{batch[2].unsubscribe_url}>"
    assert len(call.body) < 2 * (len(batch[0].html) + len(batch[0].text))
    assert_each_got_their_own(fake_provider, "mailgun", batch)
    user_variables = received(fake_provider, "mailgun")["person2@example.com"]["user-variables"]
    assert user_variables == {"campaign_id": "9", "delivery_id": "3", "message_id": batch[2].message_id}


def test_250_recipients_go_in_one_call(fake_provider: FakeProviders) -> None:
    batch = personalised(250)
    results = mailgun(fake_provider).send(batch)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 250
    assert [len(to) for to in sent_to(fake_provider)] == [250]
    assert_each_got_their_own(fake_provider, "mailgun", batch)


def test_a_lone_recipient_is_sent_literally(fake_provider: FakeProviders) -> None:
    (email,) = personalised(1)
    assert mailgun(fake_provider).send([email])[0].outcome == Outcome.ACCEPTED
    form = dict(form_fields(fake_provider.calls_to("mailgun")[0]))
    assert "recipient-variables" not in form
    assert (form["html"], form["v:delivery_id"]) == (email.html, "1")
    assert_each_got_their_own(fake_provider, "mailgun", [email])


def test_texts_that_mention_recipient_variables_go_one_per_call(fake_provider: FakeProviders) -> None:
    batch = [dataclasses.replace(e, text=e.text + "\nWrite %recipient.name% in Mailgun templates.\n") for e in personalised(2)]
    results = mailgun(fake_provider).send(batch)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 2
    assert [len(to) for to in sent_to(fake_provider)] == [1, 1]
    assert_each_got_their_own(fake_provider, "mailgun", batch)


def test_a_repeated_address_or_another_header_set_goes_in_its_own_call(fake_provider: FakeProviders) -> None:
    batch = personalised(4)
    batch[1] = dataclasses.replace(batch[1], to_address="PERSON0@example.com")
    batch[3] = dataclasses.replace(batch[3], is_test=True)
    results = mailgun(fake_provider).send(batch)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 4
    assert sorted(len(to) for to in sent_to(fake_provider)) == [1, 1, 2]


def test_a_refused_address_is_isolated_by_halving_the_batch(fake_provider: FakeProviders) -> None:
    fake_provider.faults.reject["person5@example.com"] = (400, "invalid")
    batch = personalised(8)
    results = mailgun(fake_provider).send(batch)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 5 + [Outcome.PERMANENT] + [Outcome.ACCEPTED] * 2
    assert "'to' parameter is not a valid address" in (results[5].error or "")
    # 8 refused → 4 sent, 4 refused → 2 refused → 1 sent, 1 refused (alone: permanent); 2 sent
    assert [len(to) for to in sent_to(fake_provider)] == [8, 4, 4, 2, 1, 1, 2]
    assert_each_got_their_own(fake_provider, "mailgun", batch[:5] + batch[6:])


@pytest.mark.parametrize(
    ("answer", "outcome", "kept"),
    [
        (CannedAnswer(400, '{"message": "from parameter is not a valid address. please check documentation"}'),
         Outcome.PERMANENT, "Mailgun refused the request: from parameter is not a valid address"),
        (CannedAnswer(413, '{"message": "Request entity too large"}'), Outcome.PERMANENT, "too large"),
        (CannedAnswer(500, '{"message": "Internal Server Error"}'), Outcome.TRANSIENT, "Internal Server Error"),
        (CannedAnswer(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", {"Content-Type": "text/html"}),
         Outcome.TRANSIENT, "502 Bad Gateway"),
        (CannedAnswer(200, "<html>garbage</html>", {"Content-Type": "text/html"}), Outcome.TRANSIENT, "unreadable answer"),
        (CannedAnswer(200, '{"message": "Queued. Thank you."}'), Outcome.TRANSIENT, "unreadable answer"),
    ],
)  # fmt: skip
def test_whole_call_answers(fake_provider: FakeProviders, answer: CannedAnswer, outcome: Outcome, kept: str) -> None:
    fake_provider.faults.canned.append(answer)
    results = mailgun(fake_provider).send(personalised(2))
    assert [r.outcome for r in results] == [outcome, outcome]
    assert kept in (results[0].error or "")
    assert results[0].halt is None
    assert len(fake_provider.calls_to("mailgun")) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_credentials_halt_and_keep_the_records_open(fake_provider: FakeProviders, status: int) -> None:
    if status == 403:
        fake_provider.faults.canned.append(CannedAnswer(403, '{"message": "Domain mg.example.com is disabled"}'))
    results = mailgun(fake_provider, mailgun_api_key="key-wrong" if status == 401 else API_KEY).send(personalised(2))
    assert [(r.outcome, r.halt) for r in results] == [(Outcome.TRANSIENT, Halt.CREDENTIALS)] * 2
    assert "credentials rejected" in (results[0].error or "")


def test_an_unknown_domain_halts_with_the_eu_hint(fake_provider: FakeProviders) -> None:
    results = mailgun(fake_provider, mailgun_domain="mg.other.example").send(personalised(2))
    assert [(r.outcome, r.halt) for r in results] == [(Outcome.TRANSIENT, Halt.CREDENTIALS)] * 2
    assert "NEWSLETTER_MAILGUN_BASE_URL=https://api.eu.mailgun.net" in (results[0].error or "")
    assert "Domain not found" in (results[0].error or "")


@pytest.mark.parametrize(
    "answer",
    [
        CannedAnswer(429, "Domain mg.example.com is not allowed to send: try again after 120 seconds", {"Content-Type": "text/plain"}),
        CannedAnswer(429, '{"message": "Domain mg.example.com is not allowed to send: account-requests-per-sec limit exceeded, '
                          'try again after 120 seconds"}'),
    ],
)  # fmt: skip
def test_429_takes_the_wait_from_its_text(fake_provider: FakeProviders, answer: CannedAnswer) -> None:
    fake_provider.faults.canned.append(answer)
    (result,) = mailgun(fake_provider).send(personalised(1))
    assert (result.outcome, result.retry_after) == (Outcome.TRANSIENT, 120)


def test_a_retry_after_header_wins_over_the_text(fake_provider: FakeProviders) -> None:
    fake_provider.faults.throttle, fake_provider.faults.retry_after = 1, "7"
    provider = mailgun(fake_provider)
    first, second = provider.send(personalised(1)), provider.send(personalised(1))
    assert (first[0].outcome, first[0].retry_after) == (Outcome.TRANSIENT, 7)
    assert "try again after 7 seconds" in (first[0].error or "")
    assert second[0].outcome == Outcome.ACCEPTED


def test_server_errors_in_mailgun_shape_are_transient(fake_provider: FakeProviders) -> None:
    fake_provider.faults.error_rate = 1.0
    results = mailgun(fake_provider).send(personalised(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2


@pytest.mark.timing
def test_a_hanging_call_times_out_as_transient(fake_provider: FakeProviders) -> None:
    fake_provider.faults.hang, fake_provider.faults.hang_seconds = 1, 10.0
    results = mailgun(fake_provider, http_timeout=0.2).send(personalised(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert "timed out after 0.2s" in (results[0].error or "")


def test_unreachable_is_transient() -> None:
    provider = MailgunProvider(Settings(mailgun_api_key=API_KEY, mailgun_domain=DOMAIN, mailgun_base_url="http://127.0.0.1:9"))
    results = provider.send(personalised(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert "cannot connect" in (results[0].error or "")


def test_an_oversized_message_is_refused_before_sending(fake_provider: FakeProviders) -> None:
    batch = personalised(3)
    batch[0] = dataclasses.replace(batch[0], html="x" * (25 * 1024 * 1024 + 1))
    results = mailgun(fake_provider).send(batch)
    assert [r.outcome for r in results] == [Outcome.PERMANENT, Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert "mailgun accepts at most 25600 KB" in (results[0].error or "")
    assert sorted(to for call in sent_to(fake_provider) for to in call) == sorted([batch[1].recipient, batch[2].recipient])


def test_the_eu_region_is_a_base_url() -> None:
    assert MailgunProvider(Settings(mailgun_api_key=API_KEY, mailgun_domain=DOMAIN)).base_url == "https://api.mailgun.net"
    eu = MailgunProvider(Settings(mailgun_api_key=API_KEY, mailgun_domain=DOMAIN, mailgun_base_url="https://api.eu.mailgun.net/"))
    assert eu.base_url == "https://api.eu.mailgun.net"


@pytest.mark.parametrize(
    ("missing", "variable"), [("mailgun_api_key", "NEWSLETTER_MAILGUN_API_KEY"), ("mailgun_domain", "NEWSLETTER_MAILGUN_DOMAIN")]
)
def test_without_a_setting_the_variable_is_named(missing: str, variable: str) -> None:
    values = {"mailgun_api_key": API_KEY, "mailgun_domain": DOMAIN} | {missing: None}
    with pytest.raises(ConfigurationError, match=variable):
        MailgunProvider.check_configuration(Settings(**values))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=variable):
        MailgunProvider(Settings(**values))  # type: ignore[arg-type]


def test_check_looks_the_domain_up_without_sending(fake_provider: FakeProviders) -> None:
    assert f"domain {DOMAIN} (active)" in mailgun(fake_provider).check()
    assert [call.path for call in fake_provider.calls_to("mailgun")] == [f"/v4/domains/{DOMAIN}"]
    assert fake_provider.accepted == []


def test_check_fails_on_a_wrong_key_or_an_unknown_domain(fake_provider: FakeProviders) -> None:
    with pytest.raises(PermanentDeliveryError, match="credentials rejected") as wrong:
        mailgun(fake_provider, mailgun_api_key="key-wrong").check()
    assert wrong.value.halt == Halt.CREDENTIALS
    with pytest.raises(PermanentDeliveryError, match=r"api\.eu\.mailgun\.net"):
        mailgun(fake_provider, mailgun_domain="mg.other.example").check()

"""What every provider does the same way, written once and run for each (the differences are data in tests/support/providers.py)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from publisher.core.errors import ConfigurationError, PermanentDeliveryError
from publisher.core.outcomes import Outcome
from publisher.core.settings import Settings
from publisher.core.signals import Halt
from tests.fakes import mailgun as fake_mailgun
from tests.fakes.server import FakeProviders
from tests.support.outgoing import assert_each_got_their_own, emails, personalised
from tests.support.providers import HTTP_PROVIDERS, MAILGUN, NOTHING_LISTENS, SENDGRID, HttpProviderCase
from workers.providers import provider_class
from workers.providers.base import Provider
from workers.providers.mailgun import MailgunProvider
from workers.providers.postmark import PostmarkProvider
from workers.providers.resend import ResendProvider
from workers.providers.sendgrid import SendGridProvider
from workers.providers.ses import SesProvider
from workers.providers.smtp import SmtpProvider

BATCHING = [SENDGRID, MAILGUN]


@pytest.mark.parametrize(("name", "cls"), [*((case.name, case.provider_class) for case in HTTP_PROVIDERS), ("smtp", SmtpProvider)])
def test_registry_finds_the_provider(name: str, cls: type[Provider]) -> None:
    assert provider_class(name) is cls


@pytest.mark.parametrize(
    ("cls", "values", "variable", "refused_when_built"),
    [
        (PostmarkProvider, {}, "NEWSLETTER_POSTMARK_API_KEY", True),
        (SendGridProvider, {}, "NEWSLETTER_SENDGRID_API_KEY", True),
        (MailgunProvider, {"mailgun_api_key": None, "mailgun_domain": fake_mailgun.DOMAIN}, "NEWSLETTER_MAILGUN_API_KEY", True),
        (MailgunProvider, {"mailgun_api_key": fake_mailgun.API_KEY, "mailgun_domain": None}, "NEWSLETTER_MAILGUN_DOMAIN", True),
        (ResendProvider, {}, "NEWSLETTER_RESEND_API_KEY", True),
        (SesProvider, {}, "NEWSLETTER_SES_ACCESS_KEY_ID", True),
        (SesProvider, {"ses_access_key_id": "AKID"}, "NEWSLETTER_SES_SECRET_ACCESS_KEY", True),
        (SmtpProvider, {}, "NEWSLETTER_SMTP_HOST", True),
        # Only the configuration check asks for the password that goes with a login.
        (SmtpProvider, {"smtp_host": "mail.example", "smtp_username": "newsletter"}, "NEWSLETTER_SMTP_PASSWORD", False),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
def test_without_a_setting_the_variable_is_named(
    cls: type[Provider], values: dict[str, Any], variable: str, refused_when_built: bool
) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        cls.check_configuration(Settings(**values))
    if refused_when_built:
        with pytest.raises(ConfigurationError, match=variable):
            cls(Settings(**values))


@pytest.mark.parametrize("case", HTTP_PROVIDERS, ids=str)
def test_unreachable_is_transient(case: HttpProviderCase) -> None:
    provider = case.provider_class(case.settings(NOTHING_LISTENS, http_timeout=1.0))
    results = provider.send(emails(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert "cannot connect" in (results[0].error or "")


@pytest.mark.timing
@pytest.mark.parametrize("case", [case for case in HTTP_PROVIDERS if case.name != "ses"], ids=str)
def test_a_hanging_call_times_out_as_transient(fake_provider: FakeProviders, case: HttpProviderCase) -> None:
    # SES sends one call per email: its own test shows the rest of the batch is then not sent.
    # The fake hangs far longer than the client waits, so a busy machine cannot let the answer arrive in time.
    fake_provider.faults.hang, fake_provider.faults.hang_seconds = 1, 10.0
    results = case.build(fake_provider, http_timeout=1.0).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert "timed out after 1s" in (results[0].error or "")


@pytest.mark.parametrize("case", [case for case in HTTP_PROVIDERS if case.max_batch], ids=str)
def test_batch_larger_than_the_provider_takes_is_refused(fake_provider: FakeProviders, case: HttpProviderCase) -> None:
    assert case.max_batch is not None
    with pytest.raises(ValueError, match=f"at most {case.max_batch}"):
        case.build(fake_provider).send(emails(case.max_batch + 1))
    assert fake_provider.calls == []


@pytest.mark.parametrize("case", [case for case in HTTP_PROVIDERS if case.check_calls], ids=str)
def test_check_reads_the_account_without_sending(fake_provider: FakeProviders, case: HttpProviderCase) -> None:
    assert re.search(case.check_says, case.build(fake_provider).check())
    assert [(call.method, call.path) for call in fake_provider.calls_to(case.name)] == list(case.check_calls)
    assert fake_provider.accepted == []


@pytest.mark.parametrize("case", [case for case in HTTP_PROVIDERS if case.wrong_credentials], ids=str)
def test_check_with_wrong_credentials_halts_for_them(fake_provider: FakeProviders, case: HttpProviderCase) -> None:
    with pytest.raises(PermanentDeliveryError, match=case.wrong_credentials_error) as raised:
        case.build(fake_provider, **case.wrong_credentials).check()
    assert raised.value.halt == Halt.CREDENTIALS


@pytest.mark.parametrize("case", HTTP_PROVIDERS, ids=str)
def test_throttled_in_the_providers_shape_is_transient_with_its_retry_after(fake_provider: FakeProviders, case: HttpProviderCase) -> None:
    fake_provider.faults.throttle, fake_provider.faults.retry_after = 1, "7"
    provider = case.build(fake_provider)
    first, second = provider.send(emails(1)), provider.send(emails(1))
    assert (first[0].outcome, first[0].retry_after) == (Outcome.TRANSIENT, 7)
    assert case.throttled_says in (first[0].error or "")
    assert second[0].outcome == Outcome.ACCEPTED


# --- Providers that put many recipients in one call -------------------------------------------------


@pytest.mark.parametrize("case", BATCHING, ids=str)
def test_250_recipients_go_in_one_call(fake_provider: FakeProviders, case: HttpProviderCase) -> None:
    assert case.addressed is not None
    batch = personalised(250)
    results = case.build(fake_provider).send(batch)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 250
    assert [len(case.addressed(call)) for call in fake_provider.calls_to(case.name)] == [250]
    assert_each_got_their_own(fake_provider, case.name, batch)


@pytest.mark.parametrize("case", BATCHING, ids=str)
def test_an_oversized_message_is_refused_before_sending(fake_provider: FakeProviders, case: HttpProviderCase) -> None:
    assert case.addressed is not None and case.max_message_bytes is not None
    batch = personalised(3)
    batch[1] = dataclasses.replace(batch[1], html="x" * (case.max_message_bytes + 1))
    results = case.build(fake_provider).send(batch)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.PERMANENT, Outcome.ACCEPTED]
    assert case.too_large in (results[1].error or "")
    sent = [address for call in fake_provider.calls_to(case.name) for address in case.addressed(call)]
    assert sorted(sent) == ["person0@example.com", "person2@example.com"]


@pytest.mark.parametrize("case", BATCHING, ids=str)
def test_a_message_within_the_limit_in_characters_but_over_it_in_bytes_is_refused(
    fake_provider: FakeProviders, case: HttpProviderCase
) -> None:
    assert case.addressed is not None and case.max_message_bytes is not None
    batch = personalised(2)
    batch[0] = dataclasses.replace(batch[0], html="é" * (case.max_message_bytes // 2 + 1))  # two bytes each in UTF-8
    results = case.build(fake_provider).send(batch)
    assert [r.outcome for r in results] == [Outcome.PERMANENT, Outcome.ACCEPTED]
    assert case.too_large in (results[0].error or "")


@pytest.mark.parametrize("case", BATCHING, ids=str)
def test_server_errors_in_the_providers_shape_are_transient(fake_provider: FakeProviders, case: HttpProviderCase) -> None:
    fake_provider.faults.error_rate = 1.0
    results = case.build(fake_provider).send(personalised(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert case.server_error_says in (results[0].error or "")

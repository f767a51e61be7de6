"""The HTTP providers as test cases: how to build each against the fake, and what differs between them.

Contract tests (tests/test_provider_contract.py) are written once and run for
every case here; what only one provider does stays in its own test module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from publisher.core.settings import Settings
from tests.fakes import mailgun as fake_mailgun
from tests.fakes import postmark as fake_postmark
from tests.fakes import resend as fake_resend
from tests.fakes import sendgrid as fake_sendgrid
from tests.fakes import ses as fake_ses
from tests.fakes.server import FakeProviders, Request
from workers.providers.base import Provider
from workers.providers.mailgun import MailgunProvider
from workers.providers.postmark import PostmarkProvider
from workers.providers.resend import ResendProvider
from workers.providers.sendgrid import SendGridProvider
from workers.providers.ses import SesProvider

#: A loopback port nothing listens on.
NOTHING_LISTENS = "http://127.0.0.1:9"


@dataclass(frozen=True)
class HttpProviderCase:
    """One HTTP provider: its class, the settings that configure it, and its answers to the contract's questions."""

    name: str
    provider_class: type[Provider]
    #: Settings that configure it, all but the base URL.
    credentials: dict[str, Any]
    #: The setting that points it at the fake.
    base_url_setting: str
    #: The most emails one ``send`` takes, where the provider has such a limit.
    max_batch: int | None = None
    #: Settings that make the provider refuse the credentials, and the error a check then raises (a regex).
    wrong_credentials: dict[str, Any] = field(default_factory=dict)
    wrong_credentials_error: str = "credentials rejected"
    #: What ``check()`` says on success (a regex), and the calls (method, path) it makes.
    check_says: str = ""
    check_calls: tuple[tuple[str, str], ...] = ()
    #: The addresses one send call carries (for providers that send many recipients per call).
    addressed: Callable[[Request], list[str]] | None = None
    #: The largest message the provider accepts, and how the refusal reads.
    max_message_bytes: int | None = None
    too_large: str = ""
    #: What a 5xx in the provider's own shape leaves in the error.
    server_error_says: str = ""
    #: What a 429 in the provider's own shape leaves in the error.
    throttled_says: str = ""

    def __str__(self) -> str:
        return self.name

    def settings(self, base_url: str, **overrides: Any) -> Settings:
        values = {**self.credentials, self.base_url_setting: base_url, "http_timeout": 2.0, **overrides}
        return Settings(**values)

    def build(self, fake: FakeProviders, **overrides: Any) -> Provider:
        """The provider pointed at the fake, with ``overrides`` on top of its settings."""
        return self.provider_class(self.settings(fake.base_url, **overrides))


def sendgrid_addressed(call: Request) -> list[str]:
    return [p["to"][0]["email"] for p in call.json()["personalizations"]]


def mailgun_addressed(call: Request) -> list[str]:
    return [parseaddr(value)[1] for name, value in fake_mailgun.form_fields(call) if name == "to"]


POSTMARK = HttpProviderCase(
    "postmark",
    PostmarkProvider,
    {"postmark_api_key": fake_postmark.TOKEN},
    "postmark_base_url",
    max_batch=500,
)
SENDGRID = HttpProviderCase(
    "sendgrid",
    SendGridProvider,
    {"sendgrid_api_key": fake_sendgrid.API_KEY},
    "sendgrid_base_url",
    max_batch=1000,
    wrong_credentials={"sendgrid_api_key": "SG.wrong"},
    check_says=r"mail\.send",
    check_calls=(("GET", "/v3/scopes"),),
    addressed=sendgrid_addressed,
    max_message_bytes=30 * 1024 * 1024,
    too_large="sendgrid accepts at most 30720 KB",
    server_error_says="service unavailable",
)
MAILGUN = HttpProviderCase(
    "mailgun",
    MailgunProvider,
    {"mailgun_api_key": fake_mailgun.API_KEY, "mailgun_domain": fake_mailgun.DOMAIN},
    "mailgun_base_url",
    wrong_credentials={"mailgun_api_key": "key-wrong"},
    check_says=re.escape(f"domain {fake_mailgun.DOMAIN} (active)"),
    check_calls=(("GET", f"/v4/domains/{fake_mailgun.DOMAIN}"),),
    addressed=mailgun_addressed,
    max_message_bytes=25 * 1024 * 1024,
    too_large="mailgun accepts at most 25600 KB",
    # Mailgun names the wait in its 429 text as well as in Retry-After.
    throttled_says="try again after 7 seconds",
)
RESEND = HttpProviderCase(
    "resend",
    ResendProvider,
    {"resend_api_key": fake_resend.TOKEN},
    "resend_base_url",
    max_batch=100,
    wrong_credentials={"resend_api_key": "re_wrong"},
    wrong_credentials_error=r"credentials rejected.*invalid_api_key",
    check_says="API key accepted",
    check_calls=(("GET", "/domains"),),
)
SES = HttpProviderCase(
    "ses",
    SesProvider,
    {
        "ses_access_key_id": fake_ses.ACCESS_KEY_ID,
        "ses_secret_access_key": fake_ses.SECRET_ACCESS_KEY,
        "ses_region": fake_ses.REGION,
    },
    "ses_base_url",
    wrong_credentials={"ses_secret_access_key": "wrong"},
    wrong_credentials_error=r"credentials rejected.*SignatureDoesNotMatch",
    throttled_says="TooManyRequestsException",
    check_says="^" + re.escape(f"SES account in {fake_ses.REGION} accepted the credentials: up to 14.0/s"),
    check_calls=(("GET", "/v2/email/account"),),
)

HTTP_PROVIDERS = [POSTMARK, SENDGRID, MAILGUN, RESEND, SES]


def every_http_provider(fake: FakeProviders) -> list[Provider]:
    """Each HTTP provider, pointed at the fake."""
    return [case.build(fake) for case in HTTP_PROVIDERS]

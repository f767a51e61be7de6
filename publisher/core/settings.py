"""One typed settings object, read from the environment (and ``.env``) once.

Every variable is ``NEWSLETTER_<FIELD>``; the defaults below are the documented
ones (README, "Configuration"). Tasks and commands receive a ``Settings``; they
never read ``os.environ`` themselves.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from publisher.core.addresses import sender_mailbox
from publisher.core.branding import (
    DEFAULT_COLOR,
    DEFAULT_LOGO_SIZE,
    Brand,
    check_color,
    check_font,
    check_logo_size,
    check_logo_url,
    check_name,
)
from publisher.core.errors import ConfigurationError
from publisher.core.list_names import check_joinable_name
from publisher.core.private_files import private_directory

#: What happens when an event ends: recap drafts, nothing, or drafts sent once approved.
RecapRule = Literal["drafts", "none", "auto"]
#: The longest delay an event setting takes (ten years, in seconds): a later time is a mistake, and fits no date column.
MAX_EVENT_DELAY = 10 * 365 * 86400
#: How log lines are written: readable text, or one JSON object per line for a log collector.
LogFormat = Literal["text", "json"]
SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)
MIN_SECRET_LENGTH = 16


class Settings(BaseSettings):
    """Configuration of every process: publisher, worker and web."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSLETTER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    data_dir: Path = Field(
        Path("var"), description="Where local state lives (SQLite file, outbox, embedded Redis, secret key), for its owner only."
    )
    redis_url: str | None = Field(
        None,
        description="External Redis, redis://… or Sentinels as sentinel://h1:26379;sentinel://h2:26379; "
        "unset starts the embedded redis-server under data_dir.",
    )
    redis_sentinel_master: str | None = Field(
        None, validate_default=True, description="Name of the master the Sentinels of a sentinel:// NEWSLETTER_REDIS_URL watch."
    )
    database_url: str | None = Field(None, description="SQLAlchemy URL; unset means sqlite:///<data_dir>/newsletter.db.")
    log_format: LogFormat = Field("text", description="Log lines as text, or as one JSON object per line (json).")
    provider: str = Field("outbox", description="Provider used when a campaign names none.")
    outbox_dir: Path | None = Field(None, description="Where the outbox provider writes .eml files; unset means <data_dir>/outbox.")
    from_address: str = Field(
        "Newsletter <newsletter@example.com>",
        alias="NEWSLETTER_FROM",
        description="From header of every issue: exactly one mailbox, checked when the settings load.",
    )
    reply_to: str | None = Field(None, description="Optional Reply-To header: exactly one mailbox, checked as NEWSLETTER_FROM is.")
    public_url: str = Field("http://localhost:8000", description="Base of unsubscribe and view-in-browser links.")
    secret_key: SecretStr | None = Field(
        None, description="Signs public links and keys the hashes of erased addresses; unset generates one under data_dir."
    )
    old_secret_keys: SecretStr | None = Field(
        None, description="Retired keys, comma-separated: their links still verify and their hashes of erased addresses still match."
    )
    postal_address: str = Field("", description="Sender postal address shown in every footer.")
    brand_name: str | None = Field(
        None,
        description="Name in the email masthead and atop the subscriber pages, and the logo's alt text; unset keeps the masthead's text.",
    )
    brand_logo_url: str | None = Field(None, description="https URL of the logo shown in the masthead and atop the subscriber pages.")
    brand_logo_size: str = Field(DEFAULT_LOGO_SIZE, description="The logo's display size in pixels, WIDTHxHEIGHT (Outlook needs both).")
    brand_color: str = Field(DEFAULT_COLOR, description="Colour of buttons and links, #rrggbb; lint checks its contrast (WCAG AA).")
    brand_font: str | None = Field(
        None, description="CSS font-family list of every text in emails and pages; unset keeps the layouts' fonts."
    )
    batch_size: int | None = Field(
        None, ge=1, le=1000, description="Recipients per delivery task; unset means the provider's largest batch, which also caps it."
    )
    http_timeout: float = Field(10.0, gt=0, description="Seconds before a provider HTTP call is abandoned.")
    fetch_timeout: float = Field(
        10.0, gt=0, description="Seconds a fetch of a web page or feed (recap from a URL) may take in all: connection, redirects and body."
    )
    fetch_max_bytes: int = Field(5_000_000, ge=1024, description="Largest web page or feed fetched, in bytes; a longer one is refused.")
    fetch_allow_loopback: bool = Field(
        False,
        description="Let fetches reach loopback addresses (127.0.0.0/8, ::1), over plain http too: for tests. Private, "
        "link-local and other non-public addresses stay refused.",
    )
    max_attempts: int = Field(5, ge=1, description="Provider attempts per recipient before it is marked failed.")
    webhook_disable_after: int = Field(
        20, ge=1, le=10_000, description="Consecutive failed calls to an outgoing webhook endpoint after which it is disabled."
    )
    sweep_interval: float = Field(15.0, gt=0, description="Seconds between the workers' sweeps (scheduled sends, retries, leases).")
    metrics_port: int = Field(9808, ge=0, le=65535, description="Port of each worker's Prometheus /metrics (0: off).")
    web_metrics_port: int = Field(
        9809,
        ge=0,
        le=65535,
        description="Port of the web app's Prometheus /metrics (queues, campaigns, providers; 0: off), apart from the public port.",
    )
    lease_seconds: float = Field(60.0, gt=0, description="How long a claimed record is reserved for the worker sending it.")
    visibility_timeout: float = Field(120.0, gt=0, description="Seconds before Redis hands an unacknowledged task to another worker.")
    max_countdown: float = Field(60.0, gt=0, description="Longest retry wait kept on the queue; longer waits are kept in the database.")
    error_pause_rate: float = Field(0.25, gt=0, le=1, description="Failed share of finished records that pauses a campaign by itself.")
    error_pause_minimum: int = Field(50, ge=1, description="Finished records needed before the error rate can pause a campaign.")

    tracking: bool = Field(
        True,
        description="Track opens (a pixel) and clicks (signed redirects through the web app) in issues; a list can switch it off.",
    )
    tracking_days: int = Field(365, ge=1, le=3650, description="Days each recorded open and click is kept before the sweep deletes it.")
    soft_bounce_limit: int = Field(3, ge=1, description="Soft bounces of an address before it is suppressed everywhere.")
    subscribe_ip_limit: int = Field(10, ge=1, description="Subscribe requests allowed per client IP per hour.")
    subscribe_address_limit: int = Field(3, ge=1, description="Subscribe requests allowed per address per hour (confirmation emails sent).")
    subscribe_answer_seconds: float = Field(
        0.25, ge=0, le=5, description="Seconds before an accepted sign-up is answered: the timing must not tell if an email was sent."
    )
    confirm_link_days: int = Field(7, ge=1, description="Days a double opt-in confirm link works; after that the reader signs up again.")
    max_request_bytes: int = Field(1_048_576, ge=1024, description="Largest request body the web app accepts (413 above it).")
    request_body_timeout: float = Field(
        10.0, gt=0, description="Seconds a request's whole body may take to arrive after its headers (408 and the connection closed after)."
    )
    trusted_proxies: str = Field("", description="Comma-separated proxy IPs whose X-Forwarded-For is believed.")
    console_idle_minutes: int = Field(60, ge=1, le=10_080, description="Minutes without a request after which a console session ends.")
    signin_account_limit: int = Field(5, ge=1, description="Failed console sign-ins allowed per account per 15 minutes.")
    signin_ip_limit: int = Field(20, ge=1, description="Failed console sign-ins allowed per client IP per 15 minutes.")
    api_requests_per_minute: int = Field(600, ge=1, description="HTTP API requests allowed per token per minute (429 above it).")
    max_import_bytes: int = Field(
        50_000_000,
        ge=1024,
        description="Largest import accepted by the API's and the console's import routes (413 above) and by events import, in bytes.",
    )

    zoom_webhook_secret: SecretStr | None = Field(
        None, description="Zoom webhook secret token: signs /webhooks/events/zoom (unset: refused)."
    )
    eventbrite_webhook_key: SecretStr | None = Field(
        None, description="Secret path part of /webhooks/events/eventbrite/<key> (unset: the receiver answers 401)."
    )
    eventbrite_token: SecretStr | None = Field(None, description="Eventbrite private token the receiver fetches objects with.")
    eventbrite_base_url: str = Field(
        "https://www.eventbriteapi.com/v3/", description="Eventbrite API base: an api_url outside it is refused."
    )
    luma_webhook_key: SecretStr | None = Field(
        None, description="Secret path part of /webhooks/events/luma/<key> (unset: the receiver answers 401)."
    )
    luma_api_key: SecretStr | None = Field(None, description="Luma API key the receiver re-fetches guests with (x-luma-api-key).")
    luma_base_url: str = Field("https://public-api.luma.com", description="Luma API base URL.")
    events_webhook_secret: SecretStr | None = Field(
        None, description="Standard Webhooks secret (whsec_…) of /webhooks/events/generic (unset: refused)."
    )
    event_end_quiet_seconds: float = Field(
        600.0, ge=0, description="Seconds after a platform's 'ended' signal without a new start before the event counts as ended."
    )
    event_recap_delay: float = Field(
        7200.0, ge=0, le=MAX_EVENT_DELAY, description="Seconds after an event ends before its recap drafts are created (at most ten years)."
    )
    manual_recap: RecapRule = Field(
        "drafts", description="Recap rule of events created by hand or from a generic CSV: drafts, none or auto."
    )
    zoom_recap: RecapRule = Field("drafts", description="Recap rule of Zoom webinars: drafts, none or auto.")
    eventbrite_recap: RecapRule = Field("drafts", description="Recap rule of Eventbrite events: drafts, none or auto.")
    luma_recap: RecapRule = Field("drafts", description="Recap rule of Luma events: drafts, none or auto.")
    generic_recap: RecapRule = Field("drafts", description="Recap rule of events from /webhooks/events/generic: drafts, none or auto.")
    manual_signup_list: str | None = Field(None, description="List that registrants of hand-made events join (unset: none).")
    zoom_signup_list: str | None = Field(None, description="List Zoom registrants join, where registration consent allows (unset: none).")
    eventbrite_signup_list: str | None = Field(
        None, description="List Eventbrite registrants join, where registration consent allows (unset: none)."
    )
    luma_signup_list: str | None = Field(None, description="List Luma registrants join, where registration consent allows (unset: none).")
    generic_signup_list: str | None = Field(
        None, description="List registrants from /webhooks/events/generic join, where consent allows (unset: none)."
    )
    event_auto_send_after: float = Field(
        86400.0,
        ge=0,
        le=MAX_EVENT_DELAY,
        description="Seconds after the end an approved recap draft is sent, for the rule auto without its own delay (at most ten years).",
    )

    postmark_webhook_username: str | None = Field(None, description="Basic-auth user name Postmark's webhooks must send.")
    postmark_webhook_password: SecretStr | None = Field(None, description="Basic-auth password Postmark's webhooks must send.")
    sendgrid_webhook_public_key: str | None = Field(None, description="SendGrid event webhook verification key (base64 ECDSA P-256).")
    mailgun_webhook_signing_key: SecretStr | None = Field(None, description="Mailgun HTTP webhook signing key.")
    resend_webhook_secret: SecretStr | None = Field(None, description="Resend (Svix) webhook signing secret, whsec_….")
    ses_sns_topic_arns: str = Field("", description="Comma-separated SNS topic ARNs whose notifications are accepted (empty: none).")
    sns_certificate_url_pattern: str = Field(
        # sns.<region>.amazonaws.com, or sns.cn-<…>.amazonaws.com.cn in the China partition; a region is
        # two letters, words and a number (us-east-1, us-gov-west-1), so sns.s3.amazonaws.com, an S3 bucket, is not one.
        # Regions are matched by shape, as a list would go stale. The path is the only one SNS uses,
        # SimpleNotificationService-<hex>.pem, so a caller cannot make up a new URL per call by varying it.
        r"^https://sns\.(?:[a-z]{2}(?:-[a-z]+)+-[0-9]+\.amazonaws\.com|cn-[a-z]+-[0-9]+\.amazonaws\.com\.cn)/SimpleNotificationService-[0-9a-f]+\.pem$",
        description="Regular expression an SNS SigningCertURL must match before it is fetched (scheme, host and path).",
    )

    fallback_provider: str | None = Field(None, description="Provider that takes over while the primary's circuit is open.")
    failover_after: int = Field(5, ge=1, description="Consecutive failed calls that open a provider's circuit.")
    failover_cooldown: float = Field(300.0, gt=0, description="Seconds a provider's circuit stays open.")

    postmark_api_key: SecretStr | None = Field(None, description="Postmark server token.")
    postmark_base_url: str = Field("https://api.postmarkapp.com", description="Postmark API base URL.")
    postmark_message_stream: str = Field("broadcast", description="Postmark message stream for newsletters.")
    postmark_requests_per_second: float | None = Field(None, gt=0, description="Postmark call rate limit (none documented).")
    postmark_messages_per_second: float | None = Field(None, gt=0, description="Postmark message rate limit (unset: unlimited).")

    sendgrid_api_key: SecretStr | None = Field(None, description="SendGrid API key.")
    sendgrid_base_url: str = Field("https://api.sendgrid.com", description="SendGrid API base URL (EU: https://api.eu.sendgrid.com).")
    sendgrid_asm_group_id: int | None = Field(None, description="SendGrid unsubscribe group for newsletters.")
    sendgrid_requests_per_second: float | None = Field(None, gt=0, description="SendGrid call rate limit (none documented).")
    sendgrid_messages_per_second: float | None = Field(None, gt=0, description="Sendgrid message rate limit (unset: unlimited).")

    mailgun_api_key: SecretStr | None = Field(None, description="Mailgun API key.")
    mailgun_domain: str | None = Field(None, description="Mailgun sending domain.")
    mailgun_base_url: str = Field("https://api.mailgun.net", description="Mailgun API base URL (EU: https://api.eu.mailgun.net).")
    mailgun_requests_per_second: float | None = Field(None, gt=0, description="Mailgun call rate limit (none documented).")
    mailgun_messages_per_second: float | None = Field(None, gt=0, description="Mailgun message rate limit (unset: unlimited).")

    resend_api_key: SecretStr | None = Field(None, description="Resend API key (re_…).")
    resend_base_url: str = Field("https://api.resend.com", description="Resend API base URL.")
    resend_requests_per_second: float | None = Field(None, gt=0, description="Resend call rate limit (documented default: 2/s).")
    resend_messages_per_second: float | None = Field(None, gt=0, description="Resend message rate limit (unset: unlimited).")

    ses_access_key_id: SecretStr | None = Field(None, description="AWS access key id for SES.")
    ses_secret_access_key: SecretStr | None = Field(None, description="AWS secret access key for SES.")
    ses_session_token: SecretStr | None = Field(None, description="AWS session token, for temporary credentials.")
    ses_region: str = Field("eu-west-1", description="SES region.")
    ses_base_url: str | None = Field(None, description="SES endpoint; unset means https://email.<region>.amazonaws.com.")
    ses_configuration_set: str | None = Field(None, description="SES configuration set (for event publishing).")
    ses_requests_per_second: float | None = Field(None, gt=0, description="SES call rate limit (your account's sending rate).")
    ses_messages_per_second: float | None = Field(None, gt=0, description="SES message rate limit (unset: unlimited).")

    smtp_host: str | None = Field(None, description="SMTP relay host.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    smtp_username: str | None = Field(None, description="SMTP user name (unset: no AUTH).")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_security: Literal["starttls", "ssl", "none"] = Field("starttls", description="starttls, ssl (implicit TLS) or none.")
    smtp_requests_per_second: float | None = Field(None, gt=0, description="SMTP rate limit (one request per message).")
    smtp_messages_per_second: float | None = Field(None, gt=0, description="SMTP message rate limit (unset: unlimited).")

    def event_recap_rule(self, source: str) -> RecapRule:
        """The recap rule events from ``source`` get unless one is set for the event."""
        rule: RecapRule = getattr(self, f"{source}_recap", "drafts")
        return rule

    def event_signup_list(self, source: str) -> str | None:
        """The list registrants from ``source`` join where their consent allows (None: nobody joins)."""
        name: str | None = getattr(self, f"{source}_signup_list", None)
        return name or None

    def messages_per_second(self, provider: str) -> float | None:
        """The configured message rate for a provider (None: unlimited)."""
        configured = getattr(self, f"{provider}_messages_per_second", None)
        return float(configured) if configured is not None else None

    def requests_per_second(self, provider: str, default: float | None) -> float | None:
        """The configured call rate for a provider, else its documented default (None: unlimited)."""
        configured = getattr(self, f"{provider}_requests_per_second", None)
        return float(configured) if configured is not None else default

    def batch_size_for(self, provider_max: int) -> int:
        """Recipients per delivery task for a provider taking at most ``provider_max`` per call: its largest unless set lower."""
        return min(self.batch_size or provider_max, provider_max)

    @property
    def brand(self) -> Brand:
        """The brand the emails and the subscriber pages show."""
        width, height = check_logo_size(self.brand_logo_size)
        return Brand(
            name=self.brand_name,
            logo_url=self.brand_logo_url,
            logo_width=width,
            logo_height=height,
            color=self.brand_color,
            font=self.brand_font,
        )

    @property
    def old_secrets(self) -> list[str]:
        if self.old_secret_keys is None:
            return []
        return [key.strip() for key in self.old_secret_keys.get_secret_value().split(",") if key.strip()]

    @property
    def secret_keys(self) -> tuple[str, ...]:
        """The signing key, then the retired ones: what the hashes of erased addresses are keyed with and checked against."""
        return (self.secret, *self.old_secrets)

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("from_address", "reply_to")
    @classmethod
    def _one_mailbox(cls, value: str | None) -> str | None:
        # Every message carries these: a value the workers cannot write into a
        # header would hold every campaign, so the process refuses to start.
        if value is not None:
            sender_mailbox(value)  # AddressError is a ValueError: pydantic reports it under the variable
        return value

    @field_validator("brand_name", "brand_logo_url", "brand_font", "batch_size", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("brand_name", "brand_logo_url", "brand_logo_size", "brand_color", "brand_font")
    @classmethod
    def _brand_value(cls, value: str | None, info: ValidationInfo) -> str | None:
        # The colour and the font go into CSS as they are: a value of another
        # shape could end a rule and add its own, so it never gets that far.
        if value is None:
            return value
        variable = f"NEWSLETTER_{str(info.field_name).upper()}"
        checks = {"brand_name": check_name, "brand_logo_url": check_logo_url, "brand_color": check_color, "brand_font": check_font}
        try:
            if info.field_name == "brand_logo_size":
                check_logo_size(value)
                return value.strip()
            value = checks[str(info.field_name)](value)
        except ValueError as exc:
            raise ValueError(f"{variable}: {exc}") from None
        if info.field_name == "brand_logo_url" and info.data.get("brand_name", "") is None:
            raise ValueError(f"{variable} needs NEWSLETTER_BRAND_NAME too: it is the logo's text alternative")
        return value

    @field_validator("manual_signup_list", "zoom_signup_list", "eventbrite_signup_list", "luma_signup_list", "generic_signup_list")
    @classmethod
    def _joinable_list(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Registrants would be added to it at every delivery: a name no list
        # people join can have (an event audience's, one on two lines) fails
        # here, once, rather than in every worker task.
        if value is None or not value.strip():
            return None
        try:
            return check_joinable_name(value)
        except ValueError as exc:
            raise ValueError(f"NEWSLETTER_{str(info.field_name).upper()}: {exc}") from None

    @field_validator("secret_key", "old_secret_keys")
    @classmethod
    def _long_enough(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # A short key makes every signed link forgeable by guessing it. An
        # empty list of retired keys is no retired key; an empty key is short.
        if value is None:
            return value
        keys = value.get_secret_value().split(",") if info.field_name == "old_secret_keys" else [value.get_secret_value()]
        for key in keys:
            if (key.strip() or info.field_name == "secret_key") and len(key.strip()) < MIN_SECRET_LENGTH:
                raise ValueError(f"each key must be at least {MIN_SECRET_LENGTH} characters (try: openssl rand -base64 48)")
        return value

    @field_validator("redis_sentinel_master")
    @classmethod
    def _sentinel_has_master(cls, value: str | None, info: ValidationInfo) -> str | None:
        # The Sentinels answer for several masters: without a name nothing knows which one holds the queues.
        url = info.data.get("redis_url") or ""
        value = value.strip() if value and value.strip() else None
        if url.startswith("sentinel://") and value is None:
            raise ValueError("NEWSLETTER_REDIS_URL names Sentinels (sentinel://): set this to the name of the master they watch")
        if value is not None and not url.startswith("sentinel://"):
            raise ValueError("set only with a sentinel:// NEWSLETTER_REDIS_URL")
        return value

    @property
    def tracking_kept(self) -> dt.timedelta:
        """How long each open and click is kept (``tracking_days``): what a subject test is decided on must be younger."""
        return dt.timedelta(days=self.tracking_days)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'newsletter.db').resolve()}"

    @property
    def resolved_outbox_dir(self) -> Path:
        return self.outbox_dir if self.outbox_dir is not None else self.data_dir / "outbox"

    @cached_property
    def secret(self) -> str:
        """Return the signing key, creating and keeping one under data_dir when unset."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return _load_or_create_secret(self.data_dir / SECRET_KEY_FILE)

    def credential(self, field: str) -> str:
        """Return a provider credential or name the variable that must be set."""
        value = getattr(self, field)
        if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()):
            raise ConfigurationError(f"set NEWSLETTER_{field.upper()}: the {field.split('_')[0]} provider needs it")
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


#: Settings every host of one deployment must give the same value (docs/operations.md, "Scaling out"): any
#: worker may take any batch or run the sweep, and any web process may answer any link or webhook, so these
#: must decide the same thing everywhere. The others (data_dir, ports, timeouts, log format) are per host.
SHARED_SETTINGS = frozenset(
    {
        "redis_url",
        "redis_sentinel_master",
        "database_url",
        "secret_key",
        "old_secret_keys",
        "public_url",
        "from_address",
        "reply_to",
        "postal_address",
        "provider",
        "fallback_provider",
        "failover_after",
        "failover_cooldown",
        "batch_size",
        "max_attempts",
        "webhook_disable_after",
        "lease_seconds",
        "visibility_timeout",
        "max_countdown",
        "error_pause_rate",
        "error_pause_minimum",
        "soft_bounce_limit",
        "tracking",
        "tracking_days",
        "confirm_link_days",
        "ses_sns_topic_arns",
        "sns_certificate_url_pattern",
        *(
            name
            for name in Settings.model_fields
            if name.startswith(("brand_", "event", "zoom_", "luma_", "manual_", "generic_"))
            or name.startswith(("postmark_", "sendgrid_", "mailgun_", "resend_", "ses_", "smtp_"))
        ),
    }
)


def _load_or_create_secret(path: Path) -> str:
    # The key is written to a private temporary file and hard-linked into
    # place: link() fails if the name exists, so the first process wins a race
    # and every other one reads a complete key, never a half-written file.
    if not path.exists():
        private_directory(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret-")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    key = path.read_text(encoding="ascii").strip()
    if not key:
        raise ConfigurationError(f"{path} is empty: delete it or set NEWSLETTER_SECRET_KEY")
    return key


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment, with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]

"""Settings: one typed object from the environment and .env, with documented defaults."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from publisher.core.errors import ConfigurationError
from publisher.core.settings import Settings, load_settings
from tests.support.cli import run_cli
from tests.support.paths import EXAMPLES


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.redis_url is None
    assert settings.provider == "outbox"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'var' / 'newsletter.db'}"
    assert settings.resolved_outbox_dir == Path("var") / "outbox"


def test_environment_and_dotenv_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("NEWSLETTER_PROVIDER=postmark\nNEWSLETTER_FROM=Modu <events@modu.example>\n", encoding="utf-8")
    monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", "https://news.modu.example/")
    settings = load_settings()
    assert settings.provider == "postmark"
    assert settings.from_address == "Modu <events@modu.example>"
    assert settings.public_url == "https://news.modu.example"


def test_generated_secret_key_is_kept_and_shared(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path / "var").secret
    second = Settings(data_dir=tmp_path / "var").secret
    assert first == second and len(first) >= 40
    key_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_configured_secret_key_wins(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path / "var", secret_key="configured-0123456789").secret == "configured-0123456789"
    assert not (tmp_path / "var" / "secret_key").exists()


@pytest.mark.parametrize("overrides", [{"secret_key": ""}, {"secret_key": "short"}, {"old_secret_keys": "key-2025-retired-last-year, x"}])
def test_a_short_signing_key_is_refused(overrides: dict[str, str]) -> None:
    # Every link is signed with it: a short key could be guessed and links forged.
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(**overrides)  # type: ignore[arg-type]


def test_an_empty_list_of_retired_keys_is_none() -> None:
    assert Settings(secret_key="configured-0123456789", old_secret_keys="").old_secrets == []


def test_missing_credential_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="set NEWSLETTER_POSTMARK_API_KEY"):
        Settings().credential("postmark_api_key")


def test_secrets_do_not_show_in_the_settings_repr() -> None:
    settings = Settings(secret_key="s3cr3t-value-0123456789", postmark_api_key="pm-token-value")
    assert "s3cr3t-value" not in repr(settings)
    assert "pm-token-value" not in repr(settings)


# --- The sender's mailboxes -------------------------------------------------------------------------

BAD_MAILBOXES = {
    "an unquoted comma makes two mailboxes": ("Support, Inc <s@x.com>", "exactly one"),
    "two addresses": ("a@x.com, b@y.com", "exactly one"),
    "a line break": ("Modu <events@modu.example>\r\nBcc: victim@example.com", "exactly one"),
    "a line break in the name": ("Modu\nEvents <events@modu.example>", "one line; it contains a line break"),
    "a non-ASCII local part": ("Modu <événements@modu.example>", "SMTPUTF8"),
    "no address at all": ("Modu Events", "exactly one"),
}


@pytest.mark.parametrize(("variable", "field"), [("NEWSLETTER_FROM", "from_address"), ("NEWSLETTER_REPLY_TO", "reply_to")])
@pytest.mark.parametrize(("value", "reason"), BAD_MAILBOXES.values(), ids=BAD_MAILBOXES.keys())
def test_a_sender_mailbox_no_message_can_carry_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, field: str, value: str, reason: str
) -> None:
    # Workers build From and Reply-To into every message: a value they cannot
    # build would fail every record of every campaign, so it is refused at start.
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=reason) as refused:
        load_settings()
    [error] = refused.value.errors()
    assert error["loc"] == (variable if field == "from_address" else field,)


@pytest.mark.parametrize("source", ["manual", "zoom", "eventbrite", "luma", "generic"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("event:launch:attended", "reserved for event audiences"),
        ("Event:*", "reserved for event audiences"),
        ("News\nletter", "line break"),
        ("News\x1b[31mletter", "control character"),
        ("x" * 101, "at most 100"),
    ],
)
def test_a_signup_list_no_list_can_be_is_refused_at_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, source: str, value: str, reason: str
) -> None:
    variable = f"NEWSLETTER_{source.upper()}_SIGNUP_LIST"
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=reason) as refused:
        load_settings()
    assert variable in str(refused.value)


def test_a_signup_list_name_is_kept_stripped_and_an_empty_one_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_ZOOM_SIGNUP_LIST", " Webinar fans ")
    monkeypatch.setenv("NEWSLETTER_LUMA_SIGNUP_LIST", " ")
    settings = load_settings()
    assert (settings.event_signup_list("zoom"), settings.event_signup_list("luma")) == ("Webinar fans", None)


@pytest.mark.parametrize(
    "value", ['"Support, Inc" <s@x.com>', "Modu Events <events@modu.example>", "events@bücher.de", "Événements Modu <events@modu.example>"]
)
def test_a_sender_mailbox_workers_can_build_is_accepted(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("NEWSLETTER_FROM", value)
    monkeypatch.setenv("NEWSLETTER_REPLY_TO", value)
    settings = load_settings()
    assert (settings.from_address, settings.reply_to) == (value, value)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("variable", "value"), [("NEWSLETTER_REPLY_TO", "Support, Inc <s@x.com>"), ("NEWSLETTER_FROM", "a@x.com, b@y.com")]
)
def test_publish_with_a_sender_mailbox_no_message_can_carry_exits_3_naming_the_variable(
    env: dict[str, str], variable: str, value: str
) -> None:
    assert run_cli(env, "subscribers", "import", str(EXAMPLES / "subscribers.csv"), "--list", "attendees").returncode == 0
    result = run_cli({**env, variable: value}, "publish", str(EXAMPLES / "recaps" / "modu-product-vs-tech.md"), "--list", "attendees")
    assert result.returncode == 3, result.output
    assert result.output.startswith(f"error: invalid configuration: {variable}: "), result.output
    assert "exactly one" in result.output and "Traceback" not in result.output
    assert json.loads(run_cli(env, "status", "--json").output)["campaigns"] == []

"""Settings: one typed object from the environment and .env, with documented defaults."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from publisher.errors import ConfigurationError
from publisher.settings import Settings, load_settings


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

"""`newsletter providers check`: settings and credentials checked without sending, in plain words."""

from __future__ import annotations

import socket
from pathlib import Path

from publisher.cli.provider_checks import CheckResult, check_providers
from publisher.core.settings import Settings

from tests.conftest import environment_for
from tests.fakes.postmark import TOKEN
from tests.fakes.server import FakeProviders
from tests.helpers import run_cli


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return environment_for(Settings(data_dir=tmp_path / "var", secret_key="test-secret-0123456789"), **extra)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_checks_the_provider_and_the_fallback_without_sending(tmp_path: Path, fake_provider: FakeProviders) -> None:
    env = cli_env(
        tmp_path,
        NEWSLETTER_PROVIDER="outbox",
        NEWSLETTER_FALLBACK_PROVIDER="postmark",
        NEWSLETTER_POSTMARK_API_KEY=TOKEN,
        NEWSLETTER_POSTMARK_BASE_URL=fake_provider.base_url,
    )
    result = run_cli(env, "providers", "check")
    assert result.returncode == 0, result.output
    assert result.output.splitlines() == [
        f"outbox: ok — {tmp_path / 'var' / 'outbox'} is writable",
        f"postmark: ok — server token accepted by {fake_provider.base_url}",
    ]
    calls = fake_provider.calls_to("postmark")
    assert [(call.method, call.path) for call in calls] == [("GET", "/server")]
    assert fake_provider.accepted == []


def test_rejected_credentials_exit_3(tmp_path: Path, fake_provider: FakeProviders) -> None:
    env = cli_env(tmp_path, NEWSLETTER_POSTMARK_API_KEY="not-the-token", NEWSLETTER_POSTMARK_BASE_URL=fake_provider.base_url)
    result = run_cli(env, "providers", "check", "postmark")
    assert result.returncode == 3, result.output
    assert result.last_line.startswith("postmark: FAILED — the provider rejected the credentials: HTTP 401: ")
    assert "Server Token you provided was invalid" in result.last_line


def test_a_missing_credential_names_the_variable(tmp_path: Path) -> None:
    result = run_cli(cli_env(tmp_path), "providers", "check", "postmark")
    assert result.returncode == 3, result.output
    assert result.last_line == "postmark: FAILED — set NEWSLETTER_POSTMARK_API_KEY: the postmark provider needs it"


def test_an_unwritable_outbox_fails_while_the_fallback_passes(tmp_path: Path, fake_provider: FakeProviders) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = cli_env(
        tmp_path,
        NEWSLETTER_OUTBOX_DIR=str(blocker / "out"),
        NEWSLETTER_FALLBACK_PROVIDER="postmark",
        NEWSLETTER_POSTMARK_API_KEY=TOKEN,
        NEWSLETTER_POSTMARK_BASE_URL=fake_provider.base_url,
    )
    result = run_cli(env, "providers", "check")
    assert result.returncode == 3, result.output
    first, second = result.output.splitlines()
    assert first.startswith(f"outbox: FAILED — cannot write to {blocker / 'out'}: ")
    assert second.startswith("postmark: ok — ")


def test_an_unreachable_provider_is_said_so() -> None:
    settings = Settings(postmark_api_key=TOKEN, postmark_base_url=f"http://127.0.0.1:{closed_port()}", http_timeout=2.0)
    [result] = check_providers(settings, "postmark")
    assert not result.ok
    assert result.detail.startswith("cannot reach the provider: cannot connect to 127.0.0.1:")
    settings = Settings(smtp_host="127.0.0.1", smtp_port=closed_port(), smtp_security="none", http_timeout=2.0)
    [result] = check_providers(settings, "smtp")
    assert result.detail.startswith("cannot reach the provider: cannot connect to 127.0.0.1:")


def test_an_unknown_provider_and_a_fallback_equal_to_the_primary(tmp_path: Path) -> None:
    assert check_providers(Settings(), "pigeon")[0].detail.startswith("unknown provider 'pigeon'")
    settings = Settings(outbox_dir=tmp_path / "out", fallback_provider="outbox")
    assert check_providers(settings, None) == [CheckResult("outbox", True, f"{tmp_path / 'out'} is writable")]

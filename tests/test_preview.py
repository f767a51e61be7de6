"""Preview: the exact HTML a subscriber gets, with no Redis and no database."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import run_cli
from tests.support.paths import FIXTURES
from tests.support.recaps import RECAP, insecure_image_recap


def preview_env(tmp_path: Path) -> dict[str, str]:
    import os

    env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSLETTER_")}
    # Both services point nowhere: preview must not need them.
    env.update(
        {
            "NEWSLETTER_REDIS_URL": "redis://127.0.0.1:1/0",
            "NEWSLETTER_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "NEWSLETTER_DATA_DIR": str(tmp_path / "var"),
            "NEWSLETTER_SECRET_KEY": "preview-secret-0123456789",
        }
    )
    return env


def test_preview_writes_the_html_without_redis_or_database(tmp_path: Path) -> None:
    output = tmp_path / "out" / "preview.html"
    result = run_cli(preview_env(tmp_path), "preview", RECAP, "-o", str(output))
    assert result.returncode == 0, result.output
    html = output.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "Hi Sam," in html
    assert "/unsubscribe/" in html and "{{" not in html
    assert not (tmp_path / "var" / "newsletter.db").exists()


def test_preview_for_a_given_address(tmp_path: Path) -> None:
    output = tmp_path / "zoe.html"
    result = run_cli(preview_env(tmp_path), "preview", RECAP, "--subscriber", "zoe@example.com", "-o", str(output))
    assert result.returncode == 0, result.output
    assert "Hi there," in output.read_text(encoding="utf-8")


def test_preview_of_bad_content_exits_2(tmp_path: Path) -> None:
    output = tmp_path / "bad.html"
    result = run_cli(preview_env(tmp_path), "preview", str(FIXTURES / "recaps" / "empty-body.md"), "-o", str(output))
    assert result.returncode == 2
    assert "the body is empty" in result.output
    assert not output.exists()


def test_preview_reports_lint_findings_without_refusing(tmp_path: Path) -> None:
    recap = insecure_image_recap(tmp_path)
    output = tmp_path / "insecure.html"
    result = run_cli(preview_env(tmp_path), "preview", str(recap), "-o", str(output))
    assert result.returncode == 0, result.output
    assert output.exists()
    assert "lint error: images" in result.output

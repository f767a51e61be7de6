"""Preview and lint from one render, and the caches that make repeated calls cheap never serve a stale result."""

from __future__ import annotations

from publisher.content.lint import LintReport, Severity, lint_recap, preload, preview_and_lint
from publisher.content.lint.caniemail import features
from publisher.content.lint.css import parse_stylesheet
from publisher.content.preview import SampleSubscriber, preview
from publisher.content.recap import Recap, load_recap, parse_recap
from publisher.content.rendering.layout import inline_css
from publisher.core.settings import Settings
from tests.support.recaps import RECAP


def make_settings() -> Settings:
    return Settings(secret_key="lint-secret-0123456789", public_url="https://news.modu.example", postal_address="1 Test Street, London")


def modu_with_http_image() -> Recap:
    """The Modu recap with one edit: an image over plain HTTP, which lint reports as an error."""
    text = RECAP.read_text(encoding="utf-8").replace(
        "## Not a War, But a Marriage",
        "![The panel](http://images.modu.example/panel.jpg){width=600 height=400}\n\n## Not a War, But a Marriage",
    )
    return parse_recap(text)


def http_errors(report: LintReport) -> list[str]:
    return [finding.where for finding in report.errors if "http://images.modu.example" in finding.where]


def test_preview_and_lint_gives_the_sample_subscribers_email_and_the_lint_report() -> None:
    settings, recap = make_settings(), load_recap(RECAP)
    linted = preview_and_lint(settings, recap)
    assert (linted.html, linted.text) == preview(settings, recap, SampleSubscriber(), list_name="subscribers")
    assert linted.report == lint_recap(settings, recap)
    assert "Sam" in linted.html


def test_an_edit_between_two_calls_shows_in_both_the_email_and_the_report() -> None:
    settings, recap = make_settings(), load_recap(RECAP)
    before = preview_and_lint(settings, recap)
    after = preview_and_lint(settings, modu_with_http_image())
    again = preview_and_lint(settings, recap)
    assert http_errors(before.report) == []
    assert len(http_errors(after.report)) == 1
    assert "http://images.modu.example/panel.jpg" in after.html
    assert again == before


def test_inlining_follows_the_stylesheet_it_is_given() -> None:
    page = "<!DOCTYPE html><html><head><style>p {{ color: {colour} }}</style></head><body><p>Hi</p></body></html>"
    assert 'style="color:red"' in inline_css(page.format(colour="red"))
    assert 'style="color:blue"' in inline_css(page.format(colour="blue"))
    assert 'style="color:red"' in inline_css(page.format(colour="red"))


def test_each_style_block_is_read_for_what_it_says() -> None:
    red, blue = parse_stylesheet("p { color: red }"), parse_stylesheet("@media (max-width: 600px) { p { color: blue } }")
    assert [(declaration.name, declaration.value) for declaration, _rule in red.declarations] == [("color", "red")]
    assert [(declaration.value, rule.name if rule else None) for declaration, rule in blue.declarations] == [("blue", "media")]
    assert parse_stylesheet("p { color: red }") == red


def test_preload_loads_the_client_support_data() -> None:
    features.cache_clear()
    preload()
    assert features.cache_info().currsize == 1
    report = lint_recap(make_settings(), load_recap(RECAP))
    assert [finding for finding in report.findings if finding.check == "client-support" and finding.severity is Severity.PASS]

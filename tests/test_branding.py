"""The brand (NEWSLETTER_BRAND_*): checked where it is set, shown in every email and subscriber page, its colour linted."""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
import pytest
import requests
from pydantic import ValidationError
from sqlalchemy import update

from publisher.content.lint import Severity, lint_recap
from publisher.content.recap import load_recap
from publisher.content.rendering.confirmation import ConfirmationFrame, render_confirmation
from publisher.content.rendering.layout import IssueFrame, issue_frame, render_issue
from publisher.content.rendering.personalize import Recipient
from publisher.core.branding import DARK_SURFACE, Brand, contrast
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import MailingList
from tests.support.audience import people
from tests.support.cli import run_cli
from tests.support.recaps import RECAP
from tests.support.types import ServeWeb

WHO = Recipient("zoe@example.com", "Zoë", "O'Brien", "https://news.example/unsubscribe/tok", "https://news.example/view/tok")
MODU = {
    "brand_name": "Modu",
    "brand_logo_url": "https://cdn.modu.example/logo.png",
    "brand_logo_size": "120x36",
    "brand_color": "#0F5F8C",
    "brand_font": "'Open Sans', \"Segoe UI\", Arial, sans-serif",
}


def settings_with(tmp_path: Path, **values: str) -> Settings:
    return Settings(data_dir=tmp_path / "var", secret_key="brand-secret-0123456789", public_url="https://news.modu.example", **values)  # type: ignore[arg-type]


# Settings ------------------------------------------------------------------------------------------

BAD_VALUES = [
    ("NEWSLETTER_BRAND_COLOR", "red", "is not a colour"),
    ("NEWSLETTER_BRAND_COLOR", "#fff", "is not a colour"),
    ("NEWSLETTER_BRAND_COLOR", "#1d4ed8; background: url(https://evil.example/x)", "is not a colour"),
    ("NEWSLETTER_BRAND_COLOR", "#1d4ed8}", "is not a colour"),
    ("NEWSLETTER_BRAND_FONT", "Arial; } body { background: url(https://evil.example/x)", "is not a font-family list"),
    ("NEWSLETTER_BRAND_FONT", "Arial</style><script>alert(1)</script>", "is not a font-family list"),
    ("NEWSLETTER_BRAND_FONT", '"Open Sans, Arial', "is not a font-family list"),
    ("NEWSLETTER_BRAND_FONT", "'Open Sans\", Arial", "is not a font-family list"),
    ("NEWSLETTER_BRAND_FONT", "Arial,, sans-serif", "is not a font-family list"),
    ("NEWSLETTER_BRAND_FONT", "Arial\\3b color: red", "is not a font-family list"),
    ("NEWSLETTER_BRAND_FONT", "x" * 201, "is not a font-family list"),
    ("NEWSLETTER_BRAND_LOGO_URL", "http://cdn.modu.example/logo.png", "https URL"),
    ("NEWSLETTER_BRAND_LOGO_URL", 'https://cdn.modu.example/logo.png" onerror="alert(1)', "https URL"),
    ("NEWSLETTER_BRAND_LOGO_SIZE", "600x40", "at most 536x200"),
    ("NEWSLETTER_BRAND_LOGO_SIZE", "wide", "WIDTHxHEIGHT"),
    ("NEWSLETTER_BRAND_NAME", "Modu\r\nBcc: victim@example.com", "single line"),
    ("NEWSLETTER_BRAND_NAME", "M" * 101, "1 to 100 characters"),
]


@pytest.mark.parametrize(("variable", "value", "reason"), BAD_VALUES)
def test_a_bad_brand_value_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str) -> None:
    monkeypatch.setenv("NEWSLETTER_BRAND_NAME", "Modu")  # a logo needs one
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    [error] = refused.value.errors()
    assert error["loc"] == (variable.removeprefix("NEWSLETTER_").lower(),)
    assert variable in error["msg"] and reason in error["msg"]


def test_a_logo_needs_the_brand_name_for_its_alt_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_BRAND_LOGO_URL", "https://cdn.modu.example/logo.png")
    with pytest.raises(ValidationError, match="NEWSLETTER_BRAND_LOGO_URL needs NEWSLETTER_BRAND_NAME too"):
        Settings()


@pytest.mark.parametrize(
    ("font", "kept"),
    [
        ("Inter", "Inter"),
        ("'Open Sans', Arial, sans-serif", "'Open Sans', Arial, sans-serif"),
        ('"Segoe UI" ,Roboto,  system-ui', '"Segoe UI", Roboto, system-ui'),
    ],
)
def test_a_font_family_list_is_accepted_as_css_writes_it(font: str, kept: str) -> None:
    assert Settings(brand_font=font).brand.font == kept


def test_unset_and_empty_values_keep_the_layouts_own_look(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("NEWSLETTER_BRAND_NAME", "NEWSLETTER_BRAND_LOGO_URL", "NEWSLETTER_BRAND_FONT"):
        monkeypatch.setenv(variable, "")
    assert Settings().brand == Brand() == Brand(name=None, logo_url=None, color="#1d4ed8", font=None)


def test_cli_commands_refuse_a_bad_brand_colour_with_exit_3_naming_it(tmp_path: Path) -> None:
    env = {"NEWSLETTER_DATA_DIR": str(tmp_path / "var"), "NEWSLETTER_BRAND_COLOR": "#1d4ed8; x: y", "PATH": "/usr/bin:/bin"}
    result = run_cli(env, "lint", str(RECAP))
    assert result.returncode == 3, result.output
    assert result.output.startswith("error: invalid configuration: NEWSLETTER_BRAND_COLOR: ") and "is not a colour" in result.output


@pytest.mark.parametrize(
    "hostile", [{"color": "red"}, {"font": "a;b"}, {"name": "x", "logo_url": "javascript:alert(1)"}, {"logo_url": "https://x/l.png"}]
)
def test_a_brand_built_in_code_is_checked_as_settings_are(hostile: dict[str, str]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (each value has its own message, checked above)
        Brand(**hostile)  # type: ignore[arg-type]


# Emails -----------------------------------------------------------------------------------------------


def email(brand: Brand) -> str:
    html, _ = render_issue(load_recap(RECAP), IssueFrame("attendees", "1 Test Street", brand=brand)).personalise(WHO)
    return html


def test_the_default_brand_is_the_layouts_own_look() -> None:
    html = email(Brand())
    page = lxml.html.document_fromstring(html)
    [masthead] = page.xpath('//td[contains(@class, "masthead")]')
    assert masthead.text_content() == "Event recap" and not masthead.xpath(".//img")
    assert "background-color:#1d4ed8" in page.xpath('//a[@class="button"]')[0].get("style")
    assert 'font-family:Georgia, "Times New Roman", serif' in page.xpath("//h1")[0].get("style")
    assert "font-family:Helvetica, Arial, sans-serif" in masthead.get("style")
    assert "color: #93c5fd !important" in html  # dark-mode links, as before


def test_the_brand_shows_in_the_masthead_buttons_links_and_fonts(tmp_path: Path) -> None:
    brand = settings_with(tmp_path, **MODU).brand
    page = lxml.html.document_fromstring(email(brand))
    [logo] = page.xpath('//td[contains(@class, "masthead")]/img')
    assert (logo.get("src"), logo.get("alt"), logo.get("width"), logo.get("height")) == (
        "https://cdn.modu.example/logo.png",
        "Modu",
        "120",
        "36",
    )
    for button in page.xpath('//a[@class="button"]'):
        assert "background-color:#0f5f8c" in button.get("style")
    event_link = page.xpath('//td[contains(@class, "event-card-cell")]//a')[0]
    assert "color:#0f5f8c" in event_link.get("style")
    for element in (page.xpath("//h1")[0], page.xpath('//td[@class="content"]')[0]):
        assert 'font-family:"Open Sans", "Segoe UI", Arial, sans-serif' in element.get("style")  # as cssutils writes it


def test_the_brand_name_alone_replaces_the_masthead_text() -> None:
    page = lxml.html.document_fromstring(email(Brand(name="Modu <Events> & Co")))
    assert page.xpath('//td[contains(@class, "masthead")]')[0].text_content() == "Modu <Events> & Co"


@pytest.mark.parametrize("colour", ["#0f5f8c", "#c2410c", "#000000", "#7c3aed"])
def test_dark_mode_links_are_the_brand_colour_made_readable_on_the_dark_card(colour: str) -> None:
    brand = Brand(color=colour)
    match = re.search(r"\.content a, [^{]*\{ color: (#[0-9a-f]{6}) !important; \}", email(brand))
    assert match is not None and match.group(1) == brand.dark_link_color
    assert contrast(brand.dark_link_color, DARK_SURFACE) >= 4.5


def test_the_confirmation_email_carries_the_brand_too(tmp_path: Path) -> None:
    brand = settings_with(tmp_path, **MODU).brand
    issue = render_confirmation(ConfirmationFrame(list_name="news", description="", postal_address="", brand=brand))
    page = lxml.html.document_fromstring(issue.html)
    assert page.xpath('//td[contains(@class, "masthead")]/img')[0].get("alt") == "Modu"
    assert "background-color:#0f5f8c" in page.xpath('//a[@class="button"]')[0].get("style")


def test_every_issue_frame_takes_the_settings_brand(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, **MODU)
    assert issue_frame(settings, "attendees").brand == settings.brand
    assert issue_frame(settings, "attendees", 3).brand.color == "#0f5f8c"


# Subscriber pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_subscriber_pages_show_the_brand_and_error_pages_too(settings: Settings, db: Database, serve_web: ServeWeb) -> None:
    people(db)
    with db.transaction() as session:
        session.execute(update(MailingList).where(MailingList.name == "attendees").values(public=True))
    base = serve_web(settings.model_copy(update={"brand_name": "Modu", "brand_color": "#0f5f8c", "brand_font": "'Open Sans', Arial"}))
    pages = {
        "sign-up form": requests.get(f"{base}/subscribe", params={"list": "attendees"}, timeout=10),
        "archive": requests.get(f"{base}/archive", timeout=10),
        "not found": requests.get(f"{base}/archive/9999", timeout=10),
        "bad link": requests.get(f"{base}/unsubscribe/forged-token", timeout=10),
        "sign-up answer": requests.post(f"{base}/subscribe", data={"email": "new@example.com", "list": "attendees"}, timeout=10),
    }
    assert [page.status_code for page in pages.values()] == [200, 200, 404, 400, 200]
    for name, page in pages.items():
        html = page.text
        assert '<header class="brand">Modu</header>' in html, name
        assert "button { font: inherit;" in html and "background: #0f5f8c;" in html and "a { color: #0f5f8c; }" in html, name
        assert "body { font-family: 'Open Sans', Arial;" in html, name


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_subscriber_pages_without_a_brand_look_as_before(settings: Settings, web_url: str) -> None:
    html = requests.get(f"{web_url}/archive", timeout=10).text
    assert 'class="brand"' not in html.split("<body>", 1)[1]
    assert 'body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;' in html
    assert "a { color: #1d4ed8; }" in html


# Lint --------------------------------------------------------------------------------------------------


def test_a_low_contrast_brand_colour_is_a_lint_error_naming_the_variable(tmp_path: Path) -> None:
    report = lint_recap(settings_with(tmp_path, brand_color="#ffcc00"), load_recap(RECAP))
    errors = [finding for finding in report.errors if "NEWSLETTER_BRAND_COLOR" in finding.message]
    assert [finding.check for finding in errors] == ["contrast"] * 3
    assert "NEWSLETTER_BRAND_COLOR #ffcc00 under white button text is 1.51:1, below 4.5:1 (WCAG AA)" in errors[0].message
    assert "as link text on the white card (#ffffff)" in errors[1].message
    assert not report.ok


def test_a_colour_that_fails_only_on_its_tint_is_reported_for_that_use(tmp_path: Path) -> None:
    report = lint_recap(settings_with(tmp_path, brand_color="#6b7280"), load_recap(RECAP))
    [error] = [finding for finding in report.errors if "NEWSLETTER_BRAND_COLOR" in finding.message]
    assert "as link text on its tint behind event cards and quotes" in error.message and "4.39:1" in error.message


def test_the_default_brand_colour_passes_and_says_so(tmp_path: Path) -> None:
    report = lint_recap(settings_with(tmp_path), load_recap(RECAP))
    assert report.errors == [], report.format_text()
    notes = [finding.message for finding in report.findings if finding.check == "contrast" and finding.severity is Severity.PASS]
    assert any(note.startswith("NEWSLETTER_BRAND_COLOR #1d4ed8 meets WCAG AA: 6.70:1 under white button text") for note in notes)


def test_cli_lint_fails_on_a_low_contrast_brand_colour(tmp_path: Path) -> None:
    env = {
        "NEWSLETTER_DATA_DIR": str(tmp_path / "var"),
        "NEWSLETTER_SECRET_KEY": "brand-secret-0123456789",
        "NEWSLETTER_BRAND_COLOR": "#ffcc00",
        "PATH": "/usr/bin:/bin",
    }
    result = run_cli(env, "lint", str(RECAP))
    assert result.returncode == 1, result.output
    assert "FAIL  contrast" in result.output and "NEWSLETTER_BRAND_COLOR #ffcc00 under white button text" in result.output

"""Lint: every check fails when the property it guards breaks, and the example issue passes."""

from __future__ import annotations

import dataclasses
import json
import os
from functools import cache
from pathlib import Path

import pytest

from publisher.content.lint import LintReport, Severity, lint_html, lint_recap
from publisher.content.lint.caniemail import (
    CLIENTS,
    Status,
    compile_data,
    features,
    nice_names,
    parse_feature,
    read_features,
    read_nice_names,
)
from publisher.content.lint.colours import contrast_ratio, parse_colour
from publisher.content.lint.report import Finding
from publisher.content.lint.usage import property_feature
from publisher.content.preview import SampleSubscriber, preview
from publisher.content.recap import load_recap, parse_recap
from publisher.core.settings import Settings
from tests.support.cli import run_cli
from tests.support.paths import FIXTURES
from tests.support.recaps import RECAP, write_recap

PUBLIC_URL = "https://news.modu.example"
LOCAL_URL = "http://localhost:8000"
PREHEADER_STYLE = "display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden;mso-hide:all;"


def make_settings(public_url: str = PUBLIC_URL) -> Settings:
    return Settings(secret_key="lint-secret-0123456789", public_url=public_url, postal_address="1 Test Street, London")


@cache
def modu_html() -> str:
    """The Modu issue exactly as a subscriber gets it, links on an https public URL."""
    html, _text = preview(make_settings(), load_recap(RECAP), SampleSubscriber(), list_name="subscribers")
    return html


def mutate(old: str, new: str) -> str:
    """Replace ``old`` (which must be there) in the Modu issue."""
    html = modu_html()
    assert old in html, f"{old!r} not in the rendered issue: update the test"
    return html.replace(old, new)


def lint(html: str, public_url: str = PUBLIC_URL) -> LintReport:
    return lint_html(html, public_url=public_url)


def found(report: LintReport, check: str, severity: Severity) -> list[Finding]:
    return [finding for finding in report.findings if finding.check == check and finding.severity is severity]


def messages(report: LintReport, check: str, severity: Severity) -> str:
    return "\n".join(f"{finding.message} {finding.where}" for finding in found(report, check, severity))


def add_to_content(fragment: str) -> str:
    return mutate('<p style="margin:0 0 16px 0">Hi Sam,</p>', f'<p style="margin:0 0 16px 0">Hi Sam,</p>{fragment}')


# The example issue ------------------------------------------------------------


def test_the_example_issue_has_no_errors_and_no_warnings_on_https() -> None:
    report = lint(modu_html())
    assert report.ok, report.format_text()
    assert report.errors == [] and report.warnings == [], report.format_text()
    assert {finding.check for finding in report.findings} == {
        "size",
        "style-blocks",
        "structure",
        "images",
        "links",
        "headings",
        "layout-tables",
        "contrast",
        "client-support",
    }


def test_the_example_recap_lints_with_zero_errors() -> None:
    report = lint_recap(make_settings(LOCAL_URL), load_recap(RECAP))
    assert report.errors == [], report.format_text()
    # The only warnings: view and unsubscribe links on a local http public URL.
    assert {finding.check for finding in report.warnings} <= {"links"}


# size and style blocks ------------------------------------------------------------


def padded(total_bytes: int) -> str:
    html = modu_html()
    filler = "x" * (total_bytes - len(html.encode("utf-8")) - len("<!---->"))
    return mutate("</body>", f"<!--{filler}--></body>")


def test_html_over_102_kb_is_an_error() -> None:
    report = lint(padded(102 * 1024 + 1))
    assert "Gmail clips above 102 KB" in messages(report, "size", Severity.ERROR)


def test_html_over_90_kb_is_a_warning() -> None:
    report = lint(padded(95 * 1024))
    assert "within" in messages(report, "size", Severity.WARNING)
    assert not found(report, "size", Severity.ERROR)


def test_a_style_block_over_16_kb_is_an_error() -> None:
    rules = "".join(f".rule-{n} {{ color: #102a43; }}\n" for n in range(700))
    report = lint(mutate("</head>", f"<style>{rules}</style></head>"))
    assert "Gmail ignores a block over 16 KB" in messages(report, "style-blocks", Severity.ERROR)


# images ------------------------------------------------------------------------

GOOD_IMAGE = '<img src="https://www.modu.example/a.jpg" alt="The panel on stage" width="600" height="338">'


def image_report(image: str) -> LintReport:
    return lint(add_to_content(image))


def test_a_complete_image_passes() -> None:
    report = image_report(GOOD_IMAGE)
    assert not found(report, "images", Severity.ERROR) and not found(report, "images", Severity.WARNING)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (GOOD_IMAGE.replace(' alt="The panel on stage"', ""), "no alt text"),
        (GOOD_IMAGE.replace('alt="The panel on stage"', 'alt=" "'), "no alt text"),
        (GOOD_IMAGE.replace("https://", "http://"), "not an https URL"),
        (GOOD_IMAGE.replace(' width="600"', ""), "width attribute None"),
        (GOOD_IMAGE.replace('width="600"', 'width="100%"'), "width attribute '100%'"),
        (GOOD_IMAGE.replace('height="338"', 'height="auto"'), "height attribute 'auto'"),
    ],
)
def test_an_image_missing_a_property_is_an_error(image: str, expected: str) -> None:
    assert expected in messages(image_report(image), "images", Severity.ERROR)


def test_an_image_without_height_is_a_warning() -> None:
    report = image_report(GOOD_IMAGE.replace(' height="338"', ""))
    assert "no height attribute" in messages(report, "images", Severity.WARNING)
    assert not found(report, "images", Severity.ERROR)


def test_an_image_taller_than_outlook_allows_is_a_warning() -> None:
    report = image_report(GOOD_IMAGE.replace('height="338"', 'height="2000"'))
    assert "Outlook crops" in messages(report, "images", Severity.WARNING)


def test_a_markdown_image_without_size_is_reported_with_its_src() -> None:
    text = RECAP.read_text(encoding="utf-8").replace(
        "## Not a War, But a Marriage",
        "![The panel](https://www.modu.example/panel.jpg)\n\n![Sized](https://www.modu.example/sized.jpg){width=300 height=200}\n\n"
        "## Not a War, But a Marriage",
    )
    report = lint_recap(make_settings(), parse_recap(text))
    unsized = found(report, "images", Severity.WARNING)
    assert [(finding.message, finding.where) for finding in unsized if "no size given" in finding.message] == [
        ("no size given: rendered 600 wide", "https://www.modu.example/panel.jpg")
    ]
    assert report.errors == [], report.format_text()


# links -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "href",
    ["http://www.modu.example/events", "/events", "www.modu.example", "", "ftp://files.modu.example/x", "tel:+442000000000"],
)
def test_a_link_that_is_not_https_or_mailto_is_an_error(href: str) -> None:
    report = lint(mutate('href="https://www.modu.example/events"', f'href="{href}"'))
    assert "is not an absolute https or mailto link" in messages(report, "links", Severity.ERROR)


def test_mailto_links_pass() -> None:
    report = lint(add_to_content('<a href="mailto:events@modu.example">Write to us</a>'))
    assert not found(report, "links", Severity.ERROR) and not found(report, "links", Severity.WARNING)


def test_http_links_to_a_local_public_url_are_warnings_not_errors() -> None:
    html = modu_html().replace(PUBLIC_URL, LOCAL_URL)
    report = lint(html, public_url=LOCAL_URL)
    warnings = found(report, "links", Severity.WARNING)
    # View in browser, manage preferences, unsubscribe.
    assert len(warnings) == 3 and all("NEWSLETTER_PUBLIC_URL" in finding.message for finding in warnings)
    assert not found(report, "links", Severity.ERROR)
    # The same links are errors when the configured URL is https.
    assert len(found(lint(html, public_url=PUBLIC_URL), "links", Severity.ERROR)) == 3


# headings ----------------------------------------------------------------------


def test_a_second_h1_is_an_error() -> None:
    report = lint(add_to_content("<h1>Another title</h1>"))
    assert "2 <h1> elements" in messages(report, "headings", Severity.ERROR)


def test_no_h1_is_an_error() -> None:
    html = mutate("<h1 ", "<h2 ").replace("</h1>", "</h2>")
    assert "0 <h1> elements" in messages(lint(html), "headings", Severity.ERROR)


def test_a_skipped_heading_level_is_an_error() -> None:
    report = lint(add_to_content("<h4>Too deep</h4>"))
    assert "<h4> after <h1> skips a level" in messages(report, "headings", Severity.ERROR)


# layout tables -------------------------------------------------------------------


def test_a_layout_table_without_role_presentation_is_an_error() -> None:
    html = mutate('<table role="presentation" class="outer"', '<table class="outer"')
    assert 'without role="presentation"' in messages(lint(html), "layout-tables", Severity.ERROR)


@pytest.mark.parametrize("attribute", ["cellpadding", "cellspacing", "border"])
def test_a_layout_table_with_spacing_is_an_error(attribute: str) -> None:
    outer = 'class="outer" width="100%" cellpadding="0" cellspacing="0" border="0"'
    html = mutate(outer, outer.replace(f'{attribute}="0"', f'{attribute}="4"'))
    errors = messages(lint(html), "layout-tables", Severity.ERROR)
    assert f'{attribute}="4" should be "0"' in errors and 'class="outer"' in errors


def test_a_data_table_in_the_content_is_not_a_layout_table() -> None:
    table = "<table><thead><tr><th>Speaker</th></tr></thead><tbody><tr><td>Julian</td></tr></tbody></table>"
    report = lint(add_to_content(table))
    assert not found(report, "layout-tables", Severity.ERROR)


# structure -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("<!DOCTYPE html>\n", "", "no <!DOCTYPE html>"),
        ('<html lang="en"', "<html", "no lang attribute"),
        ('<meta charset="utf-8">', "", 'no <meta charset="utf-8">'),
        ('<meta name="viewport" content="width=device-width, initial-scale=1">', "", 'no <meta name="viewport">'),
        ("<title>From Flow to Growth: Insights from the Product vs Tech Event by Modu</title>", "<title> </title>", "empty one"),
        ('<div style="display:none;', '<p>Masthead first</p><div style="display:none;', "not a hidden preheader"),
        (PREHEADER_STYLE, "font-size:1px;", "not a hidden preheader"),
        ("@media only screen and (max-width: 620px)", "@media print", "no @media (max-width: …)"),
        (".container { width: 100% !important; }", ".container { width: 100%; }", "width: 100% lacks !important"),
        (".card { background-color: #1f2937 !important; }", ".card { background-color: #1f2937; }", "lacks !important"),
        ('<meta name="color-scheme" content="light dark">', "", 'no <meta name="color-scheme"'),
        ("@media (prefers-color-scheme: dark)", "@media (prefers-contrast: more)", "no @media (prefers-color-scheme: dark)"),
    ],
)
def test_a_missing_skeleton_part_is_an_error(old: str, new: str, expected: str) -> None:
    assert expected in messages(lint(mutate(old, new)), "structure", Severity.ERROR)


def test_an_empty_preheader_is_a_warning() -> None:
    preheader = "Not a war but a marriage: key takeaways, two book picks and what's next from Modu."
    report = lint(mutate(preheader, ""))
    assert "the preheader is empty" in messages(report, "structure", Severity.WARNING)


# contrast ------------------------------------------------------------------------


def test_contrast_ratio_matches_wcag() -> None:
    black, white = parse_colour("black"), parse_colour("#fff")
    assert black is not None and white is not None
    assert contrast_ratio(black, white) == pytest.approx(21.0)
    grey = parse_colour("rgb(118, 118, 118)")
    assert grey is not None and contrast_ratio(grey, white) == pytest.approx(4.54, abs=0.01)
    assert parse_colour("#1D4ED8") == parse_colour("rgb(29, 78, 216)")
    assert parse_colour("not-a-colour") is None


def test_low_contrast_text_is_an_error() -> None:
    html = mutate("color:#52606d; text-transform:uppercase", "color:#aaaaaa; text-transform:uppercase")
    errors = messages(lint(html), "contrast", Severity.ERROR)
    # cssutils writes colours in their shortest form.
    assert "#aaa on #ffffff is 2.32:1, below 4.5:1 for normal text" in errors
    assert 'class="masthead"' in errors


def test_contrast_uses_the_nearest_background() -> None:
    # White text on the card is invisible; on the button's blue it is fine.
    report = lint(add_to_content('<p style="color:white">Invisible</p><p style="color:#ffffff" bgcolor="#1d4ed8">Visible</p>'))
    errors = found(report, "contrast", Severity.ERROR)
    assert len(errors) == 1 and "Invisible" in errors[0].message


def test_large_text_needs_only_3_to_1() -> None:
    # #8a8a8a on white is about 3.4:1: enough for large text, not for body text.
    large = lint(add_to_content('<p style="color:#8a8a8a; font-size:24px">Large</p>'))
    bold = lint(add_to_content('<p style="color:#8a8a8a; font-size:19px; font-weight:bold">Bold</p>'))
    small = lint(add_to_content('<p style="color:#8a8a8a; font-size:19px">Small</p>'))
    assert not found(large, "contrast", Severity.ERROR)
    assert not found(bold, "contrast", Severity.ERROR)
    assert "below 4.5:1 for normal text" in messages(small, "contrast", Severity.ERROR)


def test_contrast_on_a_dark_background_set_by_an_ancestor() -> None:
    html = add_to_content('<div style="background-color:rgb(17, 24, 39)"><p style="color:#1f2933">Dark on dark</p></div>')
    assert "on #111827" in messages(lint(html), "contrast", Severity.ERROR)


# client support (caniemail) ----------------------------------------------------------


def test_an_unsupported_css_property_is_a_warning_naming_the_clients() -> None:
    report = lint(add_to_content('<p style="margin:0; box-shadow:0 1px 2px #000">Shadow</p>'))
    warning = messages(report, "client-support", Severity.WARNING)
    assert "box-shadow" in warning and "Outlook (Windows)" in warning and "Yahoo! Mail" in warning


@pytest.mark.parametrize(
    ("css", "slug"),
    [
        ("@font-face { font-family: Brand; src: url(https://x.example/b.woff2); }", "css-at-font-face"),
        ("@import url(https://x.example/more.css);", "css-at-import"),
        ("@supports (display: grid) { .content { display: grid; } }", "css-at-supports"),
        ("@keyframes pulse { from { opacity: 0; } to { opacity: 1; } }", "css-at-keyframes"),
        ("@media (max-width: 620px) { .content { position: relative !important; } }", "css-position"),
    ],
)
def test_unsupported_at_rules_and_properties_in_style_blocks_are_warnings(css: str, slug: str) -> None:
    report = lint(mutate("</head>", f"<style>{css}</style></head>"))
    assert f"({slug})" in messages(report, "client-support", Severity.WARNING)


def test_unsupported_elements_and_attributes_are_warnings() -> None:
    video = '<video src="https://x.example/v.mp4"></video>'
    image = '<img src="https://x.example/a.jpg" srcset="https://x.example/b.jpg 2x" alt="a" width="1" height="1">'
    warnings = messages(lint(add_to_content(video + image)), "client-support", Severity.WARNING)
    assert "(html-video)" in warnings and "(html-srcset)" in warnings


def test_deliberate_enhancements_pass_as_progressive_enhancement() -> None:
    report = lint(modu_html())
    notes = messages(report, "client-support", Severity.PASS)
    for slug in ("css-at-media", "css-at-media-prefers-color-scheme", "css-color-scheme", "css-border-radius", "css-display-none"):
        assert f"({slug}): progressive enhancement" in notes


def test_preheader_hiding_tricks_are_warnings_outside_the_preheader() -> None:
    report = lint(add_to_content('<p style="opacity:0.5">Faded</p>'))
    assert "(css-opacity)" in messages(report, "client-support", Severity.WARNING)


def test_mso_properties_are_accepted_without_data() -> None:
    css = ".content { mso-line-height-rule: exactly; -webkit-text-size-adjust: 100%; }"
    report = lint(mutate("</head>", f"<style>{css}</style></head>"))
    summary = found(report, "client-support", Severity.PASS)[0].message
    assert "no caniemail data for" in summary and "mso-line-height-rule" in summary and "mso-hide" in summary


def test_css_properties_map_to_caniemail_features() -> None:
    assert property_feature("padding-left") == "css-padding"
    assert property_feature("margin-top") == "css-margin"
    assert property_feature("border-left") == "css-border"
    assert property_feature("border-top-left-radius") == "css-border-radius"
    assert property_feature("background-color") == "css-background-color"
    assert property_feature("font-family") is None
    assert property_feature("mso-hide") is None


def test_every_feature_file_loads_including_those_indented_with_tabs() -> None:
    folder = Path(__file__).resolve().parent.parent / "publisher" / "content" / "lint" / "caniemail" / "_features"
    files = [path for path in folder.glob("*.md") if not path.name.startswith("_")]
    with_tabs = [path for path in files if "\t" in path.read_text(encoding="utf-8")]
    assert len(files) == 307 and len(with_tabs) == 165
    loaded = read_features()
    assert set(loaded) == {path.stem for path in files}
    assert all(loaded[path.stem].support for path in with_tabs)


def test_the_compiled_data_is_the_feature_files_parsed() -> None:
    """Run ``caniemail.main()`` to write it again when this fails after the files were updated."""
    compiled = Path(__file__).resolve().parent.parent / "publisher" / "content" / "lint" / "caniemail" / "features.json"
    assert compiled.read_text(encoding="utf-8") == compile_data()
    parsed = read_features()
    assert set(features()) == set(parsed)
    for slug, feature in features().items():
        wanted = {
            (family, platform): support
            for (family, platform), support in parsed[slug].support.items()
            if family in CLIENTS and platform in (CLIENTS[family] or {platform})
        }
        assert feature == dataclasses.replace(parsed[slug], support=wanted)
        assert feature.clients_with(Status.UNSUPPORTED) == parsed[slug].clients_with(Status.UNSUPPORTED)
    assert nice_names() == read_nice_names()


def test_the_last_listed_version_counts() -> None:
    # Apple Mail on macOS: "10.3" unsupported, then "12.4" and "16.0" supported.
    support = features()["css-at-media-prefers-color-scheme"].support[("apple-mail", "macos")]
    assert (support.version, support.status) == ("16.0", Status.SUPPORTED)
    text = '---\ntitle: "T"\nstats: {\n\tgmail: {\n\t\tios: {\n\t\t\t"2023-01":"y",\n\t\t\t"2019-01":"n #2",\n\t\t}\n\t}\n}\n---\nBody\n'
    feature = parse_feature("css-test", text)
    assert feature.support[("gmail", "ios")].status is Status.UNSUPPORTED
    assert feature.support[("gmail", "ios")].notes == ("2",)
    assert feature.clients_with(Status.UNSUPPORTED) == [("gmail", "ios")]


def test_the_data_ships_inside_the_package() -> None:
    import publisher.content.lint as package

    folder = Path(package.__file__).parent
    assert (folder / "caniemail" / "LICENSE").is_file()
    assert all("/work/shared" not in source.read_text(encoding="utf-8") for source in folder.glob("*.py"))


# report ---------------------------------------------------------------------------


def test_the_report_prints_one_status_line_per_check_and_serialises() -> None:
    report = lint(mutate("color:#52606d; text-transform:uppercase", "color:#aaaaaa; text-transform:uppercase"))
    lines = report.format_text().splitlines()
    assert lines[0].startswith("PASS  size")
    assert any(line.startswith("FAIL  contrast") for line in lines)
    assert lines[-1] == "NOT OK: 1 error(s), 0 warning(s)"
    data = json.loads(json.dumps(report.as_dict()))
    assert data["ok"] is False and data["checks"]["contrast"] == "error" and data["checks"]["size"] == "pass"


# CLI -----------------------------------------------------------------------------


@pytest.fixture
def lint_env(tmp_path: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSLETTER_")}
    # Both services point nowhere: lint must not need them.
    env.update(
        {
            "NEWSLETTER_REDIS_URL": "redis://127.0.0.1:1/0",
            "NEWSLETTER_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "NEWSLETTER_DATA_DIR": str(tmp_path / "var"),
            "NEWSLETTER_SECRET_KEY": "lint-secret-0123456789",
        }
    )
    return env


def test_cli_lint_of_the_example_exits_0(lint_env: dict[str, str]) -> None:
    result = run_cli(lint_env, "lint", str(RECAP))
    assert result.returncode == 0, result.output
    assert "PASS  contrast" in result.output
    assert result.last_line.startswith("ok: 0 error(s)")


def test_cli_lint_of_a_recap_with_an_http_image_exits_1(lint_env: dict[str, str], tmp_path: Path) -> None:
    recap = tmp_path / "http-image.md"
    text = RECAP.read_text(encoding="utf-8")
    recap.write_text(text + "\n![The panel](http://www.modu.example/panel.jpg){width=600 height=338}\n", encoding="utf-8")
    result = run_cli(lint_env, "lint", str(recap), "--json")
    assert result.returncode == 1, result.output
    data = json.loads(result.output)
    assert data["checks"]["images"] == "error"
    assert any("not an https URL" in finding["message"] for finding in data["findings"])


def test_cli_lint_of_bad_content_exits_2(lint_env: dict[str, str]) -> None:
    result = run_cli(lint_env, "lint", str(FIXTURES / "recaps" / "empty-body.md"))
    assert result.returncode == 2
    assert "the body is empty" in result.output


def test_cli_lint_refuses_a_subject_with_a_control_character_with_exit_2_naming_the_field(lint_env: dict[str, str], tmp_path: Path) -> None:
    recap = write_recap(tmp_path / "vertical-tab.md", "body", 'title: Recap\nsubject: "Hello\\vworld"')
    result = run_cli(lint_env, "lint", str(recap))
    assert result.returncode == 2, result.output
    assert f"{recap}: front matter: 'subject': must be a single line of text: it contains a control character (U+000B)" in result.output


def test_cli_lint_and_preview_refuse_a_recap_over_1_mib_with_exit_2_and_write_nothing(lint_env: dict[str, str], tmp_path: Path) -> None:
    recap = tmp_path / "big.md"
    recap.write_bytes(b"---\ntitle: Big\n---\n" + b"A paragraph of the recap.\n\n" * 50_000)
    assert recap.stat().st_size > 1_048_576
    expected = f"error: {recap}: is larger than 1,048,576 bytes (1 MiB), the most a recap may be"
    linted = run_cli(lint_env, "lint", str(recap))
    assert linted.returncode == 2, linted.output
    assert linted.output.strip() == expected
    output = tmp_path / "out" / "preview.html"
    previewed = run_cli(lint_env, "preview", str(recap), "-o", str(output))
    assert previewed.returncode == 2, previewed.output
    assert previewed.output.strip() == expected
    assert not output.exists()


def test_cli_preview_refuses_a_list_name_no_list_can_have_with_exit_2(lint_env: dict[str, str], tmp_path: Path) -> None:
    output = tmp_path / "preview.html"
    result = run_cli(lint_env, "preview", str(RECAP), "-o", str(output), "--list", "news\x1b[2J")
    assert result.returncode == 2, result.output
    assert "error: the list name must be a single line of text: it contains a control character (U+001B)" in result.output
    assert not output.exists()

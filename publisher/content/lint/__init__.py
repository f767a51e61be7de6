"""Lint an issue: render it as a subscriber gets it and check what clients and readers need.

Each check reports findings of severity ``error`` (do not send), ``warning``
(look at it) or ``pass``. ``newsletter lint RECAP`` runs them from the command
line (``publisher.cli.lint``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from publisher.content.lint.brand import check_brand_colour
from publisher.content.lint.caniemail import features, nice_names
from publisher.content.lint.checks import check_headings, check_images, check_layout_tables, check_links, check_size, check_style_blocks
from publisher.content.lint.contrast import check_contrast
from publisher.content.lint.document import Document
from publisher.content.lint.report import Finding, LintReport, Severity
from publisher.content.lint.structure import check_structure
from publisher.content.lint.support import check_client_support
from publisher.content.lint.usage import attribute_features
from publisher.content.preview import SampleSubscriber, preview
from publisher.content.recap import Recap
from publisher.content.rendering.markdown import DEFAULT_IMAGE_WIDTH, images_without_size
from publisher.core.branding import Brand
from publisher.core.settings import Settings

__all__ = ["CHECKS", "Finding", "LintReport", "LintedPreview", "Severity", "lint_html", "lint_recap", "preload", "preview_and_lint"]

Check = Callable[[Document], list[Finding]]

#: Every check, in the order the report lists them.
CHECKS: tuple[Check, ...] = (
    check_size,
    check_style_blocks,
    check_structure,
    check_images,
    check_links,
    check_headings,
    check_layout_tables,
    check_contrast,
    check_client_support,
)


def lint_html(html: str, *, public_url: str, brand: Brand | None = None) -> LintReport:
    """Run every check on a rendered email; ``public_url`` is NEWSLETTER_PUBLIC_URL, ``brand`` the settings' brand.

    The brand colour's own contrast is reported with the contrast check's
    findings, naming NEWSLETTER_BRAND_COLOR.
    """
    document = Document(html, public_url=public_url.rstrip("/"))
    findings: list[Finding] = []
    for check in CHECKS:
        findings.extend(check(document))
        if check is check_contrast and brand is not None:
            findings.extend(check_brand_colour(brand))
    return LintReport(tuple(findings))


@dataclass(frozen=True)
class LintedPreview:
    """The sample subscriber's email and its lint report, from one render."""

    html: str
    text: str
    report: LintReport


def lint_recap(settings: Settings, recap: Recap) -> LintReport:
    """Render ``recap`` exactly as a subscriber gets it and lint the result."""
    return preview_and_lint(settings, recap).report


def preview_and_lint(settings: Settings, recap: Recap) -> LintedPreview:
    """Render ``recap`` for the sample subscriber and lint that email: what a console shows as the author types.

    One render serves both, so this costs a preview less than ``preview``
    followed by ``lint_recap``. Call ``preload`` once at start-up so the first
    call does not pay for loading the client-support data.
    """
    html, text = preview(settings, recap, SampleSubscriber(), list_name="subscribers")
    report = lint_html(html, public_url=settings.public_url, brand=settings.brand)
    # Markdown images without {width=… height=…} are rendered container-wide
    # with no height; only the recap source can tell which ones those are.
    unsized = tuple(
        Finding("images", Severity.WARNING, f"no size given: rendered {DEFAULT_IMAGE_WIDTH} wide", src)
        for src in images_without_size(recap.body)
    )
    return LintedPreview(html=html, text=text, report=LintReport(_insert(report.findings, unsized)))


def preload() -> None:
    """Load caniemail's data now rather than on the first lint: about 0.3 s a long-running process pays at start-up."""
    features()
    nice_names()
    attribute_features()


def _insert(findings: tuple[Finding, ...], extra: tuple[Finding, ...]) -> tuple[Finding, ...]:
    """Place ``extra`` with the findings of its check, dropping that check's pass if it had one."""
    if not extra:
        return findings
    check = extra[0].check
    position = next((index for index, finding in enumerate(findings) if finding.check == check), len(findings))
    kept = tuple(finding for finding in findings if not (finding.check == check and finding.severity is Severity.PASS))
    return kept[:position] + extra + kept[position:]

"""Checks on the markup as clients meet it: size, style blocks, images, links, headings and layout tables.

Each check takes the parsed document and returns its findings; a check that
finds nothing wrong says what it verified in one pass finding.
"""

from __future__ import annotations

import re

from publisher.content.lint.document import Document, Element, describe
from publisher.content.lint.report import Finding, Severity

KB = 1024
#: Gmail clips a message whose HTML is larger than this ("[Message clipped]").
GMAIL_CLIP_BYTES = 102 * KB
#: Close enough to the clip that one more section or a long link list tips it over.
SIZE_WARNING_BYTES = 90 * KB
#: Gmail drops a whole ``<style>`` block larger than this.
GMAIL_STYLE_BYTES = 16 * KB
#: Outlook for Windows crops images taller than this.
OUTLOOK_MAX_IMAGE_HEIGHT = 1728

_NUMBER = re.compile(r"\d+")


def check_size(doc: Document) -> list[Finding]:
    """Compare the HTML size with Gmail's clipping limit."""
    size = len(doc.html.encode("utf-8"))
    message = f"{size / KB:.1f} KB of HTML (Gmail clips above {GMAIL_CLIP_BYTES // KB} KB)"
    if size > GMAIL_CLIP_BYTES:
        return [Finding("size", Severity.ERROR, message)]
    if size > SIZE_WARNING_BYTES:
        return [Finding("size", Severity.WARNING, message + f": within {(GMAIL_CLIP_BYTES - size) / KB:.1f} KB of clipping")]
    return [Finding("size", Severity.PASS, message)]


def check_style_blocks(doc: Document) -> list[Finding]:
    """Find ``<style>`` blocks Gmail would ignore for their size."""
    limit = f"{GMAIL_STYLE_BYTES // KB} KB"
    findings = [
        Finding("style-blocks", Severity.ERROR, f"<style> block {index} is {sheet.size / KB:.1f} KB: Gmail ignores a block over {limit}")
        for index, sheet in enumerate(doc.stylesheets, start=1)
        if sheet.size > GMAIL_STYLE_BYTES
    ]
    if findings:
        return findings
    largest = max((sheet.size for sheet in doc.stylesheets), default=0)
    return [Finding("style-blocks", Severity.PASS, f"{len(doc.stylesheets)} block(s), largest {largest / KB:.1f} KB of {limit}")]


def check_images(doc: Document) -> list[Finding]:
    """Require alt text, numeric width and height attributes and an https source on every image."""
    findings: list[Finding] = []
    images = doc.elements("img")
    for image in images:
        where = describe(image)
        if not (image.get("alt") or "").strip():
            findings.append(Finding("images", Severity.ERROR, "no alt text: screen readers and image-blocking clients show nothing", where))
        if not (image.get("src") or "").startswith("https://"):
            findings.append(Finding("images", Severity.ERROR, "src is not an https URL: clients block insecure images", where))
        findings.extend(_dimensions(image, where))
    if not findings:
        findings.append(Finding("images", Severity.PASS, f"{len(images)} image(s) with alt, width, height and https src"))
    return findings


def _dimensions(image: Element, where: str) -> list[Finding]:
    findings: list[Finding] = []
    width = image.get("width")
    if width is None or not _NUMBER.fullmatch(width.strip()):
        findings.append(Finding("images", Severity.ERROR, f"width attribute {width!r} is not a number of pixels: Outlook needs one", where))
    height = image.get("height")
    if height is None:
        # The Markdown renderer emits a height only when the recap gives one
        # ({width=… height=…}). Without it the email still renders; Outlook
        # sizes the image from the file, so this is advice, not a failure.
        findings.append(Finding("images", Severity.WARNING, "no height attribute: Outlook sizes the image from the file", where))
    elif not _NUMBER.fullmatch(height.strip()):
        findings.append(Finding("images", Severity.ERROR, f"height attribute {height!r} is not a number of pixels", where))
    elif int(height) > OUTLOOK_MAX_IMAGE_HEIGHT:
        findings.append(
            Finding("images", Severity.WARNING, f"{height}px tall: Outlook crops images above {OUTLOOK_MAX_IMAGE_HEIGHT}px", where)
        )
    return findings


def check_links(doc: Document) -> list[Finding]:
    """Require every link to be absolute https or mailto."""
    findings: list[Finding] = []
    links = [anchor for anchor in doc.elements("a") if anchor.get("href") is not None]
    local_http = doc.public_url.startswith("http://")
    for anchor in links:
        href = (anchor.get("href") or "").strip()
        if href.startswith(("https://", "mailto:")):
            continue
        where = describe(anchor)
        if local_http and doc.public_url and href.startswith(doc.public_url):
            # NEWSLETTER_PUBLIC_URL is plain http on a developer's machine:
            # say so, but do not fail every local run.
            findings.append(
                Finding("links", Severity.WARNING, "link to NEWSLETTER_PUBLIC_URL over http: set an https URL before sending", where)
            )
        else:
            findings.append(Finding("links", Severity.ERROR, f"{href or 'empty href'!r} is not an absolute https or mailto link", where))
    if not findings:
        findings.append(Finding("links", Severity.PASS, f"{len(links)} link(s), all https or mailto"))
    return findings


def check_headings(doc: Document) -> list[Finding]:
    """Require exactly one ``<h1>`` and headings that never skip a level on the way down."""
    findings: list[Finding] = []
    headings = [element for element in doc.elements() if re.fullmatch(r"h[1-6]", element.tag)]
    h1_count = sum(1 for heading in headings if heading.tag == "h1")
    if h1_count != 1:
        findings.append(Finding("headings", Severity.ERROR, f"{h1_count} <h1> elements: an email needs exactly one"))
    previous = 0
    for heading in headings:
        level = int(heading.tag[1])
        if level > previous + 1:
            after = f"after <h{previous}>" if previous else "as the first heading"
            findings.append(Finding("headings", Severity.ERROR, f"<h{level}> {after} skips a level", describe(heading)))
        previous = level
    if not findings:
        findings.append(Finding("headings", Severity.PASS, f"one <h1>, {len(headings)} heading(s) in order"))
    return findings


def check_layout_tables(doc: Document) -> list[Finding]:
    """Require layout tables to be presentational with no cell padding, spacing or border."""
    findings: list[Finding] = []
    # Tables inside the content cell come from the recap's Markdown: they are
    # data tables, and role="presentation" would hide them from screen readers.
    layout = [table for table in doc.elements("table") if not any(_is_content_cell(a) for a in table.iterancestors())]
    for table in layout:
        where = describe(table)
        if table.get("role") != "presentation":
            findings.append(
                Finding("layout-tables", Severity.ERROR, 'layout table without role="presentation": screen readers announce it', where)
            )
        for attribute in ("cellpadding", "cellspacing", "border"):
            if table.get(attribute) != "0":
                findings.append(
                    Finding("layout-tables", Severity.ERROR, f'{attribute}="{table.get(attribute) or ""}" should be "0"', where)
                )
    if not findings:
        findings.append(Finding("layout-tables", Severity.PASS, f"{len(layout)} layout table(s), all presentational"))
    return findings


def _is_content_cell(element: Element) -> bool:
    return element.tag == "td" and "content" in (element.get("class") or "").split()

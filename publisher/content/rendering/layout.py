"""Stage 1 of the render: the layout and CSS inlining, once per issue.

premailer costs tens of milliseconds per call, so it runs once per issue on the
layout rendered with placeholders; stage 2 (``RenderedIssue.personalise``) then costs
microseconds per recipient. Its defaults are wrong for responsive email and are
overridden below, each for a reason.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from premailer import Premailer

from publisher.content.recap import Recap
from publisher.content.rendering.event import calendar_url, event_card, next_event_card, photo_rows
from publisher.content.rendering.issue import RenderedIssue
from publisher.content.rendering.markdown import MergeTagPlacementError, insert_placeholders, to_html
from publisher.content.rendering.personalize import (
    CompiledTemplate,
    PlaceholderFields,
    Recipient,
    ValueFields,
    check_text_outside_tags,
    new_nonce,
)
from publisher.content.rendering.plaintext import PLACEHOLDER, to_text, wrap_text
from publisher.core.branding import Brand
from publisher.core.errors import ContentError
from publisher.core.settings import Settings
from templates import TEMPLATES_DIR

HTML_TEMPLATE = "recap.html.j2"
TEXT_TEMPLATE = "recap.txt.j2"


#: The layout's own fonts, kept when no brand font is set.
TEXT_FONT = "Helvetica, Arial, sans-serif"
HEADING_FONT = "Georgia, 'Times New Roman', serif"


@dataclass(frozen=True)
class IssueFrame:
    """What the layout needs besides the recap itself."""

    list_name: str
    postal_address: str
    lang: str = "en"
    brand: Brand = field(default_factory=Brand)
    #: The campaign's .ics of its next event (``event.calendar_url``). A
    #: campaign's id is its own, known once the campaign row exists; a preview
    #: of a recap not yet stored has none, and leaves the .ics link out.
    calendar_url: str | None = None
    #: The event a registrant audience registered for: the footer says so instead of naming a list.
    registered_for: str | None = None


def issue_frame(settings: Settings, list_name: str, campaign_id: int | None = None, registered_for: str | None = None) -> IssueFrame:
    """The frame of an issue to ``list_name`` from the settings: footer address, brand, and the campaign's calendar link."""
    return IssueFrame(
        list_name=list_name,
        postal_address=settings.postal_address,
        brand=settings.brand,
        calendar_url=calendar_url(settings.public_url, campaign_id) if campaign_id is not None else None,
        registered_for=registered_for,
    )


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_issue(recap: Recap, frame: IssueFrame) -> RenderedIssue:
    """Render stage 1: everything shared, CSS inlined, personal fields as placeholders."""
    nonce = new_nonce()
    fields = PlaceholderFields(nonce)
    body = insert_placeholders(recap.body, nonce)
    html = inline_css(_render_html(recap, body, frame, fields))
    check_text_outside_tags(html, nonce)
    text = _render_text(recap, body, frame, fields)
    issue = RenderedIssue(html=html, text=text, nonce=nonce)
    issue.fields  # noqa: B018 (compiles now: an unknown field fails at publish, not at send)
    return issue


def render_single(recap: Recap, frame: IssueFrame, recipient: Recipient) -> tuple[str, str]:
    """Render one recipient's email in one pass: template with the values, then premailer.

    Slow by design (premailer per recipient): it is the reference the
    two-stage render is checked against. Merge tags in the body are filled
    before CSS inlining here, after it in the two-stage render.
    """
    nonce = new_nonce()
    fields = ValueFields(recipient)
    body = insert_placeholders(recap.body, nonce)
    html = CompiledTemplate.compile(_render_html(recap, body, frame, fields), nonce).render(recipient, html=True)
    text = CompiledTemplate.compile(_render_text(recap, body, frame, fields), nonce).render(recipient, html=False)
    return inline_css(html), text


def _context(recap: Recap, frame: IssueFrame, fields: object) -> dict[str, object]:
    meta, brand = recap.meta, frame.brand
    rows = photo_rows(meta.photos)
    return {
        "meta": meta,
        "title": meta.title,
        "preheader": meta.preheader,
        "event": event_card(meta.event),
        "next_event": next_event_card(meta.next_event, frame.calendar_url),
        "photo_rows": rows,
        "photo_share": 100 // len(rows[0]) if rows else 100,
        "list_name": frame.list_name,
        "registered_for": frame.registered_for,
        "postal_address": frame.postal_address,
        "lang": frame.lang,
        "masthead": brand.name or ("Event recap" if meta.event else frame.list_name),
        "personal": fields,
        **brand_context(brand),
    }


def brand_context(brand: Brand) -> dict[str, object]:
    """What the stylesheets and the masthead need of the brand (email.css is a template of its own)."""
    return {"brand": brand, "text_font": brand.font or TEXT_FONT, "heading_font": brand.font or HEADING_FONT}


def render_email(html_template: str, text_template: str, context: dict[str, object], brand: Brand) -> RenderedIssue:
    """Stage 1 of an email that is not an issue (a confirmation, a notice): inlined HTML and text, in the brand's colours and font.

    ``context`` is what the templates show; the personal fields are placeholders.
    """
    nonce = new_nonce()
    values = {**context, "personal": PlaceholderFields(nonce), **brand_context(brand)}
    html = inline_css(environment().get_template(html_template).render(values))
    text = environment().get_template(text_template).render(values)
    issue = RenderedIssue(html=html, text=text, nonce=nonce)
    issue.fields  # noqa: B018 (compiles now: a broken template fails here, not in the worker)
    return issue


def _render_html(recap: Recap, body: str, frame: IssueFrame, fields: object) -> str:
    context = _context(recap, frame, fields)
    try:
        content = to_html(body)
    except MergeTagPlacementError as exc:
        # The recap's author fixes the file: name its line, not the body's.
        raise ContentError(f"{recap.source}:{recap.body_line + exc.line - 1}", exc.problem) from exc
    context["content"] = Markup(content)  # noqa: S704 (to_html sanitises with nh3)
    return environment().get_template(HTML_TEMPLATE).render(context)


def _render_text(recap: Recap, body: str, frame: IssueFrame, fields: object) -> str:
    context = _context(recap, frame, fields)
    context["content"] = to_text(body)
    text = environment().get_template(TEXT_TEMPLATE).render(context)
    return "\n".join(_wrap(line) for line in text.splitlines()) + "\n"


def _wrap(line: str) -> str:
    # Body paragraphs are wrapped already; this catches long template lines
    # (event line, resources, footer). Lines with a link or a personal field
    # stay whole: the unsubscribe URL must appear unbroken, and a line must
    # wrap the same whatever the recipient's values are.
    if len(line) <= 78 or "://" in line or PLACEHOLDER.search(line):
        return line
    return "\n".join(wrap_text(line, subsequent_indent="  " if line.startswith("- ") else ""))


def inline_css(html: str) -> str:
    """Inline the layout's stylesheet with premailer, configured for responsive email."""
    # premailer writes to the cssutils @media rules its parse cache shares
    # between calls: the web app renders previews on several threads at once.
    with _INLINING:
        inlined = str(_Inliner(html, **_PREMAILER_OPTIONS).transform())
        if _MAY_FLOAT.search(inlined):
            inlined = str(_Inliner(html, **_FLOAT_CHECKING).transform())
        return inlined


_INLINING = threading.Lock()

#: premailer's floating-image check (``align_floating_images``: ``align="left"``
#: or ``"right"`` on an image whose inline style floats it) parses every image's
#: style with cssutils' validation on, whatever ``disable_validation`` says; a
#: process's first render compiled the validation patterns for it (about 30 ms).
#: So premailer runs without the check, and again with it only when the email
#: could have a floated image: a style can only say ``float`` with those
#: letters (in any case) or with a CSS escape. The layout floats nothing, so
#: that is only ever an author's text mentioning the word.
_MAY_FLOAT = re.compile(r"float|\\", re.IGNORECASE)


_PREMAILER_OPTIONS: dict[str, object] = {
    # Keep !important inside the @media rules: without it the mobile and
    # dark-mode overrides lose to the inlined styles.
    "strip_important": False,
    # Never let CSS widths overwrite an image's explicit width/height
    # attributes, which Outlook needs as given.
    "disable_basic_attributes": ["width", "height"],
    # mso-* properties are valid for Outlook; cssutils warns about each.
    "cssutils_logging_level": logging.CRITICAL,
    # Relative URLs are never rewritten (placeholders stand in for links),
    # and no stylesheet is ever fetched while rendering.
    "disable_link_rewrites": True,
    "allow_network": False,
    "allow_loading_external_files": False,
    # One stylesheet per process: premailer's process-wide parse cache
    # (128 entries) is plenty and saves a parse per issue.
    "cache_css_parsing": True,
    # cssutils' validation only logs what it finds (and the log is off, above);
    # it compiles and runs a regex per property, most of a cold render's time.
    "disable_validation": True,
    # Run only when needed, by inline_css (see _MAY_FLOAT).
    "align_floating_images": False,
}
#: The same with premailer's floating-image check, for an email that may need it.
_FLOAT_CHECKING = {**_PREMAILER_OPTIONS, "align_floating_images": True}


class _Inliner(Premailer):  # type: ignore[misc]  # premailer ships no type hints
    """premailer, reusing the rules it reads from each stylesheet.

    With ``cache_css_parsing`` premailer keeps the cssutils parse but still
    writes every declaration back out as text on every call: about two thirds
    of a call on the layout's stylesheet. That stylesheet is the layout's, the
    same for every issue, and the options never change, so the rules are too.
    """

    def _parse_style_rules(self, css_body: str, ruleset_index: int) -> tuple[list[Any], list[Any]]:
        rules, leftover = _style_rules(css_body, ruleset_index)
        # Fresh lists: premailer extends and sorts what it gets.
        return list(rules), list(leftover)


@lru_cache(maxsize=32)
def _style_rules(css_body: str, ruleset_index: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    # Rules are (specificity, selector, declarations) tuples of plain values;
    # the leftover @media rules are the cssutils objects premailer's own parse
    # cache already shares between calls.
    rules, leftover = Premailer._parse_style_rules(Premailer("", **_PREMAILER_OPTIONS), css_body, ruleset_index)
    return tuple(rules), tuple(leftover)

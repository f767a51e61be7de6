"""Stage 1 of the render: the layout and CSS inlining, once per issue.

premailer costs tens of milliseconds per call, so it runs once per issue on the
layout rendered with placeholders; stage 2 (``personalize.fill``) then costs
microseconds per recipient. Its defaults are wrong for responsive email and are
overridden below, each for a reason.
"""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from premailer import Premailer

from publisher.content import Recap
from templates import TEMPLATES_DIR
from workers.rendering.markdown import to_html
from workers.rendering.personalize import PlaceholderFields, Recipient, ValueFields, fill, new_nonce
from workers.rendering.plaintext import to_text

HTML_TEMPLATE = "recap.html.j2"
TEXT_TEMPLATE = "recap.txt.j2"


@dataclass(frozen=True)
class IssueFrame:
    """What the layout needs besides the recap itself."""

    list_name: str
    postal_address: str
    lang: str = "en"


@dataclass(frozen=True)
class RenderedIssue:
    """Stage-1 output: inlined HTML and text with placeholders, and their nonce."""

    html: str
    text: str
    nonce: str

    def personalise(self, recipient: Recipient) -> tuple[str, str]:
        """Return (html, text) for one recipient."""
        return (
            fill(self.html, self.nonce, recipient, escape=True),
            fill(self.text, self.nonce, recipient, escape=False),
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
    html = inline_css(_render_html(recap, frame, fields))
    text = _render_text(recap, frame, fields)
    return RenderedIssue(html=html, text=text, nonce=nonce)


def render_single(recap: Recap, frame: IssueFrame, recipient: Recipient) -> tuple[str, str]:
    """Render one recipient's email in one pass (template with values, then premailer).

    Slow by design: it is the reference the two-stage render is checked against.
    """
    fields = ValueFields(recipient)
    return inline_css(_render_html(recap, frame, fields)), _render_text(recap, frame, fields)


def _context(recap: Recap, frame: IssueFrame, fields: object) -> dict[str, object]:
    return {
        "meta": recap.meta,
        "title": recap.meta.title,
        "preheader": recap.meta.preheader,
        "event_line": event_line(recap),
        "list_name": frame.list_name,
        "postal_address": frame.postal_address,
        "lang": frame.lang,
        "personal": fields,
    }


def _render_html(recap: Recap, frame: IssueFrame, fields: object) -> str:
    context = _context(recap, frame, fields)
    context["content"] = Markup(to_html(recap.body))  # noqa: S704 (to_html sanitises with nh3)
    return environment().get_template(HTML_TEMPLATE).render(context)


def _render_text(recap: Recap, frame: IssueFrame, fields: object) -> str:
    context = _context(recap, frame, fields)
    context["content"] = to_text(recap.body)
    text = environment().get_template(TEXT_TEMPLATE).render(context)
    return "\n".join(_wrap(line) for line in text.splitlines()) + "\n"


def _wrap(line: str) -> str:
    # Body paragraphs are wrapped already; this catches long template lines
    # (event line, footer) without breaking URLs.
    if len(line) <= 78:
        return line
    return textwrap.fill(line, 78, break_long_words=False, break_on_hyphens=False)


def event_line(recap: Recap) -> str:
    event = recap.meta.event
    if event is None:
        return ""
    parts = [f"{event.date:%-d %B %Y}" if event.date else "", event.venue or ""]
    return " · ".join(part for part in parts if part)


def inline_css(html: str) -> str:
    """Inline the layout's stylesheet with premailer, configured for responsive email."""
    inlined = Premailer(
        html,
        # Keep !important inside the @media rules: without it the mobile and
        # dark-mode overrides lose to the inlined styles.
        strip_important=False,
        # Never let CSS widths overwrite an image's explicit width/height
        # attributes, which Outlook needs as given.
        disable_basic_attributes=["width", "height"],
        # mso-* properties are valid for Outlook; cssutils warns about each.
        cssutils_logging_level=logging.CRITICAL,
        # Relative URLs are never rewritten (placeholders stand in for links),
        # and no stylesheet is ever fetched while rendering.
        disable_link_rewrites=True,
        allow_network=False,
        allow_loading_external_files=False,
        # One stylesheet per process: premailer's process-wide parse cache
        # (128 entries) is plenty and saves a parse per issue.
        cache_css_parsing=True,
    ).transform()
    return str(inlined)

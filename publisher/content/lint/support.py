"""Client support: every feature the email uses, against caniemail's data for the clients that matter.

A feature one of those clients does not support is a warning, unless the
layout uses it on purpose as a progressive enhancement: then the email works
without it, and the finding is a pass that says so.
"""

from __future__ import annotations

from collections.abc import Mapping

from publisher.content.lint.caniemail import CLIENTS, Feature, Status, describe_clients, features, nice_names
from publisher.content.lint.document import Document
from publisher.content.lint.report import Finding, Severity
from publisher.content.lint.usage import Usage, collect

CHECK = "client-support"

#: Features the layout uses knowing some clients ignore them, each with why
#: the email still works there.
PROGRESSIVE_ENHANCEMENTS: Mapping[str, str] = {
    # The mobile layout. Without it the container is fluid (width 100%,
    # max-width 600px) and still fits a phone, just with wider padding.
    "css-at-media": "the mobile layout; elsewhere the fluid 600px layout still fits",
    # Dark mode. Without it clients show the light design, which passes the
    # contrast check on its own.
    "css-at-media-prefers-color-scheme": "dark mode; elsewhere the light design shows",
    # Declare that the design handles both schemes, so clients that honour
    # them use our dark rules instead of inverting colours themselves.
    "css-color-scheme": "declares light and dark support; ignored elsewhere",
    "html-meta-color-scheme": "declares light and dark support; ignored elsewhere",
    # Rounded button corners: Outlook for Windows draws square ones.
    "css-border-radius": "rounded corners; square elsewhere",
    # The <style> block holds only client-applied rules (media queries, dark
    # mode, Outlook.com data-og* rules); everything essential is inlined.
    "html-style": "only media queries and dark mode live in <style>; every essential style is inlined",
    # Accessibility metadata: a client that strips it shows the same email.
    "html-aria-label": "accessibility metadata; stripped silently elsewhere",
    "html-aria-labelledby": "accessibility metadata; stripped silently elsewhere",
    "html-aria-describedby": "accessibility metadata; stripped silently elsewhere",
    "html-aria-hidden": "accessibility metadata; stripped silently elsewhere",
    # Standards mode where honoured; the table layout renders the same in
    # the quirks mode of clients that drop the doctype.
    "html-doctype": "standards mode where honoured; the table layout renders the same without it",
    # Yahoo on mobile drops <body> and its styles: the outer table repeats
    # the background colour (bgcolor) so nothing depends on <body>.
    "html-body": "the outer table repeats the body background for clients that drop <body>",
}

#: Hiding techniques layered on the preheader so that every client hides it
#: one way or another (display:none, max-height:0, opacity:0, overflow:hidden,
#: mso-hide:all, a 1px font): one client ignoring one of them is expected.
#: Allowed only while every use is inside the preheader.
PREHEADER_TECHNIQUES = frozenset(
    {"css-display-none", "css-opacity", "css-max-height", "css-max-width", "css-overflow", "css-font-size", "css-line-height"}
)


def check_client_support(doc: Document) -> list[Finding]:
    """Warn about each feature a client that matters does not support, except deliberate enhancements."""
    usage = collect(doc)
    known = features()
    warnings: list[Finding] = []
    notes: list[Finding] = []
    for slug, places in usage.places.items():
        feature = known[slug]
        missing = feature.clients_with(Status.UNSUPPORTED)
        if not missing:
            continue
        where = _where(places)
        unsupported = f"not supported in {describe_clients(missing)}"
        reason = _enhancement(slug, usage)
        if reason is None:
            warnings.append(Finding(CHECK, Severity.WARNING, f"{_name(feature)}: {unsupported}", where))
        else:
            notes.append(Finding(CHECK, Severity.PASS, f"{_name(feature)}: progressive enhancement ({reason}); {unsupported}", where))
    summary = Finding(CHECK, Severity.PASS, f"{len(usage.places)} feature(s) checked against {_clients()}{_unmapped(usage)}")
    return [*warnings, summary, *notes]


def _enhancement(slug: str, usage: Usage) -> str | None:
    if slug in PROGRESSIVE_ENHANCEMENTS:
        return PROGRESSIVE_ENHANCEMENTS[slug]
    if slug in PREHEADER_TECHNIQUES and usage.only_in_preheader(slug):
        return "one of several ways the preheader is hidden"
    if slug == "css-height" and usage.only_on_fluid_images(slug):
        # The fluid-image pattern: width:100% with height:auto scales an image
        # with its cell; a client that ignores height:auto (Yahoo writes it as
        # min-height) shows the height its attribute gives, right at 600 px.
        return "height:auto on images with width and height attributes; elsewhere the attributes' size shows"
    return None


def _name(feature: Feature) -> str:
    return f"{feature.title} ({feature.slug})"


def _where(places: list[str]) -> str:
    more = len(places) - 1
    return places[0] + (f" and {more} more" if more else "")


def _clients() -> str:
    names = nice_names()
    parts = []
    for family, platforms in CLIENTS.items():
        shown = ", ".join(names.platform(platform) for platform in sorted(platforms)) if platforms else "all"
        parts.append(f"{names.family(family)} ({shown})")
    return ", ".join(parts)


def _unmapped(usage: Usage) -> str:
    if not usage.unmapped:
        return ""
    return "; no caniemail data for " + ", ".join(sorted(usage.unmapped))

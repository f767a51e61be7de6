"""A note to the console's people: an event's recap drafts are ready, with a link to each.

It goes to users, not subscribers: no list, no unsubscribe or view link, no
personal field (every editor gets the same email), and it says why it came.
Stage 1 runs once, as for an issue, so the workers send it like any other
email; with no placeholders in it, stage 2 only copies it.
"""

from __future__ import annotations

from dataclasses import dataclass

from publisher.content.rendering.issue import RenderedIssue
from publisher.content.rendering.layout import render_email
from publisher.core.branding import Brand

HTML_TEMPLATE = "notice.html.j2"
TEXT_TEMPLATE = "notice.txt.j2"


@dataclass(frozen=True)
class DraftLink:
    """One draft the notice points at."""

    title: str
    #: The audience it is for (``event:<slug>:attended``).
    audience: str
    #: How many people the audience holds now.
    people: int
    #: Its page in the console.
    url: str


@dataclass(frozen=True)
class RecapNotice:
    event_name: str
    #: When the event ended, as text in its own time zone.
    ended: str
    drafts: tuple[DraftLink, ...]
    #: When the drafts are sent once approved (the recap rule auto), as text; None when they wait to be sent by hand.
    auto_send: str | None = None
    lang: str = "en"

    @property
    def title(self) -> str:
        return f"Recap drafts ready: {self.event_name}"


def render_notice(notice: RecapNotice, brand: Brand | None = None) -> RenderedIssue:
    """Render the notice (inlined HTML and plain text) in the brand's colours and font; it has no personal field."""
    context: dict[str, object] = {
        "title": notice.title,
        "preheader": f"{notice.event_name} has ended: write or import the recap, then send it.",
        "notice": notice,
        "lang": notice.lang,
    }
    return render_email(HTML_TEMPLATE, TEXT_TEMPLATE, context, brand or Brand())

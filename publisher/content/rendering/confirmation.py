"""Stage 1 of the double opt-in email: the same layout and CSS inlining as an issue.

The email holds only what the operator chose (list name and description,
postal address) and the personal ``confirm_url``; never the names given in
the sign-up request, so the form cannot be used to send someone a message.
With no subscriber data in it, one stage-1 render serves every sign-up to a
list, and it is kept in memory: premailer runs once per list and process,
not once per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from publisher.content.rendering.issue import RenderedIssue
from publisher.content.rendering.layout import render_email
from publisher.core.branding import Brand

HTML_TEMPLATE = "confirmation.html.j2"
TEXT_TEMPLATE = "confirmation.txt.j2"


@dataclass(frozen=True)
class ConfirmationFrame:
    list_name: str
    description: str
    postal_address: str
    lang: str = "en"
    brand: Brand = field(default_factory=Brand)

    @property
    def title(self) -> str:
        return f"Confirm your subscription to {self.list_name}"


@lru_cache(maxsize=64)
def render_confirmation(frame: ConfirmationFrame) -> RenderedIssue:
    """Render the confirmation email with its personal fields as placeholders (cached per frame)."""
    context: dict[str, object] = {
        "title": frame.title,
        "preheader": f"One click and you are on the {frame.list_name} list.",
        "list_name": frame.list_name,
        "description": frame.description,
        "postal_address": frame.postal_address,
        "lang": frame.lang,
    }
    return render_email(HTML_TEMPLATE, TEXT_TEMPLATE, context, frame.brand)

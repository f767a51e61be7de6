"""A stored issue as a web page: one subscriber's own copy, or the neutral archive copy.

Both are stage 2 of the worker's render (``CompiledTemplate.render``) over the
campaign's stored stage-1 HTML, so the page is the email as sent, byte for
byte, apart from the personal values. The issue's HTML is not a Jinja page:
its headers are set here, with a Content-Security-Policy that allows the
images and inline styles an email has and nothing that runs.
"""

from __future__ import annotations

from fastapi.responses import HTMLResponse

from publisher.content.rendering.personalize import CompiledTemplate, Recipient
from publisher.db.models import Campaign, Subscriber

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'none'",
        "img-src https: http: data:",
        "style-src 'unsafe-inline'",
        "font-src https: data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def subscriber_copy(subscriber: Subscriber, unsubscribe_url: str, view_url: str) -> Recipient:
    """The personal values the worker filled in for this subscriber."""
    return Recipient(
        email=subscriber.email,
        first_name=subscriber.first_name,
        last_name=subscriber.last_name,
        unsubscribe_url=unsubscribe_url,
        view_url=view_url,
        attributes={key: str(value) for key, value in (subscriber.attributes or {}).items()},
    )


def neutral_copy(unsubscribe_url: str, view_url: str) -> Recipient:
    """Values that belong to nobody: the greeting becomes "Hi there", merge tags become empty."""
    return Recipient(email="", first_name="", last_name="", unsubscribe_url=unsubscribe_url, view_url=view_url)


def render_html(campaign: Campaign, recipient: Recipient) -> str:
    """The campaign's HTML part with ``recipient``'s values, as the worker renders it."""
    return CompiledTemplate.compile(campaign.html_template, campaign.placeholder_nonce).render(recipient, html=True)


def issue_response(html: str, *, cache_control: str) -> HTMLResponse:
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        # The page's own URL carries a signed token: keep it out of other sites' logs.
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": cache_control,
    }
    return HTMLResponse(html, headers=headers)

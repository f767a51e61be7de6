"""Drafts written through the served console's form, as a browser without JavaScript posts it."""

from __future__ import annotations

import re
from pathlib import Path

import requests
from playwright.sync_api import BrowserContext, Page

from publisher.content.drafting import read_draft
from tests.support.chromium import sign_in_page
from tests.support.console import TIMEOUT, csrf_token, sign_in
from tests.support.recaps import RECAP

_CAMPAIGN = re.compile(r"^/console/campaigns/(\d+)")


def form_of(recap: Path = RECAP, list_name: str = "attendees", provider: str = "outbox") -> dict[str, str | list[str]]:
    """The form fields a person would type to write ``recap`` in the console."""
    meta = read_draft(recap.read_text(encoding="utf-8")).meta
    body = read_draft(recap.read_text(encoding="utf-8")).body
    return {
        "title": meta.title,
        "subject": meta.subject or "",
        "preheader": meta.preheader,
        "event_name": meta.event.name if meta.event else "",
        "event_date": meta.event.date.isoformat() if meta.event and meta.event.date else "",
        "venue": (meta.event.venue or "") if meta.event else "",
        "cta_text": meta.cta.text if meta.cta else "",
        "cta_url": str(meta.cta.url) if meta.cta else "",
        "body": body,
        "resource_title": [r.title for r in meta.resources],
        "resource_url": [str(r.url or "") for r in meta.resources],
        "resource_description": [r.description or "" for r in meta.resources],
        "list": list_name,
        "provider": provider,
    }


def save_draft(client: requests.Session, base_url: str, form: dict[str, str | list[str]] | None = None) -> int:
    """Post the new-campaign form with ``Save draft``; return the new draft's id."""
    token = csrf_token(client, f"{base_url}/console/campaigns/new")
    answer = client.post(
        f"{base_url}/console/campaigns/new",
        data={**(form or form_of()), "csrf_token": token, "action": "save"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert answer.status_code == 303, answer.text[:2000]
    found = _CAMPAIGN.match(answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1))


def draft_in_browser(browser: BrowserContext, base_url: str, email: str) -> tuple[int, Page]:
    """A draft saved by ``email``, open in the browser on its page after signing in there as ``email``: its id and the page."""
    cid = save_draft(sign_in(base_url, email), base_url)
    page = browser.new_page()
    page.goto(f"{base_url}/console/campaigns/{cid}")
    sign_in_page(page, email)
    return cid, page

"""``Import from URL`` on the console's draft form, over real HTTP, from the event's blog on a real loopback server."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import func, select

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, Role
from publisher.ledger.drafts import load_draft
from tests.support.audience import people
from tests.support.blog import HOSTILE, POST, Blog, serving_blog
from tests.support.console import TIMEOUT, add_person, csrf_token, sign_in
from tests.support.console_drafts import save_draft
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

EVE = "eve@modu.example"  # editor
VIC = "vic@modu.example"  # viewer
TITLE = "Insights From The Product vs Tech Event by Modu"


@pytest.fixture
def blog() -> Iterator[Blog]:
    with serving_blog() as served:
        yield served


@pytest.fixture
def console(settings: Settings, db: Database, serve_web: ServeWeb) -> str:
    """The web app, allowed to fetch from loopback (the blog's server), with an editor and a viewer."""
    people(db)
    add_person(db, EVE, Role.EDITOR)
    add_person(db, VIC, Role.VIEWER)
    return serve_web(settings.model_copy(update={"fetch_allow_loopback": True}))


def import_url(client: requests.Session, console: str, url: str, campaign_id: int | None = None) -> requests.Response:
    base = f"{console}/console/campaigns" + (f"/{campaign_id}" if campaign_id is not None else "")
    token = csrf_token(client, f"{base}/edit" if campaign_id is not None else f"{base}/new")
    return client.post(f"{base}/import-url", data={"url": url, "csrf_token": token}, allow_redirects=False, timeout=TIMEOUT)


def field(page: str, name: str) -> str:
    """The value of the form's input ``name``, as the browser shows it."""
    marker = f'id="{name}" name="{name}" value="'
    start = page.index(marker) + len(marker)
    return html.unescape(page[start : page.index('"', start)])


def body_of(page: str) -> str:
    start = page.index(">", page.index('<textarea id="body"')) + 1
    return html.unescape(page[start : page.index("</textarea>", start)])


def campaigns(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Campaign)) or 0)


def test_import_from_url_fills_a_new_campaigns_form_and_saves_nothing(console: str, db: Database, blog: Blog) -> None:
    eve = sign_in(console, EVE)
    before = campaigns(db)
    answer = import_url(eve, console, blog.url(POST))
    assert answer.status_code == 200, answer.text[:2000]
    page = answer.text
    assert field(page, "title") == TITLE
    assert field(page, "preheader") == "Key takeaways from Modu's panel on how product and tech teams work together."
    assert field(page, "event_name") == TITLE and field(page, "event_date") == "2025-01-22"
    body = body_of(page)
    assert body.startswith("Last Wednesday, Modu hosted an engaging event in Holborn")
    assert "## Not a War, But a Marriage" in body and "The evening ended with networking" in body
    assert "Share on LinkedIn" not in body and "Accept all cookies" not in body and "You might also like" not in body
    assert 'id="import_url" name="url" type="url" value="' + blog.url(POST) in page
    assert campaigns(db) == before


def test_import_into_a_draft_replaces_title_and_body_and_keeps_what_was_typed(console: str, db: Database, blog: Blog) -> None:
    eve = sign_in(console, EVE)
    draft = save_draft(eve, console)
    answer = import_url(eve, console, blog.url(POST), draft)
    assert answer.status_code == 200, answer.text[:2000]
    page = answer.text
    assert field(page, "title") == TITLE
    assert body_of(page).startswith("Last Wednesday, Modu hosted an engaging event in Holborn")
    # The draft's own event, preheader and button stay: the page fills only what is empty.
    assert field(page, "event_name") == "From Flow to Growth: How the Product vs Tech War Was Fought and Won"
    assert field(page, "event_date") == "2025-01-15" and field(page, "venue") == "Holborn, London"
    assert field(page, "preheader").startswith("Not a war but a marriage")
    assert field(page, "cta_text") == "See upcoming Modu events"
    # Nothing is saved until Save draft.
    assert load_draft(db, draft).recap.meta.title == "From Flow to Growth: Insights from the Product vs Tech Event by Modu"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Enter the https address of the event&#39;s blog post."),
        ("https://10.0.0.1/insights/secret", "10.0.0.1 is a private address: only public addresses are fetched"),
        ("/moved-to-private", "(redirected to https://10.0.0.1/insights/secret) is refused"),
        ("/notes.txt", "is text/plain, not one of application/xhtml+xml, text/html"),
        ("/menu", "no article found"),
        ("/gone", "answered 404 Not Found"),
        ('javascript:alert("x")<script>alert(1)</script>\u202e', "is not an https:// URL"),
    ],
)
def test_import_problems_are_shown_next_to_the_field(console: str, db: Database, blog: Blog, url: str, message: str) -> None:
    eve = sign_in(console, EVE)
    answer = import_url(eve, console, blog.url(url) if url.startswith("/") else url)
    assert answer.status_code == 422, answer.text[:2000]
    assert 'id="import_url-error"' in answer.text and message in answer.text
    assert "<script>alert(1)</script>" not in answer.text


def test_a_hostile_page_fills_the_form_with_inert_text(console: str, blog: Blog) -> None:
    eve = sign_in(console, EVE)
    answer = import_url(eve, console, blog.url(HOSTILE))
    assert answer.status_code == 200
    assert field(answer.text, "title") == "Big night Bcc: victim@example.com [31m red line"
    # The page's markup is in the body as escaped Markdown text, and in the console's HTML as escaped text again.
    assert "\\<script\\>alert('text')\\</script\\>" in body_of(answer.text)
    assert "<script>alert" not in answer.text and "<img src=x" not in answer.text
    # Its scripts, handlers and javascript: links are gone.
    assert "alert('js')" not in answer.text and "alert('head')" not in answer.text and "alert('hover')" not in answer.text


def test_import_needs_the_forms_csrf_token_and_an_editor(console: str, blog: Blog) -> None:
    eve = sign_in(console, EVE)
    forged = eve.post(f"{console}/console/campaigns/import-url", data={"url": blog.url(POST)}, allow_redirects=False, timeout=TIMEOUT)
    assert forged.status_code == 403
    wrong = eve.post(f"{console}/console/campaigns/import-url", data={"url": blog.url(POST), "csrf_token": "x" * 43}, timeout=TIMEOUT)
    assert wrong.status_code == 403
    vic = sign_in(console, VIC)
    token = csrf_token(vic, f"{console}/console/campaigns")
    refused = vic.post(f"{console}/console/campaigns/import-url", data={"url": blog.url(POST), "csrf_token": token}, timeout=TIMEOUT)
    assert refused.status_code == 403
    signed_out = requests.post(f"{console}/console/campaigns/import-url", data={"url": blog.url(POST)}, timeout=TIMEOUT)
    assert signed_out.status_code == 403
    # None of them made the server fetch anything.
    assert blog.requested == []


def test_the_draft_form_offers_import_from_url_to_editors(console: str) -> None:
    page = sign_in(console, EVE).get(f"{console}/console/campaigns/new", timeout=TIMEOUT).text
    assert 'action="/console/campaigns/import-url"' in page and ">Import from URL</button>" in page

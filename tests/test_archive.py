"""The public archive and its RSS feed; `newsletter lists` marks which lists are public."""

from __future__ import annotations

import datetime as dt
import re
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import lxml.html
import pytest
import requests
from sqlalchemy import select, update

from publisher.accounts.roles import CLI_ACTOR
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignKind, CampaignStatus, MailingList
from publisher.ledger.archive import archived_issues
from publisher.ledger.subject_test_decision import pick_winner
from tests.support.audience import CSV, people
from tests.support.campaigns import publish
from tests.support.cli import run_cli
from tests.support.recaps import WORKSHOP
from tests.support.subject_tests import OTHERS, audience, publish_tested
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PUBLIC_URL = "https://news.modu.example"
JAN = dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def public_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_url": PUBLIC_URL})


@pytest.fixture
def issues(public_settings: Settings, db: Database) -> dict[str, int]:
    """Campaigns in every state on the public list 'attendees', and one sent issue of the private list 'speakers'."""
    people(db)
    people(db, CSV, "speakers")
    ids = {
        "older": publish(public_settings, db, "attendees").id,
        "newer": publish(public_settings, db, "attendees", WORKSHOP).id,
        "private": publish(public_settings, db, "speakers").id,
        "test send": publish(public_settings, db, "attendees", test_to="editor@modu.example").id,
        "scheduled": publish(public_settings, db, "attendees").id,
        "cancelled": publish(public_settings, db, "attendees").id,
        "paused": publish(public_settings, db, "attendees").id,
        "confirmation": publish(public_settings, db, "attendees").id,
    }
    changes: dict[str, dict[str, Any]] = {
        "older": {"status": CampaignStatus.COMPLETE, "released_at": JAN, "title": "Older <issue> & co"},
        "newer": {"status": CampaignStatus.SENDING, "released_at": JAN + dt.timedelta(days=30)},
        "private": {"status": CampaignStatus.COMPLETE},
        "test send": {"status": CampaignStatus.COMPLETE},
        "scheduled": {"status": CampaignStatus.SCHEDULED, "released_at": None},
        "cancelled": {"status": CampaignStatus.CANCELLED},
        "paused": {"status": CampaignStatus.PAUSED},
        "confirmation": {"status": CampaignStatus.COMPLETE, "kind": CampaignKind.CONFIRMATION},
    }
    with db.transaction() as session:
        for name, values in changes.items():
            session.execute(update(Campaign).where(Campaign.id == ids[name]).values(**values))
        session.execute(update(MailingList).where(MailingList.name == "attendees").values(public=True))
    return ids


def test_archive_lists_only_sent_issues_of_public_lists(public_settings: Settings, issues: dict[str, int], serve_web: ServeWeb) -> None:
    base = serve_web(public_settings)
    response = requests.get(f"{base}/archive", timeout=5)
    assert response.status_code == 200
    linked = re.findall(r'<a href="https://news\.modu\.example/archive/(\d+)">', response.text)
    assert linked == [str(issues["newer"]), str(issues["older"])]  # newest first, nothing else
    assert "Older &lt;issue&gt; &amp; co" in response.text
    assert f'href="{PUBLIC_URL}/archive/feed.xml"' in response.text
    assert "@example" not in response.text


def test_archived_issue_is_a_neutral_copy_without_personal_data(
    public_settings: Settings,
    issues: dict[str, int],
    serve_web: ServeWeb,
) -> None:
    base = serve_web(public_settings)
    response = requests.get(f"{base}/archive/{issues['newer']}", timeout=5)
    assert response.status_code == 200
    html = response.text
    assert "Hi there," in html and "Thank you for joining us, ." in html
    names = [line.split(",")[:3] for line in CSV.read_text(encoding="utf-8").splitlines()[1:]]
    for email, first_name, last_name in names:
        assert email not in html and f"{first_name} {last_name}" not in html
    assert "/unsubscribe/" not in html and "/view/" not in html
    assert f'href="{PUBLIC_URL}/archive#unsubscribe"' in html and f'href="{PUBLIC_URL}/archive/{issues["newer"]}"' in html
    assert "script-src 'none'" in response.headers["content-security-policy"]


def test_issue_not_in_the_archive_is_404(public_settings: Settings, issues: dict[str, int], serve_web: ServeWeb) -> None:
    base = serve_web(public_settings)
    hidden = [str(issues[name]) for name in ("private", "test send", "scheduled", "cancelled", "paused", "confirmation")]
    # A 5,000-digit id was a 500 once: Starlette's int convertor raised on it.
    for campaign in [*hidden, "9999", "99999999999999999999999", "0", "abc", "-1", "9" * 5000]:
        response = requests.get(f"{base}/archive/{campaign}", timeout=5)
        assert response.status_code == 404, campaign
        assert response.headers["content-type"].startswith("text/html")
        assert "Not found" in response.text and "Traceback" not in response.text


def test_rss_feed_parses_and_lists_the_archived_issues(public_settings: Settings, issues: dict[str, int], serve_web: ServeWeb) -> None:
    base = serve_web(public_settings)
    response = requests.get(f"{base}/archive/feed.xml", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    root = ElementTree.fromstring(response.content)  # noqa: S314 (our own feed, checked for being well-formed)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("title") == "Modu Events archive"
    assert channel.findtext("link") == f"{PUBLIC_URL}/archive"
    items = channel.findall("item")
    assert [item.findtext("link") for item in items] == [f"{PUBLIC_URL}/archive/{issues[name]}" for name in ("newer", "older")]
    older = items[1]
    assert older.findtext("title") == "Older <issue> & co"  # escaped in the XML, intact once parsed
    assert older.findtext("guid") == f"{PUBLIC_URL}/archive/{issues['older']}"
    assert older.find("guid").get("isPermaLink") == "true"  # type: ignore[union-attr]
    assert parsedate_to_datetime(older.findtext("pubDate") or "") == JAN
    assert older.findtext("category") == "attendees"
    assert older.findtext("description") == "Product vs Tech: what we learned in Holborn"


def test_lists_show_and_set_make_a_list_public(env: dict[str, str], settings: Settings, db: Database, serve_web: ServeWeb) -> None:
    people(db)
    publish(settings, db, "attendees")
    with db.transaction() as session:
        session.execute(update(Campaign).values(status=CampaignStatus.COMPLETE))
    base = serve_web(settings)
    assert "No issues yet." in requests.get(f"{base}/archive", timeout=5).text

    result = run_cli(env, "lists", "set", "attendees", "--public", "--description", "Recaps of Modu events")
    assert result.returncode == 0, result.output
    assert "list 'attendees' is public" in result.output
    assert "From Flow to Growth" in requests.get(f"{base}/archive", timeout=5).text

    shown = run_cli(env, "lists", "show")
    assert shown.returncode == 0, shown.output
    line = r"attendees\s+public\s+25 confirmed, 0 pending, 0 unsubscribed\s+UTC\s+tracking on\s+Recaps of Modu events"
    assert re.search(line, shown.output), shown.output

    assert run_cli(env, "lists", "set", "attendees", "--private").returncode == 0
    assert "No issues yet." in requests.get(f"{base}/archive", timeout=5).text


def test_lists_set_refuses_an_unknown_list_or_nothing_to_change(env: dict[str, str], db: Database) -> None:
    people(db)
    unknown = run_cli(env, "lists", "set", "nobody", "--public")
    assert unknown.returncode == 2
    assert "no list named 'nobody' (lists: attendees)" in unknown.output
    nothing = run_cli(env, "lists", "set", "attendees")
    assert nothing.returncode == 2
    assert "nothing to change" in nothing.output
    with db.transaction() as session:
        assert session.scalars(select(MailingList.public)).all() == [False]


def test_rss_description_shows_markup_in_a_subject_as_text(
    public_settings: Settings, issues: dict[str, int], db: Database, serve_web: ServeWeb
) -> None:
    # RSS 2.0 <description> is HTML carried as XML text: a feed reader XML-unescapes it, then renders it as HTML.
    subject = "<b>bold</b> & <img src=x onerror=alert(1)>"
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == issues["older"]).values(subject=subject))
    response = requests.get(f"{serve_web(public_settings)}/archive/feed.xml", timeout=5)
    root = ElementTree.fromstring(response.content)  # noqa: S314 (our own feed, checked for being well-formed)
    older = root.findall("channel/item")[1]
    description = older.findtext("description") or ""
    assert description == "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;img src=x onerror=alert(1)&gt;"
    rendered = lxml.html.fragment_fromstring(description, create_parent="div")
    assert rendered.text_content() == subject and len(rendered) == 0  # the reader shows the subject as text, no elements


def test_a_subject_tests_issue_is_archived_with_the_winning_subject(
    public_settings: Settings, db: Database, tmp_path: Path, serve_web: ServeWeb
) -> None:
    audience(db, tmp_path, 10)
    with db.transaction() as session:
        session.execute(update(MailingList).where(MailingList.name == "attendees").values(public=True))
    created = publish_tested(public_settings, db, share=50)
    base = serve_web(public_settings)
    # Before the decision only the test's share has it: it is not in the archive yet.
    with db.reading() as session:
        assert archived_issues(session) == []
    pick_winner(db, created.id, 2, CLI_ACTOR)
    with db.reading() as session:
        assert [(issue.id, issue.subject) for issue in archived_issues(session)] == [(created.id, OTHERS[0])]
    response = requests.get(f"{base}/archive/feed.xml", timeout=5)
    [item] = ElementTree.fromstring(response.content).iter("item")  # noqa: S314 (our own feed)
    assert item.findtext("description") == OTHERS[0]

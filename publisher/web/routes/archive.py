"""The public archive: the issues of public lists, one page each, and their RSS feed.

Archive copies are rendered with neutral values ("Hi there", empty merge
tags), so no subscriber's name or address is ever on a public page; their
unsubscribe link leads to the archive's note on how to unsubscribe.
"""

from __future__ import annotations

import re
from email.utils import parseaddr

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from publisher.core.settings import Settings
from publisher.ledger.archive import ArchivedIssue, archived_campaign, archived_issues
from publisher.web.deps import Context
from publisher.web.feed import Channel, Item, rss
from publisher.web.issue import issue_response, neutral_copy, render_html
from publisher.web.render import page

router = APIRouter(tags=["archive"])

#: Issues in the RSS feed; the archive page lists every one.
FEED_ITEMS = 50
#: Public pages change when an issue goes out: a few minutes of caching is harmless.
PUBLIC_CACHE = "public, max-age=300"
NOT_ARCHIVED = "There is no issue with this number in the public archive."


def campaign_number(text: str) -> int | None:
    """The campaign id a path segment names, or None: digits only, and few enough to be an id.

    Path segments are read as text, not with Starlette's ``int`` convertor: it
    turns a 5,000-digit segment into a ValueError, and that into a 500.
    """
    return int(text) if re.fullmatch(r"[0-9]{1,18}", text) else None


def archive_url(settings: Settings, campaign_id: int | None = None) -> str:
    return f"{settings.public_url}/archive" + (f"/{campaign_id}" if campaign_id is not None else "")


def feed_url(settings: Settings) -> str:
    return f"{settings.public_url}/archive/feed.xml"


def archive_title(settings: Settings) -> str:
    """The sender's display name (never its address), as the archive's and the feed's title."""
    name = parseaddr(settings.from_address)[0].strip()
    return f"{name} archive" if name else "Newsletter archive"


@router.get("/archive", response_class=HTMLResponse, summary="The public archive: issues of public lists, newest first")
def archive_index(ctx: Context) -> HTMLResponse:
    with ctx.db.transaction() as session:
        issues = archived_issues(session)
    response = page(
        "archive.html.j2",
        brand=ctx.settings.brand,
        title=archive_title(ctx.settings),
        issues=[(issue, archive_url(ctx.settings, issue.id)) for issue in issues],
        feed_url=feed_url(ctx.settings),
    )
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


@router.get("/archive/feed.xml", summary="RSS 2.0 feed of the archive")
def archive_feed(ctx: Context) -> Response:
    with ctx.db.transaction() as session:
        issues = archived_issues(session, limit=FEED_ITEMS)
    channel = Channel(
        title=archive_title(ctx.settings),
        link=archive_url(ctx.settings),
        description="Issues of our public newsletters.",
        feed_url=feed_url(ctx.settings),
    )
    body = rss(channel, [_item(ctx.settings, issue) for issue in issues])
    return Response(body, media_type="application/rss+xml; charset=utf-8", headers={"Cache-Control": PUBLIC_CACHE})


@router.get("/archive/{campaign_id}", response_class=HTMLResponse, summary="One archived issue, without anyone's personal data")
def archive_issue(campaign_id: str, ctx: Context) -> HTMLResponse:
    number = campaign_number(campaign_id)
    with ctx.db.transaction() as session:
        campaign = archived_campaign(session, number) if number is not None else None
        if campaign is None:
            raise HTTPException(404, NOT_ARCHIVED)
        recipient = neutral_copy(
            unsubscribe_url=f"{archive_url(ctx.settings)}#unsubscribe",
            view_url=archive_url(ctx.settings, campaign.id),
        )
        html = render_html(campaign, recipient)
    return issue_response(html, cache_control=PUBLIC_CACHE)


def _item(settings: Settings, issue: ArchivedIssue) -> Item:
    return Item(
        title=issue.title,
        link=archive_url(settings, issue.id),
        description=issue.subject,
        category=issue.list_name,
        published_at=issue.published_at,
    )

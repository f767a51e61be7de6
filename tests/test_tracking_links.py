"""Tracked issues at publish time: which links become click links, the pixel, the per-email token, and the switches that turn it off."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from itsdangerous import BadSignature
from sqlalchemy import select, update

from publisher.content.rendering.issue import RenderedIssue
from publisher.content.rendering.personalize import TRACK_FIELD, Recipient
from publisher.content.rendering.tracking import track_issue
from publisher.core.links import VIEW, LinkSigner, LinkTarget
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, MailingList
from tests.support.audience import people
from tests.support.campaigns import publish
from tests.support.recaps import write_recap

PUBLIC = "https://news.test.example"
SIGNER = LinkSigner("a-test-secret-key-of-some-length", PUBLIC)

MERGE_TAG_RECAP = """\
Read [the programme](https://www.modu.example/programme?a=1&b=2) and
[your own page](https://www.modu.example/people?email=*|EMAIL|*).
Also [write to us](mailto:events@modu.example) or see https://www.modu.example/plain in the text.
"""


def campaign_of(db: Database, campaign_id: int) -> Campaign:
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        session.expunge(campaign)
        return campaign


def issue_of(campaign: Campaign) -> RenderedIssue:
    return RenderedIssue(html=campaign.html_template, text=campaign.text_template, nonce=campaign.placeholder_nonce)


def recipient(token: str = "") -> Recipient:
    return Recipient(
        email="zoe@example.com",
        first_name="Zoë",
        last_name="O'Brien",
        unsubscribe_url=f"{PUBLIC}/unsubscribe/UNSUB.sig",
        view_url=f"{PUBLIC}/view/VIEW.sig",
        track_token=token,
    )


def hrefs(html: str) -> list[str]:
    return re.findall(r'<a [^>]*href="([^"]*)"', html)


@pytest.fixture
def tracked_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_url": PUBLIC})


def test_a_published_issue_tracks_its_links_and_ends_with_a_pixel(tracked_settings: Settings, db: Database, tmp_path: Path) -> None:
    people(db)
    recap = write_recap(tmp_path / "links.md", MERGE_TAG_RECAP)
    campaign = campaign_of(db, publish(tracked_settings, db, recap=recap).id)
    assert campaign.tracking is True
    links = campaign.tracked_links
    assert links is not None
    # The HTML part's anchors only: a URL written in the text alone is no link of the HTML part.
    assert links == ["https://www.modu.example/programme?a=1&b=2"]
    # Never the merge-tag link, a mailto, or our own subscriber links.
    assert not any("*|" in url or "people?email" in url or url.startswith("mailto:") for url in links)
    assert not any(re.search(r"/(unsubscribe|preferences|view|confirm)/", url) for url in links)

    issue = issue_of(campaign)
    assert TRACK_FIELD in issue.fields
    token = SIGNER.track_token(17, campaign.id)
    html, text = issue.personalise(recipient(token))
    number = links.index("https://www.modu.example/programme?a=1&b=2")
    assert f'href="{PUBLIC}/t/c/{number}.{token}"' in html
    assert f"{PUBLIC}/t/c/{number}.{token}" in text
    assert "see https://www.modu.example/plain in" in text
    # The merge-tag link is the recipient's own, filled in, not tracked.
    assert 'href="https://www.modu.example/people?email=zoe%40example.com"' in html
    assert 'href="mailto:events@modu.example"' in html
    assert f'href="{PUBLIC}/unsubscribe/UNSUB.sig"' in html and f'href="{PUBLIC}/view/VIEW.sig"' in html
    assert f"Unsubscribe: {PUBLIC}/unsubscribe/UNSUB.sig" in text
    pixel = f'<img src="{PUBLIC}/t/o/{token}.gif" width="1" height="1" alt=""'
    assert pixel in html and html.index(pixel) > html.rindex("Unsubscribe") and html.index(pixel) < html.index("</body>")
    # Every http(s) anchor that is not a merge-tag link or our own is tracked.
    untracked = [href for href in hrefs(html) if href.startswith("http") and "/t/c/" not in href]
    own = [f"{PUBLIC}/unsubscribe/UNSUB.sig", f"{PUBLIC}/view/VIEW.sig", f"{PUBLIC}/preferences/UNSUB.sig"]
    assert sorted(untracked) == sorted([*own, "https://www.modu.example/people?email=zoe%40example.com"])


def test_without_a_token_a_tracked_issue_is_the_untracked_one(tracked_settings: Settings, db: Database) -> None:
    """The view page, the archive and previews render without a token: original links, no pixel."""
    people(db)
    tracked = campaign_of(db, publish(tracked_settings, db).id)
    plain = campaign_of(db, publish(tracked_settings.model_copy(update={"tracking": False}), db).id)
    html, text = issue_of(tracked).personalise(recipient())
    assert "/t/c/" not in html + text and "/t/o/" not in html
    # Apart from the campaign's own .ics link, which names its id.
    other = issue_of(plain).personalise(recipient())
    own = (f"/archive/{tracked.id}/", f"/archive/{plain.id}/")
    assert (html.replace(*own), text.replace(*own)) == other


def test_json_bodies_match_the_string_bodies_of_a_tracked_issue(tracked_settings: Settings, db: Database) -> None:
    people(db)
    issue = issue_of(campaign_of(db, publish(tracked_settings, db).id))
    for token in ("", SIGNER.track_token(3, 9)):
        html, text = issue.personalise(recipient(token))
        html_json, text_json = issue.personalise_json(recipient(token))
        assert orjson.loads(bytes(html_json)) == html
        assert orjson.loads(bytes(text_json)) == text


def test_tracking_off_globally_or_per_list_keeps_the_original_links(tracked_settings: Settings, db: Database) -> None:
    people(db)
    off = campaign_of(db, publish(tracked_settings.model_copy(update={"tracking": False}), db).id)
    with db.transaction() as session:
        session.execute(update(MailingList).where(MailingList.name == "attendees").values(tracking=False))
    list_off = campaign_of(db, publish(tracked_settings, db).id)
    for campaign in (off, list_off):
        assert campaign.tracking is False and campaign.tracked_links is None
        assert "/t/" not in campaign.html_template + campaign.text_template
        assert TRACK_FIELD not in issue_of(campaign).fields


def test_a_test_send_is_never_tracked(tracked_settings: Settings, db: Database) -> None:
    people(db)
    campaign = campaign_of(db, publish(tracked_settings, db, test_to="checker@example.com").id)
    assert campaign.is_test and campaign.tracking is False
    assert "/t/" not in campaign.html_template


def test_the_track_token_is_what_the_serializer_signs_and_nothing_else_verifies() -> None:
    token = SIGNER.track_token(123456, 42)
    assert token == SIGNER._track.dumps([123456, 42])
    assert SIGNER.verify_track(token) == (123456, 42)
    rotated = LinkSigner("a-new-key", PUBLIC, ["a-test-secret-key-of-some-length"])
    assert rotated.verify_track(token) == (123456, 42)
    payload, signature = token.split(".")
    forged = [
        f"{payload}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        f"WzEsNDJd.{signature}",
        LinkSigner("another-deployment", PUBLIC).track_token(123456, 42),
        SIGNER.token(VIEW, LinkTarget(123456, 42, None)),
        "",
        "garbage",
    ]
    for token in forged:
        with pytest.raises(BadSignature):
            SIGNER.verify_track(token)


def test_the_text_part_tracks_the_html_parts_anchors_only_and_keeps_quotes_in_them() -> None:
    quoted = 'https://x.example/?a=1&b="2"'
    href = quoted.replace('"', "&quot;")
    issue = RenderedIssue(
        html=(
            f'<html><body><a href="{href}">q</a> <a href="https://x.example/a">a</a><img src="https://img.example/photo.jpg"></body></html>'
        ),
        text=f'Quoted {quoted}. See (https://x.example/a), "https://x.example/a" and https://x.example/ab; photo https://img.example/photo.jpg\n',
        nonce="0123456789abcdef",
    )
    tracked, links = track_issue(issue, PUBLIC)
    assert links == [quoted, "https://x.example/a"]
    _, text = tracked.personalise(recipient("TOKEN"))
    assert text == (
        f'Quoted {PUBLIC}/t/c/0.TOKEN. See ({PUBLIC}/t/c/1.TOKEN), "{PUBLIC}/t/c/1.TOKEN" and https://x.example/ab; '
        "photo https://img.example/photo.jpg\n"
    )


def test_the_link_numbers_are_the_stored_urls_in_both_parts(tracked_settings: Settings, db: Database) -> None:
    people(db)
    campaign = campaign_of(db, publish(tracked_settings, db).id)
    token = SIGNER.track_token(5, campaign.id)
    html, text = issue_of(campaign).personalise(replace(recipient(), track_token=token))
    original_html, original_text = issue_of(campaign).personalise(recipient())
    links = campaign.tracked_links or []
    numbers = {int(n) for n in re.findall(rf"/t/c/(\d+)\.{re.escape(token)}", html + text)}
    assert numbers == set(range(len(links)))
    # Each tracked URL appears in the original render of the issue.
    for url in links:
        assert url in original_text or url.replace("&", "&amp;") in original_html
    with db.transaction() as session:
        assert session.scalar(select(Campaign.tracked_links).where(Campaign.id == campaign.id)) == links

"""The event recap layout: the event card in the event's own zone, speakers, the photo strip, slides and recording, what's next.

Renders through the real two-stage render and premailer, reads the HTML back
with lxml, and looks at the seed issue in Chromium at 375 and 600 px (the
screenshots docs/events.md shows).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from html import escape as html_escape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest
from playwright.sync_api import BrowserContext, Route

from publisher.content.recap import Recap, load_recap, parse_recap
from publisher.content.rendering.event import calendar_url, time_range
from publisher.content.rendering.layout import IssueFrame, issue_frame, render_issue, render_single
from publisher.content.rendering.personalize import Recipient
from publisher.core.errors import ContentError
from publisher.core.settings import Settings
from tests.support.chromium import SCREENSHOTS, chromium
from tests.support.paths import PROJECT
from tests.support.recaps import RECAP

ICS = "https://news.modu.example/archive/42/next-event.ics"
FRAME = IssueFrame(list_name="attendees", postal_address="1 Test Street, London", calendar_url=ICS)
WHO = Recipient("zoe@example.com", "Zoë", "O'Brien", "https://news.example/unsubscribe/tok", "https://news.example/view/tok")

PARIS = """
event:
  name: "Product vs Tech, Paris"
  starts_at: 2026-12-03T17:30:00Z
  ends_at: 2026-12-03T19:30:00Z
  timezone: Europe/Paris
  venue: "Station F, Paris"
speakers:
  - {name: "Ada Lovelace", role: "CTO", organisation: "Analytical & Co", photo: "https://img.example/ada.png"}
  - {name: "Grace Hopper", role: "Admiral"}
photos:
  - {url: "https://img.example/1.jpg", alt: "The panel on stage", width: 1200, height: 800}
  - {url: "https://img.example/2.jpg", alt: "Questions from the room", width: 1200, height: 800}
  - {url: "https://img.example/3.jpg", alt: "Drinks after the panel", width: 800, height: 1200}
links:
  - {title: "The slides (PDF)", url: "https://example.com/slides.pdf"}
  - {title: "The recording", url: "https://example.com/recording"}
next_event:
  name: "Roadmaps & Reality: a workshop"
  starts_at: 2026-12-10T18:00:00+01:00
  ends_at: 2026-12-10T20:00:00+01:00
  timezone: Europe/Paris
  venue: "Station F, Paris"
  url: "https://example.com/register?event=7&src=email"
"""


def recap(front_matter: str = PARIS, body: str = "Body.") -> Recap:
    return parse_recap(f"---\ntitle: Event recap test\n{front_matter}\n---\n{body}\n", "event.md")


def rendered(front_matter: str = PARIS, frame: IssueFrame = FRAME) -> tuple[str, str]:
    return render_issue(recap(front_matter), frame).personalise(WHO)


def tree(html: str) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(html)


def text_of(html: str) -> str:
    return " ".join(tree(html).text_content().split())


# The event card ---------------------------------------------------------------------------


def test_the_event_card_shows_the_time_in_the_events_own_zone() -> None:
    html, text = rendered()
    # 17:30 UTC is 18:30 in Paris in December (CET, UTC+1).
    assert "Thursday 3 December 2026, 18:30–20:30 CET" in text_of(html)
    assert "Thursday 3 December 2026, 18:30–20:30 CET" in text
    card = tree(html).xpath('//td[contains(@class, "event-card-cell")]')[0]
    assert "Product vs Tech, Paris" in card.text_content() and "Station F, Paris" in card.text_content()
    assert card.xpath('.//span[@class="time"]')[0].text_content() == "18:30–20:30 CET"


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "zone", "shown"),
    [
        # A time without an offset is the event's own clock.
        ("2026-07-02T18:30:00", "2026-07-02T20:00:00", "Europe/Paris", "Thursday 2 July 2026, 18:30–20:00 CEST"),
        # An offset other than the zone's is converted.
        ("2026-07-02T12:30:00-04:00", "2026-07-02T14:00:00-04:00", "Europe/Paris", "Thursday 2 July 2026, 18:30–20:00 CEST"),
        # Past midnight: both days say so.
        (
            "2026-12-31T22:00:00+01:00",
            "2027-01-01T02:00:00+01:00",
            "Europe/Paris",
            "Thursday 31 December 2026, 22:00 CET – Friday 1 January 2027, 02:00 CET",
        ),
        # A zone without letters for its abbreviation says what its number is.
        ("2026-05-05T10:00:00+03:00", "2026-05-05T12:00:00+03:00", "Europe/Istanbul", "Tuesday 5 May 2026, 10:00–12:00 UTC+03"),
        # The clocks change during the night: each time names its zone.
        ("2026-10-25T01:30:00+02:00", "2026-10-25T02:30:00+01:00", "Europe/Paris", "Sunday 25 October 2026, 01:30 CEST–02:30 CET"),
    ],
)
def test_times_are_read_and_shown_on_the_events_clock(starts_at: str, ends_at: str, zone: str, shown: str) -> None:
    _, text = rendered(f"event: {{name: Talk, starts_at: {starts_at}, ends_at: {ends_at}, timezone: {zone}}}")
    assert shown in text


def test_an_event_with_only_a_date_shows_the_date() -> None:
    html, text = rendered('event: {name: "Product vs Tech", date: 2025-01-15, venue: "Holborn, London"}')
    assert "Wednesday 15 January 2025" in text and "Holborn, London" in text
    card = text_of(html)
    assert "Product vs Tech Wednesday 15 January 2025 Holborn, London" in card
    assert not tree(html).xpath('//span[@class="time"]')


def test_an_online_event_links_its_page_with_text_that_says_what_it_is() -> None:
    html, text = rendered("event: {name: Webinar, starts_at: 2026-12-03T17:30:00Z, timezone: UTC, url: 'https://zoom.example/j/1'}")
    [link] = tree(html).xpath('//td[contains(@class, "event-card-cell")]//a')
    assert link.get("href") == "https://zoom.example/j/1" and link.text_content() == "Online: the event's page"
    assert "Thursday 3 December 2026, 17:30 UTC" in text and "Online: the event's page: https://zoom.example/j/1" in text


@pytest.mark.parametrize(
    ("front_matter", "problem"),
    [
        ("event: {name: x, starts_at: 2026-12-03T18:00:00Z, ends_at: 2026-12-03T17:00:00Z}", "ends_at must be after starts_at"),
        ("event: {name: x, starts_at: 2026-12-03T18:00:00Z, ends_at: 2026-12-03T19:00:00}", "with a UTC offset, or neither"),
        ("event: {name: x, starts_at: 2026-12-03T18:00:00Z, timezone: Mars/Olympus}", "unknown time zone"),
        ("next_event: {name: x, starts_at: 2026-12-03T18:00:00Z, ends_at: 2026-12-03T18:00:00Z, timezone: UTC}", "ends_at must be after"),
        ("next_event: {name: x, starts_at: 2026-12-03T18:00:00, ends_at: 2026-12-03T19:00:00, timezone: UTC}", "UTC offset"),
    ],
)
def test_times_a_calendar_cannot_hold_are_refused_naming_the_key(front_matter: str, problem: str) -> None:
    with pytest.raises(ContentError, match=problem):
        recap(front_matter)


YEAR_ONE = "0001-01-01T00:00:00+05:00"
LATE = "2201-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("front_matter", "where"),
    [
        (f"event: {{name: x, starts_at: '{YEAR_ONE}'}}", "event.starts_at"),
        (f"event: {{name: x, starts_at: 2026-12-03T18:00:00Z, ends_at: '{LATE}'}}", "event.ends_at"),
        (f"next_event: {{name: x, starts_at: '{YEAR_ONE}', ends_at: 2026-12-03T18:00:00Z, timezone: UTC}}", "next_event.starts_at"),
        (f"next_event: {{name: x, starts_at: 2026-12-03T18:00:00Z, ends_at: '{LATE}', timezone: Asia/Tokyo}}", "next_event.ends_at"),
    ],
)
def test_times_outside_1970_to_2200_are_refused_naming_the_key(front_matter: str, where: str) -> None:
    with pytest.raises(ContentError, match=f"'{re.escape(where)}': .*between the years 1970 and 2200"):
        recap(front_matter)


def test_the_renderers_never_fail_on_a_time_at_the_edge_of_the_calendar() -> None:
    """Values read before the bound existed, or built by code: the card and the calendar links show them as written."""
    import datetime as dt

    from publisher.content.calendar import event_uid, next_event_ics
    from publisher.content.recap import NextEvent
    from publisher.content.rendering.event import google_calendar_url

    early = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    late = dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert time_range(early, early + dt.timedelta(hours=2), "Asia/Tokyo").day == "Monday 1 January 1"
    assert time_range(late, None, "Asia/Tokyo").day == "Friday 31 December 9999"
    for starts_at, ends_at in ((early, early + dt.timedelta(hours=2)), (late - dt.timedelta(hours=2), late)):
        event = NextEvent.model_construct(name="x", starts_at=starts_at, ends_at=ends_at, timezone="Asia/Tokyo", venue=None, url=None)
        assert google_calendar_url(event).startswith("https://calendar.google.com/")
        assert event_uid(event, "https://news.example").endswith("@news.example")
        assert next_event_ics(event, public_url="https://news.example", stamp=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)).startswith(
            b"BEGIN:VCALENDAR"
        )


# Speakers, photos, links ---------------------------------------------------------------------


def test_speakers_show_with_roles_organisations_and_sized_photos_with_alt_text() -> None:
    html, text = rendered()
    page = tree(html)
    assert "Ada Lovelace CTO, Analytical & Co" in text_of(html) and "Grace Hopper Admiral" in text_of(html)
    [photo] = page.xpath('//td[contains(@class, "speaker-photo")]/img')
    shown = (photo.get("src"), photo.get("alt"), photo.get("width"), photo.get("height"))
    assert shown == ("https://img.example/ada.png", "Ada Lovelace", "64", "64")
    assert "- Ada Lovelace, CTO, Analytical & Co" in text and "- Grace Hopper, Admiral" in text


def test_the_photo_strip_sizes_each_photo_for_its_cell_with_alt_width_and_height() -> None:
    html, text = rendered()
    cells = tree(html).xpath('//td[contains(@class, "photo-cell")]')
    assert len(cells) == 3 and {cell.get("width") for cell in cells} == {"33%"}
    sizes = [(img.get("alt"), img.get("width"), img.get("height")) for img in tree(html).xpath('//td[contains(@class, "photo-cell")]/img')]
    # Three across in the 536 px column: 170 px wide each, as tall as the photo's proportions make it.
    assert sizes == [
        ("The panel on stage", "170", "113"),
        ("Questions from the room", "170", "113"),
        ("Drinks after the panel", "170", "255"),
    ]
    assert "- The panel on stage (https://img.example/1.jpg)" in text


@pytest.mark.parametrize(("count", "rows"), [(1, [1]), (2, [2]), (4, [2, 2]), (5, [3, 3]), (6, [3, 3])])
def test_photos_go_two_or_three_across(count: int, rows: list[int]) -> None:
    photos = "\n".join(f"  - {{url: 'https://img.example/{n}.jpg', alt: 'Photo {n}', width: 1200, height: 800}}" for n in range(count))
    html, _ = rendered(f"photos:\n{photos}")
    strip = tree(html).xpath('//td[@class="photos"]/table/tr')
    assert [len(row.xpath("./td")) for row in strip] == rows  # a short last row is padded with empty cells
    assert len(tree(html).xpath('//td[contains(@class, "photo-cell")]/img')) == count


def test_the_strip_stacks_on_phones_by_a_media_query_that_survives_inlining() -> None:
    issue = render_issue(recap(), FRAME)
    phone = re.search(r"@media only screen and \(max-width: 620px\) \{(.*?)\n\}", issue.html, re.DOTALL)
    assert phone is not None and ".photo-cell { display: block !important; width: auto !important; }" in phone.group(1)
    wider = re.search(r"@media only screen and \(min-width: 481px\) \{(.*?)\n\}", issue.html, re.DOTALL)
    assert wider is not None and ".photos-3 .photo-cell { display: table-cell !important; width: 33% !important; }" in wider.group(1)
    # The strip's own table names how many go across, for the rule above to find.
    assert 'class="photos-3"' in issue.html


def test_slides_and_recording_are_links_whose_text_says_what_they_are() -> None:
    html, text = rendered()
    links = {a.text_content(): a.get("href") for a in tree(html).xpath("//a")}
    assert links["The slides (PDF)"] == "https://example.com/slides.pdf" and links["The recording"] == "https://example.com/recording"
    assert "- The slides (PDF): https://example.com/slides.pdf" in text


# What's next -----------------------------------------------------------------------------------


def test_whats_next_has_register_and_both_calendar_links() -> None:
    html, text = rendered()
    page = tree(html)
    card = page.xpath('//td[contains(@class, "next-card-cell")]')[0]
    assert card.xpath(".//h2")[0].text_content() == "What's next"
    assert "Thursday 10 December 2026, 18:00–20:00 CET" in " ".join(card.text_content().split())
    links = {a.text_content(): a.get("href") for a in card.xpath(".//a")}
    assert links["Register"] == "https://example.com/register?event=7&src=email"
    assert links["Apple Calendar, Outlook and others (.ics)"] == ICS
    google = urlsplit(links["Google Calendar"])
    assert (google.scheme, google.netloc, google.path) == ("https", "calendar.google.com", "/calendar/render")
    query = parse_qs(google.query, strict_parsing=True)
    assert query == {
        "action": ["TEMPLATE"],
        "text": ["Roadmaps & Reality: a workshop"],
        "dates": ["20261210T170000Z/20261210T190000Z"],
        "ctz": ["Europe/Paris"],
        "details": ["Register: https://example.com/register?event=7&src=email"],
        "location": ["Station F, Paris"],
    }
    # Every value percent-encoded: the & of the name cannot start a parameter of its own.
    assert "text=Roadmaps%20%26%20Reality%3A%20a%20workshop&" in links["Google Calendar"]
    assert "&amp;" in html.split("calendar.google.com", 1)[1].split('"', 1)[0]  # and written as &amp; in the attribute
    assert f"Add it to Apple Calendar, Outlook and others (.ics): {ICS}" in text
    assert "Register: https://example.com/register?event=7&src=email" in text
    assert f"Add it to Google Calendar: {links['Google Calendar']}" in text


def test_the_ics_link_points_at_the_campaigns_own_calendar_and_is_left_out_without_a_campaign(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="layout-secret-0123456789", public_url="https://news.modu.example/")
    assert issue_frame(settings, "attendees", 42).calendar_url == ICS == calendar_url("https://news.modu.example", 42)
    html, text = render_issue(recap(), issue_frame(settings, "attendees")).personalise(WHO)
    assert ".ics" not in html and ".ics" not in text
    assert "calendar.google.com" in html


def test_a_recap_without_event_sections_renders_none_of_them() -> None:
    html, text = rendered("preheader: nothing else")
    body = html.split("<body", 1)[1]
    for absent in ("Speakers", "Photos", "Slides and recording", "What's next", "event-card", "calendar.google.com"):
        assert absent not in body and absent not in text
    assert 'class="masthead"' in html and ">attendees</td>" in html  # no event: the list's name, as before


def test_the_text_part_has_every_section() -> None:
    _, text = rendered()
    order = ["Product vs Tech, Paris", "Hi Zoë,", "Speakers\n--------", "Photos\n------", "Slides and recording", "What's next\n---"]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)


def test_two_stage_render_matches_a_one_pass_render_with_every_section() -> None:
    loaded = recap()
    assert render_issue(loaded, FRAME).personalise(WHO) == render_single(loaded, FRAME, WHO)


# Hostile values -----------------------------------------------------------------------------------

SCRIPT = '<script>alert("x")</script>'
HOSTILE = f'{SCRIPT}" onmouseover="alert(1)'


def hostile_recap() -> str:
    value = HOSTILE.replace("\\", "\\\\").replace('"', '\\"')
    return f"""
event: {{name: "{value}", starts_at: 2026-12-03T17:30:00Z, timezone: Europe/Paris, venue: "{value}"}}
speakers:
  - {{name: "{value}", role: "{value}", organisation: "{value}", photo: "https://img.example/a.png"}}
photos:
  - {{url: "https://img.example/1.jpg", alt: "{value}", width: 600, height: 400}}
links:
  - {{title: "{value}", url: "https://example.com/s"}}
next_event:
  name: "{value}"
  starts_at: 2026-12-10T18:00:00+01:00
  ends_at: 2026-12-10T20:00:00+01:00
  timezone: Europe/Paris
  venue: "{value}"
  url: "https://example.com/r"
"""


def test_hostile_values_in_every_field_stay_text_and_attribute_values() -> None:
    html, text = rendered(hostile_recap())
    page = tree(html)
    assert not page.xpath("//script") and "<script>" not in html
    assert not page.xpath("//*[@onmouseover]")
    # Each one comes back exactly, as text or as an attribute's value.
    shown = page.text_content()
    assert shown.count(HOSTILE) >= 7  # event name and venue, speaker name, role, organisation, link title, next name and venue
    assert {img.get("alt") for img in page.xpath("//img")} == {HOSTILE}
    google = next(a.get("href") for a in page.xpath("//a") if "calendar.google.com" in (a.get("href") or ""))
    assert parse_qs(urlsplit(google).query)["text"] == [HOSTILE]
    assert HOSTILE in text  # the plain-text part is text: nothing to escape


@pytest.mark.parametrize(
    ("front_matter", "where"),
    [
        ("links: [{title: x, url: 'javascript:alert(1)'}]", "links.0.url"),
        ("photos: [{url: 'data:image/png;base64,AAAA', alt: x, width: 1, height: 1}]", "photos.0.url"),
        ("photos: [{url: 'https://img.example/1.jpg', alt: '', width: 1, height: 1}]", "photos.0.alt"),
        ("speakers: [{name: x, photo: 'ftp://img.example/a.png'}]", "speakers.0.photo"),
        (
            "next_event: {name: x, starts_at: 2026-12-10T18:00:00Z, ends_at: 2026-12-10T19:00:00Z, timezone: UTC, url: 'javascript:x'}",
            "next_event.url",
        ),
        ("speakers: [{name: '" + "x" * 201 + "'}]", "speakers.0.name"),
    ],
)
def test_urls_other_than_http_and_empty_alt_text_are_refused_naming_the_key(front_matter: str, where: str) -> None:
    with pytest.raises(ContentError, match=re.escape(where)):
        recap(front_matter)


@pytest.mark.parametrize(
    ("front_matter", "where"),
    [
        ('speakers: [{name: "Ada\\x1b[31m Lovelace"}]', "speakers.0.name"),
        ('speakers: [{name: Ada, role: "CTO\\u2028Founder"}]', "speakers.0.role"),
        ('photos: [{url: "https://img.example/1.jpg", alt: "a\\x00b", width: 1, height: 1}]', "photos.0.alt"),
        ('links: [{title: "Slides\\nBcc: x", url: "https://example.com/s"}]', "links.0.title"),
        ('event: {name: "Talk", venue: "Room\\x85 1"}', "event.venue"),
        ('next_event: {name: "a\\tb", starts_at: 2026-12-10T18:00:00Z, ends_at: 2026-12-10T19:00:00Z, timezone: UTC}', "next_event.name"),
    ],
)
def test_a_control_character_or_line_break_in_a_name_is_refused_naming_the_key(front_matter: str, where: str) -> None:
    # An escape sequence or a NUL has no business in a name, and an HTML parser would not keep it as written.
    with pytest.raises(ContentError, match=rf"'{re.escape(where)}': .*single line"):
        recap(front_matter)


# In Chromium ------------------------------------------------------------------------------------

PHONE, DESKTOP = 375, 600
DOCS_SCREENSHOTS = PROJECT / "docs" / "screenshots"
#: Measured in the page: the photo cells' boxes, every image's alt, and whether anything is wider than the window.
MEASURE = """() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; };
  const beyond = (el) => el.getBoundingClientRect().right > window.innerWidth + 0.5;
  return {
    scrollWidth: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
    photos: [...document.querySelectorAll("td.photo-cell img")].map(box),
    alts: [...document.images].map((img) => img.alt),
    wide: [...document.querySelectorAll("body *")].filter(beyond).map((el) => el.tagName + "." + el.className),
  };
}"""


def placeholder_image(route: Route) -> None:
    """Answer for placehold.co (there is no Internet here) as it would: an image of the size, colours and text the URL asks for."""
    url = urlsplit(route.request.url)
    match = re.fullmatch(r"/(\d+)x(\d+)(?:/([0-9a-f]{6})/([0-9a-f]{6}))?(?:\.png)?", url.path)
    assert match is not None, route.request.url
    width, height = int(match.group(1)), int(match.group(2))
    background, colour = match.group(3) or "cbd2d9", match.group(4) or "1f2933"
    text = html_escape(parse_qs(url.query).get("text", [f"{width}×{height}"])[0])
    size = min(height // 2, int(width * 1.2 / max(1, len(text))))
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"><rect width="100%" height="100%" fill="#{background}"/>'
        f'<text x="50%" y="50%" fill="#{colour}" font-family="sans-serif" font-size="{size}" text-anchor="middle" '
        f'dominant-baseline="central">{text}</text></svg>'
    )
    route.fulfill(status=200, content_type="image/svg+xml", body=svg)


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    with chromium(viewport={"width": DESKTOP, "height": 800}) as context:
        context.route("https://placehold.co/**", placeholder_image)
        context.route(re.compile(r"^https?://(?!placehold\.co/)"), lambda route: route.abort())
        yield context


@pytest.fixture(scope="module")
def seed_email(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The seed issue as campaign 42 on https://news.modu.example sends it, brand as docs/events.md shows."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("var"),
        secret_key="layout-secret-0123456789",
        public_url="https://news.modu.example",
        postal_address="Modu Ltd, 1 Example Street, London WC1V 7AA",
        brand_name="Modu",
        brand_logo_url="https://placehold.co/120x36/0f5f8c/ffffff.png?text=Modu",
        brand_logo_size="120x36",
        brand_color="#0f5f8c",
        brand_font="'Helvetica Neue', Helvetica, Arial, sans-serif",
    )
    html, _ = render_issue(load_recap(RECAP), issue_frame(settings, "attendees", 42)).personalise(WHO)
    return html


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_the_seed_issue_in_chromium_fits_and_lays_out_the_photos_for_its_width(
    browser: BrowserContext, seed_email: str, width: int
) -> None:
    page = browser.new_page()
    try:
        page.set_viewport_size({"width": width, "height": 800})
        page.set_content(seed_email, wait_until="load")
        measured = page.evaluate(MEASURE)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"event-recap-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()
    assert measured["scrollWidth"] <= width and measured["wide"] == [], measured
    assert all(alt.strip() for alt in measured["alts"]) and len(measured["alts"]) == 8  # the logo, four speakers, three photos
    photos = measured["photos"]
    assert len(photos) == 3 and all(photo["height"] > 0 for photo in photos)
    if width == PHONE:
        # Stacked: one above the other, each the column's width.
        assert photos[0]["y"] < photos[1]["y"] < photos[2]["y"] and len({round(photo["x"]) for photo in photos}) == 1
        assert all(photo["width"] > 300 for photo in photos)
    else:
        # Side by side on one row.
        assert len({round(photo["y"]) for photo in photos}) == 1 and photos[0]["x"] < photos[1]["x"] < photos[2]["x"]
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, DOCS_SCREENSHOTS / shot.name)


def test_time_range_without_an_end_shows_the_start() -> None:
    import datetime as dt

    when = time_range(dt.datetime(2026, 12, 3, 17, 30, tzinfo=dt.UTC), None, "Europe/Paris")
    assert (when.day, when.time, when.text) == ("Thursday 3 December 2026", "18:30 CET", "Thursday 3 December 2026, 18:30 CET")

"""Pages behind signed links: unsubscribe (page and RFC 8058 one-click), preferences, view in browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from itsdangerous import URLSafeSerializer
from sqlalchemy import delete, select, update

from publisher.core.links import PREFERENCES, UNSUBSCRIBE, VIEW, LinkTarget, signer_for
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignKind, Subscriber, Subscription
from publisher.db.models import SubscriptionStatus as Status
from tests.support.audience import RAJ, ZOE, list_id, people, statuses
from tests.support.campaigns import publish
from tests.support.recaps import WORKSHOP
from tests.support.web import link, on

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def ids(db: Database, tmp_path: Path) -> dict[str, int]:
    """Everyone of the example file on 'attendees'; Zoë also on 'speakers'; Raj alone on 'organisers'."""
    people(db)
    speakers = tmp_path / "speakers.csv"
    speakers.write_text(f"email,first_name\n{ZOE},Zoë\n", encoding="utf-8")
    organisers = tmp_path / "organisers.csv"
    organisers.write_text(f"email,first_name\n{RAJ},Raj\n", encoding="utf-8")
    people(db, speakers, "speakers")
    found = people(db, organisers, "organisers")
    return {**found, "attendees": list_id(db, "attendees"), "speakers": list_id(db, "speakers"), "organisers": list_id(db, "organisers")}


def unsubscribe_link(settings: Settings, web_url: str, ids: dict[str, int], email: str = ZOE, list_name: str = "attendees") -> str:
    return link(settings, web_url, UNSUBSCRIBE, LinkTarget(ids[email], ids[list_name], 7))


def unsubscribed_at(db: Database, subscriber_id: int, list_id: int) -> object:
    with db.transaction() as session:
        return session.scalar(
            select(Subscription.unsubscribed_at).where(Subscription.subscriber_id == subscriber_id, Subscription.list_id == list_id)
        )


def assert_plain_error(response: requests.Response, status: int, words: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert words in response.text
    assert "Traceback" not in response.text and "itsdangerous" not in response.text


# Unsubscribe


def test_unsubscribe_page_asks_first_and_get_changes_nothing(settings: Settings, db: Database, ids: dict[str, int], web_url: str) -> None:
    url = unsubscribe_link(settings, web_url, ids)
    for _ in range(2):  # a mail scanner fetching the link, then the person
        response = requests.get(url, timeout=5)
        assert response.status_code == 200
    page = response.text
    assert "Unsubscribe from attendees?" in page
    assert "z***@example.com" in page and ZOE not in page
    assert page.count("<form") == 1 and '<form method="post">' in page and page.count("<button") == 1
    assert "<script" not in page
    assert response.headers["referrer-policy"] == "no-referrer"
    assert statuses(db, ids[ZOE]) == {"attendees": Status.CONFIRMED, "speakers": Status.CONFIRMED}


def test_one_click_post_unsubscribes_from_that_list_only_and_is_idempotent(
    settings: Settings, db: Database, ids: dict[str, int], web_url: str
) -> None:
    url = unsubscribe_link(settings, web_url, ids)
    # RFC 8058: a bare POST with this body, no cookies, no referer, no CSRF token.
    response = requests.post(url, data=ONE_CLICK, timeout=5)
    assert response.status_code == 200
    assert "You have been unsubscribed from attendees" in response.text
    assert statuses(db, ids[ZOE]) == {"attendees": Status.UNSUBSCRIBED, "speakers": Status.CONFIRMED}
    first = unsubscribed_at(db, ids[ZOE], ids["attendees"])
    assert first is not None

    again = requests.post(url, files={"List-Unsubscribe": (None, "One-Click")}, timeout=5)  # multipart/form-data this time
    assert again.status_code == 200
    assert "You have been unsubscribed from attendees" in again.text
    assert unsubscribed_at(db, ids[ZOE], ids["attendees"]) == first
    assert statuses(db, ids[RAJ])["attendees"] == Status.CONFIRMED

    shown = requests.get(url, timeout=5)
    assert "already unsubscribed from attendees" in shown.text and "<form" not in shown.text


def test_the_page_button_posts_to_the_same_link(settings: Settings, db: Database, ids: dict[str, int], web_url: str) -> None:
    url = unsubscribe_link(settings, web_url, ids, RAJ)
    form = requests.get(url, timeout=5).text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]+)">', form))
    assert fields == ONE_CLICK  # the form has no action: it posts back to the link itself
    assert requests.post(url, data=fields, timeout=5).status_code == 200
    assert statuses(db, ids[RAJ]) == {"attendees": Status.UNSUBSCRIBED, "organisers": Status.CONFIRMED}


@pytest.mark.parametrize("path", ["unsubscribe", "preferences", "view"])
def test_forged_altered_and_garbage_tokens_get_a_plain_400_page(
    settings: Settings, db: Database, ids: dict[str, int], web_url: str, path: str
) -> None:
    purpose = {"unsubscribe": UNSUBSCRIBE, "preferences": PREFERENCES, "view": VIEW}[path]
    genuine = signer_for(settings).token(purpose, LinkTarget(ids[ZOE], ids["attendees"], 1))
    forged = URLSafeSerializer("not-our-key", salt=f"newsletter.{purpose}").dumps([ids[ZOE], ids["attendees"], 1])
    altered = genuine[:-1] + ("A" if genuine[-1] != "A" else "B")
    other_subscriber = genuine.replace(genuine.split(".")[0], URLSafeSerializer("x").dumps([ids[RAJ], ids["attendees"], 1]).split(".")[0])
    for token in (forged, altered, other_subscriber, "garbage", "e30.x", "%00%ff"):
        for method in ("GET", "POST") if path != "view" else ("GET",):
            response = requests.request(method, f"{web_url}/{path}/{token}", data={"all": "1"} | ONE_CLICK, timeout=5)
            assert_plain_error(response, 400, "This link is not valid")
    assert statuses(db, ids[ZOE]) == {"attendees": Status.CONFIRMED, "speakers": Status.CONFIRMED}
    assert statuses(db, ids[RAJ]) == {"attendees": Status.CONFIRMED, "organisers": Status.CONFIRMED}


def test_a_token_of_another_purpose_is_refused(settings: Settings, db: Database, ids: dict[str, int], web_url: str) -> None:
    signer = signer_for(settings)
    target = LinkTarget(ids[ZOE], ids["attendees"], 1)
    for purpose, path in [(VIEW, "unsubscribe"), (PREFERENCES, "unsubscribe"), (UNSUBSCRIBE, "view"), (VIEW, "preferences")]:
        method = "GET" if path == "view" else "POST"
        response = requests.request(method, f"{web_url}/{path}/{signer.token(purpose, target)}", data=ONE_CLICK | {"all": "1"}, timeout=5)
        assert_plain_error(response, 400, "This link is not valid")
    assert statuses(db, ids[ZOE]) == {"attendees": Status.CONFIRMED, "speakers": Status.CONFIRMED}


def test_the_unsubscribe_token_also_opens_the_preference_page(settings: Settings, db: Database, ids: dict[str, int], web_url: str) -> None:
    token = signer_for(settings).token(UNSUBSCRIBE, LinkTarget(ids[ZOE], ids["attendees"], 1))
    page = requests.get(f"{web_url}/preferences/{token}", timeout=5)
    assert page.status_code == 200 and "attendees" in page.text and "speakers" in page.text
    left = requests.post(f"{web_url}/preferences/{token}", data={"list_id": str(ids["speakers"])}, timeout=5)
    assert left.status_code == 200
    assert statuses(db, ids[ZOE]) == {"attendees": Status.CONFIRMED, "speakers": Status.UNSUBSCRIBED}


def test_link_of_an_erased_subscriber_or_a_test_send(settings: Settings, db: Database, ids: dict[str, int], web_url: str) -> None:
    url = unsubscribe_link(settings, web_url, ids, RAJ)
    with db.transaction() as session:
        session.execute(delete(Subscriber).where(Subscriber.id == ids[RAJ]))
    for method in ("GET", "POST"):
        response = requests.request(method, url, data=ONE_CLICK, timeout=5)
        assert response.status_code == 200  # gone already: a one-click sender must not see a failure
        assert "Nothing to unsubscribe" in response.text
    # A test send names no list: there is no subscription to leave.
    test_send = link(settings, web_url, UNSUBSCRIBE, LinkTarget(ids[ZOE], None, 3))
    assert_plain_error(requests.post(test_send, data=ONE_CLICK, timeout=5), 404, "belongs to no subscription")
    assert statuses(db, ids[ZOE]) == {"attendees": Status.CONFIRMED, "speakers": Status.CONFIRMED}


# Preferences


def preferences_url(settings: Settings, web_url: str, ids: dict[str, int]) -> str:
    """Reached the way a subscriber reaches it: from the unsubscribe page's link."""
    page = requests.get(unsubscribe_link(settings, web_url, ids), timeout=5).text
    found = re.search(r'<a href="([^"]+/preferences/[^"]+)">', page)
    assert found is not None, page
    return on(web_url, found.group(1))


def test_preferences_show_every_list_and_leave_one(settings: Settings, db: Database, ids: dict[str, int], web_url: str) -> None:
    url = preferences_url(settings, web_url, ids)
    page = requests.get(url, timeout=5).text
    assert "attendees" in page and "speakers" in page and "organisers" not in page
    assert page.count("Subscribed") == 2 and "z***@example.com" in page
    assert page.count('name="list_id"') == 2 and 'name="all"' in page

    response = requests.post(url, data={"list_id": str(ids["speakers"])}, timeout=5)
    assert response.status_code == 200
    assert "You have left speakers." in response.text
    assert statuses(db, ids[ZOE]) == {"attendees": Status.CONFIRMED, "speakers": Status.UNSUBSCRIBED}
    # The list left shows as left, with no way to rejoin from here (that takes double opt-in).
    assert "Leave speakers" not in response.text and "Left on" in response.text
    assert "Leave attendees" in response.text and "Join" not in response.text and "Resubscribe" not in response.text

    again = requests.post(url, data={"list_id": str(ids["speakers"])}, timeout=5)
    assert again.status_code == 200 and "You had already left speakers." in again.text


def test_preferences_leave_every_list(settings: Settings, db: Database, ids: dict[str, int], web_url: str) -> None:
    url = preferences_url(settings, web_url, ids)
    response = requests.post(url, data={"all": "1"}, timeout=5)
    assert response.status_code == 200
    assert "You have left every list." in response.text
    assert 'name="list_id"' not in response.text and 'name="all"' not in response.text
    assert statuses(db, ids[ZOE]) == {"attendees": Status.UNSUBSCRIBED, "speakers": Status.UNSUBSCRIBED}
    assert statuses(db, ids[RAJ]) == {"attendees": Status.CONFIRMED, "organisers": Status.CONFIRMED}


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"list_id": "organisers"}, "list_id"),  # not a number
        ({}, "Choose a list to leave"),
        ({"list_id": "99999999999999999999999"}, "not on that list"),
        ({"events": "<b>yes</b>"}, "events"),  # not a yes/no
        ({"events": "1"}, "not registered for any event"),
    ],
)
def test_preferences_refuse_bad_input_and_change_nothing(
    settings: Settings, db: Database, ids: dict[str, int], web_url: str, form: dict[str, str], words: str
) -> None:
    response = requests.post(preferences_url(settings, web_url, ids), data=form, timeout=5)
    assert_plain_error(response, 400, words)
    assert statuses(db, ids[ZOE]) == {"attendees": Status.CONFIRMED, "speakers": Status.CONFIRMED}


def test_preferences_refuse_a_list_the_subscriber_is_not_on(settings: Settings, db: Database, ids: dict[str, int], web_url: str) -> None:
    response = requests.post(preferences_url(settings, web_url, ids), data={"list_id": str(ids["organisers"])}, timeout=5)
    assert_plain_error(response, 400, "You are not on that list")
    assert statuses(db, ids[RAJ]) == {"attendees": Status.CONFIRMED, "organisers": Status.CONFIRMED}


# View in browser


def view_link(settings: Settings, web_url: str, ids: dict[str, int], email: str, campaign_id: int, list_name: str | None) -> str:
    return link(settings, web_url, VIEW, LinkTarget(ids[email], ids[list_name] if list_name else None, campaign_id))


def test_view_shows_the_issue_with_the_subscribers_own_values(settings: Settings, db: Database, ids: dict[str, int], web_url: str) -> None:
    cid = publish(settings, db, "attendees", WORKSHOP).id
    response = requests.get(view_link(settings, web_url, ids, ZOE, cid, "attendees"), timeout=5)
    assert response.status_code == 200
    html = response.text
    assert "Thank you for joining us, Zoë." in html and "from Domestic &amp; General" in html
    assert "Raj" not in html and RAJ not in html
    # Her own view link; no unsubscribe capability, since view links get shared.
    target = LinkTarget(ids[ZOE], ids["attendees"], cid)
    assert f'href="{signer_for(settings).url(VIEW, target)}"' in html
    unsubscribe_token = signer_for(settings).token(UNSUBSCRIBE, target)
    assert unsubscribe_token not in html and "/unsubscribe/" not in html and "/preferences/" not in html
    assert f'href="{settings.public_url}/archive#unsubscribe"' in html
    csp = response.headers["content-security-policy"]
    assert "script-src 'none'" in csp and "default-src 'none'" in csp
    assert response.headers["referrer-policy"] == "no-referrer"

    raj = requests.get(view_link(settings, web_url, ids, RAJ, cid, "attendees"), timeout=5).text
    assert "Thank you for joining us, Raj." in raj and "Zoë" not in raj


def test_view_of_a_test_send_works_and_missing_or_confirmation_campaigns_are_404(
    settings: Settings, db: Database, ids: dict[str, int], web_url: str
) -> None:
    test_send = publish(settings, db, "attendees", test_to=ZOE).id
    response = requests.get(view_link(settings, web_url, ids, ZOE, test_send, "attendees"), timeout=5)
    assert response.status_code == 200 and "Hi Zoë," in response.text

    assert_plain_error(requests.get(view_link(settings, web_url, ids, ZOE, 999, "attendees"), timeout=5), 404, "no longer available")
    confirmation = publish(settings, db, "attendees").id
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == confirmation).values(kind=CampaignKind.CONFIRMATION))
    response = requests.get(view_link(settings, web_url, ids, ZOE, confirmation, "attendees"), timeout=5)
    assert_plain_error(response, 404, "no longer available")


# Preferences: event emails


def event_members(db: Database) -> set[str]:
    """Who the attended audience of the test event would be sent to now."""
    from publisher.audience.lists import find_list
    from publisher.ledger.campaigns import audience_batches

    with db.transaction() as session:
        audience = find_list(session, "event:modu-meetup:attended")
        return {email for batch in audience_batches(session, audience, 100) for _, email in batch}


@pytest.fixture
def registered(settings: Settings, db: Database, ids: dict[str, int]) -> str:
    """Zoë registered for an event and came: she is in its attended audience."""
    from publisher.db.models import Attendance
    from tests.support.events import make_event, register

    make_event(db)
    register(settings, db, "modu-meetup", (ZOE, Attendance.YES))
    assert ZOE in event_members(db)
    return "modu-meetup"


def test_leaving_every_list_also_stops_event_emails(
    settings: Settings, db: Database, ids: dict[str, int], web_url: str, registered: str
) -> None:
    url = preferences_url(settings, web_url, ids)
    response = requests.post(url, data={"all": "1"}, timeout=5)
    assert response.status_code == 200
    assert ZOE not in event_members(db)
    assert "You have left every list, and event emails have stopped." in response.text
    assert "Event emails</strong> · Stopped" in response.text and 'name="events"' not in response.text
    assert 'name="all"' not in response.text
    again = requests.post(url, data={"all": "1"}, timeout=5)
    assert "You had already left every list." in again.text


def test_event_emails_stop_on_their_own_and_the_lists_stay(
    settings: Settings, db: Database, ids: dict[str, int], web_url: str, registered: str
) -> None:
    url = preferences_url(settings, web_url, ids)
    page = requests.get(url, timeout=5).text
    assert "Event emails</strong> · Sent for the events you registered for" in page and 'name="events"' in page
    response = requests.post(url, data={"events": "1"}, timeout=5)
    assert response.status_code == 200 and "Event emails have stopped." in response.text
    assert ZOE not in event_members(db)
    assert statuses(db, ids[ZOE]) == {"attendees": Status.CONFIRMED, "speakers": Status.CONFIRMED}
    again = requests.post(url, data={"events": "1"}, timeout=5)
    assert again.status_code == 200 and "Event emails had already stopped." in again.text


def test_someone_registered_for_no_event_sees_no_event_emails_line(
    settings: Settings, db: Database, ids: dict[str, int], web_url: str
) -> None:
    url = preferences_url(settings, web_url, ids)
    assert "Event emails" not in requests.get(url, timeout=5).text
    refused = requests.post(url, data={"events": "1"}, timeout=5)
    assert_plain_error(refused, 400, "not registered for any event")

"""The welcome issue on the console's lists page: chosen by an admin among the issues set_welcome accepts, or none."""

from __future__ import annotations

import html
import re

import requests
from sqlalchemy import select, update

from publisher.accounts.audit import entries
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignKind, CampaignStatus, MailingList, Role
from tests.support.audience import people
from tests.support.campaigns import publish
from tests.support.console import TIMEOUT
from tests.support.console_pages import Console, console_as
from tests.support.drafts import save_draft

PATH = "/console/lists/welcome"
SCRIPT = '<script>alert("x")</script>'


def welcome_of(db: Database, name: str = "attendees") -> int | None:
    with db.reading() as session:
        return session.scalar(select(MailingList.welcome_campaign_id).where(MailingList.name == name))


def offered(page: str) -> str:
    """The attendees row's welcome field (the first list, by name)."""
    start = page.index('<select id="welcome-1"')
    return page[start : page.index("</select>", start)]


def choose(admin: Console, value: str, list_name: str = "attendees") -> requests.Response:
    return admin.post(PATH, {"list": list_name, "welcome": value})


def test_an_admin_chooses_an_issue_of_the_list_as_its_welcome_issue_and_clears_it(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    people(db, list_name="others")
    issue = publish(settings, db).id
    draft = save_draft(settings, db)
    test_send = publish(settings, db, test_to="check@example.com").id
    elsewhere = publish(settings, db, "others").id
    confirmation = publish(settings, db).id
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == issue).values(title=SCRIPT))
        session.execute(update(Campaign).where(Campaign.id == confirmation).values(kind=CampaignKind.CONFIRMATION))
    admin = console_as(db, web_url, Role.ADMIN)
    field = offered(admin.get("/console/lists").text)
    assert '<option value="none">None</option>' in field and " selected" not in field
    assert f'<option value="{draft}">#{draft} ' in field and f'<option value="{issue}">#{issue} ' in field
    assert f'value="{test_send}"' not in field and f'value="{elsewhere}"' not in field and f'value="{confirmation}"' not in field
    assert SCRIPT not in field and f"#{issue} &lt;script&gt;alert(" in field  # a title is text

    assert choose(admin, str(issue)).status_code == 303
    assert welcome_of(db) == issue and welcome_of(db, "others") is None
    assert f'<option value="{issue}" selected>#{issue} ' in offered(admin.get("/console/lists").text)
    assert choose(admin, "none").status_code == 303
    assert welcome_of(db) is None
    assert [(entry.action, entry.target, entry.detail, entry.actor) for entry in entries(db) if entry.action == "list-changed"] == [
        ("list-changed", "list:attendees", "no welcome issue", "user:admin@modu.example"),
        ("list-changed", "list:attendees", f"welcome issue {issue}", "user:admin@modu.example"),
    ]


def test_the_console_refuses_what_set_welcome_refuses_on_the_page_and_changes_nothing(
    settings: Settings, db: Database, web_url: str
) -> None:
    people(db)
    people(db, list_name="others")
    issue = publish(settings, db).id
    test_send = publish(settings, db, test_to="check@example.com").id
    elsewhere = publish(settings, db, "others").id
    cancelled = publish(settings, db).id
    confirmation = publish(settings, db).id
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == cancelled).values(status=CampaignStatus.CANCELLED))
        session.execute(update(Campaign).where(Campaign.id == confirmation).values(kind=CampaignKind.CONFIRMATION))
    admin = console_as(db, web_url, Role.ADMIN)
    assert choose(admin, str(issue)).status_code == 303
    refusals = {
        str(test_send): f"campaign {test_send} is a test send, not an issue",
        str(elsewhere): f"campaign {elsewhere} is not an issue of 'attendees'",
        str(cancelled): f"campaign {cancelled} was cancelled",
        str(confirmation): f"campaign {confirmation} is a confirmation email, not an issue",
        "4242": "no campaign with id 4242",
        "0": "no campaign with id 0",
        "2147483648": "no campaign with id 2147483648",
    }
    problems = []
    for value, reason in refusals.items():
        answer = choose(admin, value)
        page = html.unescape(answer.text)
        shown = (
            f"The welcome issue of attendees was not changed: {reason}" in page
            and f'<p id="welcome-1-error" class="field-error">{reason}' in page
        )
        if answer.status_code != 400 or not shown or 'aria-describedby="welcome-1-error"' not in page:
            problems.append(f"{value}: {answer.status_code}")
    assert problems == []
    assert welcome_of(db) == issue
    assert len(entries(db)) == 1  # the first choice only
    unknown = choose(admin, str(issue), "nobody")
    assert unknown.status_code == 404 and "no list named" in html.unescape(unknown.text)
    assert welcome_of(db) == issue


def test_a_welcome_issue_that_can_no_longer_be_sent_is_shown_with_the_reason(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    issue = publish(settings, db).id
    admin = console_as(db, web_url, Role.ADMIN)
    assert choose(admin, str(issue)).status_code == 303
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == issue).values(status=CampaignStatus.CANCELLED))
    page = admin.get("/console/lists").text
    assert f'<option value="{issue}" selected>#{issue} (cannot be sent)</option>' in offered(page)
    assert f'<p id="welcome-1-error" class="field-error">#{issue} cannot be sent: campaign {issue} was cancelled</p>' in page
    assert 'aria-describedby="welcome-1-error"' in offered(page)
    viewer = console_as(db, web_url, Role.VIEWER).get("/console/lists").text
    assert f"#{issue} cannot be sent: campaign {issue} was cancelled" in viewer


def test_only_an_admin_may_choose_the_welcome_issue(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    issue = publish(settings, db).id
    admin = console_as(db, web_url, Role.ADMIN)
    for role in (Role.VIEWER, Role.EDITOR, Role.SENDER):
        user = console_as(db, web_url, role)
        page = user.get("/console/lists").text
        assert re.search(r"<td>\s*None\s*</td>", page) and PATH not in page  # shown, not offered
        assert choose(user, str(issue)).status_code == 403
    assert admin.post(PATH, {"list": "attendees", "welcome": str(issue)}, csrf=False).status_code == 403
    other = console_as(db, web_url, Role.ADMIN, "root@modu.example")
    forged = admin.client.post(web_url + PATH, data={"list": "attendees", "welcome": str(issue), "csrf_token": other.csrf}, timeout=TIMEOUT)
    assert forged.status_code == 403
    assert welcome_of(db) is None and entries(db) == []
    assert choose(admin, str(issue)).status_code == 303
    viewer = console_as(db, web_url, Role.VIEWER, "viewer2@modu.example").get("/console/lists").text
    assert f'<a href="/console/campaigns/{issue}">#{issue} ' in viewer


def test_the_welcome_field_refuses_hostile_oversized_and_malformed_forms(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    issue = publish(settings, db).id
    admin = console_as(db, web_url, Role.ADMIN)
    bad_value = "choose a campaign of the list, or none"
    refused = [
        ({"list": "attendees", "welcome": f"{issue}\r\n"}, 400, bad_value),
        ({"list": "attendees", "welcome": SCRIPT[:20]}, 400, bad_value),
        ({"list": "attendees", "welcome": SCRIPT}, 400, "at most 20 characters"),
        ({"list": "attendees", "welcome": f"\x1b[2J{issue}"}, 400, bad_value),
        ({"list": "attendees", "welcome": "1" * 11}, 400, bad_value),
        ({"list": "attendees", "welcome": "1" * 5000}, 400, "at most 20 characters"),
        ({"list": "attendees", "welcome": "0x1"}, 400, bad_value),
        ({"list": "attendees", "welcome": "1_0"}, 400, bad_value),
        ({"list": "attendees", "welcome": "-3"}, 400, bad_value),
        ({"list": "attendees", "welcome": "1.5"}, 400, bad_value),
        ({"list": "attendees", "welcome": "２"}, 400, bad_value),
        ({"list": "attendees", "welcome": "NONE"}, 400, bad_value),
        ({"list": "attendees", "welcome": ""}, 400, "welcome: Field required"),  # an empty field is a missing one
        ({"list": "attendees"}, 400, "welcome: Field required"),
        ({"welcome": str(issue)}, 400, "list: Field required"),
        ({"list": "a" * 1001, "welcome": str(issue)}, 400, "at most 1000 characters"),
        ({"list": SCRIPT, "welcome": str(issue)}, 404, "no list named"),
        ({"list": SCRIPT, "welcome": SCRIPT[:20]}, 400, bad_value),
        ({"list": "attendees\x00", "welcome": str(issue)}, 400, "control character"),
        ({"list": "event:launch:attended", "welcome": str(issue)}, 400, "reserved"),
        ({"list": "Attendees ", "welcome": str(issue)}, 404, "no list named"),
    ]
    problems = []
    for form, status, reason in refused:
        answer = admin.post(PATH, form)
        hostile = SCRIPT in answer.text or SCRIPT[:20] in answer.text or "\x1b" in answer.text or "1" * 11 in answer.text
        if answer.status_code != status or reason not in html.unescape(answer.text) or hostile:
            problems.append(f"{form!r:.80}: {answer.status_code}")
    assert problems == []
    headers = {"X-CSRF-Token": admin.csrf, "Content-Type": "application/json"}
    as_json = admin.client.post(web_url + PATH, data=f'{{"list": "attendees", "welcome": "{issue}"}}', headers=headers, timeout=TIMEOUT)
    assert as_json.status_code == 400
    assert admin.client.get(f"{web_url}{PATH}?list=attendees&welcome={issue}", timeout=TIMEOUT).status_code == 405
    oversized = admin.client.post(web_url + PATH, data={"list": "attendees", "welcome": str(issue), "x": "y" * 2_000_000}, timeout=TIMEOUT)
    assert oversized.status_code == 413
    assert welcome_of(db) is None
    assert entries(db) == []

"""The welcome issue on the console's lists page: chosen by an admin among the issues set_welcome accepts, or none."""

from __future__ import annotations

import html
import re
from typing import Any

import requests
from sqlalchemy import event, select, update

from publisher.accounts.audit import entries
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignKind, CampaignStatus, MailingList, Role
from publisher.ledger.welcome import WelcomeChoiceError, set_welcome, welcome_options
from tests.support.audience import list_id, people
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


def _campaign(list_id: int, kind: CampaignKind, status: CampaignStatus, is_test: bool, rendered: bool) -> Campaign:
    return Campaign(
        list_id=list_id,
        status=status,
        kind=kind,
        provider="log",
        is_test=is_test,
        title=f"{kind.value} {status.value}{' test' if is_test else ''}{'' if rendered else ' unrendered'}",
        subject="s",
        source="test",
        content_digest="d",
        html_template="<p>issue</p>" if rendered else "",
        text_template="issue" if rendered else "",
        placeholder_nonce="n" * 40 if rendered else "",
    )


def test_the_field_offers_exactly_the_campaigns_set_welcome_accepts(db: Database, web_url: str) -> None:
    """Every kind, status, test flag, list and render: offered on the page if and only if set_welcome takes it."""
    people(db)
    people(db, list_name="others")
    own, other = (list_id(db, name) for name in ("attendees", "others"))
    with db.transaction() as session:
        made = [
            _campaign(on, kind, status, is_test, rendered)
            for on in (own, other)
            for kind in CampaignKind
            for status in CampaignStatus
            for is_test in (False, True)
            for rendered in (True, False)
        ]
        session.add_all(made)
        session.flush()
        ids = [campaign.id for campaign in made]
    admin = console_as(db, web_url, Role.ADMIN)
    field = offered(admin.get("/console/lists").text)
    shown = {int(value) for value in re.findall(r'<option value="(\d+)"', field)}
    accepted = set()
    for campaign_id in ids:
        try:
            set_welcome(db, "attendees", campaign_id)
        except WelcomeChoiceError:
            continue
        accepted.add(campaign_id)
    assert accepted  # the rule takes some: issues of the list, rendered, not cancelled
    assert shown == accepted


def test_the_lists_page_reads_no_stored_html_and_no_query_per_list(settings: Settings, db: Database) -> None:
    """The welcome field's campaigns come from one query, whatever the number of lists, without any render."""
    for name in ("attendees", "others", "third"):
        people(db, list_name=name)
        publish(settings, db, name)
    for name in ("attendees", "others"):  # welcome issues that can no longer be sent
        chosen = publish(settings, db, name).id
        set_welcome(db, name, chosen)
        with db.transaction() as session:
            session.execute(update(Campaign).where(Campaign.id == chosen).values(status=CampaignStatus.CANCELLED))
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        options = welcome_options(db)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert options["attendees"].problem is not None and options["others"].problem is not None
    assert all(options[name].choices for name in ("attendees", "others", "third"))
    reads = [statement for statement in statements if statement.lstrip().upper().startswith("SELECT")]
    assert [statement for statement in reads if "html_template" in statement or "text_template" in statement] == []
    assert len(reads) == 2  # the lists, then their campaigns


def test_a_refused_value_for_a_hostile_list_name_repeats_neither(settings: Settings, db: Database, web_url: str) -> None:
    """The list name is checked before the value: a name no list can have is refused as such, never shown."""
    people(db)
    admin = console_as(db, web_url, Role.ADMIN)
    for name, reason in (("attendees\x1b[2J", "control character"), ("attendees\r\nX-Injected: 1", "line break")):
        answer = choose(admin, "x", name)
        assert answer.status_code == 400 and reason in html.unescape(answer.text)
        assert "\x1b" not in answer.text and "X-Injected" not in answer.text
    long_name = "n" * 999
    answer = choose(admin, "x", long_name)
    assert answer.status_code == 400 and "n" * 200 not in answer.text
    # A refusal for a name given with surrounding spaces is shown by that list's field.
    answer = choose(admin, "x", " attendees ")
    assert answer.status_code == 400 and 'aria-describedby="welcome-1-error"' in answer.text
    assert welcome_of(db) is None and entries(db) == []


def test_ids_past_the_databases_integers_are_refused_without_an_error(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    admin = console_as(db, web_url, Role.ADMIN)
    for value in (str(2**31), "9999999999"):
        answer = choose(admin, value)
        assert answer.status_code == 400 and f"no campaign with id {value}" in answer.text
    past = ((str(2**63), "choose a campaign of the list, or none"), (str(2**64), "choose a campaign"), ("9" * 30, "at most 20"))
    for value, reason in past:
        answer = choose(admin, value)
        assert answer.status_code == 400 and reason in answer.text and value not in answer.text
    assert welcome_of(db) is None and entries(db) == []


def test_the_welcome_field_finds_the_lists_issues_by_index_without_reading_every_campaign(settings: Settings, db: Database) -> None:
    """Confirmations and welcome copies (one per sign-up) are most of the campaigns: the lists page must not read them all."""
    people(db)
    people(db, list_name="others")
    set_welcome(db, "attendees", publish(settings, db).id)  # a current welcome issue is read by its id
    publish(settings, db, "others")
    captured: list[tuple[str, Any]] = []

    def seen(_conn: object, _cursor: object, statement: str, parameters: Any, *_args: object) -> None:
        if "FROM campaigns" in statement:
            captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        welcome_options(db)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    [(statement, parameters)] = captured
    with db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            plan = [str(row[-1]) for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            scans = [step for step in plan if step.startswith("SCAN campaigns")]
        else:
            # A table this small is read whole when it may be: ask for the plan that avoids that, if there is one.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = [str(row[0]) for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters)]
            # Read whole, or read whole through the primary key and filtered by kind afterwards.
            scans = [step for step in plan if "Seq Scan on campaigns" in step or ("Filter:" in step and "kind" in step)]
    assert plan and scans == [], plan

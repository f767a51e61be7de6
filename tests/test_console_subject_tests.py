"""The console's subject tests over real HTTP: the send form's section, its confirmation, the campaign's panel, Pick this winner."""

from __future__ import annotations

import collections
import datetime as dt
import html
from collections.abc import Iterator, Mapping

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe
from markupsafe import escape
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import update

from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignRelease, CampaignStatus, Role
from publisher.ledger.subject_tests import configure, subject_test
from tests.support.audience import people
from tests.support.chromium import SCREENSHOTS, console_browser
from tests.support.console import TIMEOUT, add_person, csrf_token, sign_in
from tests.support.console_drafts import draft_in_browser, save_draft
from tests.support.subject_tests import FIRST, OTHERS, decide_when_due, records, share_batches
from tests.support.sweeps import send_batch
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ADA = "ada@modu.example"  # sender
EVE = "eve@modu.example"  # editor
VIC = "vic@modu.example"  # viewer
HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


@pytest.fixture
def team(db: Database) -> int:
    audience = len(people(db))
    add_person(db, ADA, Role.SENDER)
    add_person(db, EVE, Role.EDITOR)
    add_person(db, VIC, Role.VIEWER)
    return audience


def post(client: requests.Session, url: str, data: Mapping[str, object], page: str) -> requests.Response:
    token = csrf_token(client, page)
    return client.post(url, data={**data, "csrf_token": token}, allow_redirects=False, timeout=TIMEOUT)


def status_of(db: Database, campaign_id: int) -> CampaignStatus:
    with db.reading() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.status


def send_tested(ada: requests.Session, web_url: str, audience: int, second: str = OTHERS[0]) -> int:
    """A draft sent through the form with a subject test of ``second`` against its own subject, 40 % in the test."""
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    fields = {"when": "now", "variant_2": second, "test_share": "40", "test_wait": "30m", "test_metric": "opens"}
    confirm = post(ada, f"{page}/send", fields, page)
    assert confirm.status_code == 200, confirm.text[:2000]
    carried = {name: value for name, value in fields.items() if name != "when"}
    sent = post(ada, f"{page}/send/confirm", {**carried, "recipients": str(audience)}, page)
    assert sent.status_code == 303, sent.text[:2000]
    return cid


def test_the_send_form_has_a_subject_test_section_for_senders_only(team: int, web_url: str) -> None:
    cid = save_draft(sign_in(web_url, EVE), web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    shown = sign_in(web_url, ADA).get(page, timeout=TIMEOUT).text
    assert "<summary>Subject test (optional)</summary>" in shown
    for name in ("variant_2", "variant_3", "variant_4", "test_share", "test_wait", "test_metric"):
        assert f'name="{name}"' in shown
    assert f'<strong class="own-subject">{html.escape(FIRST, quote=False)}</strong>' in shown
    assert 'value="now" formnovalidate>Send now</button>' in shown
    for role in (EVE, VIC):
        assert "Subject test" not in sign_in(web_url, role).get(page, timeout=TIMEOUT).text
    token = csrf_token(sign_in(web_url, EVE), page)
    refused = sign_in(web_url, EVE).post(f"{page}/send", data={"csrf_token": token, "variant_2": "B"}, timeout=TIMEOUT)
    assert refused.status_code == 403


def test_a_draft_that_carries_a_test_says_so_and_fills_the_form(team: int, web_url: str, db: Database) -> None:
    cid = save_draft(sign_in(web_url, EVE), web_url)
    with db.transaction() as session:
        campaign = session.get(Campaign, cid)
        assert campaign is not None
        configure(campaign, subject_test(FIRST, OTHERS, share=30, wait=dt.timedelta(minutes=45), metric="clicks"))
    page = f"{web_url}/console/campaigns/{cid}"
    editor = sign_in(web_url, EVE).get(page, timeout=TIMEOUT).text
    assert '<dd class="carried-test">3 subjects on 30% of the list, winner on unique human clicks after 45m</dd>' in editor
    sender = sign_in(web_url, ADA).get(page, timeout=TIMEOUT).text
    assert '<details class="subject-test-fields" open>' in sender
    assert f'name="variant_3" type="text" maxlength="500" value="{OTHERS[1]}"' in sender
    assert 'name="test_wait" type="text" value="45m"' in sender and '<option value="clicks" selected>' in sender


def test_a_send_form_without_its_csrf_token_is_refused(team: int, web_url: str, db: Database) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    fields = {"when": "now", "variant_2": "B"}
    answer = ada.post(f"{web_url}/console/campaigns/{cid}/send", data=fields, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 403
    assert status_of(db, cid) is CampaignStatus.DRAFT


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"variant_2": "two\nlines"}, "variant_2", "one line of text"),
        ({"variant_2": "x" * 501}, "variant_2", "at most 500"),
        ({"variant_2": "B", "variant_3": " b "}, "variant_3", "same as variant 2"),
        ({"variant_3": f"  {FIRST.upper()}"}, "variant_3", "same as variant 1"),
        ({"variant_2": "B", "test_share": "80"}, "test_share", "1 to 50 percent"),
        ({"variant_2": "B", "test_share": "a lot"}, "test_share", "whole number"),
        ({"variant_2": "B", "test_wait": "2d"}, "test_wait", "not a duration"),
        ({"variant_2": "B", "test_wait": "20000m"}, "test_wait", "1 minute to 7 days"),
        ({"variant_2": "B", "test_metric": "replies"}, "test_metric", "unique human opens or unique human clicks"),
        ({"variant_2": "B", "test_share": "1"}, "test_share", "fewer than one recipient"),
    ],
)
def test_a_bad_subject_test_is_shown_next_to_its_field_and_nothing_is_sent(
    team: int, web_url: str, db: Database, fields: dict[str, str], field: str, message: str
) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    answer = post(ada, f"{page}/send", {"when": "now", **fields}, page)
    assert answer.status_code == 422
    assert f'<p class="field-error" id="{field}-error">' in answer.text
    error = answer.text.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message in html.unescape(error)
    assert 'aria-describedby="' in answer.text and 'aria-invalid="true"' in answer.text
    assert '<details class="subject-test-fields" open>' in answer.text  # what was typed is shown again, open
    assert status_of(db, cid) is CampaignStatus.DRAFT and records(db, cid) == []


@pytest.mark.parametrize(
    "tampered",
    [
        {"variant_2": "a\r\nBcc: x@example.com"},
        {"variant_2": "B", "local_time": "yes", "send_at": "2031-07-01T09:00:00"},
        {"variant_2": "B", "test_share": "99"},
        {"variant_2": "B", "test_wait": "0s"},
        {"variant_2": "x" * 5000},
    ],
)
def test_a_tampered_confirmation_is_refused_and_sends_nothing(team: int, web_url: str, db: Database, tampered: dict[str, str]) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    answer = post(ada, f"{page}/send/confirm", {**tampered, "recipients": str(team)}, page)
    assert 400 <= answer.status_code < 500 and "Bcc: x@example.com</" not in answer.text
    assert "Confirm send" not in answer.text  # no confirmation that would send it without its test
    assert status_of(db, cid) is CampaignStatus.DRAFT and records(db, cid) == []


def test_a_wait_longer_than_opens_are_kept_is_shown_next_to_the_wait_and_nothing_is_sent(
    team: int, settings: Settings, serve_web: ServeWeb, db: Database
) -> None:
    base = serve_web(settings.model_copy(update={"tracking_days": 1}))
    ada = sign_in(base, ADA)
    cid = save_draft(ada, base)
    page = f"{base}/console/campaigns/{cid}"
    fields = {"variant_2": "B", "test_share": "40", "test_wait": "25h"}
    answer = post(ada, f"{page}/send", {"when": "now", **fields}, page)
    assert answer.status_code == 422
    error = answer.text.split('id="test_wait-error">', 1)[1].split("</p>", 1)[0]
    assert "longer than NEWSLETTER_TRACKING_DAYS (1 day)" in html.unescape(error)
    confirmed = post(ada, f"{page}/send/confirm", {**fields, "recipients": str(team)}, page)
    assert 400 <= confirmed.status_code < 500
    assert status_of(db, cid) is CampaignStatus.DRAFT and records(db, cid) == []


def test_a_subject_test_cannot_go_at_local_time(team: int, web_url: str, db: Database) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    when = {"when": "schedule", "send_date": "2031-07-01", "send_time": "09:00", "local_time": "yes", "variant_2": "B"}
    answer = post(ada, f"{page}/send", when, page)
    assert answer.status_code == 422 and "not at each subscriber&#39;s local time" in answer.text
    assert status_of(db, cid) is CampaignStatus.DRAFT


def test_a_subject_test_goes_through_its_confirmation_into_the_ledger_and_shows_on_the_page(team: int, web_url: str, db: Database) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    confirm = post(ada, f"{page}/send", {"when": "now", "variant_2": OTHERS[0], "test_share": "40", "test_wait": "30m"}, page)
    size = (team * 40 + 50) // 100
    assert '<h2 id="plan-heading">Subject test</h2>' in confirm.text
    assert f"40% of the list, {size} recipients, get one of 2 subjects first" in confirm.text
    assert f"The other {team - size} get the winner 30m after it starts" in confirm.text
    assert f'<input type="hidden" name="variant_2" value="{OTHERS[0]}">' in confirm.text
    carried = {"variant_2": OTHERS[0], "test_share": "40", "test_wait": "30m"}
    sent = post(ada, f"{page}/send/confirm", {**carried, "recipients": str(team)}, page)
    assert sent.status_code == 303 and sent.headers["location"].endswith("?notice=sent")
    rows = records(db, cid)
    assert collections.Counter(row[2] for row in rows if row[3] is None) == {1: (size + 1) // 2, 2: size // 2}
    assert {row[2] for row in rows if row[3] is not None} == {None}

    shown = ada.get(page, timeout=TIMEOUT).text
    panel = shown.split('<section id="subject-test"', 1)[1].split("</section>", 1)[0]
    assert 'sse-swap="subject_test"' in panel
    assert f"40% of the list, {size} recipients, split among 2 subjects; the other {team - size} get the winner" in panel
    assert "The wait ends at <strong>" in panel and "unless you pick the winner first" in panel
    assert panel.count(">Pick this winner</button>") == 2 and panel.count('name="csrf_token"') == 2
    assert '<th scope="col">Human opens</th>' in panel
    viewer = sign_in(web_url, VIC).get(page, timeout=TIMEOUT).text
    assert "Subject test" in viewer and "Pick this winner" not in viewer


def test_a_test_whose_wait_is_over_before_its_share_was_sent_says_what_the_decision_waits_for(
    team: int, web_url: str, db: Database
) -> None:
    ada = sign_in(web_url, ADA)
    cid = send_tested(ada, web_url, team)
    # No worker sent the test share, and its wait is over (moved in the ledger, not waited for).
    ended = (utcnow() - dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    with db.transaction() as session:
        session.execute(update(CampaignRelease).where(CampaignRelease.campaign_id == cid).values(release_at=ended))

    def panel() -> str:
        shown = ada.get(f"{web_url}/console/campaigns/{cid}", timeout=TIMEOUT).text
        return shown.split('<section id="subject-test"', 1)[1].split("</section>", 1)[0]

    waiting = panel()
    assert f"The wait ended at <strong>{ended:%Y-%m-%d %H:%M} UTC</strong>" in waiting and "The wait ends at" not in waiting
    # The progress's next release, the decision's time now past, says it is late as `status` does.
    shown = ada.get(f"{web_url}/console/campaigns/{cid}", timeout=TIMEOUT).text
    assert f"Next release: <strong>{ended:%Y-%m-%d %H:%M} UTC</strong> (overdue)," in shown
    assert "none of the test share has been sent yet: the workers' next sweep gives the test a full 30m wait again" in waiting
    # A worker sent part of the share, then died: the decision waits for the rest, one more wait at most.
    first, *rest = share_batches(db, cid)
    send_batch(db, first)
    latest = ended + dt.timedelta(minutes=30)
    assert f"the workers decide once the test share is sent, by <strong>{latest:%Y-%m-%d %H:%M} UTC</strong> at the latest" in panel()
    # No sweep ran for a wait past that (the workers were down): the next one decides without the rest.
    with db.transaction() as session:
        session.execute(update(CampaignRelease).where(CampaignRelease.campaign_id == cid).values(release_at=ended - dt.timedelta(hours=1)))
    assert "records are still to send, but no time is left to wait for them: the workers' next sweep decides without them" in panel()
    # The rest is sent too: nothing is left to wait for but the workers' next sweep.
    assert rest
    for batch_id in rest:
        send_batch(db, batch_id)
    done = panel()
    assert "the test share is all sent: the workers' next sweep decides" in done and "once the test share is sent" not in done


def test_pick_this_winner_asks_to_confirm_then_decides_once(team: int, web_url: str, db: Database) -> None:
    ada = sign_in(web_url, ADA)
    cid = send_tested(ada, web_url, team)
    page = f"{web_url}/console/campaigns/{cid}"
    eve = sign_in(web_url, EVE)
    assert post(eve, f"{page}/pick-winner", {"variant": "2"}, page).status_code == 403
    for bad in ("3", "0", "x", "-1", "999999999"):
        assert post(ada, f"{page}/pick-winner", {"variant": bad}, page).status_code == 422
    asked = post(ada, f"{page}/pick-winner", {"variant": "2"}, page)
    assert asked.status_code == 200 and "<h1>Pick variant 2 as the winner?</h1>" in asked.text
    assert f'<strong class="variant-subject">{OTHERS[0]}</strong>' in asked.text
    assert {row[2] for row in records(db, cid) if row[3] is not None} == {None}  # asking changed nothing
    picked = post(ada, f"{page}/pick-winner/confirm", {"variant": "2"}, page)
    assert picked.status_code == 303 and picked.headers["location"].endswith("?notice=picked")
    assert {row[2] for row in records(db, cid) if row[3] is not None} == {2}
    shown = ada.get(page, timeout=TIMEOUT).text
    assert f"variant 2, picked by hand by user:{ADA}" in shown and "Pick this winner" not in shown
    assert '<tr class="winner">' in shown
    again = post(ada, f"{page}/pick-winner/confirm", {"variant": "1"}, page)
    assert again.status_code == 409 and "decided already" in again.text
    plain = save_draft(ada, web_url)
    assert post(ada, f"{web_url}/console/campaigns/{plain}/pick-winner", {"variant": "1"}, page).status_code == 409
    assert post(ada, f"{web_url}/console/campaigns/999999/pick-winner", {"variant": "1"}, page).status_code == 404


def test_the_progress_stream_sends_the_panel_when_it_changes_only(team: int, web_url: str, db: Database) -> None:
    ada = sign_in(web_url, ADA)
    cid = send_tested(ada, web_url, team)
    vic = sign_in(web_url, VIC)
    with vic.get(f"{web_url}/console/campaigns/{cid}/events", stream=True, timeout=TIMEOUT) as stream:
        lines = stream.iter_lines(decode_unicode=True)

        def next_event() -> tuple[str, str]:
            name, data = "", []
            for line in lines:
                if not line:
                    return name, "".join(data)
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data.append(line.removeprefix("data: "))
            raise AssertionError("the stream ended")

        seen: list[tuple[str, str]] = []
        while [name for name, _ in seen].count("progress") < 2:
            seen.append(next_event())
        panels = [data for name, data in seen if name == "subject_test"]
        assert len(panels) == 1  # two rounds, one panel: unchanged, it is not sent again
        assert "The wait ends at" in panels[0] and "Pick this winner" not in panels[0]
        decide_when_due(db, cid)
        name, data = next_event()
        while name != "subject_test":
            name, data = next_event()
    assert "no significant difference: variant 1 sent" in data


def test_no_significant_difference_says_variant_1_was_sent(team: int, web_url: str, db: Database) -> None:
    ada = sign_in(web_url, ADA)
    cid = send_tested(ada, web_url, team)
    decided = decide_when_due(db, cid)
    assert decided is not None and decided.winner == 1
    shown = ada.get(f"{web_url}/console/campaigns/{cid}", timeout=TIMEOUT).text
    assert "<strong>Decision:</strong>" in shown and "no significant difference: variant 1 sent" in shown
    assert "No test statistic" in shown or "p-value = " in shown


def test_a_hostile_subject_variant_is_shown_escaped_everywhere(team: int, web_url: str, db: Database) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    confirm = post(ada, f"{page}/send", {"when": "now", "variant_2": HOSTILE, "test_share": "40"}, page)
    assert confirm.status_code == 200
    escaped = str(escape(HOSTILE))
    assert "<script>alert" not in confirm.text and escaped in confirm.text
    sent = post(ada, f"{page}/send/confirm", {"variant_2": HOSTILE, "test_share": "40", "recipients": str(team)}, page)
    assert sent.status_code == 303
    shown = ada.get(page, timeout=TIMEOUT).text
    assert "<script>alert" not in shown and "<b>bold</b>" not in shown and escaped in shown
    asked = post(ada, f"{page}/pick-winner", {"variant": "2"}, page)
    assert "<script>alert" not in asked.text and escaped in asked.text


def serious_violations(page: Page) -> list[str]:
    """What axe-core finds serious or critical on the page."""
    found = Axe().run(page).response["violations"]
    return [f"{v['id']}: {v['help']}" for v in found if v["impact"] in ("serious", "critical")]


@pytest.fixture
def browser() -> Iterator[BrowserContext]:
    with console_browser() as context:
        yield context


def test_a_subject_test_is_set_up_and_its_winner_picked_in_a_real_browser(team: int, web_url: str, browser: BrowserContext) -> None:
    cid, page = draft_in_browser(browser, web_url, ADA)
    page.get_by_text("Subject test (optional)").click()
    page.get_by_label("Variant 2").fill(FIRST.upper())
    page.get_by_label("Test share (%)").fill("80")
    page.get_by_role("button", name="Send now").click()
    expect(page.locator("#variant_2-error")).to_contain_text("same as variant 1")
    expect(page.locator("#test_share-error")).to_contain_text("1 to 50 percent")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("section[aria-labelledby='send-heading']").screenshot(path=str(SCREENSHOTS / "console-subject-test-errors.png"))
    page.get_by_label("Variant 2").fill(OTHERS[0])
    page.get_by_label("Variant 3").fill(OTHERS[1])
    page.get_by_label("Test share (%)").fill("40")
    page.get_by_label("Wait").fill("30m")
    page.get_by_label("Winner on").select_option("clicks")
    page.locator("section[aria-labelledby='send-heading']").screenshot(path=str(SCREENSHOTS / "console-subject-test-form.png"))
    assert serious_violations(page) == []
    page.get_by_role("button", name="Send now").click()
    expect(page.locator("#plan-heading")).to_have_text("Subject test")
    page.get_by_label("Number of recipients").fill(str(team))
    page.screenshot(path=str(SCREENSHOTS / "console-subject-test-confirm.png"), full_page=True)
    page.get_by_role("button", name="Confirm send").click()
    page.wait_for_url(f"{web_url}/console/campaigns/{cid}?notice=sent")
    panel = page.locator("#subject-test")
    expect(panel.locator("tbody tr")).to_have_count(3)
    expect(panel).to_contain_text("The wait ends at")
    panel.screenshot(path=str(SCREENSHOTS / "console-subject-test.png"))
    assert serious_violations(page) == []
    panel.get_by_role("button", name="Pick variant 2 as the winner").click()
    expect(page.get_by_role("heading", name="Pick variant 2 as the winner?")).to_be_visible()
    assert serious_violations(page) == []
    page.get_by_role("button", name="Confirm pick").click()
    page.wait_for_url(f"{web_url}/console/campaigns/{cid}?notice=picked")
    expect(page.locator("#subject-test .decision")).to_contain_text(f"variant 2, picked by hand by user:{ADA}")
    expect(page.locator("#subject-test")).not_to_contain_text("Pick this winner")
    page.locator("#subject-test").screenshot(path=str(SCREENSHOTS / "console-subject-test-decided.png"))

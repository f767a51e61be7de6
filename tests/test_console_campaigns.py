"""The console's campaign pages over real HTTP: drafts, previews, tests, sending, progress, control, export."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping

import pytest
import requests
from sqlalchemy import delete, select, update

from publisher.accounts.audit import entries
from publisher.audience.suppressions import suppress_address
from publisher.core.clock import utcnow
from publisher.db.engine import Database
from publisher.db.models import (
    Campaign,
    CampaignStatus,
    ConsoleSession,
    Delivery,
    DeliveryState,
    Role,
    Subscription,
    SubscriptionStatus,
    User,
)
from publisher.web.console import campaign_page
from publisher.web.console import campaigns as console_campaigns
from tests.support.audience import people
from tests.support.console import TIMEOUT, add_person, csrf_token, sign_in
from tests.support.console_drafts import form_of, save_draft
from tests.support.recaps import RECAP
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ADA = "ada@modu.example"  # sender
EVE = "eve@modu.example"  # editor
VIC = "vic@modu.example"  # viewer
ATTENDEES = 25


@pytest.fixture
def team(db: Database) -> Database:
    people(db)
    add_person(db, ADA, Role.SENDER)
    add_person(db, EVE, Role.EDITOR)
    add_person(db, VIC, Role.VIEWER)
    return db


def post(client: requests.Session, url: str, data: Mapping[str, object], page: str | None = None) -> requests.Response:
    token = csrf_token(client, page or url.rsplit("/", 1)[0])
    return client.post(url, data={**data, "csrf_token": token}, allow_redirects=False, timeout=TIMEOUT)


def status_of(db: Database, campaign_id: int) -> CampaignStatus:
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.status


def sending(db: Database, web_url: str) -> int:
    """A draft of the shared recap, sent to the attendees through the console."""
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    assert post(ada, f"{page}/send/confirm", {"recipients": str(ATTENDEES)}, page).status_code == 303
    return cid


def test_a_viewer_sees_no_new_campaign_or_send_buttons_and_is_refused(team: Database, web_url: str) -> None:
    cid = save_draft(sign_in(web_url, EVE), web_url)
    vic = sign_in(web_url, VIC)
    listing = vic.get(f"{web_url}/console/campaigns", timeout=TIMEOUT).text
    assert "New campaign" not in listing
    assert f'<a href="/console/campaigns/{cid}">From Flow to Growth' in listing and f"user:{EVE}" in listing
    assert f"/console/campaigns/{cid}" not in vic.get(f"{web_url}/console/campaigns?status=complete", timeout=TIMEOUT).text
    page = vic.get(f"{web_url}/console/campaigns/{cid}", timeout=TIMEOUT)
    assert page.status_code == 200 and "Preview" in page.text
    for button in ("Send test", "Send now", "Schedule", "Edit draft"):
        assert f">{button}<" not in page.text
    assert vic.get(f"{web_url}/console/campaigns/new", timeout=TIMEOUT).status_code == 403
    token = csrf_token(vic, f"{web_url}/console/campaigns")
    for path in ("new", f"{cid}/edit", f"{cid}/test", f"{cid}/send", f"{cid}/send/confirm", "preview"):
        answer = vic.post(f"{web_url}/console/campaigns/{path}", data={"csrf_token": token}, allow_redirects=False, timeout=TIMEOUT)
        assert answer.status_code == 403, path
    assert status_of(team, cid) is CampaignStatus.DRAFT


def test_an_editor_may_write_and_test_but_not_send(team: Database, web_url: str) -> None:
    eve = sign_in(web_url, EVE)
    assert "New campaign" in eve.get(f"{web_url}/console/campaigns", timeout=TIMEOUT).text
    cid = save_draft(eve, web_url)
    page = eve.get(f"{web_url}/console/campaigns/{cid}", timeout=TIMEOUT).text
    assert ">Send test<" in page and ">Send now<" not in page
    page_url = f"{web_url}/console/campaigns/{cid}"
    assert post(eve, f"{page_url}/send/confirm", {"recipients": str(ATTENDEES)}, page_url).status_code == 403
    assert status_of(team, cid) is CampaignStatus.DRAFT


def test_a_form_without_the_csrf_token_is_refused(team: Database, web_url: str) -> None:
    ada = sign_in(web_url, ADA)
    answer = ada.post(f"{web_url}/console/campaigns/new", data={**form_of(), "action": "save"}, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 403
    with team.transaction() as session:
        assert session.scalars(select(Campaign)).all() == []


def test_bad_input_is_shown_next_to_its_field_with_what_was_typed(team: Database, web_url: str) -> None:
    eve = sign_in(web_url, EVE)
    form = {**form_of(), "cta_url": "not a link", "event_date": "2025-13-45", "title": "Keep <this> title"}
    answer = post(eve, f"{web_url}/console/campaigns/new", {**form, "action": "save"}, f"{web_url}/console/campaigns/new")
    assert answer.status_code == 422
    assert 'id="cta_url-error"' in answer.text and 'id="event_date-error"' in answer.text
    assert 'aria-describedby="cta_url-error"' in answer.text
    assert "Button link must be a full link, starting with https://" in answer.text
    assert "Event date must be a date (YYYY-MM-DD)." in answer.text
    assert 'value="not a link"' in answer.text and 'value="Keep &lt;this&gt; title"' in answer.text
    assert "Holborn" in answer.text  # the body typed is kept too
    with team.transaction() as session:
        assert session.scalars(select(Campaign)).all() == []


def test_an_unknown_provider_and_an_oversized_field_are_refused_at_their_fields(team: Database, web_url: str) -> None:
    eve = sign_in(web_url, EVE)
    form = {**form_of(provider="pigeon"), "subject": "x" * 600}
    answer = post(eve, f"{web_url}/console/campaigns/new", {**form, "action": "save"}, f"{web_url}/console/campaigns/new")
    assert answer.status_code == 422
    assert 'id="provider-error"' in answer.text and "unknown provider" in answer.text
    assert 'id="subject-error"' in answer.text and "at most 500 fit" in answer.text


def test_resources_are_added_and_removed_without_javascript(team: Database, web_url: str) -> None:
    eve = sign_in(web_url, EVE)
    new = f"{web_url}/console/campaigns/new"
    form = form_of()
    added = post(eve, new, {**form, "action": "add_resource"}, new)
    assert added.status_code == 200
    assert added.text.count(">Remove resource<") == 3 and "Resource 3" in added.text
    assert 'value="The Geek Way"' in added.text and "Holborn" in added.text
    removed = post(eve, new, {**form, "action": "remove_resource:0"}, new)
    assert removed.text.count(">Remove resource<") == 1
    assert 'value="The Geek Way"' not in removed.text and 'value="Dealing with Darwin"' in removed.text
    with team.transaction() as session:
        assert session.scalars(select(Campaign)).all() == []


def test_upload_recap_fills_the_form_from_a_recap_file(team: Database, web_url: str) -> None:
    eve = sign_in(web_url, EVE)
    token = csrf_token(eve, f"{web_url}/console/campaigns/new")
    with RECAP.open("rb") as handle:
        answer = eve.post(
            f"{web_url}/console/campaigns/upload",
            data={"csrf_token": token},
            files={"recap": (RECAP.name, handle, "text/markdown")},
            timeout=TIMEOUT,
        )
    assert answer.status_code == 200
    assert 'value="Product vs Tech: what we learned in Holborn"' in answer.text
    assert 'value="2025-01-15"' in answer.text and 'value="Dealing with Darwin"' in answer.text
    wrong = eve.post(
        f"{web_url}/console/campaigns/upload",
        data={"csrf_token": token},
        files={"recap": ("list.csv", b"email\n", "text/csv")},
        timeout=TIMEOUT,
    )
    assert wrong.status_code == 422 and 'id="recap-error"' in wrong.text and "upload a Markdown file" in wrong.text
    broken = eve.post(
        f"{web_url}/console/campaigns/upload",
        data={"csrf_token": token},
        files={"recap": ("broken.md", b"no front matter\n", "text/markdown")},
        timeout=TIMEOUT,
    )
    assert broken.status_code == 422 and "line 1 must be" in broken.text


def test_the_live_preview_renders_what_is_typed_without_saving_it(team: Database, web_url: str) -> None:
    eve = sign_in(web_url, EVE)
    token = csrf_token(eve, f"{web_url}/console/campaigns/new")
    form = {**form_of(), "title": "Typed, not saved", "body": "Hello *|FIRST_NAME|*, a **draft**."}
    answer = eve.post(f"{web_url}/console/campaigns/preview", data=form, headers={"X-CSRF-Token": token}, timeout=TIMEOUT)
    assert answer.status_code == 200
    assert 'sandbox=""' in answer.text and "375 px" in answer.text and "600 px" in answer.text
    assert "Plain-text part" in answer.text and "Lint report" in answer.text
    frame = answer.text.split('src="', 1)[1].split('"', 1)[0]
    assert frame.startswith("/console/previews/")
    email = eve.get(f"{web_url}{frame}", timeout=TIMEOUT)
    assert email.status_code == 200 and "Typed, not saved" in email.text and "Hi Sam," in email.text
    policy = email.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in policy and "script-src 'none'" in policy
    # Another user cannot load it, and nothing was saved.
    assert sign_in(web_url, ADA).get(f"{web_url}{frame}", timeout=TIMEOUT).status_code == 404
    with team.transaction() as session:
        assert session.scalars(select(Campaign)).all() == []
    unreadable = eve.post(
        f"{web_url}/console/campaigns/preview", data={**form, "cta_url": "nope"}, headers={"X-CSRF-Token": token}, timeout=TIMEOUT
    )
    assert unreadable.status_code == 200 and "The preview waits" in unreadable.text


def test_the_draft_page_previews_for_a_chosen_subscriber_with_the_lint_report(team: Database, web_url: str) -> None:
    eve = sign_in(web_url, EVE)
    cid = save_draft(eve, web_url)
    page = eve.get(f"{web_url}/console/campaigns/{cid}", params={"subscriber": "zoe.obrien"}, timeout=TIMEOUT)
    assert page.status_code == 200 and "as zoe.obrien@example.com gets it" in page.text
    assert '<th scope="col">Where</th>' in page.text
    frame = page.text.split("/console/previews/", 1)[1].split('"', 1)[0]
    assert "Hi Zoë," in eve.get(f"{web_url}/console/previews/{frame}", timeout=TIMEOUT).text
    nobody = eve.get(f"{web_url}/console/campaigns/{cid}", params={"subscriber": "nobody@"}, timeout=TIMEOUT)
    assert "showing the sample subscriber" in nobody.text


def test_send_test_goes_to_the_user_or_to_the_addresses_typed(team: Database, web_url: str) -> None:
    eve = sign_in(web_url, EVE)
    cid = save_draft(eve, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    assert post(eve, f"{page}/test", {"test_recipients": ""}, page).status_code == 303
    assert post(eve, f"{page}/test", {"test_recipients": "a@modu.example, b@modu.example\nc@modu.example"}, page).status_code == 303
    bad = post(eve, f"{page}/test", {"test_recipients": "a@modu.example, not-an-address"}, page)
    assert bad.status_code == 422 and 'id="test-error"' in bad.text and "not-an-address" in bad.text
    many = post(eve, f"{page}/test", {"test_recipients": ",".join(f"p{n}@modu.example" for n in range(11))}, page)
    assert many.status_code == 422 and "At most 10" in many.text
    with team.transaction() as session:
        tests = session.scalars(select(Campaign).where(Campaign.is_test)).all()
        addressed = [sorted(d.email for d in session.scalars(select(Delivery).where(Delivery.campaign_id == t.id))) for t in tests]
    assert addressed == [[EVE], ["a@modu.example", "b@modu.example", "c@modu.example"]]
    assert status_of(team, cid) is CampaignStatus.DRAFT
    assert [e.action for e in entries(team, cid)].count("test-sent") == 2


def test_send_now_needs_the_number_of_recipients_typed(team: Database, web_url: str) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    confirm = post(ada, f"{page}/send", {"when": "now"}, page)
    assert confirm.status_code == 200
    assert "attendees" in confirm.text and f'<strong class="audience">{ATTENDEES}</strong>' in confirm.text
    assert 'data-confirm-count="25"' in confirm.text and ">Confirm send<" in confirm.text
    wrong = post(ada, f"{page}/send/confirm", {"recipients": "24"}, page)
    assert wrong.status_code == 422 and 'id="recipients-error"' in wrong.text and 'value="24"' in wrong.text
    assert status_of(team, cid) is CampaignStatus.DRAFT
    sent = post(ada, f"{page}/send/confirm", {"recipients": "25"}, page)
    assert sent.status_code == 303 and sent.headers["location"] == f"/console/campaigns/{cid}?notice=sent"
    assert status_of(team, cid) is CampaignStatus.SENDING
    assert "sent" in [e.action for e in entries(team, cid)]
    again = post(ada, f"{page}/send", {"when": "now"}, page)
    assert again.status_code == 409 and "Sent already" in again.text
    edit = ada.get(f"{page}/edit", timeout=TIMEOUT)
    assert edit.status_code == 409 and "Sent already" in edit.text


def test_schedule_reads_the_users_time_zone_and_shows_utc(team: Database, web_url: str) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    when = {"when": "schedule", "send_date": "2031-07-01", "send_time": "10:30", "time_zone": "Europe/Paris"}
    confirm = post(ada, f"{page}/send", when, page)
    assert confirm.status_code == 200
    assert "2031-07-01 10:30 (Europe/Paris)" in confirm.text and "2031-07-01 08:30 UTC" in confirm.text
    send_at = confirm.text.split('name="send_at" value="', 1)[1].split('"', 1)[0]
    assert post(ada, f"{page}/send/confirm", {"recipients": "25", "send_at": send_at}, page).status_code == 303
    assert status_of(team, cid) is CampaignStatus.SCHEDULED
    past = post(ada, f"{web_url}/console/campaigns/{save_draft(ada, web_url)}/send", {**when, "send_date": "2020-01-01"}, page)
    assert past.status_code == 422 and 'id="schedule-error"' in past.text and "in the past" in past.text
    assert 'value="2020-01-01"' in past.text


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory", "../../../etc/localtime", "/etc/localtime", "posix/Europe/Paris"])
def test_schedule_refuses_a_time_zone_that_is_a_file_but_no_iana_name(team: Database, web_url: str, zone: str) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    when = {"when": "schedule", "send_date": "2031-07-01", "send_time": "10:30", "time_zone": zone}
    refused = post(ada, f"{page}/send", when, page)
    assert refused.status_code == 422 and 'id="schedule-error"' in refused.text
    assert "Unknown time zone" in refused.text and "use an IANA name such as Europe/Paris" in refused.text
    assert status_of(team, cid) is CampaignStatus.DRAFT


@pytest.mark.parametrize(
    ("send_date", "send_time", "zone"),
    [
        ("0001-01-01", "00:00", "Pacific/Kiritimati"),  # no UTC time at all
        ("9999-12-31", "23:59", "Pacific/Pago_Pago"),  # no UTC time at all
        ("2500-01-01", "09:00", "UTC"),
    ],
)
def test_schedule_refuses_a_time_outside_1970_to_2200_next_to_the_fields(
    team: Database, web_url: str, send_date: str, send_time: str, zone: str
) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    when = {"when": "schedule", "send_date": send_date, "send_time": send_time, "time_zone": zone}
    refused = post(ada, f"{page}/send", when, page)
    assert refused.status_code == 422 and 'id="schedule-error"' in refused.text
    assert "between 1970 and 2200" in refused.text and f'value="{send_date}"' in refused.text
    assert status_of(team, cid) is CampaignStatus.DRAFT


@pytest.mark.parametrize("send_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2500-01-01T09:00:00+00:00"])
def test_a_tampered_schedule_confirmation_outside_1970_to_2200_is_refused_and_sends_nothing(
    team: Database, web_url: str, send_at: str
) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    page = f"{web_url}/console/campaigns/{cid}"
    answer = post(ada, f"{page}/send/confirm", {"recipients": str(ATTENDEES), "send_at": send_at}, page)
    assert answer.status_code == 422 and "The send time was not understood" in answer.text
    assert status_of(team, cid) is CampaignStatus.DRAFT


def test_lint_errors_refuse_the_send_unless_forced(team: Database, web_url: str) -> None:
    ada = sign_in(web_url, ADA)
    form = {**form_of(), "body": "![A photo](http://images.example/p.jpg){width=600 height=400}"}
    cid = save_draft(ada, web_url, form)
    page = f"{web_url}/console/campaigns/{cid}"
    confirm = post(ada, f"{page}/send", {"when": "now"}, page)
    assert "Send despite the lint errors" in confirm.text
    refused = post(ada, f"{page}/send/confirm", {"recipients": "25"}, page)
    # 409, as the API answers: the draft's state, not the request, is at fault.
    assert refused.status_code == 409 and status_of(team, cid) is CampaignStatus.DRAFT
    assert post(ada, f"{page}/send/confirm", {"recipients": "25", "force": "yes"}, page).status_code == 303
    assert status_of(team, cid) is CampaignStatus.SENDING


def test_a_list_with_no_one_to_send_to_refuses_the_send_with_409(team: Database, web_url: str) -> None:
    ada = sign_in(web_url, ADA)
    cid = save_draft(ada, web_url)
    with team.transaction() as session:
        session.execute(update(Subscription).values(status=SubscriptionStatus.UNSUBSCRIBED))
    page = f"{web_url}/console/campaigns/{cid}"
    refused = post(ada, f"{page}/send/confirm", {"recipients": "0"}, page)
    assert refused.status_code == 409 and "no confirmed subscribers" in refused.text
    assert status_of(team, cid) is CampaignStatus.DRAFT


def test_the_progress_stream_sends_fragments_and_ends_when_the_campaign_is_finished(team: Database, web_url: str) -> None:
    cid = sending(team, web_url)
    vic = sign_in(web_url, VIC)
    page = vic.get(f"{web_url}/console/campaigns/{cid}", timeout=TIMEOUT).text
    assert f'sse-connect="/console/campaigns/{cid}/events"' in page and 'sse-close="done"' in page
    with vic.get(f"{web_url}/console/campaigns/{cid}/events", stream=True, timeout=TIMEOUT) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines(decode_unicode=True)
        assert next(lines) == "event: progress"
        first = []
        for line in lines:
            if not line:
                break
            first.append(line)
        assert 'data-state="pending">25<' in "".join(first)
        # The workers finish the campaign; the stream notices on its own.
        with team.transaction() as session:
            session.execute(update(Delivery).where(Delivery.campaign_id == cid).values(state=DeliveryState.SENT, sent_at=utcnow()))
            session.execute(update(Campaign).where(Campaign.id == cid).values(status=CampaignStatus.COMPLETE))
        rest = list(lines)
    assert rest[-3:-1] == ["event: done", "data: finished"]
    assert 'data-state="sent">25<' in "".join(rest)
    finished = vic.get(f"{web_url}/console/campaigns/{cid}", timeout=TIMEOUT).text
    assert "sse-connect" not in finished and 'data-figure="sent">25<' in finished
    assert 'role="img"' in finished and "Deliveries over time" in finished


def test_export_csv_has_one_row_per_recipient_with_formulas_defused(team: Database, web_url: str) -> None:
    cid = sending(team, web_url)
    with team.transaction() as session:
        first = session.scalars(select(Delivery).where(Delivery.campaign_id == cid).order_by(Delivery.id)).first()
        assert first is not None
        first.last_error = '=HYPERLINK("http://evil.example","x")'
        first.provider = "@provider"
        second, third = session.scalars(select(Delivery).where(Delivery.campaign_id == cid).order_by(Delivery.id)).all()[1:3]
        second.last_error = "\t=1+1"
        third.last_error = "\r=1+1"
    answer = sign_in(web_url, VIC).get(f"{web_url}/console/campaigns/{cid}/export.csv", timeout=TIMEOUT)
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == f'attachment; filename="campaign-{cid}.csv"'
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["email", "state", "provider", "attempts", "sent_at", "last_error"]
    assert len(rows) == 1 + ATTENDEES
    assert rows[1][5] == '\'=HYPERLINK("http://evil.example","x")' and rows[1][2] == "'@provider"
    assert rows[2][5] == "'\t=1+1" and rows[3][5] == "'\r=1+1"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows[1:] for cell in row)


def test_pause_resume_and_cancel_after_confirm_cancel_are_audited(team: Database, web_url: str) -> None:
    cid = sending(team, web_url)
    ada = sign_in(web_url, ADA)
    page = f"{web_url}/console/campaigns/{cid}"
    assert ">Pause<" in ada.get(page, timeout=TIMEOUT).text
    assert ">Pause<" not in sign_in(web_url, EVE).get(page, timeout=TIMEOUT).text
    assert post(sign_in(web_url, EVE), f"{page}/pause", {}, page).status_code == 403
    assert post(ada, f"{page}/pause", {}, page).status_code == 303
    assert status_of(team, cid) is CampaignStatus.PAUSED
    assert ">Resume<" in ada.get(page, timeout=TIMEOUT).text
    assert post(ada, f"{page}/resume", {}, page).status_code == 303
    assert status_of(team, cid) is CampaignStatus.SENDING
    ask = post(ada, f"{page}/cancel", {}, page)
    assert ask.status_code == 200 and ">Confirm cancel<" in ask.text
    assert status_of(team, cid) is CampaignStatus.SENDING
    assert post(ada, f"{page}/cancel/confirm", {}, page).status_code == 303
    assert status_of(team, cid) is CampaignStatus.CANCELLED
    assert post(ada, f"{page}/pause", {}, page).status_code == 409
    actions = [e.action for e in entries(team, cid)]
    assert {"paused", "resumed", "cancelled"} <= set(actions)
    assert all(e.actor == f"user:{ADA}" for e in entries(team, cid) if e.action in {"paused", "resumed", "cancelled"})


def test_in_doubt_records_are_resent_or_marked_sent_and_dead_letters_replayed(team: Database, web_url: str) -> None:
    cid = sending(team, web_url)
    ada = sign_in(web_url, ADA)
    page = f"{web_url}/console/campaigns/{cid}"
    with team.transaction() as session:
        ids = session.scalars(select(Delivery.id).where(Delivery.campaign_id == cid).order_by(Delivery.id)).all()
        session.execute(update(Delivery).where(Delivery.id.in_(ids[:2])).values(state=DeliveryState.IN_DOUBT))
        session.execute(
            update(Delivery).where(Delivery.id == ids[2]).values(state=DeliveryState.FAILED, dead_lettered_at=utcnow(), attempts=5)
        )
    shown = ada.get(page, timeout=TIMEOUT).text
    assert ">Resend in doubt<" in shown and ">Mark sent<" in shown and ">Replay<" in shown
    assert ">Replay<" not in sign_in(web_url, VIC).get(page, timeout=TIMEOUT).text
    assert post(ada, f"{page}/reconcile", {"choice": "mark_sent"}, page).status_code == 303
    assert post(ada, f"{page}/replay", {}, page).status_code == 303
    with team.transaction() as session:
        states = {d.id: d.state for d in session.scalars(select(Delivery).where(Delivery.id.in_(ids[:3])))}
    assert states == {ids[0]: DeliveryState.SENT, ids[1]: DeliveryState.SENT, ids[2]: DeliveryState.PENDING}
    assert {"reconciled", "replayed"} <= {e.action for e in entries(team, cid)}


def test_a_draft_is_edited_and_its_changes_audited(team: Database, web_url: str) -> None:
    eve = sign_in(web_url, EVE)
    cid = save_draft(eve, web_url)
    edit = f"{web_url}/console/campaigns/{cid}/edit"
    shown = eve.get(edit, timeout=TIMEOUT)
    assert shown.status_code == 200 and 'value="Product vs Tech: what we learned in Holborn"' in shown.text
    changed = post(eve, edit, {**form_of(), "subject": "A new subject", "action": "save"}, edit)
    assert changed.status_code == 303 and changed.headers["location"] == f"/console/campaigns/{cid}"
    with team.transaction() as session:
        campaign = session.get(Campaign, cid)
        assert campaign is not None and campaign.subject == "A new subject" and "A new subject" in (campaign.recap_text or "")
    assert [e.action for e in entries(team, cid)] == ["edited", "created"]
    assert post(eve, edit, {**form_of(), "title": "", "action": "save"}, edit).status_code == 422
    with team.transaction() as session:
        campaign = session.get(Campaign, cid)
        assert campaign is not None and campaign.subject == "A new subject"


def test_the_list_picker_shows_each_lists_audience_without_suppressed_addresses(team: Database, web_url: str) -> None:
    with team.transaction() as session:
        suppress_address(session, "zoe.obrien@example.com", "complained", "test")
    page = sign_in(web_url, EVE).get(f"{web_url}/console/campaigns/new", timeout=TIMEOUT).text
    assert f">attendees ({ATTENDEES - 1} recipients)</option>" in page


def test_a_campaign_that_does_not_exist_is_404(team: Database, web_url: str) -> None:
    vic = sign_in(web_url, VIC)
    for path in ("999", "999/events", "999/export.csv"):
        assert vic.get(f"{web_url}/console/campaigns/{path}", timeout=TIMEOUT).status_code == 404, path


def test_the_progress_stream_stops_when_the_browser_goes_away(team: Database, web_url: str) -> None:
    cid = sending(team, web_url)
    vic = sign_in(web_url, VIC)
    # This test's own streams only: a server of an earlier test may still be ending one of its own.
    key = (str(team.engine.url), cid)
    assert campaign_page.OPEN_STREAMS[key] == 0
    with vic.get(f"{web_url}/console/campaigns/{cid}/events", stream=True, timeout=TIMEOUT) as stream:
        # Keep the line iterator: dropping it closes the connection (urllib3 closes a chunked read it stops).
        lines = stream.iter_lines(decode_unicode=True)
        assert next(lines) == "event: progress"
        assert campaign_page.OPEN_STREAMS[key] == 1
        lines.close()
    # The campaign is still sending: only the disconnect can end the stream.
    wait_until(lambda: campaign_page.OPEN_STREAMS[key] == 0)
    assert status_of(team, cid) is CampaignStatus.SENDING


def test_the_progress_stream_follows_the_role_and_ends_when_the_session_does(
    team: Database, web_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server runs in this process: a look at the session every round rather than every fifth.
    monkeypatch.setattr(campaign_page, "RECHECK_ROUNDS", 1)
    cid = sending(team, web_url)
    ada = sign_in(web_url, ADA)
    with ada.get(f"{web_url}/console/campaigns/{cid}/events", stream=True, timeout=TIMEOUT) as stream:
        events = sse_events(stream.iter_lines(decode_unicode=True))
        controls = next(data for name, data in events if name == "controls")
        assert ">Pause</button>" in controls
        # Demoted while watching: the next look at the session takes the buttons away.
        with team.transaction() as session:
            session.execute(update(User).where(User.email == ADA).values(role=Role.VIEWER))
        controls = next(data for name, data in events if name == "controls")
        assert "Pause" not in controls
        # Signed out elsewhere (the session row gone): the stream ends.
        with team.transaction() as session:
            session.execute(delete(ConsoleSession))
        rest = list(events)
    assert rest[-1] == ("done", "signed out")
    assert status_of(team, cid) is CampaignStatus.SENDING


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event name, data) for each Server-Sent Event."""
    name, data = "", []
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))
        elif not line and name:
            yield name, "\n".join(data)
            name, data = "", []


def test_the_campaigns_page_filters_in_the_ledger_and_pages_with_older_campaigns(
    team: Database, web_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server runs in this process: a page of two shows the paging without making hundreds of campaigns.
    monkeypatch.setattr(console_campaigns, "PAGE_SIZE", 2)
    eve = sign_in(web_url, EVE)
    oldest, older, newer, *tests = [save_draft(eve, web_url) for _ in range(5)]
    with team.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == oldest).values(status=CampaignStatus.COMPLETE))
        # The two newest are test sends: they take no place on a page.
        session.execute(update(Campaign).where(Campaign.id.in_(tests)).values(is_test=True))

    def shown(query: str) -> list[int]:
        page = eve.get(f"{web_url}/console/campaigns{query}", timeout=TIMEOUT).text
        return [int(cid) for cid in re.findall(r'<td><a href="/console/campaigns/(\d+)">', page)]

    assert shown("") == [newer, older]
    first = eve.get(f"{web_url}/console/campaigns", timeout=TIMEOUT).text
    assert f'<a href="/console/campaigns?before={older}">Older campaigns</a>' in first
    assert shown(f"?before={older}") == [oldest]
    assert "Older campaigns" not in eve.get(f"{web_url}/console/campaigns?before={older}", timeout=TIMEOUT).text
    # The filter applies before the page is cut: the complete campaign is found though it is not among the newest.
    assert shown("?status=complete") == [oldest]
    assert shown("?status=draft") == [newer, older]

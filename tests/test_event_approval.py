"""The rule auto: a recap draft is sent at its send time by the workers' sweep, and only once a sender has approved it.

Approval from the command line, the API and the console, each with its
refusals and role checks; the sweep runs as the workers run it, with time
moved, never waited for.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
import requests
import time_machine
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from publisher.accounts.audit import entries
from publisher.accounts.roles import CLI_ACTOR, Scope
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Batch, CampaignStatus, Role
from publisher.ledger.drafts import SendOrder, load_draft, send_draft
from tests.support.api import Api, assert_problem, token
from tests.support.audience import people
from tests.support.cli import run_cli
from tests.support.console import TIMEOUT, add_person, csrf_token, sign_in
from tests.support.drafts import save_draft
from tests.support.recap_events import ENDS, automatic_meetup, product_meetup, write_body, written
from workers.sweeper import LOCK_NAME, Sweeper

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
#: The drafts of ``automatic_meetup`` are sent 3 hours after the end, once approved.
DUE = ENDS + dt.timedelta(hours=3)
#: Sends a month after the end: still ahead of the real clock the web app reads.
A_MONTH = 30 * 86_400
VIEWER, EDITOR, SENDER = "vic@modu.example", "eve@modu.example", "sam@modu.example"
HTTP_IMAGE = "![A photo](http://images.example/p.jpg){width=600 height=400}"


def status(db: Database, campaign_id: int) -> CampaignStatus:
    return load_draft(db, campaign_id).status


def sweep(settings: Settings, redis_url: str, moment: dt.datetime) -> None:
    """One sweep of the workers at ``moment``: the event step, then the dispatch."""
    # Each sweep holds a Redis lock for a minute at most; these follow one another at once.
    redis.Redis.from_url(redis_url).delete(LOCK_NAME)
    with time_machine.travel(moment, tick=False):
        Sweeper(settings, redis_url).sweep_once()


def actions(db: Database, campaign_id: int) -> list[tuple[str, str]]:
    return [(entry.action, entry.actor) for entry in reversed(entries(db, campaign_id))]


# --- The sweep sends what is approved and due -------------------------------------------------------


def test_an_automatic_draft_waits_for_approval_then_goes_out_at_its_send_time(
    settings: Settings, db: Database, env: dict[str, str], redis_url: str
) -> None:
    drafts = automatic_meetup(db, settings, after=A_MONTH)
    due = ENDS + dt.timedelta(seconds=A_MONTH)
    sweep(settings, redis_url, due + dt.timedelta(hours=1))
    assert [status(db, cid) for cid in drafts.values()] == [CampaignStatus.DRAFT] * 2  # due, but nobody approved

    result = run_cli(env, "approve", str(drafts["attended"]))
    assert result.returncode == 0, result.output
    assert result.last_line == f"campaign {drafts['attended']}"
    assert "approved: a running worker sends it at 2027-01-02T21:00:00+00:00" in result.output

    sweep(settings, redis_url, due - dt.timedelta(seconds=1))
    assert status(db, drafts["attended"]) is CampaignStatus.DRAFT  # approved, not due yet
    sweep(settings, redis_url, due)
    assert status(db, drafts["attended"]) is CampaignStatus.SENDING
    assert status(db, drafts["no-show"]) is CampaignStatus.DRAFT  # never approved: it still waits
    with db.transaction() as session:
        batches = session.scalars(select(Batch).where(Batch.campaign_id == drafts["attended"])).all()
    assert batches and all(batch.enqueued_at is not None for batch in batches)  # the same sweep's dispatch enqueued them
    assert actions(db, drafts["attended"])[-2:] == [("approved", "cli"), ("sent", "auto:cli")]
    sweep(settings, redis_url, due + dt.timedelta(hours=1))
    assert [action for action, _ in actions(db, drafts["attended"])].count("sent") == 1


def test_approving_after_the_send_time_sends_at_the_next_sweep(
    settings: Settings, db: Database, env: dict[str, str], redis_url: str
) -> None:
    drafts = automatic_meetup(db, settings)  # due on 4 December 2026, before the real clock
    result = run_cli(env, "approve", str(drafts["no-show"]))
    assert result.returncode == 0 and "approved: due since 2026-12-04T00:00:00+00:00" in result.output
    sweep(settings, redis_url, DUE + dt.timedelta(days=1))
    assert status(db, drafts["no-show"]) is CampaignStatus.SENDING


def test_editing_an_approved_draft_withdraws_the_approval(settings: Settings, db: Database, env: dict[str, str], redis_url: str) -> None:
    drafts = automatic_meetup(db, settings)
    assert run_cli(env, "approve", str(drafts["attended"])).returncode == 0
    write_body(settings, db, drafts["attended"], "A changed recap.")
    draft = load_draft(db, drafts["attended"])
    assert (draft.approved_by, draft.approved_at) == (None, None)
    assert actions(db, drafts["attended"])[-2:] == [("edited", "cli"), ("approval-withdrawn", "cli")]
    sweep(settings, redis_url, DUE)
    assert status(db, drafts["attended"]) is CampaignStatus.DRAFT


def test_a_refused_automatic_send_withdraws_the_approval_once_and_keeps_why(
    settings: Settings, db: Database, env: dict[str, str], redis_url: str
) -> None:
    drafts = automatic_meetup(db, settings, came=())  # nobody checked in
    assert run_cli(env, "approve", str(drafts["attended"])).returncode == 0
    for hours in (0, 1):
        sweep(settings, redis_url, DUE + dt.timedelta(hours=hours))
    draft = load_draft(db, drafts["attended"])
    assert (draft.status, draft.approved_at) == (CampaignStatus.DRAFT, None)
    assert draft.hold_reason is not None and "event:product-meetup:attended" in draft.hold_reason
    assert [action for action, _ in actions(db, drafts["attended"])].count("approval-withdrawn") == 1
    result = run_cli(env, "approve", str(drafts["attended"]))  # approving again tries again
    assert result.returncode == 0 and load_draft(db, drafts["attended"]).hold_reason is None


# --- Approving: what is refused, from the command line ----------------------------------------------


@SQLITE
def test_cli_approve_refuses_what_it_cannot_approve_with_exit_2(settings: Settings, db: Database, env: dict[str, str]) -> None:
    people(db)
    empty = automatic_meetup(db, settings, slug="not-written", body=None)
    broken = automatic_meetup(db, settings, slug="broken", body=HTTP_IMAGE)
    plain = save_draft(settings, db)
    sent = save_draft(settings, db)
    send_draft(settings, db, SendOrder(sent, 10), CLI_ACTOR)
    cases = {
        str(empty["attended"]): "has no body yet",
        str(broken["attended"]): "lint error",
        str(plain): "is not sent automatically",
        str(sent): "it was sent already",
        "999999": "no campaign with id 999999",
    }
    for campaign_id, reason in cases.items():
        result = run_cli(env, "approve", campaign_id)
        assert result.returncode == 2 and reason in result.output, (campaign_id, result.output)
    assert [entry.action for entry in entries(db)].count("approved") == 0


@SQLITE
def test_cli_approve_takes_only_a_campaign_id_and_never_shows_a_traceback(env: dict[str, str]) -> None:
    for hostile in ("<b>1</b>", "1\x1b[31m", "9" * 400, "-5", "0", "99999999999999999999999"):
        result = run_cli(env, "approve", "--", hostile)
        assert result.returncode == 2 and "Traceback" not in result.output, (hostile, result.output)
        assert "\x1b[31m" not in result.output


@SQLITE
def test_cli_approving_twice_changes_nothing(settings: Settings, db: Database, env: dict[str, str]) -> None:
    drafts = automatic_meetup(db, settings)
    first = run_cli(env, "approve", str(drafts["attended"]))
    again = run_cli(env, "approve", str(drafts["attended"]))
    assert first.returncode == again.returncode == 0
    assert "was approved already, by cli" in again.output
    assert [action for action, _ in actions(db, drafts["attended"])].count("approved") == 1


# --- The API ----------------------------------------------------------------------------------------


@SQLITE
def test_api_approve_needs_the_send_scope_and_says_why_it_refuses(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    drafts = automatic_meetup(db, settings)
    empty = automatic_meetup(db, settings, slug="not-written", body=None)
    broken = automatic_meetup(db, settings, slug="broken", body=HTTP_IMAGE)
    plain = save_draft(settings, db)
    writer = Api(web_url, token(db, "writer", (Scope.CAMPAIGNS_READ, Scope.CAMPAIGNS_WRITE)))
    sender = Api(web_url, token(db, "sender", (Scope.CAMPAIGNS_SEND,)))
    assert_problem(writer.post(f"/campaigns/{drafts['attended']}/approve"), 403)
    assert_problem(Api(web_url).post(f"/campaigns/{drafts['attended']}/approve"), 401)

    approved = sender.post(f"/campaigns/{drafts['attended']}/approve")
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["id"], body["status"], body["approved_by"]) == (drafts["attended"], "draft", "token:sender")
    assert body["auto_send_at"] == DUE.isoformat()
    again = sender.post(f"/campaigns/{drafts['attended']}/approve")
    assert again.status_code == 200 and again.json()["approved_at"] == body["approved_at"]
    assert [(action, actor) for action, actor in actions(db, drafts["attended"]) if action == "approved"] == [("approved", "token:sender")]

    assert "no body yet" in assert_problem(sender.post(f"/campaigns/{empty['attended']}/approve"), 422)["detail"]
    lint = assert_problem(sender.post(f"/campaigns/{broken['attended']}/approve"), 409)
    assert lint["type"] == "urn:newsletter:problem:lint-errors" and lint["findings"]
    assert "not sent automatically" in assert_problem(sender.post(f"/campaigns/{plain}/approve"), 409)["detail"]
    send_draft(settings, db, SendOrder(plain, 10), CLI_ACTOR)
    assert "sent already" in assert_problem(sender.post(f"/campaigns/{plain}/approve"), 409)["detail"]
    assert_problem(sender.post("/campaigns/999999/approve"), 404)
    assert writer.get(f"/campaigns/{drafts['no-show']}").json()["approved_by"] is None


# --- The console ------------------------------------------------------------------------------------


def approve_form(client: requests.Session, base: str, campaign_id: int, csrf: str | None) -> requests.Response:
    fields = {"csrf_token": csrf} if csrf is not None else {}
    return client.post(f"{base}/console/campaigns/{campaign_id}/approve", data=fields, allow_redirects=False, timeout=TIMEOUT)


@SQLITE
def test_the_console_shows_the_waiting_state_and_only_a_sender_approves(settings: Settings, db: Database, web_url: str) -> None:
    drafts = automatic_meetup(db, settings, after=A_MONTH)
    page = f"{web_url}/console/campaigns/{drafts['attended']}"
    waiting = "Sends automatically at 2027-01-02 21:00 UTC once a sender approves it."
    for address, role in ((VIEWER, Role.VIEWER), (EDITOR, Role.EDITOR)):
        add_person(db, address, role)
        client = sign_in(web_url, address)
        shown = client.get(page, timeout=TIMEOUT).text
        assert waiting in shown and ">Approve</button>" not in shown
        assert approve_form(client, web_url, drafts["attended"], csrf_token(client, page)).status_code == 403
    add_person(db, SENDER, Role.SENDER)
    client = sign_in(web_url, SENDER)
    shown = client.get(page, timeout=TIMEOUT).text
    assert waiting in shown and ">Approve</button>" in shown
    assert approve_form(client, web_url, drafts["attended"], None).status_code == 403  # no CSRF token
    assert approve_form(client, web_url, drafts["attended"], "forged").status_code == 403
    assert load_draft(db, drafts["attended"]).approved_at is None

    answer = approve_form(client, web_url, drafts["attended"], csrf_token(client, page))
    assert answer.status_code == 303 and answer.headers["location"].endswith("?notice=approved")
    shown = client.get(page, timeout=TIMEOUT).text
    assert f"Approved by user:{SENDER}: sends automatically at 2027-01-02 21:00 UTC." in shown
    assert ">Approve</button>" not in shown
    assert actions(db, drafts["attended"])[-1] == ("approved", f"user:{SENDER}")
    listing = client.get(f"{web_url}/console/campaigns", timeout=TIMEOUT).text
    assert len(re.findall(r"\(waiting for approval\)", listing)) == 1  # the no-show draft


@SQLITE
def test_the_console_says_when_an_unapproved_draft_is_overdue_and_why_it_refuses(settings: Settings, db: Database, web_url: str) -> None:
    drafts = automatic_meetup(db, settings)  # due since 4 December 2026, before the real clock
    empty = automatic_meetup(db, settings, slug="not-written", body=None)
    add_person(db, SENDER, Role.SENDER)
    client = sign_in(web_url, SENDER)
    page = f"{web_url}/console/campaigns/{drafts['no-show']}"
    assert "Waiting for approval: due since 2026-12-04 00:00 UTC." in client.get(page, timeout=TIMEOUT).text
    csrf = csrf_token(client, page)
    refused = approve_form(client, web_url, empty["attended"], csrf)
    assert refused.status_code == 422 and "has no body yet" in refused.text
    plain = save_draft(settings, db, list_name="event:product-meetup:attended")
    assert approve_form(client, web_url, plain, csrf).status_code == 409
    send_draft(settings, db, SendOrder(drafts["attended"], 10), CLI_ACTOR)  # sent by hand meanwhile
    gone = approve_form(client, web_url, drafts["attended"], csrf)
    assert gone.status_code == 409 and "was sent already" in gone.text


@contextmanager
def failing(statement_part: str) -> Iterator[None]:
    """Every statement holding ``statement_part`` fails, as when the database drops a query."""

    def fail(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement_part in statement:
            raise RuntimeError("the database dropped the query")

    event.listen(Engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", fail)


def test_a_failing_recap_step_never_keeps_approved_drafts_from_going_out(
    settings: Settings, db: Database, env: dict[str, str], redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    drafts = automatic_meetup(db, settings)
    assert run_cli(env, "approve", str(drafts["attended"])).returncode == 0
    with failing("events.recap_done_at IS NULL"):  # the search for ended events
        sweep(settings, redis_url, DUE)
    assert status(db, drafts["attended"]) is CampaignStatus.SENDING
    assert "the sweep's recap step failed" in caplog.text


def test_a_failing_send_step_never_keeps_recaps_from_being_made(
    settings: Settings, db: Database, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    product_meetup(db, settings)
    with failing("campaigns.approved_at IS NOT NULL"):  # the search for approved drafts that are due
        sweep(settings, redis_url, DUE)
    assert "the sweep's automatic sends failed" in caplog.text
    assert written(db, "product-meetup").done


@SQLITE
def test_a_draft_sent_by_hand_after_a_refused_automatic_send_shows_no_old_reason(
    settings: Settings, db: Database, env: dict[str, str], redis_url: str, web_url: str
) -> None:
    from publisher.db.models import Attendance
    from tests.support.events import register

    drafts = automatic_meetup(db, settings, came=())  # nobody checked in: the automatic send is refused
    assert run_cli(env, "approve", str(drafts["attended"])).returncode == 0
    sweep(settings, redis_url, DUE)
    assert load_draft(db, drafts["attended"]).hold_reason is not None
    register(settings, db, "product-meetup", ("late@example.com", Attendance.YES))
    sent = run_cli(env, "send", str(drafts["attended"]))
    assert sent.returncode == 0, sent.output
    shown = run_cli(env, "status", str(drafts["attended"]))
    assert shown.returncode == 0 and "is paused" not in shown.output, shown.output
    as_json = run_cli(env, "status", str(drafts["attended"]), "--json")
    assert '"pause_reason": null' in as_json.output, as_json.output
    add_person(db, SENDER, Role.SENDER)
    page = sign_in(web_url, SENDER).get(f"{web_url}/console/campaigns/{drafts['attended']}", timeout=TIMEOUT).text
    assert "Paused" not in page and "has no confirmed subscribers" not in page

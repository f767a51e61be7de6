"""Resend to non-openers: the audience, once per campaign, tracking required, from the CLI, the API and the console."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading

import pytest
import requests
from sqlalchemy import select, update

from publisher.accounts.audit import entries
from publisher.accounts.roles import CLI_ACTOR, Scope
from publisher.audience.lists import leave_list
from publisher.audience.privacy import erase
from publisher.audience.suppressions import suppress_address
from publisher.core.clock import utcnow
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryState,
    EngagementKind,
    MailingList,
    Role,
)
from publisher.ledger.claims import claim_batch
from publisher.ledger.dispatch import release_due
from publisher.ledger.report import campaign_report
from publisher.ledger.resend import InvalidResend, ResendOrder, ResendRefused, resend_to_non_openers
from tests.fakes.server import FakeProviders
from tests.support.api import Api, assert_problem, token
from tests.support.audience import RAJ, ZOE, people
from tests.support.campaigns import publish, publish_with_cli
from tests.support.cli import run_cli
from tests.support.console import TIMEOUT, add_person, csrf_token, sign_in
from tests.support.drafts import campaign_count
from tests.support.engagements import PROXY, engage
from tests.support.resends import ATTENDEES, complete, sent_issue
from tests.support.types import StartWorker
from tests.support.waiting import wait_until

AMELIE = "amelie.durand@example.net"
KWAME = "kwame.mensah@example.com"
SUBJECT = "In case you missed it: the Modu recap"


def recipients_of(db: Database, campaign_id: int) -> set[str]:
    with db.transaction() as session:
        return set(session.scalars(select(Delivery.email).where(Delivery.campaign_id == campaign_id)))


def order(campaign_id: int, subject: str | None = None) -> ResendOrder:
    return ResendOrder(campaign_id, subject, batch_size=10)


# --- The audience and the copy --------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_audience_is_the_non_openers_still_on_the_list_and_not_suppressed(settings: Settings, db: Database) -> None:
    issue, deliveries = sent_issue(settings, db)
    engage(db, issue, deliveries[ZOE], EngagementKind.OPEN)
    engage(db, issue, deliveries[RAJ], EngagementKind.CLICK)  # a click counts as an open
    engage(db, issue, deliveries[AMELIE], EngagementKind.OPEN, machine=True, reason=PROXY)  # a privacy proxy is no reader
    with db.transaction() as session:
        list_id = session.scalar(select(MailingList.id).where(MailingList.name == "attendees"))
        assert list_id is not None
        subscriber_id = session.scalar(select(Delivery.subscriber_id).where(Delivery.id == deliveries[KWAME]))
        assert subscriber_id is not None
        leave_list(session, subscriber_id, list_id)
        suppress_address(session, "liam.murphy@example.com", "hard bounce", "provider:postmark")
        session.execute(update(Delivery).where(Delivery.id == deliveries["sofia.rossi@example.org"]).values(state=DeliveryState.FAILED))
    erase(db, "tomasz.kowalski@example.pl", settings.resolved_outbox_dir)

    created = resend_to_non_openers(settings, db, order(issue), CLI_ACTOR)
    left_out = {ZOE, RAJ, KWAME, "liam.murphy@example.com", "sofia.rossi@example.org", "tomasz.kowalski@example.pl"}
    assert recipients_of(db, created.id) == set(deliveries) - left_out
    assert AMELIE in recipients_of(db, created.id)
    assert created.recipients == ATTENDEES - len(left_out) and len(created.batch_ids) == 2


def test_the_resend_copies_the_issue_with_its_own_subject_and_figures(settings: Settings, db: Database) -> None:
    issue, deliveries = sent_issue(settings, db)
    engage(db, issue, deliveries[ZOE], EngagementKind.OPEN)
    created = resend_to_non_openers(settings, db, order(issue, f"  {SUBJECT}  "), CLI_ACTOR)
    with db.transaction() as session:
        first, again = session.get(Campaign, issue), session.get(Campaign, created.id)
        assert first is not None and again is not None
        assert (again.html_template, again.text_template, again.placeholder_nonce) == (
            first.html_template,
            first.text_template,
            first.placeholder_nonce,
        )
        assert (again.subject, again.resend_of, again.tracking, again.status) == (SUBJECT, issue, True, CampaignStatus.SENDING)
    resent = campaign_report(db, created.id)
    assert (resent.recipients, resent.resend_of, resent.resent_as) == (ATTENDEES - 1, issue, None)
    original = campaign_report(db, issue)
    assert (original.recipients, original.resent_as) == (ATTENDEES, created.id)
    assert original.as_dict()["campaign"]["resent_as"] == created.id  # type: ignore[index]
    assert [entry.action for entry in entries(db, created.id)] == ["resent"]


def test_without_a_subject_the_resend_keeps_the_issues(settings: Settings, db: Database) -> None:
    issue, _ = sent_issue(settings, db)
    created = resend_to_non_openers(settings, db, order(issue), CLI_ACTOR)
    with db.transaction() as session:
        assert session.scalar(select(Campaign.subject).where(Campaign.id == created.id)) == session.scalar(
            select(Campaign.subject).where(Campaign.id == issue)
        )


# --- Refusals -------------------------------------------------------------------------------------


def test_a_second_resend_and_a_resend_of_a_resend_are_refused(settings: Settings, db: Database) -> None:
    issue, _ = sent_issue(settings, db)
    created = resend_to_non_openers(settings, db, order(issue), CLI_ACTOR)
    with pytest.raises(ResendRefused, match=f"was resent already, as campaign {created.id}"):
        resend_to_non_openers(settings, db, order(issue), CLI_ACTOR)
    complete(db, created.id)
    with pytest.raises(ResendRefused, match=f"is itself the resend of campaign {issue}"):
        resend_to_non_openers(settings, db, order(created.id), CLI_ACTOR)


def test_a_campaign_sent_without_tracking_is_refused_with_the_reason(settings: Settings, db: Database) -> None:
    issue, _ = sent_issue(settings, db, tracking=False)
    before = campaign_count(db)
    with pytest.raises(ResendRefused, match="sent without tracking: it cannot tell who opened it, so everyone would count as a non-opener"):
        resend_to_non_openers(settings, db, order(issue), CLI_ACTOR)
    assert campaign_count(db) == before


def test_a_campaign_still_sending_a_test_send_and_one_everyone_opened_are_refused(settings: Settings, db: Database) -> None:
    people(db)
    sending = publish(settings, db)
    with pytest.raises(ResendRefused, match="is sending: only a complete campaign can be resent"):
        resend_to_non_openers(settings, db, order(sending.id), CLI_ACTOR)
    test_send = publish(settings, db, test_to="check@example.com")
    with pytest.raises(Exception, match=f"no campaign with id {test_send.id}"):
        resend_to_non_openers(settings, db, order(test_send.id), CLI_ACTOR)
    deliveries = complete(db, sending.id)
    for delivery_id in deliveries.values():
        engage(db, sending.id, delivery_id, EngagementKind.OPEN)
    before = campaign_count(db)
    with pytest.raises(ResendRefused, match="nobody to resend campaign"):
        resend_to_non_openers(settings, db, order(sending.id), CLI_ACTOR)
    assert campaign_count(db) == before  # nothing half-written


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_campaign_released_longer_ago_than_the_tracking_days_is_refused(settings: Settings, db: Database) -> None:
    issue, _ = sent_issue(settings, db)
    with db.transaction() as session:
        released = utcnow() - dt.timedelta(days=settings.tracking_days, hours=1)
        session.execute(update(Campaign).where(Campaign.id == issue).values(released_at=released))
    before = campaign_count(db)
    with pytest.raises(ResendRefused, match=rf"more than {settings.tracking_days} days ago \(NEWSLETTER_TRACKING_DAYS\)"):
        resend_to_non_openers(settings, db, order(issue), CLI_ACTOR)
    assert campaign_count(db) == before
    # Within the days kept, it can.
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == issue).values(released_at=utcnow() - dt.timedelta(days=1)))
    assert resend_to_non_openers(settings, db, order(issue), CLI_ACTOR).recipients == ATTENDEES


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_scheduled_resend_is_not_sent_to_who_opened_the_first_campaign_before_it_went_out(settings: Settings, db: Database) -> None:
    issue, deliveries = sent_issue(settings, db)
    send_at = utcnow() + dt.timedelta(hours=2)
    created = resend_to_non_openers(settings, db, ResendOrder(issue, send_at=send_at, batch_size=10), CLI_ACTOR)
    assert created.scheduled and created.recipients == ATTENDEES
    # Between scheduling and release: two readers (an open reported late, a click) and a privacy proxy's fetch.
    engage(db, issue, deliveries[ZOE], EngagementKind.OPEN)
    engage(db, issue, deliveries[RAJ], EngagementKind.CLICK)
    engage(db, issue, deliveries[AMELIE], EngagementKind.OPEN, machine=True, reason=PROXY)

    due = release_due(db, dt.timedelta(minutes=5), send_at + dt.timedelta(minutes=1))
    claimed: set[str] = set()
    for batch in due:
        claim = claim_batch(db, batch.batch_id, dt.timedelta(minutes=5), "postmark", idempotent=False)
        assert claim is not None
        claimed |= {delivery.email for delivery in claim.deliveries}
    assert claimed == set(deliveries) - {ZOE, RAJ}
    assert AMELIE in claimed
    with db.transaction() as session:
        set_aside = session.execute(
            select(Delivery.email, Delivery.state, Delivery.last_error).where(
                Delivery.campaign_id == created.id, Delivery.email.in_([ZOE, RAJ])
            )
        ).all()
    assert sorted(set_aside) == [
        (RAJ, DeliveryState.SUPPRESSED, "opened the first campaign before the resend went out"),
        (ZOE, DeliveryState.SUPPRESSED, "opened the first campaign before the resend went out"),
    ]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_resend_is_untracked_when_tracking_was_switched_off_since(settings: Settings, db: Database) -> None:
    issue, _ = sent_issue(settings, db)
    untracked = settings.model_copy(update={"tracking": False})
    created = resend_to_non_openers(untracked, db, order(issue), CLI_ACTOR)
    with db.transaction() as session:
        assert session.scalar(select(Campaign.tracking).where(Campaign.id == created.id)) is False


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_resend_is_untracked_when_its_list_stopped_tracking(settings: Settings, db: Database) -> None:
    issue, _ = sent_issue(settings, db)
    with db.transaction() as session:
        session.execute(update(MailingList).where(MailingList.name == "attendees").values(tracking=False))
    created = resend_to_non_openers(settings, db, order(issue), CLI_ACTOR)
    with db.transaction() as session:
        assert session.scalar(select(Campaign.tracking).where(Campaign.id == created.id)) is False


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        ("", "subject: is empty"),
        ("   ", "subject: is empty"),
        ("Hello\r\nBcc: victim@example.com", "line break"),
        ("Hello\nthere", "line break"),
        ("tab\there", "U+0009"),
        ("sep\u2028arator", "U+2028"),
        ("x" * 501, "at most 500 fit"),
    ],
)
def test_a_subject_that_is_not_one_short_line_is_refused(settings: Settings, db: Database, subject: str, reason: str) -> None:
    issue, _ = sent_issue(settings, db)
    with pytest.raises(InvalidResend, match=re.escape(reason)):
        resend_to_non_openers(settings, db, order(issue, subject), CLI_ACTOR)


# --- The command ----------------------------------------------------------------------------------


def test_the_command_prints_the_new_campaign_last_and_refuses_a_second_resend_with_exit_2(
    settings: Settings, db: Database, env: dict[str, str]
) -> None:
    issue, _ = sent_issue(settings, db)
    first = run_cli(env, "resend", str(issue), "--to", "non-openers", "--subject", SUBJECT)
    assert first.returncode == 0, first.output
    resend_id = int(first.last_line.removeprefix("campaign "))
    assert first.last_line == f"campaign {resend_id}"
    assert f"resend of campaign {issue}: {ATTENDEES} non-opener(s) in 1 batch(es)" in first.output
    second = run_cli(env, "resend", str(issue), "--to", "non-openers")
    assert second.returncode == 2, second.output
    assert f"was resent already, as campaign {resend_id}" in second.output
    report = run_cli(env, "report", str(issue))
    assert f"resent to its non-openers as campaign {resend_id}" in report.output
    own = run_cli(env, "report", str(resend_id), "--json")
    assert json.loads(own.output)["campaign"]["resend_of"] == issue


def test_the_command_schedules_a_resend_with_send_at(settings: Settings, db: Database, env: dict[str, str]) -> None:
    issue, _ = sent_issue(settings, db)
    result = run_cli(env, "resend", str(issue), "--to", "non-openers", "--send-at", "2099-01-01T09:00:00+00:00")
    assert result.returncode == 0, result.output
    assert "scheduled for 2099-01-01T09:00:00+00:00" in result.output
    with db.transaction() as session:
        status = session.scalar(select(Campaign.status).where(Campaign.id == int(result.last_line.split()[1])))
    assert status == CampaignStatus.SCHEDULED


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--to", "everyone"], "the one audience of a resend is non-openers"),
        (["--to", "\x1b[31mnon-openers"], "the one audience of a resend is non-openers"),
        (["--to", "non-openers", "--subject", "a\r\nBcc: x@example.com"], "subject: must be a single line"),
        (["--to", "non-openers", "--subject", "y" * 5000], "at most 500 fit"),
        (["--to", "non-openers", "--send-at", "tomorrow"], "is not an ISO 8601 time"),
        ([], "Missing option '--to'"),
    ],
)
def test_the_command_refuses_bad_input_with_exit_2_and_writes_nothing(
    settings: Settings, db: Database, env: dict[str, str], args: list[str], reason: str
) -> None:
    issue, _ = sent_issue(settings, db)
    before = campaign_count(db)
    result = run_cli({**env, "COLUMNS": "400"}, "resend", str(issue), *args)
    assert result.returncode == 2, result.output
    assert reason in result.output
    assert campaign_count(db) == before


@pytest.mark.parametrize("campaign", ["4242", "0", "-1", "99999999999999", "x"])
def test_the_command_refuses_an_unknown_or_malformed_campaign_id_with_exit_2(db: Database, env: dict[str, str], campaign: str) -> None:
    result = run_cli(env, "resend", campaign, "--to", "non-openers")
    assert result.returncode == 2, result.output


def test_the_command_refuses_a_campaign_sent_without_tracking_with_exit_2(settings: Settings, db: Database, env: dict[str, str]) -> None:
    issue, _ = sent_issue(settings, db, tracking=False)
    result = run_cli({**env, "COLUMNS": "400"}, "resend", str(issue), "--to", "non-openers")
    assert result.returncode == 2
    assert "sent without tracking" in result.output


def test_the_command_refuses_a_campaign_older_than_the_tracking_days_with_exit_2(
    settings: Settings, db: Database, env: dict[str, str]
) -> None:
    issue, _ = sent_issue(settings, db)
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == issue).values(released_at=utcnow() - dt.timedelta(days=400)))
    result = run_cli({**env, "COLUMNS": "400", "NEWSLETTER_TRACKING_DAYS": "30"}, "resend", str(issue), "--to", "non-openers")
    assert result.returncode == 2
    assert "more than 30 days ago (NEWSLETTER_TRACKING_DAYS)" in result.output


# --- The API --------------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_two_resends_at_once_through_the_api_give_one_202_and_one_409(settings: Settings, db: Database, web_url: str) -> None:
    issue, deliveries = sent_issue(settings, db)
    engage(db, issue, deliveries[ZOE], EngagementKind.OPEN)
    api = Api(web_url, token(db))
    start = threading.Barrier(2)
    answers: list[requests.Response] = []

    def resend() -> None:
        start.wait()
        answers.append(api.post(f"/campaigns/{issue}/resend", json={"to": "non-openers", "subject": SUBJECT}))

    threads = [threading.Thread(target=resend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status_code for answer in answers) == [202, 409]
    accepted = next(answer for answer in answers if answer.status_code == 202).json()
    assert (accepted["resend_of"], accepted["recipients"], accepted["status"]) == (issue, ATTENDEES - 1, "sending")
    problem = assert_problem(next(answer for answer in answers if answer.status_code == 409), 409)
    assert f"resent already, as campaign {accepted['id']}" in problem["detail"]
    report = api.get(f"/campaigns/{issue}/report").json()
    assert report["campaign"]["resent_as"] == accepted["id"]


def test_the_api_refuses_an_untracked_campaign_bad_bodies_unknown_ids_and_missing_scopes(
    settings: Settings, db: Database, web_url: str
) -> None:
    issue, _ = sent_issue(settings, db, tracking=False)
    api = Api(web_url, token(db))
    untracked = assert_problem(api.post(f"/campaigns/{issue}/resend", json={"to": "non-openers"}), 409)
    assert "sent without tracking" in untracked["detail"]
    for body in (
        {},
        {"to": "everyone"},
        {"to": "non-openers", "extra": 1},
        {"to": "non-openers", "subject": "z" * 501},
        {"to": "non-openers", "send_at": "soon"},
        {"to": ["non-openers"]},
    ):
        assert_problem(api.post(f"/campaigns/{issue}/resend", json=body), 422)
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == issue).values(tracking=True))
    line_break = assert_problem(api.post(f"/campaigns/{issue}/resend", json={"to": "non-openers", "subject": "a\nb"}), 422)
    assert "subject: must be a single line" in line_break["detail"]
    assert_problem(api.post(f"/campaigns/{issue}/resend", data="{not json", headers={"content-type": "application/json"}), 422)
    assert_problem(api.post("/campaigns/4242/resend", json={"to": "non-openers"}), 404)
    assert_problem(api.post(f"/campaigns/{'9' * 5000}/resend", json={"to": "non-openers"}), 422)  # no id that size
    reader = Api(web_url, token(db, "reader", (Scope.CAMPAIGNS_READ, Scope.CAMPAIGNS_WRITE)))
    assert_problem(reader.post(f"/campaigns/{issue}/resend", json={"to": "non-openers"}), 403)
    assert campaign_report(db, issue).resent_as is None
    with db.transaction() as session:
        released = utcnow() - dt.timedelta(days=settings.tracking_days + 1)
        session.execute(update(Campaign).where(Campaign.id == issue).values(released_at=released))
    stale = assert_problem(api.post(f"/campaigns/{issue}/resend", json={"to": "non-openers"}), 409)
    assert "(NEWSLETTER_TRACKING_DAYS)" in stale["detail"]
    assert campaign_report(db, issue).resent_as is None


# --- The console ----------------------------------------------------------------------------------

ADA = "ada@modu.example"  # sender
EVE = "eve@modu.example"  # editor


def test_a_sender_resends_from_the_campaign_page_once(settings: Settings, db: Database, web_url: str) -> None:
    issue, deliveries = sent_issue(settings, db)
    engage(db, issue, deliveries[ZOE], EngagementKind.CLICK)
    add_person(db, ADA, Role.SENDER)
    add_person(db, EVE, Role.EDITOR)
    page = f"{web_url}/console/campaigns/{issue}"
    ada, eve = sign_in(web_url, ADA), sign_in(web_url, EVE)
    assert "Resend to non-openers" not in eve.get(page, timeout=TIMEOUT).text
    shown = ada.get(page, timeout=TIMEOUT).text
    assert f'action="/console/campaigns/{issue}/resend"' in shown

    refused = ada.post(f"{page}/resend", data={"subject": SUBJECT}, allow_redirects=False, timeout=TIMEOUT)
    assert refused.status_code == 403  # no CSRF token
    editor = eve.post(f"{page}/resend", data={"csrf_token": csrf_token(eve, page)}, allow_redirects=False, timeout=TIMEOUT)
    assert editor.status_code == 403
    assert campaign_report(db, issue).resent_as is None

    token_ = csrf_token(ada, page)
    answer = ada.post(f"{page}/resend", data={"subject": SUBJECT, "csrf_token": token_}, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303
    resend_id = campaign_report(db, issue).resent_as
    assert resend_id is not None and answer.headers["location"] == f"/console/campaigns/{resend_id}?notice=resent"
    assert recipients_of(db, resend_id) == set(deliveries) - {ZOE}
    again = ada.post(f"{page}/resend", data={"csrf_token": token_}, allow_redirects=False, timeout=TIMEOUT)
    assert again.status_code == 409 and "resent already" in again.text
    assert f'href="/console/campaigns/{resend_id}"' in ada.get(page, timeout=TIMEOUT).text
    first = f'href="/console/campaigns/{issue}"'
    assert first in ada.get(f"{web_url}/console/campaigns/{resend_id}", timeout=TIMEOUT).text


def test_the_console_says_why_an_untracked_campaign_cannot_be_resent_and_refuses_bad_subjects(
    settings: Settings, db: Database, web_url: str
) -> None:
    issue, _ = sent_issue(settings, db, tracking=False)
    add_person(db, ADA, Role.SENDER)
    ada = sign_in(web_url, ADA)
    page = f"{web_url}/console/campaigns/{issue}"
    shown = ada.get(page, timeout=TIMEOUT).text
    assert "sent without tracking" in shown and f'action="/console/campaigns/{issue}/resend"' not in shown
    token_ = csrf_token(ada, page)
    untracked = ada.post(f"{page}/resend", data={"csrf_token": token_}, allow_redirects=False, timeout=TIMEOUT)
    assert untracked.status_code == 409
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == issue).values(tracking=True))
    for subject in ("a\r\nb", "q" * 100_000):
        bad = ada.post(f"{page}/resend", data={"subject": subject, "csrf_token": token_}, allow_redirects=False, timeout=TIMEOUT)
        assert bad.status_code == 400, bad.text[:300]
    assert campaign_report(db, issue).resent_as is None


# --- End to end -----------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_real_worker_sends_the_resend_to_the_non_openers_only(
    settings: Settings, db: Database, postmark_env: dict[str, str], fake_postmark: FakeProviders, start_worker: StartWorker
) -> None:
    people(db)
    start_worker(postmark_env)
    issue = publish_with_cli(postmark_env)

    def status(campaign_id: int) -> CampaignStatus | None:
        with db.transaction() as session:
            return session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))

    wait_until(lambda: status(issue) == CampaignStatus.COMPLETE)
    with db.transaction() as session:
        # What the tracked issue would have recorded: its pixel seen by Zoë, by a privacy proxy for Raj.
        session.execute(update(Campaign).where(Campaign.id == issue).values(tracking=True))
        deliveries = {row[0]: row[1] for row in session.execute(select(Delivery.email, Delivery.id).where(Delivery.campaign_id == issue))}
    engage(db, issue, deliveries[ZOE], EngagementKind.OPEN)
    engage(db, issue, deliveries[RAJ], EngagementKind.OPEN, machine=True, reason=PROXY)

    result = run_cli(postmark_env, "resend", str(issue), "--to", "non-openers", "--subject", SUBJECT)
    assert result.returncode == 0, result.output
    resend_id = int(result.last_line.removeprefix("campaign "))
    wait_until(lambda: status(resend_id) == CampaignStatus.COMPLETE)
    with fake_postmark.lock:
        resent = [message.to for message in fake_postmark.accepted if message.subject == SUBJECT]
    assert sorted(resent) == sorted(set(deliveries) - {ZOE})
    assert RAJ in resent
    assert len(fake_postmark.recipients()) == ATTENDEES + ATTENDEES - 1  # nobody got it twice
    report = run_cli(postmark_env, "report", str(resend_id), "--json")
    figures = json.loads(report.output)
    assert (figures["recipients"], figures["sent"], figures["campaign"]["resend_of"]) == (ATTENDEES - 1, ATTENDEES - 1, issue)
    again = run_cli(postmark_env, "resend", str(issue), "--to", "non-openers")
    assert again.returncode == 2 and f"resent already, as campaign {resend_id}" in again.output

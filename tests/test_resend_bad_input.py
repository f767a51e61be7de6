"""Resend to non-openers fed hostile, oversized and malformed input: the command, the API and the console refuse it and write nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, Role
from publisher.ledger.report import campaign_report
from tests.support.api import Api, assert_problem, token
from tests.support.cli import assert_plain, run_cli
from tests.support.console import TIMEOUT, add_person, csrf_token, sign_in
from tests.support.drafts import campaign_count
from tests.support.resends import sent_issue

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SCRIPT = '<script>alert("x")</script>'
SENDER = "ada@modu.example"
#: Times no schedule can hold: outside the years 1970 to 2200, or past the calendar's ends once moved to UTC.
OUT_OF_RANGE_TIMES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2500-01-01T09:00:00+00:00", "1969-12-31T23:59:59+00:00")


def nothing_written(db: Database, issue: int, before: int) -> None:
    assert campaign_count(db) == before
    assert campaign_report(db, issue).resent_as is None


# --- The command ----------------------------------------------------------------------------------


@SQLITE
@pytest.mark.parametrize(
    ("send_at", "reason"),
    [
        *((moment, "is not between 1970 and 2200") for moment in OUT_OF_RANGE_TIMES),
        ("2" * 5000, "is not an ISO 8601 time"),
        ("\x1b[2J2026-12-01T09:00", "is not an ISO 8601 time"),
        ("", "--send-at is empty: give an ISO 8601 time"),
        (" ", "--send-at is empty: give an ISO 8601 time"),
    ],
)
def test_the_command_refuses_a_send_time_it_cannot_schedule_with_exit_2(
    settings: Settings, db: Database, env: dict[str, str], send_at: str, reason: str
) -> None:
    issue, _ = sent_issue(settings, db)
    before = campaign_count(db)
    result = run_cli({**env, "COLUMNS": "400"}, "resend", str(issue), "--to", "non-openers", "--send-at", send_at)
    assert result.returncode == 2, result.output
    assert reason in result.output
    assert_plain(result.output, 1000)
    nothing_written(db, issue, before)


@SQLITE
@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--subject", ""], "subject: is empty"),
        (["--subject", "\x1b]0;owned\x07Hello"], "control character (U+001B)"),
        (["--subject", "sep\u2028arator"], "U+2028"),
        (["--to", "non-openers" * 1000], "the one audience of a resend is non-openers"),
    ],
)
def test_the_command_refuses_hostile_and_oversized_values_without_echoing_them(
    settings: Settings, db: Database, env: dict[str, str], args: list[str], reason: str
) -> None:
    issue, _ = sent_issue(settings, db)
    before = campaign_count(db)
    result = run_cli({**env, "COLUMNS": "400"}, "resend", str(issue), "--to", "non-openers", *args)
    assert result.returncode == 2, result.output
    assert reason in result.output
    assert_plain(result.output, 1000)
    nothing_written(db, issue, before)


@SQLITE
@pytest.mark.parametrize("campaign", ["0", "-1", str(2**31), "9" * 5000, "x", "\uff12", "1e3"])
def test_a_malformed_campaign_id_is_exit_2_and_resends_nothing(
    settings: Settings, db: Database, env: dict[str, str], campaign: str
) -> None:
    issue, _ = sent_issue(settings, db)
    before = campaign_count(db)
    result = run_cli({**env, "COLUMNS": "400"}, "resend", campaign, "--to", "non-openers")
    assert result.returncode == 2, result.output
    assert_plain(result.output)
    nothing_written(db, issue, before)


# --- The API --------------------------------------------------------------------------------------


@SQLITE
def test_the_api_refuses_wrong_types_hostile_and_out_of_range_values_with_422_naming_the_field(
    settings: Settings, db: Database, web_url: str
) -> None:
    issue, _ = sent_issue(settings, db)
    before = campaign_count(db)
    api = Api(web_url, token(db))
    path = f"/campaigns/{issue}/resend"
    cases: list[tuple[object, str]] = [
        ({"to": None}, "body.to"),
        ({"to": "non-openers", "subject": 5}, "body.subject"),
        ({"to": "non-openers", "subject": ["a"]}, "body.subject"),
        ({"to": "non-openers", "subject": {"text": "a"}}, "body.subject"),
        ({"to": "non-openers", "send_at": 1767225600}, "body.send_at"),
        ({"to": "non-openers", "send_at": "9" * 61}, "body.send_at"),
        ({"to": "non-openers", "subject": "w" * 100_000}, "body.subject"),
        ({"to": SCRIPT}, "body.to"),
        (["to", "non-openers"], "body"),
        ("non-openers", "body"),
    ]
    cases += [({"to": "non-openers", "send_at": moment}, "send_at") for moment in OUT_OF_RANGE_TIMES]
    cases += [({"to": "non-openers", "send_at": SCRIPT}, "send_at"), ({"to": "non-openers", "send_at": ""}, "send_at")]
    cases += [({"to": "non-openers", "subject": subject}, "subject") for subject in ("a\r\nBcc: x@example.com", "tab\there", "sep\u2028x")]
    problems = []
    for body, where in cases:
        answer = api.post(path, json=body)
        problem = answer.json() if answer.status_code == 422 else {}
        named = where in problem.get("detail", "") or any(error["where"].startswith(where) for error in problem.get("errors", []))
        if not named:
            problems.append(f"{body!r:.80}: {answer.status_code} {answer.text[:200]}")
    assert problems == []
    nothing_written(db, issue, before)


@SQLITE
def test_the_api_refuses_ids_no_campaign_has_and_an_oversized_body(settings: Settings, db: Database, web_url: str) -> None:
    issue, _ = sent_issue(settings, db)
    before = campaign_count(db)
    api = Api(web_url, token(db))
    for campaign in ("0", "-1", str(2**31), "x", "%3Cscript%3E", "1.5"):
        answer = api.post(f"/campaigns/{campaign}/resend", json={"to": "non-openers"})
        assert answer.status_code == 422, (campaign, answer.text)
        assert "<script>" not in answer.text
    assert_problem(api.post("/campaigns/2147483647/resend", json={"to": "non-openers"}), 404)
    oversized = api.post(f"/campaigns/{issue}/resend", json={"to": "non-openers", "subject": "x" * 2_000_000})
    assert oversized.status_code == 413
    nothing_written(db, issue, before)


# --- The console ----------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_console_answers_ids_no_campaign_can_have_with_404_never_a_server_error(settings: Settings, db: Database, web_url: str) -> None:
    issue, _ = sent_issue(settings, db)
    before = campaign_count(db)
    add_person(db, SENDER, Role.SENDER)
    ada = sign_in(web_url, SENDER)
    token_ = csrf_token(ada, f"{web_url}/console/campaigns/{issue}")
    for campaign in (str(2**31), "9" * 30, "0", "-1"):
        answer = ada.post(f"{web_url}/console/campaigns/{campaign}/resend", data={"csrf_token": token_}, timeout=TIMEOUT)
        assert answer.status_code == 404, (campaign, answer.status_code, answer.text[:300])
    nothing_written(db, issue, before)


@SQLITE
def test_the_console_refuses_a_forged_token_and_hostile_subjects_and_shows_markup_as_text(
    settings: Settings, db: Database, web_url: str
) -> None:
    issue, _ = sent_issue(settings, db)
    before = campaign_count(db)
    add_person(db, SENDER, Role.SENDER)
    add_person(db, "sam@modu.example", Role.SENDER)
    page = f"{web_url}/console/campaigns/{issue}"
    ada, sam = sign_in(web_url, SENDER), sign_in(web_url, "sam@modu.example")
    token_ = csrf_token(ada, page)
    # Another session's token is no token of this one.
    forged = sam.post(f"{page}/resend", data={"csrf_token": token_}, allow_redirects=False, timeout=TIMEOUT)
    assert forged.status_code == 403
    for subject in ("tab\there", "sep\u2028arator", f"{SCRIPT}\r\nBcc: x@example.com", "\x00"):
        bad = ada.post(f"{page}/resend", data={"subject": subject, "csrf_token": token_}, allow_redirects=False, timeout=TIMEOUT)
        assert bad.status_code == 400, (subject, bad.status_code)
        assert SCRIPT not in bad.text
    nothing_written(db, issue, before)

    answer = ada.post(f"{page}/resend", data={"subject": SCRIPT, "csrf_token": token_}, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303
    resend_id = campaign_report(db, issue).resent_as
    assert resend_id is not None
    with db.reading() as session:
        assert session.scalar(select(Campaign.subject).where(Campaign.id == resend_id)) == SCRIPT
    shown = ada.get(f"{web_url}/console/campaigns/{resend_id}", timeout=TIMEOUT).text
    assert SCRIPT not in shown

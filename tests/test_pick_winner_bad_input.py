"""Picking a subject test's winner fed hostile, oversized and malformed input: refused by the command, the API and the console."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import update

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignStatus, Role
from tests.support.api import Api, assert_problem, token
from tests.support.audience import people
from tests.support.cli import assert_plain, run_cli
from tests.support.console import TIMEOUT, add_person, csrf_token, sign_in
from tests.support.subject_tests import publish_tested, records

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SCRIPT = '<script>alert("x")</script>'
SENDER = "ada@modu.example"


@pytest.fixture
def tested(settings: Settings, db: Database) -> int:
    """A campaign going out with a subject test of two variants, its winner not decided."""
    people(db)
    return publish_tested(settings, db, share=40).id


def undecided(db: Database, campaign_id: int) -> None:
    """Nothing was decided: no winner, and the remainder's records have no variant yet."""
    with db.reading() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.ab_winner is None and campaign.ab_decided_at is None
    assert {row[2] for row in records(db, campaign_id) if row[3] is not None} == {None}


# --- The command ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("campaign", "variant"),
    [
        (None, "0"),
        (None, "5"),
        (None, "-1"),
        (None, "x"),
        (None, "\uff12"),  # a full-width 2
        (None, "\u00b2"),  # a superscript 2
        (None, "9" * 5000),
        (None, "1.5"),
        (None, "\x1b[2J1"),
        (None, "3"),  # the test has two variants
        ("0", "1"),
        ("-1", "1"),
        (str(2**31), "1"),
        ("9" * 5000, "1"),
        ("x", "1"),
        ("4242", "1"),
    ],
)
def test_the_command_refuses_what_is_no_variant_or_campaign_with_exit_2(
    db: Database, env: dict[str, str], tested: int, campaign: str | None, variant: str
) -> None:
    result = run_cli({**env, "COLUMNS": "400"}, "pick-winner", campaign or str(tested), variant)
    assert result.returncode == 2, result.output
    assert_plain(result.output)
    undecided(db, tested)


@pytest.mark.parametrize(("status", "reason"), [(CampaignStatus.CANCELLED, "cancelled"), (CampaignStatus.COMPLETE, "complete")])
def test_the_command_refuses_a_cancelled_or_complete_campaign_with_exit_2(
    db: Database, env: dict[str, str], tested: int, status: CampaignStatus, reason: str
) -> None:
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == tested).values(status=status))
    result = run_cli({**env, "COLUMNS": "400"}, "pick-winner", str(tested), "2")
    assert result.returncode == 2, result.output
    assert reason in result.output
    undecided(db, tested)


# --- The API --------------------------------------------------------------------------------------


def test_the_api_refuses_wrong_types_hostile_and_oversized_values_and_decides_nothing(db: Database, web_url: str, tested: int) -> None:
    api = Api(web_url, token(db))
    path = f"/campaigns/{tested}/pick-winner"
    problems = []
    for body in (
        {"variant": SCRIPT},
        {"variant": True},
        {"variant": 10**30},
        {"variant": -1},
        {"variant": [2]},
        {"variant": {"number": 2}},
        {"variant": "2"},
        {"variant": 2, "extra": 1},
        {"variant": 2.0},
        [2],
        "2",
        None,
    ):
        answer = api.post(path, json=body)
        if answer.status_code != 422 or SCRIPT in answer.text:
            problems.append(f"{body!r}: {answer.status_code} {answer.text[:200]}")
    assert problems == []
    for campaign in ("0", "-1", str(2**31), "9" * 5000, "x", "%3Cscript%3E"):
        answer = api.post(f"/campaigns/{campaign}/pick-winner", json={"variant": 1})
        assert answer.status_code == 422, (campaign[:20], answer.text[:200])
    assert_problem(api.post("/campaigns/2147483647/pick-winner", json={"variant": 1}), 404)
    assert api.post(path, json={"variant": 2, "pad": "x" * 2_000_000}).status_code == 413
    undecided(db, tested)
    # Refusals left the test as it was: it can still be decided.
    assert api.post(path, json={"variant": 2}).status_code == 200


# --- The console ----------------------------------------------------------------------------------


def post(client: requests.Session, url: str, data: dict[str, str]) -> requests.Response:
    return client.post(url, data=data, allow_redirects=False, timeout=TIMEOUT)


def test_the_console_refuses_forged_forms_and_anything_but_a_variants_digits(db: Database, web_url: str, tested: int) -> None:
    add_person(db, SENDER, Role.SENDER)
    add_person(db, "sam@modu.example", Role.SENDER)
    page = f"{web_url}/console/campaigns/{tested}"
    ada, sam = sign_in(web_url, SENDER), sign_in(web_url, "sam@modu.example")
    token_ = csrf_token(ada, page)
    for action in ("pick-winner", "pick-winner/confirm"):
        assert post(ada, f"{page}/{action}", {"variant": "2"}).status_code == 403  # no CSRF token
        assert post(sam, f"{page}/{action}", {"variant": "2", "csrf_token": token_}).status_code == 403  # another session's
        for variant in ("\u00b2", "\u0661", "\uff12", " 2x", SCRIPT[:10], ""):
            answer = post(ada, f"{page}/{action}", {"variant": variant, "csrf_token": token_})
            assert answer.status_code == 422, (action, variant, answer.status_code)
            assert SCRIPT[:10] not in answer.text
        assert post(ada, f"{page}/{action}", {"variant": "2" * 11, "csrf_token": token_}).status_code == 400  # over the field's size
        assert post(ada, f"{page}/{action}", {"csrf_token": token_}).status_code == 422  # no variant at all
        for campaign in (str(2**31), "9" * 30, "0", "-1"):
            answer = post(ada, f"{web_url}/console/campaigns/{campaign}/{action}", {"variant": "1", "csrf_token": token_})
            assert answer.status_code == 404, (action, campaign, answer.status_code)
    undecided(db, tested)

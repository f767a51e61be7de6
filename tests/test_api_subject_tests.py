"""Subject-line tests over the HTTP API: ``subject_variants`` and ``ab_test`` on a draft or its send, the figures, pick-winner."""

from __future__ import annotations

import collections
from typing import Any

import pytest
from sqlalchemy import func, select

from publisher.accounts.roles import Scope
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign
from tests.support.api import Api, assert_problem, draft, token, wheres
from tests.support.recaps import RECAP
from tests.support.subject_tests import FIRST, OTHERS, records
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HOSTILE = '<script>alert("x")</script> & "quotes"'


def split(db: Database, campaign_id: int) -> tuple[collections.Counter[int | None], set[int | None]]:
    """The test records per variant, and the variants of the remainder's records."""
    rows = records(db, campaign_id)
    return collections.Counter(row[2] for row in rows if row[3] is None), {row[2] for row in rows if row[3] is not None}


def campaigns(db: Database) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Campaign)) or 0)


def test_a_draft_created_with_variants_is_sent_with_its_test_split_in_the_ledger(api: Api, db: Database, audience: dict[str, int]) -> None:
    test = {"share": 40, "wait": "30m", "metric": "clicks"}
    created = draft(api, subject_variants=[FIRST, OTHERS[0]], ab_test=test)
    assert created["subject_variants"] == [FIRST, OTHERS[0]]
    assert {key: created["ab_test"][key] for key in ("share", "wait", "wait_seconds", "metric", "winner", "decide_at")} == {
        "share": 40,
        "wait": "30m",
        "wait_seconds": 1800,
        "metric": "clicks",
        "winner": None,
        "decide_at": None,
    }
    sent = api.post(f"/campaigns/{created['id']}/send")
    assert sent.status_code == 202 and sent.json()["recipients"] == len(audience)
    size = (len(audience) * 40 + 50) // 100
    in_test, remainder = split(db, created["id"])
    assert in_test == {1: (size + 1) // 2, 2: size // 2} and remainder == {None}
    shown = api.get(f"/campaigns/{created['id']}").json()["ab_test"]
    assert (shown["test_recipients"], shown["remainder_recipients"]) == (size, len(audience) - size)
    assert [(v["number"], v["subject"], v["recipients"]) for v in shown["variants"]] == [
        (1, FIRST, (size + 1) // 2),
        (2, OTHERS[0], size // 2),
    ]
    assert shown["decide_at"] is not None and shown["verdict"] == "not decided yet"
    listed = api.get("/campaigns").json()["items"]
    assert [c["ab_test"]["share"] for c in listed if c["id"] == created["id"]] == [40]


def test_a_send_may_carry_the_test_with_its_wait_in_seconds(api: Api, db: Database, audience: dict[str, int]) -> None:
    created = draft(api)
    assert created["subject_variants"] is None and created["ab_test"] is None
    body = {"subject_variants": [FIRST, *OTHERS], "ab_test": {"share": 50, "wait": 600}}
    assert api.post(f"/campaigns/{created['id']}/send", json=body).status_code == 202
    in_test, _ = split(db, created["id"])
    assert set(in_test) == {1, 2, 3}
    shown = api.get(f"/campaigns/{created['id']}").json()
    assert shown["subject_variants"] == [FIRST, *OTHERS]
    assert (shown["ab_test"]["wait"], shown["ab_test"]["metric"], shown["ab_test"]["statistic_name"]) == ("10m", "opens", "chi-squared")


@pytest.mark.parametrize(
    ("test", "where"),
    [
        ({"subject_variants": [FIRST]}, "body.subject_variants"),
        ({"subject_variants": [FIRST, "a", "b", "c", "d"]}, "body.subject_variants"),
        ({"subject_variants": ["Another subject", OTHERS[0]]}, "subject_variants.0"),
        ({"subject_variants": [FIRST, "two\nlines"]}, "subject_variants.1"),
        ({"subject_variants": [FIRST, "a\u2028b"]}, "subject_variants.1"),
        ({"subject_variants": [FIRST, "   "]}, "subject_variants.1"),
        ({"subject_variants": [FIRST, OTHERS[0], f"  {OTHERS[0].upper()} "]}, "subject_variants.2"),
        ({"subject_variants": [FIRST, f" {FIRST.lower()}"]}, "subject_variants.1"),
        ({"subject_variants": [FIRST, "x" * 501]}, "body.subject_variants.1"),
        ({"subject_variants": [FIRST, 7]}, "body.subject_variants.1"),
        ({"subject_variants": FIRST}, "body.subject_variants"),
        ({"subject_variants": [FIRST, "B"], "ab_test": {"share": 0}}, "body.ab_test.share"),
        ({"subject_variants": [FIRST, "B"], "ab_test": {"share": 51}}, "body.ab_test.share"),
        ({"subject_variants": [FIRST, "B"], "ab_test": {"share": "20"}}, "body.ab_test.share"),
        ({"subject_variants": [FIRST, "B"], "ab_test": {"wait": "2d"}}, "ab_test.wait"),
        ({"subject_variants": [FIRST, "B"], "ab_test": {"wait": "30s"}}, "ab_test.wait"),
        ({"subject_variants": [FIRST, "B"], "ab_test": {"wait": "9" * 20}}, "ab_test.wait"),
        ({"subject_variants": [FIRST, "B"], "ab_test": {"wait": 59}}, "ab_test.wait"),
        ({"subject_variants": [FIRST, "B"], "ab_test": {"wait": 604801}}, "ab_test.wait"),
        ({"subject_variants": [FIRST, "B"], "ab_test": {"wait": 3.5}}, "body.ab_test.wait.int"),
        ({"subject_variants": [FIRST, "B"], "ab_test": {"metric": "replies"}}, "body.ab_test.metric"),
        ({"subject_variants": [FIRST, "B"], "ab_test": {"winner": 2}}, "body.ab_test.winner"),
        ({"ab_test": {"share": 20}}, "ab_test"),
    ],
)
def test_a_bad_subject_test_is_a_422_naming_the_field_and_writes_nothing(
    api: Api, db: Database, audience: dict[str, int], test: dict[str, Any], where: str
) -> None:
    before = campaigns(db)
    problem = assert_problem(api.post("/campaigns", json={"list": "attendees", "recap": RECAP.read_text(encoding="utf-8"), **test}), 422)
    assert where in wheres(problem), problem
    assert campaigns(db) == before
    plain = draft(api)
    refused = assert_problem(api.post(f"/campaigns/{plain['id']}/send", json=test), 422)
    assert where in wheres(refused), refused
    assert api.get(f"/campaigns/{plain['id']}").json()["status"] == "draft"


def test_a_test_on_a_list_without_tracking_is_refused_at_send_and_the_draft_stays(api: Api, db: Database, audience: dict[str, int]) -> None:
    from publisher.db.models import MailingList

    created = draft(api, subject_variants=[FIRST, OTHERS[0]])
    with db.transaction() as session:
        mailing_list = session.scalar(select(MailingList).where(MailingList.name == "attendees"))
        assert mailing_list is not None
        mailing_list.tracking = False
    problem = assert_problem(api.post(f"/campaigns/{created['id']}/send"), 422)
    assert "tracking" in problem["detail"]
    assert api.get(f"/campaigns/{created['id']}").json()["status"] == "draft" and records(db, created["id"]) == []


def test_pick_winner_needs_the_send_scope_and_decides_once(web_url: str, api: Api, db: Database, audience: dict[str, int]) -> None:
    created = draft(api, subject_variants=[FIRST, OTHERS[0]], ab_test={"share": 40})
    path = f"/campaigns/{created['id']}/pick-winner"
    assert_problem(api.post(path, json={"variant": 2}), 409)  # a draft: nothing waits for a winner yet
    assert api.post(f"/campaigns/{created['id']}/send").status_code == 202

    writer = Api(web_url, token(db, "writer", (Scope.CAMPAIGNS_READ, Scope.CAMPAIGNS_WRITE)))
    assert "campaigns:send" in assert_problem(writer.post(path, json={"variant": 2}), 403)["detail"]
    assert wheres(assert_problem(api.post(path, json={"variant": 3}), 422)) == {"variant"}
    for bad in (0, 5, "2", 2.5, None):
        assert "body.variant" in wheres(assert_problem(api.post(path, json={"variant": bad}), 422))
    assert_problem(api.post(path, json={}), 422)
    assert_problem(api.post("/campaigns/999999/pick-winner", json={"variant": 1}), 404)

    picked = api.post(path, json={"variant": 2})
    assert picked.status_code == 200, picked.text
    shown = picked.json()["ab_test"]
    assert (shown["winner"], shown["decision"], shown["decided_by"]) == (2, "by_hand", "token:marketing")
    assert shown["decided_at"] is not None and "picked by hand" in shown["verdict"]
    assert split(db, created["id"])[1] == {2}  # every remainder record gets the winner's subject
    again = assert_problem(api.post(path, json={"variant": 1}), 409)
    assert "decided already" in again["detail"]

    plain = draft(api)
    api.post(f"/campaigns/{plain['id']}/send")
    assert "no subject test" in assert_problem(api.post(f"/campaigns/{plain['id']}/pick-winner", json={"variant": 1}), 409)["detail"]


def test_a_hostile_subject_variant_comes_back_as_it_was_given(api: Api, audience: dict[str, int]) -> None:
    created = draft(api, subject_variants=[FIRST, HOSTILE])
    assert created["subject_variants"] == [FIRST, HOSTILE]
    assert created["ab_test"]["variants"][1]["subject"] == HOSTILE


def test_an_idempotency_key_covers_the_subject_test(api: Api, audience: dict[str, int]) -> None:
    body = {"list": "attendees", "recap": RECAP.read_text(encoding="utf-8"), "subject_variants": [FIRST, OTHERS[0]]}
    first = api.post("/campaigns", json=body, headers={"Idempotency-Key": "ab-1"})
    assert first.status_code == 201 and first.json()["subject_variants"] == [FIRST, OTHERS[0]]
    again = api.post("/campaigns", json=body, headers={"Idempotency-Key": "ab-1"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = {**body, "subject_variants": [FIRST, OTHERS[1]]}
    assert_problem(api.post("/campaigns", json=other, headers={"Idempotency-Key": "ab-1"}), 409)


def test_a_wait_longer_than_opens_are_kept_is_refused_at_send_and_the_draft_stays(
    settings: Settings, serve_web: ServeWeb, db: Database, audience: dict[str, int]
) -> None:
    # Opens are kept a day: a 25-hour wait would decide on opens already deleted.
    api = Api(serve_web(settings.model_copy(update={"tracking_days": 1})), token(db))
    created = draft(api, subject_variants=[FIRST, OTHERS[0]], ab_test={"share": 40, "wait": "25h"})
    problem = assert_problem(api.post(f"/campaigns/{created['id']}/send"), 422)
    assert "NEWSLETTER_TRACKING_DAYS" in problem["detail"] and "1 day" in problem["detail"]
    assert api.get(f"/campaigns/{created['id']}").json()["status"] == "draft" and records(db, created["id"]) == []
    variants = [FIRST, OTHERS[0]]
    longer = api.post(f"/campaigns/{created['id']}/send", json={"subject_variants": variants, "ab_test": {"share": 40, "wait": 90000}})
    assert "NEWSLETTER_TRACKING_DAYS" in assert_problem(longer, 422)["detail"]
    # A day is as long as opens are kept: allowed.
    kept = api.post(f"/campaigns/{created['id']}/send", json={"subject_variants": variants, "ab_test": {"share": 40, "wait": "24h"}})
    assert kept.status_code == 202, kept.text

"""The HTTP API's campaigns: tokens and scopes, problems, drafts, idempotency, pages, editing, preview, sending once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import redis
import requests
import time_machine
from sqlalchemy import func, select, update

from publisher.accounts.audit import entries
from publisher.accounts.roles import Scope
from publisher.accounts.tokens import revoke_token
from publisher.content.recap import load_recap
from publisher.core.links import UNSUBSCRIBE, signer_for
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, Subscriber, Subscription, SubscriptionStatus
from publisher.ledger.campaigns import CampaignPlan, create_campaign
from publisher.ledger.status import campaign_progress
from tests.support.api import Api, assert_problem, draft, token, wheres
from tests.support.audience import RAJ, ZOE, people
from tests.support.recaps import RECAP, WORKSHOP
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: The status keys of a campaign (``newsletter status --json``), every one of which an API campaign carries.
STATUS_KEYS = {
    *("id", "title", "list", "status", "test", "created_at", "send_at", "total", "finished", "deliveries", "provider"),
    *("next_release_at", "next_release_recipients"),
}
HTTP_IMAGE = "![A photo](http://images.example/p.jpg){width=600 height=400}"


def test_no_token_or_a_revoked_one_is_401_with_a_bearer_challenge(web_url: str, db: Database) -> None:
    problem = assert_problem(Api(web_url).get("/campaigns"), 401)
    assert problem["type"] == "about:blank" and problem["title"] == "Unauthorized"
    secret = token(db, "gone")
    assert Api(web_url, secret).get("/campaigns").status_code == 200
    revoke_token(db, "gone")
    response = Api(web_url, secret).get("/campaigns")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert_problem(Api(web_url, "nlt_" + "x" * 43).get("/campaigns"), 401)


def test_each_scope_opens_its_own_calls_only(web_url: str, db: Database, audience: dict[str, int]) -> None:
    reader = Api(web_url, token(db, "reader", (Scope.CAMPAIGNS_READ,)))
    writer = Api(web_url, token(db, "writer", (Scope.CAMPAIGNS_WRITE,)))
    sender = Api(web_url, token(db, "sender", (Scope.CAMPAIGNS_SEND, Scope.CAMPAIGNS_READ)))
    lists = Api(web_url, token(db, "lists", (Scope.SUBSCRIBERS_READ,)))
    importer = Api(web_url, token(db, "importer", (Scope.SUBSCRIBERS_WRITE,)))

    assert reader.get("/campaigns").status_code == 200
    forbidden = assert_problem(reader.post("/campaigns", json={"list": "attendees", "title": "x"}), 403)
    assert "campaigns:write" in forbidden["detail"]
    assert assert_problem(writer.get("/campaigns"), 403)
    campaign = draft(writer)
    assert_problem(writer.post(f"/campaigns/{campaign['id']}/send"), 403)
    assert_problem(sender.patch(f"/campaigns/{campaign['id']}", json={"title": "New"}), 403)
    assert_problem(sender.get(f"/campaigns/{campaign['id']}/preview"), 403)
    assert_problem(reader.get("/lists"), 403)
    assert lists.get("/lists").status_code == 200
    assert_problem(lists.post("/lists/attendees/subscribers", json=[]), 403)
    assert_problem(importer.get("/lists"), 403)
    assert importer.post("/lists/attendees/subscribers", json=[{"email": "new@example.com"}]).status_code == 200
    assert sender.post(f"/campaigns/{campaign['id']}/send").status_code == 202


def test_a_draft_from_a_recap_is_a_campaign_with_its_lint_and_content_and_is_audited(api: Api, db: Database) -> None:
    people(db)
    response = api.post("/campaigns", json={"list": "attendees", "recap": RECAP.read_text(encoding="utf-8")})
    assert response.status_code == 201
    created = response.json()
    assert response.headers["Location"] == f"/v1/campaigns/{created['id']}"
    assert set(created) >= STATUS_KEYS
    assert created["status"] == "draft" and created["list"] == "attendees" and created["provider"] == "outbox"
    assert created["total"] == 0 and created["test"] is False
    assert set(created["lint"]) == {"ok", "errors", "warnings", "checks", "findings"}
    assert created["content"]["title"] and created["content"]["body"]
    assert api.get(f"/campaigns/{created['id']}").json() == created
    [entry] = entries(db, created["id"])
    assert (entry.actor, entry.action, entry.ip) == ("token:marketing", "created", "127.0.0.1")


def test_a_draft_from_fields_is_written_as_a_recap(api: Api, audience: dict[str, int]) -> None:
    fields = {
        "title": "Workshop notes",
        "subject": "Your notes",
        "event": {"name": "Roadmap workshop", "date": "2026-05-14", "venue": "Holborn"},
        "cta": {"text": "Slides", "url": "https://example.com/slides"},
        "resources": [{"title": "Book", "description": "A good one"}],
        "body": "Thank you for *coming*.",
    }
    created = draft(api, recap=None, **fields)
    content = created["content"]
    assert content["title"] == "Workshop notes" and content["subject"] == "Your notes"
    assert content["event"] == {"name": "Roadmap workshop", "date": "2026-05-14", "venue": "Holborn"}
    assert content["body"] == "Thank you for *coming*."
    assert content["recap"].startswith("---\ntitle: Workshop notes\n")


def test_unreadable_content_is_a_422_naming_each_field(api: Api, audience: dict[str, int]) -> None:
    problem = assert_problem(
        api.post(
            "/campaigns",
            json={"list": "attendees", "title": "T", "event": {"name": "E", "date": "someday"}, "cta": {"text": "Go", "url": "ftp://x"}},
        ),
        422,
    )
    assert {"event.date", "cta.url"} <= wheres(problem)
    assert all(error["reason"] for error in problem["errors"])
    broken = assert_problem(api.post("/campaigns", json={"list": "attendees", "recap": "---\ntitle: [unclosed\n---\nbody"}), 422)
    assert wheres(broken) == {"front matter"}
    unknown_list = assert_problem(api.post("/campaigns", json={"list": "nobody", "recap": RECAP.read_text(encoding="utf-8")}), 422)
    assert wheres(unknown_list) == {"list"} and "nobody" in unknown_list["detail"]
    provider = assert_problem(api.post("/campaigns", json={"list": "attendees", "title": "T", "provider": "pigeon"}), 422)
    assert wheres(provider) == {"provider"}
    shape = assert_problem(api.post("/campaigns", json={"title": 3, "colour": "red"}), 422)
    assert {"body.list", "body.title", "body.colour"} <= wheres(shape)
    both = assert_problem(api.post("/campaigns", json={"list": "attendees", "title": "T", "recap": "---\ntitle: T\n---\nx"}), 422)
    assert wheres(both) == {"title"}
    not_json = api.post("/campaigns", data="{not json", headers={"Content-Type": "application/json"})
    assert assert_problem(not_json, 422)["errors"]


def test_event_times_at_the_ends_of_the_calendar_are_a_422_naming_the_field(api: Api, audience: dict[str, int]) -> None:
    year_one = "0001-01-01T00:00:00+05:00"
    recap = f"---\ntitle: T\nnext_event:\n  name: N\n  starts_at: '{year_one}'\n  ends_at: 2026-12-03T18:00:00Z\n  timezone: UTC\n---\nx\n"
    problem = assert_problem(api.post("/campaigns", json={"list": "attendees", "recap": recap}), 422)
    assert wheres(problem) == {"next_event.starts_at"} and "between the years 1970 and 2200" in problem["detail"]
    fields = {"list": "attendees", "title": "T", "event": {"name": "E", "starts_at": year_one}}
    assert wheres(assert_problem(api.post("/campaigns", json=fields), 422)) == {"body.event.starts_at"}


def count_campaigns(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Campaign)) or 0)


def test_an_idempotency_key_gives_the_same_draft_and_refuses_another_body(api: Api, db: Database, audience: dict[str, int]) -> None:
    body = {"list": "attendees", "title": "Once", "body": "Hello"}
    first = api.post("/campaigns", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    again = api.post("/campaigns", json=body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert count_campaigns(db) == 1
    other = assert_problem(api.post("/campaigns", json={**body, "title": "Twice"}, headers={"Idempotency-Key": "k-1"}), 409)
    assert "k-1" in other["detail"]
    assert count_campaigns(db) == 1
    # Keys belong to their token: another client's k-1 is its own.
    second_client = Api(api.base.removesuffix("/v1"), token(db, "other"))
    assert second_client.post("/campaigns", json=body, headers={"Idempotency-Key": "k-1"}).status_code == 201
    # Without a key, each request is a draft of its own.
    api.post("/campaigns", json=body)
    api.post("/campaigns", json=body)
    assert count_campaigns(db) == 4


def test_campaigns_come_newest_first_a_page_at_a_time_without_test_sends(api: Api, audience: dict[str, int]) -> None:
    ids = [draft(api, recap=None, title=f"Issue {n}", body="Hi")["id"] for n in range(5)]
    test_send = api.post(f"/campaigns/{ids[0]}/test", json={"to": ["qa@example.com"]})
    assert test_send.status_code == 202
    seen: list[int] = []
    page = api.get("/campaigns", params={"limit": 2}).json()
    while True:
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        if page["next"] is None:
            break
        page = api.get("/campaigns", params={"limit": 2, "before": page["next"]}).json()
    assert seen == sorted(ids, reverse=True)
    # Pages leave the content out; the campaign itself has it.
    assert page["items"][0]["content"] is None and page["items"][0]["lint"]["ok"] in (True, False)
    assert api.get(f"/campaigns/{ids[0]}").json()["content"]["title"] == "Issue 0"
    assert test_send.json()["test_campaign"] not in seen
    assert_problem(api.get(f"/campaigns/{test_send.json()['test_campaign']}"), 404)
    assert_problem(api.get("/campaigns", params={"limit": 0}), 422)


def test_a_draft_is_edited_until_it_is_sent_then_409(api: Api, db: Database, audience: dict[str, int]) -> None:
    campaign = draft(api)
    edited = api.patch(f"/campaigns/{campaign['id']}", json={"title": "A better title", "preheader": None})
    assert edited.status_code == 200, edited.text
    assert edited.json()["title"] == "A better title" and edited.json()["content"]["preheader"] in ("", None)
    assert edited.json()["content"]["body"] == campaign["content"]["body"]
    bad = assert_problem(api.patch(f"/campaigns/{campaign['id']}", json={"cta": {"text": "x", "url": "nope"}}), 422)
    assert wheres(bad) == {"cta.url"}
    assert api.get(f"/campaigns/{campaign['id']}").json()["title"] == "A better title"
    assert api.post(f"/campaigns/{campaign['id']}/send").status_code == 202
    conflict = assert_problem(api.patch(f"/campaigns/{campaign['id']}", json={"title": "Too late"}), 409)
    assert "sending" in conflict["detail"] or "scheduled" in conflict["detail"]
    assert [e.action for e in reversed(entries(db, campaign["id"]))] == ["created", "edited", "sent"]


def test_a_draft_takes_a_whole_recap_another_list_or_provider(api: Api, db: Database, audience: dict[str, int]) -> None:
    people(db, list_name="speakers")
    campaign = draft(api)
    replaced = api.patch(f"/campaigns/{campaign['id']}", json={"recap": WORKSHOP.read_text(encoding="utf-8"), "list": "speakers"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["list"] == "speakers" and replaced.json()["content"]["subject"] == "Your notes from the Modu roadmap workshop"
    assert wheres(assert_problem(api.patch(f"/campaigns/{campaign['id']}", json={"list": "nobody"}), 422)) == {"list"}
    assert wheres(assert_problem(api.patch(f"/campaigns/{campaign['id']}", json={"provider": "pigeon"}), 422)) == {"provider"}
    both = assert_problem(api.patch(f"/campaigns/{campaign['id']}", json={"recap": "---\ntitle: T\n---\nx", "body": "y"}), 422)
    assert wheres(both) == {"body"}
    assert api.get(f"/campaigns/{campaign['id']}").json()["list"] == "speakers"


def test_lint_errors_stop_a_send_with_409_unless_forced(api: Api, audience: dict[str, int]) -> None:
    campaign = draft(api, recap=None, title="Insecure image", body=HTTP_IMAGE)
    assert campaign["lint"]["ok"] is False
    refused = assert_problem(api.post(f"/campaigns/{campaign['id']}/send"), 409)
    assert refused["type"] == "urn:newsletter:problem:lint-errors"
    assert refused["findings"] and all(finding["severity"] == "error" for finding in refused["findings"])
    assert api.get(f"/campaigns/{campaign['id']}").json()["status"] == "draft"
    forced = api.post(f"/campaigns/{campaign['id']}/send", json={"force": True})
    assert forced.status_code == 202 and forced.json()["recipients"] == len(audience)


def test_a_send_at_in_the_future_schedules_it(api: Api, audience: dict[str, int]) -> None:
    campaign = draft(api)
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    answer = api.post(f"/campaigns/{campaign['id']}/send", json={"send_at": when.isoformat()})
    assert answer.status_code == 202 and answer.json()["status"] == "scheduled"
    shown = api.get(f"/campaigns/{campaign['id']}").json()
    assert shown["send_at"] == when.isoformat()
    assert (shown["next_release_at"], shown["next_release_recipients"]) == (when.isoformat(), len(audience))
    assert wheres(assert_problem(api.post(f"/campaigns/{campaign['id']}/send", json={"send_at": "soon"}), 422)) == {"send_at"}
    other = draft(api)
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2500-01-01T09:00:00Z"):  # no UTC time, or past 2200
        refused = assert_problem(api.post(f"/campaigns/{other['id']}/send", json={"send_at": moment}), 422)
        assert wheres(refused) == {"send_at"} and "is not between 1970 and 2200" in refused["detail"]
    empty = assert_problem(api.post(f"/campaigns/{other['id']}/send", json={"send_at": ""}), 422)  # never read as now
    assert wheres(empty) == {"send_at"} and "leave it out" in empty["detail"]
    assert api.get(f"/campaigns/{other['id']}").json()["status"] == "draft"


def test_a_local_time_campaign_shows_its_next_zone_as_status_json_does(
    api: Api, settings: Settings, db: Database, audience: dict[str, int]
) -> None:
    with db.transaction() as session:
        session.execute(update(Subscriber).where(Subscriber.email == ZOE).values(attributes={"timezone": "America/New_York"}))
    plan = CampaignPlan(
        recap=load_recap(RECAP), list_name="attendees", provider="outbox", batch_size=10, local_time=dt.datetime(2031, 7, 1, 9, 0)
    )
    created = create_campaign(settings, db, plan)
    shown = api.get(f"/campaigns/{created.id}").json()
    (status,) = [c.as_dict() for c in campaign_progress(db, created.id)]
    # The list's zone is UTC: everyone but Zoe at 09:00 UTC, Zoe at 09:00 in New York.
    assert (shown["next_release_at"], shown["next_release_recipients"]) == ("2031-07-01T09:00:00+00:00", len(audience) - 1)
    assert {key: shown[key] for key in ("next_release_at", "next_release_recipients")} == {
        key: status[key] for key in ("next_release_at", "next_release_recipients")
    }
    listed = {c["id"]: c for c in api.get("/campaigns").json()["items"]}
    assert listed[created.id]["next_release_recipients"] == len(audience) - 1


def test_pause_resume_and_cancel_follow_the_campaign_state(api: Api, db: Database, audience: dict[str, int]) -> None:
    campaign = draft(api)
    for action in ("pause", "resume", "cancel"):
        assert "draft" in assert_problem(api.post(f"/campaigns/{campaign['id']}/{action}"), 409)["detail"]
    api.post(f"/campaigns/{campaign['id']}/send")
    assert api.post(f"/campaigns/{campaign['id']}/pause").json()["status"] == "paused"
    assert_problem(api.post(f"/campaigns/{campaign['id']}/pause"), 409)
    assert api.post(f"/campaigns/{campaign['id']}/resume").json()["status"] in ("sending", "complete")
    cancelled = api.post(f"/campaigns/{campaign['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_records"] == len(audience)
    assert_problem(api.post(f"/campaigns/{campaign['id']}/cancel"), 409)
    assert_problem(api.post("/campaigns/999999/pause"), 404)
    actions = [e.action for e in reversed(entries(db, campaign["id"]))]
    assert actions == ["created", "sent", "paused", "resumed", "cancelled"]
    report = api.get(f"/campaigns/{campaign['id']}/report").json()
    assert report["campaign"]["id"] == campaign["id"] and report["recipients"] == len(audience) and report["cancelled"] == len(audience)


def test_the_preview_is_the_email_as_that_subscriber_gets_it(api: Api, settings: Settings, db: Database, audience: dict[str, int]) -> None:
    campaign = draft(api, recap=WORKSHOP.read_text(encoding="utf-8"))
    response = api.get(f"/campaigns/{campaign['id']}/preview", params={"subscriber": ZOE.upper()})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "Thank you for joining us, Zoë." in response.text and "Domestic &amp; General" in response.text
    # Her name, but links that act on nothing: following them unsubscribes no one.
    token_part = response.text.split("/unsubscribe/", 1)[1].split('"', 1)[0]
    target = signer_for(settings).verify(UNSUBSCRIBE, token_part)
    assert (target.subscriber_id, target.list_id, target.campaign_id) == (None, None, None)
    sample = api.get(f"/campaigns/{campaign['id']}/preview")
    assert sample.status_code == 200 and "Thank you for joining us, Sam." in sample.text
    assert_problem(api.get(f"/campaigns/{campaign['id']}/preview", params={"subscriber": "nobody@example.com"}), 404)
    assert wheres(assert_problem(api.get(f"/campaigns/{campaign['id']}/preview", params={"subscriber": "not an address"}), 422)) == {
        "subscriber"
    }


def test_a_preview_for_a_named_subscriber_needs_subscribers_read_and_a_confirmed_member(
    web_url: str, db: Database, tmp_path: Path, audience: dict[str, int]
) -> None:
    writer = Api(web_url, token(db, "writer", (Scope.CAMPAIGNS_WRITE,)))
    campaign = draft(writer)
    preview = f"/campaigns/{campaign['id']}/preview"
    assert writer.get(preview).status_code == 200
    assert "subscribers:read" in assert_problem(writer.get(preview, params={"subscriber": ZOE}), 403)["detail"]
    other = tmp_path / "other.csv"
    other.write_text("email\nstranger@example.com\n", encoding="utf-8")
    people(db, other, "other")
    with db.transaction() as session:
        raj = update(Subscription).where(Subscription.subscriber_id == audience[RAJ])
        session.execute(raj.values(status=SubscriptionStatus.UNSUBSCRIBED))
    api = Api(web_url, token(db))
    assert api.get(preview, params={"subscriber": ZOE}).status_code == 200
    unknown = assert_problem(api.get(preview, params={"subscriber": "nobody@example.com"}), 404)["detail"]
    for address in ("stranger@example.com", RAJ):
        refused = assert_problem(api.get(preview, params={"subscriber": address}), 404)
        assert refused["detail"] == unknown.replace("nobody@example.com", address)


def test_test_copies_need_valid_addresses_and_at_most_ten(api: Api, db: Database, audience: dict[str, int]) -> None:
    campaign = draft(api)
    bad = assert_problem(api.post(f"/campaigns/{campaign['id']}/test", json={"to": ["qa@example.com", "nope"]}), 422)
    assert wheres(bad) == {"to.1"}
    many = assert_problem(api.post(f"/campaigns/{campaign['id']}/test", json={"to": [f"qa{n}@example.com" for n in range(11)]}), 422)
    assert wheres(many) == {"body.to"}
    sent = api.post(f"/campaigns/{campaign['id']}/test", json={"to": ["QA@example.com", "qa@example.com"]})
    assert sent.status_code == 202 and sent.json()["recipients"] == ["qa@example.com"]
    with db.transaction() as session:
        test_campaign = session.get(Campaign, sent.json()["test_campaign"])
        # The workers put "[TEST] " before a test send's subject (tests/test_api_flow.py sees it arrive).
        assert test_campaign is not None and test_campaign.is_test and test_campaign.subject == campaign["content"]["subject"]
    [entry] = [e for e in entries(db, campaign["id"]) if e.action == "test-sent"]
    assert entry.actor == "token:marketing" and entry.target == "qa@example.com"


def test_a_token_over_its_rate_gets_429_with_retry_after(
    settings: Settings, db: Database, serve_web: ServeWeb, redis_client: redis.Redis
) -> None:
    base_url = serve_web(settings.model_copy(update={"api_requests_per_minute": 3}))
    busy, other = Api(base_url, token(db, "busy")), Api(base_url, token(db, "other"))
    # Ten seconds into a clock minute, with the clock running: the window turns 50 s later, long after these requests.
    with time_machine.travel(dt.datetime(2026, 12, 4, 12, 0, 10, tzinfo=dt.UTC), tick=True):
        assert [busy.get("/campaigns").status_code for _ in range(3)] == [200, 200, 200]
        refused = busy.get("/campaigns")
        problem = assert_problem(refused, 429)
        assert 1 <= int(refused.headers["Retry-After"]) <= 50
        assert "3 requests" in problem["detail"]
        assert other.get("/campaigns").status_code == 200
    with time_machine.travel(dt.datetime(2026, 12, 4, 12, 1, 5, tzinfo=dt.UTC), tick=True):
        assert busy.get("/campaigns").status_code == 200


def test_errors_outside_the_api_keep_their_detail_answers(web_url: str, api: Api) -> None:
    outside = requests.get(f"{web_url}/no-such-page", timeout=10)
    assert outside.status_code == 404 and outside.headers["content-type"] == "application/json"
    assert outside.json() == {"detail": "Not Found"}
    assert assert_problem(api.get("/no-such-thing"), 404)["title"] == "Not Found"
    assert wheres(assert_problem(api.get("/campaigns/notanumber"), 422)) == {"path.campaign_id"}


def test_unknown_campaigns_are_404(api: Api) -> None:
    for path in ("/campaigns/4242", "/campaigns/4242/report", "/campaigns/4242/preview"):
        assert_problem(api.get(path), 404)
    assert_problem(api.patch("/campaigns/4242", json={"title": "x"}), 404)
    assert_problem(api.post("/campaigns/4242/send"), 404)


def test_sending_to_a_list_with_no_one_to_send_to_is_409(api: Api, db: Database, audience: dict[str, int]) -> None:
    campaign = draft(api)
    with db.transaction() as session:
        session.execute(update(Subscription).values(status=SubscriptionStatus.UNSUBSCRIBED))
    problem = assert_problem(api.post(f"/campaigns/{campaign['id']}/send"), 409)
    assert "no confirmed subscribers" in problem["detail"]
    assert api.get(f"/campaigns/{campaign['id']}").json()["status"] == "draft"

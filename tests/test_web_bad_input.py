"""Input that used to reach the database or the JSON parser unchecked: each gets a 4xx, never a 500."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
import requests
from publisher.core.settings import Settings
from pydantic import SecretStr

from publisher.db.engine import Database
from publisher.db.models import MailingList

ServeWeb = Callable[[Settings], str]
DEEP = b"[" * 100_000
HUGE_NUMBER = b'{"email": "a@example.com", "list": "news", "n": ' + b"1" * 5000 + b"}"


@pytest.fixture
def configured(settings: Settings, db: Database, serve_web: ServeWeb, redis_client: redis.Redis) -> str:
    """A served app with one public list; ``redis_client`` clears the sign-up limits earlier tests in this process used up."""
    with db.transaction() as session:
        session.add(MailingList(name="news", public=True))
    update = {
        "mailgun_webhook_signing_key": SecretStr("key-bad-input"),
        "ses_sns_topic_arns": "arn:aws:sns:eu-west-1:123456789012:events",
    }
    return serve_web(settings.model_copy(update=update))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("path", ["/subscribe", "/webhooks/mailgun", "/webhooks/ses"])
@pytest.mark.parametrize("body", [DEEP, HUGE_NUMBER], ids=["nested-too-deep", "number-too-long"])
def test_json_python_cannot_read_is_a_400(configured: str, path: str, body: bytes) -> None:
    response = requests.post(f"{configured}{path}", data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400, response.text
    assert "JSON" in response.text


def test_a_control_character_in_the_list_name_is_refused_before_the_database(configured: str, db: Database) -> None:
    """PostgreSQL refuses NUL in a query outright: it must never get there."""
    page = requests.get(f"{configured}/subscribe", params={"list": "ne\x00ws"}, timeout=10)
    assert page.status_code == 404
    as_json = requests.post(f"{configured}/subscribe", json={"email": "a@example.com", "list": "ne\x00ws"}, timeout=10)
    assert as_json.status_code == 422 and "control character" in as_json.text
    as_form = requests.post(f"{configured}/subscribe", data={"email": "a@example.com", "list": "news\x00"}, timeout=10)
    assert as_form.status_code == 400 and "control character" in as_form.text


@pytest.mark.parametrize("name", ["news\u2028", "news\u2029x", "news\x85x", "n" * 101])
def test_a_list_name_no_list_can_have_is_refused_as_bad_input(configured: str, name: str) -> None:
    as_json = requests.post(f"{configured}/subscribe", json={"email": "a@example.com", "list": name}, timeout=10)
    assert as_json.status_code == 422, as_json.text
    assert as_json.json()["detail"][0].startswith("body.list: ")
    as_form = requests.post(f"{configured}/subscribe", data={"email": "a@example.com", "list": name}, timeout=10)
    assert as_form.status_code == 400, as_form.text
    page = requests.get(f"{configured}/subscribe", params={"list": name}, timeout=10)
    assert page.status_code == (422 if len(name) > 100 else 404)  # the query parameter's own limit answers first

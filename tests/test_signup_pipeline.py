"""End to end: sign-up on the web → confirmation through Redis and a real worker → provider → confirm → the next issue."""

from __future__ import annotations

import re
import time

import pytest
import requests
from sqlalchemy import select

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, CampaignKind, Delivery, DeliveryState, MailingList, Subscriber, Subscription, SubscriptionStatus
from tests.fakes.server import Accepted, FakeProviders
from tests.support.cli import run_cli
from tests.support.recaps import RECAP
from tests.support.types import ServeWeb, StartWorker

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ADDRESS = "zoe.obrien@example.com"


def wait_for_message(fake: FakeProviders, to: str, index: int = 0, timeout: float = 30.0) -> Accepted:
    """The ``index``-th message the fake provider accepted for ``to``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with fake.lock:
            found = [message for message in fake.accepted if message.to == to]
        if len(found) > index:
            return found[index]
        time.sleep(0.1)
    raise AssertionError(f"no message {index} to {to} within {timeout}s")


def ledger_record(db: Database, timeout: float = 30.0) -> tuple[DeliveryState, CampaignKind]:
    """The confirmation's ledger state and campaign kind, once the worker has recorded the provider's answer."""
    query = select(Delivery.state, Campaign.kind).join(Campaign, Campaign.id == Delivery.campaign_id).where(Delivery.email == ADDRESS)
    deadline = time.monotonic() + timeout
    while True:
        with db.transaction() as session:
            state, kind = session.execute(query).one()
        # The provider has the message before the worker writes its answer down.
        if state != DeliveryState.SENDING or time.monotonic() > deadline:
            return state, kind
        time.sleep(0.1)


def status_of(db: Database) -> SubscriptionStatus:
    with db.transaction() as session:
        status = session.scalar(select(Subscription.status).join(Subscriber).where(Subscriber.email == ADDRESS))
    assert status is not None
    return status


def test_the_confirmation_goes_through_the_pipeline_and_its_link_confirms(
    settings: Settings,
    db: Database,
    postmark_env: dict[str, str],
    fake_postmark: FakeProviders,
    serve_web: ServeWeb,
    start_worker: StartWorker,
) -> None:
    with db.transaction() as session:
        session.add(MailingList(name="news", public=True))
    web_url = serve_web(settings.model_copy(update={"provider": "postmark"}))
    start_worker(postmark_env)

    answer = requests.post(f"{web_url}/subscribe", data={"email": ADDRESS, "list": "news", "first_name": "Zoë"}, timeout=10)
    assert answer.status_code == 200 and "Check your inbox" in answer.text

    message = wait_for_message(fake_postmark, ADDRESS)
    assert message.subject == "Confirm your subscription to news"
    headers = {header["Name"]: header["Value"] for header in message.raw["Headers"]}
    assert headers["List-Unsubscribe"].startswith("<http://localhost:8000/unsubscribe/")
    links = set(re.findall(r"http://localhost:8000(/confirm/[A-Za-z0-9_.-]+)", message.raw["HtmlBody"] + message.raw["TextBody"]))
    assert len(links) == 1
    link = links.pop()
    assert ledger_record(db) == (DeliveryState.SENT, CampaignKind.CONFIRMATION)

    assert requests.get(f"{web_url}{link}", timeout=10).status_code == 200
    assert status_of(db) == SubscriptionStatus.PENDING  # a GET (a mail scanner) confirms nothing
    assert "You are subscribed to news" in requests.post(f"{web_url}{link}", timeout=10).text
    assert status_of(db) == SubscriptionStatus.CONFIRMED

    published = run_cli(postmark_env, "publish", RECAP, "--list", "news")
    assert published.returncode == 0, published.output
    issue = wait_for_message(fake_postmark, ADDRESS, index=1)
    assert issue.subject != message.subject
    assert "Hi Zoë," in issue.raw["TextBody"]  # the name given at sign-up, now that the address owner confirmed
    assert fake_postmark.recipients() == [ADDRESS, ADDRESS]

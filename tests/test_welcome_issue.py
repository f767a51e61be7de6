"""Welcome issues: choosing one for a list, a copy per confirmed sign-up exactly once, imports only when asked."""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select, update

from publisher.audience.lists import leave_list
from publisher.audience.suppressions import suppress_address
from publisher.core.links import CONFIRM, LinkSigner, LinkTarget, signer_for
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Delivery,
    DeliveryState,
    MailingList,
    Subscriber,
    Subscription,
    WelcomeSend,
)
from publisher.ledger.dispatch import release_due
from publisher.ledger.welcome import WelcomeIssues
from tests.fakes.server import Accepted, FakeProviders
from tests.support.audience import people
from tests.support.campaigns import choose_welcome, publish, publish_with_cli
from tests.support.cli import run_cli
from tests.support.drafts import save_draft
from tests.support.types import ServeWeb, StartWorker
from tests.support.waiting import wait_until

ADDRESS = "zoe.obrien@example.com"
NEWCOMER = "mira.k@example.net"


def make_public(db: Database, name: str = "attendees") -> int:
    with db.transaction() as session:
        mailing_list = session.scalar(select(MailingList).where(MailingList.name == name))
        assert mailing_list is not None
        mailing_list.public = True
        return mailing_list.id


def welcome_of(db: Database, name: str = "attendees") -> int | None:
    with db.transaction() as session:
        return session.scalar(select(MailingList.welcome_campaign_id).where(MailingList.name == name))


def welcome_for(settings: Settings, db: Database, address: str = ADDRESS, name: str = "attendees") -> tuple[int, bool]:
    """Write the welcome campaign of ``address``, as confirming does: its batch and whether it is tracked."""
    with db.transaction() as session:
        mailing_list = session.scalar(select(MailingList).where(MailingList.name == name))
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
        assert mailing_list is not None and subscriber is not None
        batch_id = WelcomeIssues(settings)(session, mailing_list, subscriber)
        assert batch_id is not None
        tracking = session.scalar(
            select(Campaign.tracking).join(Delivery, Delivery.campaign_id == Campaign.id).where(Delivery.batch_id == batch_id).limit(1)
        )
        return batch_id, bool(tracking)


def welcome_deliveries(db: Database, address: str | None = None) -> list[tuple[int, str, int | None]]:
    """(campaign id, address, template id) of every welcome ledger record, for one address or all."""
    query = (
        select(Campaign.id, Delivery.email, Campaign.welcome_of)
        .join(Delivery, Delivery.campaign_id == Campaign.id)
        .where(Campaign.kind == CampaignKind.WELCOME)
        .order_by(Campaign.id, Delivery.email)
    )
    if address is not None:
        query = query.where(Delivery.email == address)
    with db.transaction() as session:
        return [(row[0], row[1], row[2]) for row in session.execute(query)]


def confirm_path(signer: LinkSigner, settings: Settings, db: Database, address: str, list_id: int) -> str:
    with db.transaction() as session:
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == address))
    assert subscriber_id is not None
    return signer.url(CONFIRM, LinkTarget(subscriber_id, list_id, None)).replace(settings.public_url, "")


def sign_up_and_confirm(settings: Settings, db: Database, web_url: str, address: str, list_id: int, name: str = "attendees") -> str:
    answer = requests.post(f"{web_url}/subscribe", json={"email": address, "list": name}, timeout=10)
    assert answer.status_code == 202, answer.text
    link = confirm_path(signer_for(settings), settings, db, address, list_id)
    confirmed = requests.post(f"{web_url}{link}", timeout=10)
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
    return link


def write_csv(tmp_path: Path, *addresses: str) -> Path:
    csv = tmp_path / "more.csv"
    csv.write_text("email,first_name,last_name\n" + "".join(f"{address},A,B\n" for address in addresses), encoding="utf-8")
    return csv


# --- Choosing the welcome issue -------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_lists_set_welcome_chooses_an_issue_of_the_list_and_none_clears_it(settings: Settings, db: Database, env: dict[str, str]) -> None:
    people(db)
    created = publish(settings, db)
    chosen = run_cli(env, "lists", "set", "attendees", "--welcome", str(created.id))
    assert chosen.returncode == 0, chosen.output
    assert chosen.last_line == f"each sign-up confirmed on 'attendees' gets a copy of campaign {created.id}"
    assert welcome_of(db) == created.id
    shown = run_cli(env, "lists", "show")
    assert f"welcome {created.id}" in shown.output

    cleared = run_cli(env, "lists", "set", "attendees", "--welcome", "none")
    assert cleared.returncode == 0, cleared.output
    assert cleared.last_line == "list 'attendees' has no welcome issue: sign-ups get none"
    assert welcome_of(db) is None
    assert "welcome" not in run_cli(env, "lists", "show").output


def test_a_draft_can_be_the_welcome_issue(settings: Settings, db: Database, env: dict[str, str]) -> None:
    people(db)
    draft = save_draft(settings, db)
    result = run_cli(env, "lists", "set", "attendees", "--welcome", str(draft))
    assert result.returncode == 0, result.output
    assert welcome_of(db) == draft


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "give a campaign id"),
        ("0", "give a campaign id"),
        ("-3", "give a campaign id"),
        ("1.5", "give a campaign id"),
        ("9" * 40, "give a campaign id"),
        ("２", "give a campaign id"),
        ("", "give a campaign id"),
        ("4242", "no campaign with id 4242"),
    ],
)
def test_lists_set_refuses_a_welcome_that_is_no_campaign_id_with_exit_2(db: Database, env: dict[str, str], value: str, reason: str) -> None:
    people(db)
    result = run_cli(env, "lists", "set", "attendees", "--welcome", value, "--public")
    assert result.returncode == 2, result.output
    assert reason in result.output
    assert welcome_of(db) is None
    with db.transaction() as session:
        assert session.scalar(select(MailingList.public).where(MailingList.name == "attendees")) is False  # nothing half-done


def test_lists_set_refuses_test_sends_confirmations_other_lists_and_cancelled_campaigns(
    settings: Settings, db: Database, env: dict[str, str], tmp_path: Path
) -> None:
    people(db)
    people(db, write_csv(tmp_path, NEWCOMER), "others")
    test_send = publish(settings, db, test_to="check@example.com")
    others = publish(settings, db, "others")
    cancelled = publish(settings, db)
    confirmation = publish(settings, db)
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == cancelled.id).values(status=CampaignStatus.CANCELLED))
        session.execute(update(Campaign).where(Campaign.id == confirmation.id).values(kind=CampaignKind.CONFIRMATION))
    refusals = {
        test_send.id: "is a test send, not an issue",
        others.id: "is not an issue of 'attendees'",
        cancelled.id: f"campaign {cancelled.id} was cancelled",
        confirmation.id: "is a confirmation email, not an issue",
    }
    for campaign_id, reason in refusals.items():
        result = run_cli(env, "lists", "set", "attendees", "--welcome", str(campaign_id))
        assert result.returncode == 2, result.output
        assert reason in result.output
    unknown = run_cli(env, "lists", "set", "nobody", "--welcome", str(others.id))
    assert unknown.returncode == 2 and "no list named 'nobody'" in unknown.output
    assert welcome_of(db) is None


# --- Sign-ups -------------------------------------------------------------------------------------


def test_a_confirmed_sign_up_gets_one_welcome_campaign_however_often_the_link_is_used(
    settings: Settings, db: Database, web_url: str
) -> None:
    people(db)
    list_id = make_public(db)
    issue = publish(settings, db)
    choose_welcome(db, list_id, issue.id)

    link = sign_up_and_confirm(settings, db, web_url, NEWCOMER, list_id)
    for _ in range(2):
        assert requests.post(f"{web_url}{link}", timeout=10).status_code == 200
    welcomes = welcome_deliveries(db, NEWCOMER)
    assert len(welcomes) == 1
    campaign_id, _, template = welcomes[0]
    assert template == issue.id
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        original = session.get(Campaign, issue.id)
        assert campaign is not None and original is not None
        assert (campaign.kind, campaign.list_id, campaign.status, campaign.is_test) == (
            CampaignKind.WELCOME,
            list_id,
            CampaignStatus.SENDING,
            False,
        )
        # The issue's own stage-1 render, not a new one.
        assert (campaign.subject, campaign.html_template, campaign.text_template, campaign.placeholder_nonce) == (
            original.subject,
            original.html_template,
            original.text_template,
            original.placeholder_nonce,
        )
        assert session.scalar(select(func.count()).select_from(WelcomeSend)) == 1


def test_two_clicks_of_the_confirm_link_at_once_write_one_welcome(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    list_id = make_public(db)
    choose_welcome(db, list_id, publish(settings, db).id)
    answer = requests.post(f"{web_url}/subscribe", json={"email": NEWCOMER, "list": "attendees"}, timeout=10)
    assert answer.status_code == 202
    link = confirm_path(signer_for(settings), settings, db, NEWCOMER, list_id)
    start = threading.Barrier(3)
    answers: list[int] = []

    def click() -> None:
        start.wait()
        answers.append(requests.post(f"{web_url}{link}", timeout=10).status_code)

    threads = [threading.Thread(target=click) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200, 200, 200]
    assert len(welcome_deliveries(db, NEWCOMER)) == 1


def test_leaving_and_confirming_again_sends_no_second_welcome(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    list_id = make_public(db)
    choose_welcome(db, list_id, publish(settings, db).id)
    sign_up_and_confirm(settings, db, web_url, NEWCOMER, list_id)
    with db.transaction() as session:
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == NEWCOMER))
        assert subscriber_id is not None
        assert leave_list(session, subscriber_id, list_id)
    sign_up_and_confirm(settings, db, web_url, NEWCOMER, list_id)
    assert len(welcome_deliveries(db, NEWCOMER)) == 1


def test_a_list_without_a_welcome_issue_or_with_one_cancelled_since_sends_none(settings: Settings, db: Database, web_url: str) -> None:
    people(db)
    list_id = make_public(db)
    sign_up_and_confirm(settings, db, web_url, NEWCOMER, list_id)
    issue = publish(settings, db)
    choose_welcome(db, list_id, issue.id)
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == issue.id).values(status=CampaignStatus.CANCELLED))
    sign_up_and_confirm(settings, db, web_url, "late.comer@example.com", list_id)
    assert welcome_deliveries(db) == []


# --- Imports --------------------------------------------------------------------------------------


def test_an_import_sends_no_welcome_unless_asked_and_then_once_per_subscriber(
    settings: Settings, db: Database, env: dict[str, str], tmp_path: Path
) -> None:
    people(db)
    list_id = make_public(db)
    issue = publish(settings, db)
    choose_welcome(db, list_id, issue.id)
    with db.transaction() as session:
        suppress_address(session, "bounced@example.com", "hard bounce", "provider:postmark")

    plain = run_cli(env, "subscribers", "import", write_csv(tmp_path, "first@example.com"), "--list", "attendees")
    assert plain.returncode == 0, plain.output
    assert welcome_deliveries(db) == []

    csv = write_csv(tmp_path, NEWCOMER, "second@example.com", "bounced@example.com", "first@example.com", ADDRESS)
    welcomed = run_cli(env, "subscribers", "import", csv, "--list", "attendees", "--welcome")
    assert welcomed.returncode == 0, welcomed.output
    campaigns = {campaign_id for campaign_id, _, _ in welcome_deliveries(db)}
    assert len(campaigns) == 1
    campaign_id = campaigns.pop()
    assert welcomed.last_line == f"welcome issue: campaign {campaign_id} to 2 subscriber(s) in 1 batch(es)"
    # Only the two the import confirmed: not the one imported earlier, nor one already on the list, nor a suppressed address.
    assert [address for _, address, _ in welcome_deliveries(db)] == [NEWCOMER, "second@example.com"]

    again = run_cli(env, "subscribers", "import", csv, "--list", "attendees", "--welcome")
    assert again.returncode == 0, again.output
    assert again.last_line == "welcome issue: sent to no one (nobody newly confirmed, or each had it already)"
    assert len(welcome_deliveries(db)) == 2


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_an_imports_welcome_skips_addresses_suppressed_on_the_list_but_not_on_another(
    settings: Settings, db: Database, env: dict[str, str], tmp_path: Path
) -> None:
    people(db)
    list_id = make_public(db)
    choose_welcome(db, list_id, publish(settings, db).id)
    with db.transaction() as session:
        other = MailingList(name="other-list", description="")
        session.add(other)
        session.flush()
        suppress_address(session, "left-attendees@example.com", "unsubscribed", "import", list_id=list_id)
        suppress_address(session, "left-other@example.com", "unsubscribed", "import", list_id=other.id)
        suppress_address(session, "bounced@example.com", "hard bounce", "provider:postmark")
    csv = write_csv(tmp_path, "left-attendees@example.com", "left-other@example.com", "bounced@example.com", NEWCOMER)
    result = run_cli(env, "subscribers", "import", csv, "--list", "attendees", "--welcome")
    assert result.returncode == 0, result.output
    assert [address for _, address, _ in welcome_deliveries(db)] == ["left-other@example.com", NEWCOMER]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_welcome_requeued_by_the_sweep_goes_on_the_priority_queue(settings: Settings, db: Database) -> None:
    people(db)
    list_id = make_public(db)
    choose_welcome(db, list_id, publish(settings, db).id)
    batch_id, _ = welcome_for(settings, db)
    due = [batch for batch in release_due(db, dt.timedelta(minutes=5)) if batch.batch_id == batch_id]
    assert [batch.priority for batch in due] == [True]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_welcome_is_tracked_only_while_tracking_is_on_everywhere_and_for_the_list(settings: Settings, db: Database) -> None:
    people(db)
    list_id = make_public(db)
    issue = publish(settings, db)
    with db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == issue.id).values(tracking=True))
    choose_welcome(db, list_id, issue.id)
    assert welcome_for(settings, db, "zoe.obrien@example.com")[1] is True
    assert welcome_for(settings.model_copy(update={"tracking": False}), db, "raj.patel@example.org")[1] is False
    with db.transaction() as session:
        session.execute(update(MailingList).where(MailingList.id == list_id).values(tracking=False))
    assert welcome_for(settings, db, "kwame.mensah@example.com")[1] is False


def test_an_imports_welcome_is_cut_into_batches_of_the_batch_size(
    settings: Settings, db: Database, env: dict[str, str], tmp_path: Path
) -> None:
    people(db)
    list_id = make_public(db)
    choose_welcome(db, list_id, publish(settings, db).id)
    addresses = [f"reader{number:02}@example.com" for number in range(7)]
    result = run_cli(
        {**env, "NEWSLETTER_BATCH_SIZE": "3"}, "subscribers", "import", write_csv(tmp_path, *addresses), "--list", "attendees", "--welcome"
    )
    assert result.returncode == 0, result.output
    assert result.last_line.endswith("to 7 subscriber(s) in 3 batch(es)")
    assert [address for _, address, _ in welcome_deliveries(db)] == addresses


def test_import_welcome_for_a_list_without_a_welcome_issue_is_exit_2_and_imports_nothing(
    db: Database, env: dict[str, str], tmp_path: Path
) -> None:
    people(db)
    result = run_cli(env, "subscribers", "import", write_csv(tmp_path, NEWCOMER), "--list", "attendees", "--welcome")
    assert result.returncode == 2, result.output
    assert "list 'attendees' has no welcome issue it can send" in result.output
    new_list = run_cli(env, "subscribers", "import", write_csv(tmp_path, NEWCOMER), "--list", "brand-new", "--welcome")
    assert new_list.returncode == 2 and "no list named 'brand-new'" in new_list.output
    with db.transaction() as session:
        assert session.scalar(select(Subscriber.id).where(Subscriber.email == NEWCOMER)) is None
        assert session.scalar(select(MailingList.id).where(MailingList.name == "brand-new")) is None


# --- End to end -----------------------------------------------------------------------------------


def messages_to(fake: FakeProviders, to: str) -> list[Accepted]:
    """The messages the fake provider accepted for ``to`` so far."""
    with fake.lock:
        return [message for message in fake.accepted if message.to == to]


def wait_for_messages(fake: FakeProviders, to: str, count: int) -> list[Accepted]:
    """The messages to ``to`` once the fake provider has accepted ``count`` of them (a worker is sending them)."""
    wait_until(lambda: len(messages_to(fake, to)) >= count)
    return messages_to(fake, to)


def welcome_state(db: Database, address: str) -> DeliveryState:
    """The state of ``address``'s welcome record once it is settled (neither pending nor sending)."""
    query = select(Delivery.state).join(Campaign, Campaign.id == Delivery.campaign_id)
    query = query.where(Campaign.kind == CampaignKind.WELCOME, Delivery.email == address)

    def state() -> DeliveryState | None:
        with db.transaction() as session:
            return session.scalar(query)

    wait_until(lambda: state() not in (None, DeliveryState.PENDING, DeliveryState.SENDING))
    settled = state()
    assert settled is not None
    return settled


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sign_up_confirm_twice_and_a_real_worker_sends_the_welcome_issue_once(
    settings: Settings,
    db: Database,
    postmark_env: dict[str, str],
    fake_postmark: FakeProviders,
    serve_web: ServeWeb,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    people(db, write_csv(tmp_path, ADDRESS), "news")
    list_id = make_public(db, "news")
    start_worker(postmark_env)
    issue_id = publish_with_cli(postmark_env, "news")
    issue = wait_for_messages(fake_postmark, ADDRESS, 1)[0]
    chosen = run_cli(postmark_env, "lists", "set", "news", "--welcome", str(issue_id))
    assert chosen.returncode == 0, chosen.output
    web_url = serve_web(settings.model_copy(update={"provider": "postmark"}))

    answer = requests.post(f"{web_url}/subscribe", data={"email": NEWCOMER, "list": "news"}, timeout=10)
    assert answer.status_code == 200
    confirmation = wait_for_messages(fake_postmark, NEWCOMER, 1)[0]
    links = set(re.findall(r"http://localhost:8000(/confirm/[A-Za-z0-9_.-]+)", confirmation.raw["HtmlBody"]))
    assert len(links) == 1
    link = links.pop()
    for _ in range(2):  # a double click
        assert "You are subscribed to news" in requests.post(f"{web_url}{link}", timeout=10).text

    welcome = wait_for_messages(fake_postmark, NEWCOMER, 2)[1]
    assert welcome.subject == issue.subject
    assert welcome_state(db, NEWCOMER) == DeliveryState.SENT
    headers = {header["Name"]: header["Value"] for header in welcome.raw["Headers"]}
    assert headers["List-Unsubscribe"].startswith("<http://localhost:8000/unsubscribe/")
    assert len(welcome_deliveries(db, NEWCOMER)) == 1
    views = set(re.findall(r"http://localhost:8000(/view/[A-Za-z0-9_.-]+)", welcome.raw["HtmlBody"]))
    assert len(views) == 1
    assert requests.get(f"{web_url}{views.pop()}", timeout=10).status_code == 200  # the welcome's view link shows the issue
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Subscription).where(Subscription.list_id == list_id)) == 2
    # The provider saw the issue, the confirmation and one welcome: nothing else.
    assert sorted(fake_postmark.recipients()) == sorted([ADDRESS, NEWCOMER, NEWCOMER])

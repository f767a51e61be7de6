"""One record whose message cannot be built never takes its batch down.

A real worker process sends through the fake provider. The bad record is put
in the ledger directly, as data that slipped in before the entry points
refused it: an address with a non-ASCII local part, a subject with a control
character. ``in_doubt`` must keep its one meaning (a provider call was
started and may have delivered), so none of these may end there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from publisher.db.engine import open_database
from publisher.db.models import Campaign, Delivery, DeliveryState
from tests.fakes.server import FakeProviders
from tests.support.audience import CSV
from tests.support.campaigns import publish_with_cli
from tests.support.cli import run_cli
from tests.support.recaps import RECAP
from tests.support.types import StartWorker

#: Accepted by import and sign-up before this was fixed; no provider here can send it.
UNICODE_LOCAL_PART = "用户@例子.广告"


def finished(env: dict[str, str], cid: int) -> dict[str, int]:
    assert run_cli(env, "status", str(cid), "--wait", "--timeout", "60").returncode == 0
    shown = json.loads(run_cli(env, "status", str(cid), "--json").output)["campaigns"][0]
    assert shown["status"] == "complete"
    return dict(shown["deliveries"])


def records(env: dict[str, str], cid: int) -> list[tuple[str, DeliveryState, str | None]]:
    db = open_database(env["NEWSLETTER_DATABASE_URL"])
    try:
        with db.transaction() as session:
            rows = session.execute(
                select(Delivery.email, Delivery.state, Delivery.last_error).where(Delivery.campaign_id == cid).order_by(Delivery.id)
            ).all()
        return [(row[0], row[1], row[2]) for row in rows]
    finally:
        db.dispose()


def poison(env: dict[str, str], cid: int, **campaign: str) -> None:
    """Give the campaign's third record an address no provider takes, or change the campaign itself."""
    db = open_database(env["NEWSLETTER_DATABASE_URL"])
    try:
        with db.transaction() as session:
            if campaign:
                session.execute(update(Campaign).where(Campaign.id == cid).values(**campaign))
            else:
                third = session.scalars(select(Delivery.id).where(Delivery.campaign_id == cid).order_by(Delivery.id)).all()[2]
                session.execute(update(Delivery).where(Delivery.id == third).values(email=UNICODE_LOCAL_PART))
    finally:
        db.dispose()


@pytest.mark.parametrize("provider", ["postmark", "outbox"])
def test_a_recipient_whose_message_cannot_be_built_fails_alone_and_the_rest_of_the_batch_goes_out(
    provider: str, postmark_env: dict[str, str], fake_postmark: FakeProviders, start_worker: StartWorker, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    env = {**postmark_env, "NEWSLETTER_PROVIDER": provider, "NEWSLETTER_OUTBOX_DIR": str(outbox), "NEWSLETTER_BATCH_SIZE": "25"}
    assert run_cli(env, "subscribers", "import", CSV, "--list", "attendees").returncode == 0
    cid = publish_with_cli(env)
    poison(env, cid)
    start_worker(env)
    counts = finished(env, cid)
    assert (counts["sent"], counts["failed"], counts["in_doubt"]) == (24, 1, 0)
    [(address, state, error)] = [row for row in records(env, cid) if row[1] != DeliveryState.SENT]
    assert (address, state) == (UNICODE_LOCAL_PART, DeliveryState.FAILED)
    assert error is not None and "before the @" in error and "SMTPUTF8" in error
    if provider == "postmark":
        assert len(fake_postmark.recipients()) == 24
    else:
        assert len(list(outbox.glob("*.eml"))) == 24


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        ("Issue\x0bone", "a control character (U+000B)"),
        ("Issue\u2028one", "a line break (U+2028)"),
        ("Issue\x85one", "a line break (U+0085)"),
    ],
)
def test_a_subject_no_message_can_carry_fails_every_record_with_the_reason_never_in_doubt(
    subject: str, reason: str, postmark_env: dict[str, str], fake_postmark: FakeProviders, start_worker: StartWorker
) -> None:
    env = {**postmark_env, "NEWSLETTER_BATCH_SIZE": "25"}
    assert run_cli(env, "subscribers", "import", CSV, "--list", "attendees").returncode == 0
    cid = publish_with_cli(env)
    poison(env, cid, subject=subject)
    start_worker(env)
    counts = finished(env, cid)
    assert (counts["sent"], counts["failed"], counts["in_doubt"]) == (0, 25, 0)
    errors = {error for _, _, error in records(env, cid)}
    assert len(errors) == 1 and f"the subject contains {reason}" in str(errors)
    assert fake_postmark.calls_to("postmark") == []


def test_a_test_send_to_an_address_no_provider_takes_is_refused_before_anything_is_written(postmark_env: dict[str, str]) -> None:
    assert run_cli(postmark_env, "subscribers", "import", CSV, "--list", "attendees").returncode == 0
    result = run_cli(postmark_env, "publish", RECAP, "--list", "attendees", "--test-to", UNICODE_LOCAL_PART)
    assert result.returncode == 2
    assert "before the @" in result.output and "SMTPUTF8" in result.output
    db = open_database(postmark_env["NEWSLETTER_DATABASE_URL"])
    try:
        with db.transaction() as session:
            assert session.scalars(select(Campaign.id)).all() == []
    finally:
        db.dispose()

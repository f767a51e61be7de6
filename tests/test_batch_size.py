"""The batch size: each provider's largest batch unless NEWSLETTER_BATCH_SIZE sets fewer, and never more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from publisher import sending
from publisher.accounts.roles import CLI_ACTOR
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.ledger.drafts import SendOrder
from tests.support.audience import people
from tests.support.drafts import batches_of, deliveries_of, save_draft
from tests.support.providers import HTTP_PROVIDERS, NOTHING_LISTENS
from workers.providers import check_provider, provider_class

#: Each provider's largest batch, as the README and docs/providers.md give them.
LARGEST = {"outbox": 1000, "postmark": 500, "mailgun": 1000, "sendgrid": 1000, "resend": 100, "ses": 50, "smtp": 100}


def configured(name: str) -> dict[str, Any]:
    """Settings that configure provider ``name`` (nothing is sent: the check reads the settings only)."""
    if name == "smtp":
        return {"smtp_host": "127.0.0.1"}
    for case in HTTP_PROVIDERS:
        if case.name == name:
            return {**case.credentials, case.base_url_setting: NOTHING_LISTENS}
    return {}


def audience_of(tmp_path: Path, count: int) -> Path:
    csv = tmp_path / "audience.csv"
    rows = "".join(f"reader{number}@example.com,Reader {number}\n" for number in range(count))
    csv.write_text("email,name\n" + rows, encoding="utf-8")
    return csv


@pytest.mark.parametrize(("name", "largest"), sorted(LARGEST.items()))
def test_unset_the_batch_size_is_the_providers_largest_batch(name: str, largest: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_BATCH_SIZE", raising=False)
    settings = Settings(**configured(name))
    assert settings.batch_size is None
    assert provider_class(name).max_batch_size == largest
    assert sending.batch_size(settings, check_provider, name) == largest


@pytest.mark.parametrize(("value", "expected"), [("10", 10), ("500", 500), ("800", 500)])
def test_the_variable_sets_fewer_and_is_capped_by_the_provider(value: str, expected: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_BATCH_SIZE", value)
    assert sending.batch_size(Settings(**configured("postmark")), check_provider, "postmark") == expected


def test_an_empty_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_BATCH_SIZE", "")
    assert Settings().batch_size is None


@pytest.mark.parametrize("value", ["0", "1001", "many"])
def test_a_batch_size_out_of_range_is_refused_naming_the_variable(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_BATCH_SIZE", value)
    with pytest.raises(ValidationError, match="batch_size"):
        Settings()


@pytest.mark.parametrize(("overrides", "batches"), [({"provider": "ses"}, 3), ({"provider": "outbox"}, 1), ({"batch_size": 30}, 4)])
def test_a_sent_draft_is_cut_into_batches_of_the_batch_size(
    settings: Settings, db: Database, tmp_path: Path, overrides: dict[str, Any], batches: int
) -> None:
    """120 readers: SES's 50 make 3 batches, the outbox's 1,000 one, a batch size of 30 four."""
    settings = settings.model_copy(update={**configured(overrides.get("provider", "outbox")), **overrides})
    people(db, audience_of(tmp_path, 120))
    draft = save_draft(settings, db)
    created = sending.send(settings, db, SendOrder(draft), CLI_ACTOR, check_provider)
    assert created.recipients == deliveries_of(db, draft) == 120
    assert batches_of(db, draft) == len(created.batch_ids) == batches

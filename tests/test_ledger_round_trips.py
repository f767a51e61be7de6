"""What one batch asks of the database: the round trips of claiming, sending and recording it.

Every round trip to PostgreSQL costs a context switch on the worker's
machine and the server's; these tests count them over whole batches
delivered through the fake Postmark, so a change that adds one per batch
is seen (docs/performance.md, "The ledger's statements per batch").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import event

from publisher.core.settings import Settings
from publisher.ledger.dispatch import mark_enqueued
from tests.fakes.postmark import TOKEN
from tests.fakes.server import FakeProviders
from tests.support.campaigns import publish_to_attendees
from workers.delivery.batch import deliver_batch
from workers.delivery.context import WorkerContext
from workers.runtime import build_context


@pytest.fixture
def ctx(settings: Settings, fake_provider: FakeProviders, redis_client: redis.Redis, tmp_path: Path) -> Iterator[WorkerContext]:
    configured = settings.model_copy(
        update={"provider": "postmark", "postmark_api_key": TOKEN, "postmark_base_url": fake_provider.base_url, "batch_size": 10}
    )
    context = build_context(configured)
    yield context
    context.close()


def round_trips(ctx: WorkerContext, batch_ids: list[int]) -> Counter[str]:
    """Deliver each batch; count the statements, pings, BEGINs and COMMITs it sent."""
    engine = ctx.db.engine
    seen: Counter[str] = Counter()

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen["statements"] += 1

    def began(_conn: Any) -> None:
        seen["transactions"] += 1

    real_ping = engine.dialect.do_ping

    def ping(dbapi_connection: Any) -> bool:
        seen["pings"] += 1
        return real_ping(dbapi_connection)

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "begin", began)
    engine.dialect.do_ping = ping  # type: ignore[method-assign]
    try:
        for batch_id in batch_ids:
            outcome = deliver_batch(ctx, batch_id, max_countdown=60)
            assert outcome.sent == 10 and outcome.retry_in is None
    finally:
        engine.dialect.do_ping = real_ping  # type: ignore[method-assign]
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "begin", began)
    return seen


def test_a_batch_is_claimed_sent_and_recorded_in_a_fixed_number_of_round_trips(ctx: WorkerContext) -> None:
    created = publish_to_attendees(ctx.settings, ctx.db)
    mark_enqueued(ctx.db, created.batch_ids)
    full = created.batch_ids[:2]  # the third batch holds the last 5 and completes the campaign
    seen = round_trips(ctx, full)
    per_batch = {name: count / len(full) for name, count in seen.items()}
    if ctx.db.engine.dialect.name == "postgresql":
        # Claim: the campaign, set aside, claim. Results: one UPDATE … FROM (which
        # reads the campaign's cancellation too), then the completion check's two.
        # Each transaction adds a BEGIN and a COMMIT; a busy connection no ping.
        assert per_batch == {"transactions": 2, "statements": 6}
    else:
        # The same six, and each transaction's BEGIN IMMEDIATE as a statement.
        assert per_batch == {"transactions": 2, "statements": 8}

"""The workers' sweep and send, done by hand at a chosen moment: what is due is enqueued, and what is queued is sent."""

from __future__ import annotations

import datetime as dt
import json

import redis
import time_machine

from publisher.core.outcomes import Outcome, SendResult
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.ledger.claims import Claim, claim_batch, record_results
from publisher.queue import QUEUE_SEND, unmark_queued
from workers.sweeper import LOCK_NAME, Sweeper

LEASE = dt.timedelta(minutes=5)


def sweep(settings: Settings, redis_url: str, moment: dt.datetime) -> None:
    """One sweep of the workers at ``moment``, as they run it (under its Redis lock)."""
    redis.Redis.from_url(redis_url).delete(LOCK_NAME)
    with time_machine.travel(moment, tick=False):
        Sweeper(settings, redis_url).sweep_once()


def queued_batches(client: redis.Redis) -> list[int]:
    """The batch of every message on the send queue, one entry per message (a batch on it twice is there twice)."""
    return [int(json.loads(message)["headers"]["argsrepr"].strip("[]")) for message in client.lrange(QUEUE_SEND, 0, -1)]


def drain(db: Database, client: redis.Redis) -> list[int]:
    """Do what a worker does with every message on the send queue: take it, claim its batch and send it; return their batches."""
    taken = queued_batches(client)
    client.delete(QUEUE_SEND)
    for batch_id in taken:
        unmark_queued(client, batch_id)
        send_batch(db, batch_id)
    return taken


def send_batch(db: Database, batch_id: int) -> None:
    """Send one batch as a worker would, every record accepted."""
    claim = claim_batch(db, batch_id, LEASE, "outbox", idempotent=False)
    if claim is not None and claim.deliveries:
        record_results(db, claim, _accepted(claim), 3)


def _accepted(claim: Claim) -> list[SendResult]:
    return [SendResult(d.id, Outcome.ACCEPTED, provider_message_id=f"m{d.id}") for d in claim.deliveries]

"""The publisher enqueues by task name: the message on Redis is the one the workers' task expects."""

from __future__ import annotations

import base64
import json

import pytest
import redis

from publisher.core.settings import Settings
from publisher.ledger.dispatch import QueuedBatch
from publisher.queue import QUEUE_PRIORITY, QUEUE_SEND, QUEUED_KEY, TASK_SEND_BATCH, TASK_SOFT_TIME_LIMIT, TASK_TIME_LIMIT, enqueue

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def queued_messages(client: redis.Redis, queue: str) -> list[dict[str, object]]:
    return [json.loads(raw) for raw in client.lrange(queue, 0, -1)]


def test_each_batch_is_one_named_task_message_on_its_queue(settings: Settings, redis_client: redis.Redis) -> None:
    enqueue(settings, settings.redis_url or "", [QueuedBatch(7, priority=False), QueuedBatch(8, priority=True)])

    [on_send] = queued_messages(redis_client, QUEUE_SEND)
    [on_priority] = queued_messages(redis_client, QUEUE_PRIORITY)
    for message, batch_id in ((on_send, 7), (on_priority, 8)):
        headers = message["headers"]
        assert isinstance(headers, dict)
        # The same headers the task's own apply_async wrote: the name the
        # worker looks the task up by, its time limits, no result kept.
        assert headers["task"] == TASK_SEND_BATCH
        assert headers["timelimit"] == [TASK_TIME_LIMIT, TASK_SOFT_TIME_LIMIT]
        assert headers["ignore_result"] is True
        body = json.loads(base64.b64decode(str(message["body"])))
        assert body[0] == [batch_id]
    assert set(redis_client.hkeys(QUEUED_KEY)) == {b"7", b"8"}

"""Every Redis key and command of the platform lives in this package and nowhere else.

``Store`` is the one façade the API, the dispatcher and the archiver use; its parts live by
responsibility: ``keys`` (the key layout), ``scripts`` (the Lua steps of a task's life),
``records`` (functions and tasks, the API's side), ``queue`` (the stream, claims and the
dispatcher's batched writes), ``monitor`` (health, state, counters, events), ``retention``
(what the archiver needs) and ``replies`` (reading replies, which errors to retry).

Submitting is one Lua call (check the function exists, write the task, enqueue it), and
recording an outcome is one Lua call that only writes if the task is not terminal yet and
the report is of its latest attempt: the first terminal result wins, a late duplicate or a
stale attempt is dropped.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from faas.store.keys import (
    DONE_CHANNEL,
    EVENTS_KEY,
    FINISHED_KEY,
    GROUP,
    LATENCY_BUCKETS,
    QUEUE_KEY,
    STATS_KEY,
    function_key,
    task_key,
)
from faas.store.monitor import Monitor
from faas.store.queue import Count, Event, Outcome, Queue, Requeued, Running, Write
from faas.store.records import Records
from faas.store.replies import TRANSIENT_REPLIES, is_transient, lost_group
from faas.store.retention import Retention

__all__ = [
    "DONE_CHANNEL",
    "EVENTS_KEY",
    "FINISHED_KEY",
    "GROUP",
    "LATENCY_BUCKETS",
    "QUEUE_KEY",
    "STATS_KEY",
    "TRANSIENT_REPLIES",
    "Count",
    "Event",
    "Outcome",
    "Requeued",
    "Running",
    "Store",
    "Write",
    "function_key",
    "is_transient",
    "lost_group",
    "task_key",
]


class Store(Records, Queue, Monitor, Retention):
    """Typed access to the platform's Redis; the connection is passed in."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

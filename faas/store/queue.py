"""The dispatcher's side: the queue stream and its consumer group, claims, and the batched
writes of a task's life after submission (RUNNING, back to QUEUED, the outcome)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from faas.models import Task, TaskStatus
from faas.store.keys import (
    DONE_CHANNEL,
    EVENTS_KEPT,
    EVENTS_KEY,
    FINISHED_KEY,
    GROUP,
    LATENCY_BUCKETS,
    LATENCY_KEY,
    QUEUE_KEY,
    STATS_KEY,
    task_key,
)
from faas.store.replies import text
from faas.store.scripts import pipelined, queue_script

_BUCKETS = ",".join(f"{b:g}" for b in LATENCY_BUCKETS)
_FINISH_KEYS = (QUEUE_KEY, STATS_KEY, LATENCY_KEY, DONE_CHANNEL, FINISHED_KEY)


@dataclass(frozen=True)
class Outcome:
    """A task's final result as a worker reports it (or the dispatcher decides it)."""

    task_id: str
    entry_id: str
    status: TaskStatus
    payload: bytes
    started: float = 0.0
    finished: float = 0.0
    worker: str = ""
    #: The dispatch this result is of; None: the dispatcher's own verdict (counts regardless
    #: of the attempt).
    attempt: int | None = None


@dataclass(frozen=True)
class Running:
    """Attempt ``attempt`` of a task handed to ``worker`` at ``dispatched``. Every write
    holds plain values taken when it was queued, never the task itself: the writer may run
    after the task has moved on to later attempts."""

    task_id: str
    attempt: int
    worker: str
    dispatched: float


@dataclass(frozen=True)
class Requeued:
    """A task back to QUEUED after attempt ``attempt`` was lost."""

    task_id: str
    attempt: int


@dataclass(frozen=True)
class Event:
    """An entry for the capped events stream (``worker_lost``, ``task_lost``)."""

    kind: str
    fields: tuple[tuple[str, str | int | float], ...]
    time: float


@dataclass(frozen=True)
class Count:
    """``n`` added to a counter of ``faas:stats``."""

    counter: str
    n: int = 1


Write = Running | Requeued | Outcome | Event | Count


def _queue_write(pipe: Pipeline, w: Write, mode: str, now: float) -> None:
    """Queue the command that applies one write."""
    if isinstance(w, Outcome):
        fields = ["result", w.payload, "started", w.started, "finished", w.finished]
        fields += ["stored", now, "worker", w.worker]
        attempt = "*" if w.attempt is None else w.attempt
        head = [GROUP, w.entry_id, mode, now, _BUCKETS, w.task_id, attempt, w.status.value]
        queue_script(pipe, "finish", [task_key(w.task_id), *_FINISH_KEYS], head + fields)
    elif isinstance(w, Running):
        fields = ["dispatched", w.dispatched, "worker", w.worker, "attempts", w.attempt]
        queue_script(pipe, "transition", [task_key(w.task_id)], ["RUNNING", *fields])
    elif isinstance(w, Requeued):
        queue_script(pipe, "requeue", [task_key(w.task_id), STATS_KEY], [w.attempt])
    elif isinstance(w, Event):
        entry = {"kind": w.kind, "time": w.time, **dict(w.fields)}
        pipe.xadd(EVENTS_KEY, entry, maxlen=EVENTS_KEPT, approximate=True)
    else:
        pipe.hincrby(STATS_KEY, w.counter, w.n)


class Queue:
    """The durable queue: claim entries, keep them, apply a dispatcher's writes."""

    redis: aioredis.Redis

    async def ensure_group(self) -> None:
        """Create the queue and its consumer group if they do not exist."""
        try:
            await self.redis.xgroup_create(QUEUE_KEY, GROUP, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def read_queue(self, consumer: str, count: int, block_ms: int | None) -> list[Task]:
        """Claim up to ``count`` new tasks for ``consumer``, waiting up to ``block_ms``."""
        reply = await self.redis.xreadgroup(
            GROUP, consumer, {QUEUE_KEY: ">"}, count=count, block=block_ms
        )
        return await self._tasks(reply[0][1] if reply else [], fresh=True)

    async def read_own_pending(
        self, consumer: str, page: int = 1000
    ) -> tuple[list[Task], set[str]]:
        """Every entry ``consumer`` was given but never finished (a restarted dispatcher's),
        read ``page`` at a time, and the ids of those that were handed to a worker (RUNNING:
        a surviving worker may still hand in their result)."""
        tasks: list[Task] = []
        after = "0"
        while True:
            reply = await self.redis.xreadgroup(GROUP, consumer, {QUEUE_KEY: after}, count=page)
            entries = reply[0][1] if reply else []
            if not entries:
                break
            tasks += await self._tasks(entries)
            after = text(entries[-1][0])
        async with self.redis.pipeline(transaction=False) as pipe:
            for task in tasks:
                pipe.hget(task_key(task.task_id), "status")
            statuses = await pipe.execute()
        running = TaskStatus.RUNNING.value
        return tasks, {
            t.task_id for t, st in zip(tasks, statuses, strict=True) if text(st) == running
        }

    async def claim_stale(
        self, consumer: str, min_idle_ms: int, start: str = "0-0", count: int = 100
    ) -> tuple[list[Task], str]:
        """Take over entries another (dead) dispatcher has held longer than ``min_idle_ms``,
        scanning the pending entries from ``start``; answer them and where the next call
        starts (``0-0`` once the scan went round). Redis 7 looks at most ``count`` × 10
        pending entries per call, so a caller that always started at ``0-0`` would never
        reach stale entries behind many live ones."""
        reply = await self.redis.xautoclaim(  # Redis 7 adds a third element: deleted ids
            QUEUE_KEY, GROUP, consumer, min_idle_time=min_idle_ms, start_id=start, count=count
        )
        return await self._tasks(reply[1]), text(reply[0])

    async def renew(self, consumer: str, entry_ids: Sequence[str]) -> set[str]:
        """Reset the idle time of entries we still own, so no other dispatcher takes them
        over; answer the ids we no longer own (finished, or taken over by another)."""
        if not entry_ids:
            return set()
        args = [GROUP, consumer, *entry_ids]
        gone = await pipelined(
            self.redis, lambda pipe: queue_script(pipe, "renew", [QUEUE_KEY], args)
        )
        return {text(e) for e in gone[0]}

    async def _tasks(
        self, entries: Iterable[tuple[bytes, dict[bytes, bytes]]], fresh: bool = False
    ) -> list[Task]:
        """Tasks of queue entries; entries never delivered before have made no attempt yet."""
        tasks = [
            Task(
                task_id=fields[b"task_id"].decode(),
                entry_id=text(entry_id),
                function_id=fields[b"function_id"].decode(),
                args=fields[b"args"],
                timeout_s=float(fields.get(b"timeout", 0) or 0),
            )
            for entry_id, fields in entries
            if fields is not None  # None: deleted under us (already finished)
        ]
        if tasks and not fresh:  # a claimed task keeps the attempts it already had
            async with self.redis.pipeline(transaction=False) as pipe:
                for task in tasks:
                    pipe.hget(task_key(task.task_id), "attempts")
                for task, attempts in zip(tasks, await pipe.execute(), strict=True):
                    task.attempts = int(attempts or 0)
        return tasks

    async def write_batch(self, writes: Sequence[Write], mode: str = "") -> list[int]:
        """Apply a dispatcher's writes in order, in one round trip; every write is idempotent,
        so a batch can be sent again after an error. Answers, per Outcome, 1 (recorded),
        0 (a result was already stored) or -1 (stale: of an attempt other than the latest).
        ``mode`` labels the completed/failed counters."""
        if not writes:
            return []
        now = time.time()

        def build(pipe: Pipeline) -> None:
            for w in writes:
                _queue_write(pipe, w, mode, now)

        replies = await pipelined(self.redis, build)
        return [int(r) for r, w in zip(replies, writes, strict=True) if isinstance(w, Outcome)]

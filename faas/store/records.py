"""Function and task records, as the API writes and reads them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence

import redis.asyncio as aioredis

from faas.exceptions import FunctionNotFoundError, TaskNotFoundError
from faas.models import TaskStatus
from faas.store.keys import QUEUE_KEY, STATS_KEY, function_key, task_key
from faas.store.replies import text
from faas.store.scripts import run_script


class Records:
    """Functions and tasks: register, submit, read status and results, delete."""

    redis: aioredis.Redis

    async def register_function(self, name: str, payload: bytes) -> str:
        """Store a function; returns its new id."""
        function_id = str(uuid.uuid4())
        mapping = {"name": name, "payload": payload, "created": time.time()}
        await self.redis.hset(function_key(function_id), mapping=mapping)
        return function_id

    async def delete_function(self, function_id: str) -> bool:
        """Delete a function record; False if there was none. Its queued tasks will fail."""
        return bool(await self.redis.delete(function_key(function_id)))

    async def lookup_functions(
        self,
        fetch: Iterable[str],
        check: Iterable[str] = (),
    ) -> tuple[dict[str, bytes | None], set[str]]:
        """In one round trip: the payloads of ``fetch`` (None for unknown ids), and which of
        ``check`` are still registered."""
        fetch, check = list(fetch), list(check)
        if not fetch and not check:
            return {}, set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for function_id in fetch:
                pipe.hget(function_key(function_id), "payload")
            for function_id in check:
                pipe.exists(function_key(function_id))
            replies = await pipe.execute()
        payloads = dict(zip(fetch, replies[: len(fetch)], strict=True))
        return payloads, {f for f, n in zip(check, replies[len(fetch) :], strict=True) if n}

    async def submit(self, function_id: str, args: bytes, timeout_s: float | None = None) -> str:
        """Create a QUEUED task and enqueue it in one round trip; returns the task id."""
        task_id = str(uuid.uuid4())
        keys = [function_key(function_id), task_key(task_id), QUEUE_KEY, STATS_KEY]
        values = [task_id, function_id, args, time.time(), timeout_s or 0]
        if await run_script(self.redis, "submit", keys, values) is None:
            raise FunctionNotFoundError(function_id)
        return task_id

    async def submit_many(
        self, function_id: str, args: Sequence[bytes], timeout_s: float | None = None
    ) -> list[str]:
        """Create and enqueue one task per argument payload, in order, in one atomic call:
        if the function is unknown (or deleted meanwhile) nothing is stored."""
        task_ids = [str(uuid.uuid4()) for _ in args]
        keys = [function_key(function_id), QUEUE_KEY, STATS_KEY, *map(task_key, task_ids)]
        values: list[object] = [function_id, time.time(), timeout_s or 0]
        for task_id, payload in zip(task_ids, args, strict=True):
            values += [task_id, payload]
        if await run_script(self.redis, "submit_batch", keys, values) is None:
            raise FunctionNotFoundError(function_id)
        return task_ids

    async def status(self, task_id: str) -> TaskStatus:
        """A task's status."""
        status = await self.redis.hget(task_key(task_id), "status")
        if status is None:
            raise TaskNotFoundError(task_id)
        return TaskStatus(text(status))

    async def result(self, task_id: str) -> tuple[TaskStatus, bytes | None]:
        """A task's status and, once it has ended, its serialized result."""
        found = (await self.results([task_id]))[0]
        if found is None:
            raise TaskNotFoundError(task_id)
        return found

    async def results(
        self,
        task_ids: Sequence[str],
    ) -> list[tuple[TaskStatus, bytes | None] | None]:
        """Status and result of several tasks, in order (None where Redis has no such task),
        in one round trip."""
        if len(task_ids) == 1:  # the common case, without a pipeline object
            status, result = await self.redis.hmget(task_key(task_ids[0]), ["status", "result"])
            return [None if status is None else (TaskStatus(text(status)), result)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.hmget(task_key(task_id), ["status", "result"])
            replies = await pipe.execute()
        return [
            None if status is None else (TaskStatus(text(status)), result)
            for status, result in replies
        ]

"""What the archiver needs: finished tasks due for the archive, their records, forgetting."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis.asyncio as aioredis

from faas.store.keys import FINISHED_KEY, task_key
from faas.store.replies import text


class Retention:
    """Finished tasks stay in Redis for a TTL, then move to the archive."""

    redis: aioredis.Redis

    async def due_for_archive(self, stored_before: float, count: int) -> list[str]:
        """Ids of finished tasks stored before ``stored_before`` (oldest first)."""
        ids = await self.redis.zrangebyscore(
            FINISHED_KEY, "-inf", stored_before, start=0, num=count
        )
        return [text(i) for i in ids]

    async def task_dumps(self, task_ids: Sequence[str]) -> list[dict[str, bytes | str]]:
        """Every field of each task record (result as bytes), with its ``task_id``."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.hgetall(task_key(task_id))
            found = await pipe.execute()
        return [
            {"task_id": task_id, **{text(k): v for k, v in fields.items()}}
            for task_id, fields in zip(task_ids, found, strict=True)
            if fields
        ]

    async def unlist_finished(self, task_ids: Iterable[str]) -> None:
        """Take tasks off the archiving schedule (they stay in Redis)."""
        ids = list(task_ids)
        if ids:
            await self.redis.zrem(FINISHED_KEY, *ids)

    async def forget(self, task_ids: Sequence[str]) -> None:
        """Delete archived tasks from Redis."""
        if not task_ids:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*[task_key(t) for t in task_ids]).zrem(FINISHED_KEY, *task_ids)
            await pipe.execute()

"""Long-poll without polling: one Redis subscription per API process wakes waiting requests.

The store publishes the id of every task whose outcome it records on ``faas:done``. A
request that waits registers its task ids *before* reading their status (so a result
recorded in between is not missed), then sleeps on one ``asyncio.Event`` until a listed task
is published or its deadline passes. If the subscription breaks, the listener reconnects
with back-off; meanwhile waiters simply reach their deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import redis.asyncio as aioredis

from faas.aio import cancel_and_wait
from faas.store import DONE_CHANNEL

log = logging.getLogger(__name__)


class Waiters:
    """Task ids that requests wait on, and the subscription that wakes them."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._events: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._listener: asyncio.Task[Any] | None = None

    def start(self) -> None:
        """Start listening (in the running loop)."""
        self._listener = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        """Stop listening."""
        if self._listener:
            await cancel_and_wait(self._listener)

    @contextlib.contextmanager
    def watch(self, task_ids: Iterable[str]) -> Iterator[asyncio.Event]:
        """An event set as soon as any of ``task_ids`` is recorded."""
        event, ids = asyncio.Event(), list(task_ids)
        for task_id in ids:
            self._events[task_id].add(event)
        try:
            yield event
        finally:
            for task_id in ids:
                waiting = self._events.get(task_id)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._events[task_id]

    def _wake(self, task_id: str) -> None:
        for event in self._events.get(task_id, ()):
            event.set()

    async def _listen(self) -> None:
        delay = 0.05
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(DONE_CHANNEL)
                    delay = 0.05
                    async for message in pubsub.listen():
                        if message["type"] == "message" and self._events:
                            data = message["data"]
                            self._wake(data.decode() if isinstance(data, bytes) else data)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("done-channel subscription lost (%s); retrying in %.2fs", e, delay)
                await asyncio.sleep(delay)
                delay = min(2 * delay, 2.0)

"""What the platform says about itself: health, the dispatcher's published state and
workers, counters and the latency histogram (events and counters are written through the
dispatcher's batched writes: ``faas.store.queue``)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import redis.asyncio as aioredis

from faas.models import DispatcherState, WorkerInfo
from faas.store.keys import (
    DISPATCHER_KEY,
    GROUP,
    LATENCY_KEY,
    QUEUE_KEY,
    STATS_KEY,
    WORKERS_KEY,
)
from faas.store.replies import text


class Monitor:
    """Health, dispatcher state, counters and events."""

    redis: aioredis.Redis

    async def health(self) -> DispatcherState | None:
        """Ping Redis; return the dispatcher's published state, if one is alive."""
        async with self.redis.pipeline(transaction=False) as pipe:
            _, state = await pipe.ping().get(DISPATCHER_KEY).execute()
        return DispatcherState.model_validate_json(state) if state else None

    async def publish_dispatcher(
        self, state: DispatcherState, ttl_s: float, workers: Sequence[WorkerInfo] = ()
    ) -> None:
        """Publish the dispatcher's state for ``GET /health`` and its workers for
        ``GET /workers``; both expire after ``ttl_s``."""
        listed = "[" + ",".join(w.model_dump_json() for w in workers) + "]"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(DISPATCHER_KEY, state.model_dump_json(), px=int(ttl_s * 1000))
            pipe.set(WORKERS_KEY, listed, px=int(ttl_s * 1000))
            await pipe.execute()

    async def clear_dispatcher(self) -> None:
        """Withdraw the dispatcher's state (clean shutdown)."""
        await self.redis.delete(DISPATCHER_KEY, WORKERS_KEY)

    async def workers(self) -> list[WorkerInfo]:
        """The live workers the dispatcher last published."""
        listed = await self.redis.get(WORKERS_KEY)
        return [WorkerInfo.model_validate(w) for w in json.loads(listed)] if listed else []

    async def stats(self) -> dict[str, float]:
        """Counters, latency histogram (``latency:<bucket>``), queue depth and in-flight."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(STATS_KEY).hgetall(LATENCY_KEY).xlen(QUEUE_KEY)
            pipe.xpending(QUEUE_KEY, GROUP)
            counters, latency, entries, pending = await pipe.execute(raise_on_error=False)
        pending = pending["pending"] if isinstance(pending, dict) else 0
        entries = entries if isinstance(entries, int) else 0
        out = {text(k): float(v) for k, v in counters.items()}
        out.update({f"latency:{text(k)}": float(v) for k, v in latency.items()})
        out["queue_depth"], out["in_flight"] = entries - pending, pending
        return out

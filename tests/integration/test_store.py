"""faas/store on a real redis-server: what fakeredis does not reproduce (the scan limit of
XAUTOCLAIM, other clients' commands between a pipeline's)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio as aioredis

from faas.exceptions import FunctionNotFoundError
from faas.redis_server import EmbeddedRedis
from faas.store import GROUP, QUEUE_KEY, Store, function_key

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedRedis]:
    running = EmbeddedRedis()
    running.start()
    yield running
    running.stop()


@pytest.fixture
async def store(server: EmbeddedRedis) -> AsyncIterator[Store]:
    client = aioredis.from_url(server.url)
    await client.flushall()
    yield Store(client)
    await client.aclose()


async def test_a_stale_claim_behind_a_thousand_live_ones_is_reached(store: Store) -> None:
    """Redis 7 looks at COUNT x 10 pending entries per XAUTOCLAIM: a scan that always
    started at 0-0 never reached an entry held by a dead dispatcher behind 1 000 live
    ones."""
    await store.ensure_group()
    f = await store.register_function("f", b"code")
    ids = await store.submit_many(f, [b"a"] * 1101)
    assert len(await store.read_queue("dead", 1101, None)) == 1101
    await asyncio.sleep(0.2)
    live = [
        e["message_id"] for e in await store.redis.xpending_range(QUEUE_KEY, GROUP, "-", "+", 1100)
    ]
    await store.redis.xclaim(QUEUE_KEY, GROUP, "live", 0, live, justid=True)  # idle again: 0
    tasks, cursor = await store.claim_stale("taker", 100)
    assert tasks == [] and cursor != "0-0"  # the scan stopped short of the stale entry
    found, start = [], cursor
    for _ in range(5):
        tasks, start = await store.claim_stale("taker", 100, start)
        found += tasks
        if start == "0-0":
            break
    assert [t.task_id for t in found] == [ids[-1]]


async def test_a_batch_is_stored_whole_or_not_at_all_under_a_concurrent_delete(
    store: Store, server: EmbeddedRedis
) -> None:
    """``submit_many`` was a pipeline of one script per task: a DELETE from another
    client between two of them (here: as soon as the queue has grown) left the first part
    of the batch stored while the API answered 404."""
    await store.ensure_group()
    f = await store.register_function("f", b"code")
    watcher = redis.Redis.from_url(server.url)

    def delete_once_the_queue_grows() -> None:
        deadline = time.monotonic() + 10
        while watcher.xlen(QUEUE_KEY) == 0 and time.monotonic() < deadline:
            pass
        watcher.delete(function_key(f))

    deleting = threading.Thread(target=delete_once_the_queue_grows)
    deleting.start()
    try:
        stored = len(await store.submit_many(f, [b"x" * 100] * 5000))
    except FunctionNotFoundError:
        stored = 0
    deleting.join()
    watcher.close()
    assert await store.redis.xlen(QUEUE_KEY) == stored == 5000
    assert not await store.redis.exists(function_key(f))


async def test_submitting_a_batch_is_one_command(store: Store) -> None:
    """One EVALSHA, whatever the batch's size (what makes it atomic)."""
    f = await store.register_function("f", b"code")
    before = await store.redis.info("commandstats")
    await store.submit_many(f, [b"a"] * 100)
    after = await store.redis.info("commandstats")
    calls = {k: after[k]["calls"] - before.get(k, {"calls": 0})["calls"] for k in after}
    assert calls.get("cmdstat_evalsha") == 1

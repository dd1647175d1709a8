"""faas/store/monitor.py and keys.py on fakeredis: state, counters, events, the key prefix."""

from __future__ import annotations

from faas.models import DispatcherState, TaskStatus, WorkerInfo
from faas.store import EVENTS_KEY, Count, Event, Outcome, Store
from faas.store.keys import PREFIX


async def test_dispatcher_state_round_trip_and_clear(store: Store) -> None:
    assert await store.health() is None
    state = DispatcherState(mode="push", workers=2, processes=4)
    workers = [WorkerInfo(worker_id="w1", processes=2, in_flight=1, last_seen_s=0.5)]
    await store.publish_dispatcher(state, ttl_s=5, workers=workers)
    assert await store.health() == state
    assert await store.workers() == workers
    assert 0 < await store.redis.pttl("faas:dispatcher") <= 5000
    await store.clear_dispatcher()
    assert await store.health() is None and await store.workers() == []


async def test_events_are_kept_in_order_with_their_fields(store: Store) -> None:
    await store.write_batch(
        [
            Event("worker_lost", (("worker", "w1"), ("why", "silent")), 1.5),
            Event("task_lost", (("worker", "w2"), ("tasks", 3)), 2.5),
        ]
    )
    events = [
        {k.decode(): v.decode() for k, v in fields.items()}
        for _, fields in await store.redis.xrange(EVENTS_KEY)
    ]
    assert [(e["kind"], e["worker"]) for e in events] == [
        ("worker_lost", "w1"),
        ("task_lost", "w2"),
    ]
    assert events[1]["tasks"] == "3" and float(events[0]["time"]) == 1.5


async def test_stats_count_queue_depth_in_flight_and_latency(store: Store) -> None:
    await store.ensure_group()
    function_id = await store.register_function("f", b"code")
    for _ in range(3):
        await store.submit(function_id, b"a")
    [task] = await store.read_queue("d", 1, 10)
    await store.write_batch([Count("worker_lost", 2)])
    stats = await store.stats()
    assert (stats["submitted"], stats["worker_lost"]) == (3, 2)
    assert (stats["queue_depth"], stats["in_flight"]) == (2, 1)
    await store.write_batch([Outcome(task.task_id, task.entry_id, TaskStatus.COMPLETED, b"")])
    stats = await store.stats()
    assert stats["in_flight"] == 0 and stats["latency:sum"] >= 0
    assert sum(v for k, v in stats.items() if k.startswith("latency:") and k != "latency:sum") == 1


async def test_every_key_the_platform_writes_is_under_the_prefix(store: Store) -> None:
    """A submit-claim-finish cycle, state, counters and events leave no key outside
    ``faas:`` (so one prefix scan finds everything the platform owns)."""
    await store.ensure_group()
    function_id = await store.register_function("f", b"code")
    await store.submit(function_id, b"a")
    [task] = await store.read_queue("d", 1, 10)
    await store.write_batch([Outcome(task.task_id, task.entry_id, TaskStatus.COMPLETED, b"")])
    await store.publish_dispatcher(DispatcherState(mode="local", workers=1, processes=1), 5)
    await store.write_batch([Event("worker_lost", (("worker", "w"),), 1.0), Count("stale")])
    keys = [k.decode() for k in await store.redis.keys("*")]
    assert len(keys) >= 8
    assert [k for k in keys if not k.startswith(PREFIX)] == []

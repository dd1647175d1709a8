"""faas/store/records.py on fakeredis: register, submit, status and results."""

from __future__ import annotations

import pytest

from faas.exceptions import FunctionNotFoundError, TaskNotFoundError
from faas.models import TaskStatus
from faas.store import QUEUE_KEY, Store
from faas.store.scripts import SHAS
from tests.helpers import task_fields


async def test_submit_writes_task_and_queue_entry_together(store: Store) -> None:
    await store.ensure_group()
    function_id = await store.register_function("f", b"fn-bytes")
    task_id = await store.submit(function_id, b"args", timeout_s=2.5)
    assert await store.status(task_id) is TaskStatus.QUEUED
    fields = await task_fields(store, task_id)
    assert "attempts" not in fields and fields["function_id"] == function_id
    [(entry_id, entry)] = await store.redis.xrange(QUEUE_KEY)
    assert fields["entry"] == entry_id.decode()
    assert entry[b"task_id"].decode() == task_id and entry[b"args"] == b"args"
    assert float(entry[b"timeout"]) == 2.5
    assert await store.result(task_id) == (TaskStatus.QUEUED, None)


async def test_submit_many_keeps_order(store: Store) -> None:
    await store.ensure_group()
    function_id = await store.register_function("f", b"code")
    ids = await store.submit_many(function_id, [b"a0", b"a1", b"a2"])
    assert len(set(ids)) == 3
    entries = await store.redis.xrange(QUEUE_KEY)
    assert [(e[b"task_id"].decode(), e[b"args"]) for _, e in entries] == list(
        zip(ids, [b"a0", b"a1", b"a2"], strict=True)
    )


async def test_submit_to_unknown_function_stores_nothing(store: Store) -> None:
    await store.ensure_group()
    with pytest.raises(FunctionNotFoundError):
        await store.submit("00000000-0000-0000-0000-000000000000", b"x")
    assert await store.redis.xlen(QUEUE_KEY) == 0
    assert await store.redis.keys("faas:task:*") == []


async def test_unknown_task_raises_not_found(store: Store) -> None:
    with pytest.raises(TaskNotFoundError):
        await store.status("nope")
    with pytest.raises(TaskNotFoundError):
        await store.result("nope")
    assert await store.results(["nope"]) == [None]


async def test_lookup_functions_fetches_payloads_and_checks_existence(store: Store) -> None:
    kept = await store.register_function("f", b"code")
    gone = await store.register_function("g", b"other")
    assert await store.delete_function(gone) is True
    assert await store.delete_function(gone) is False
    payloads, alive = await store.lookup_functions([kept, "missing"], check=[kept, gone])
    assert payloads == {kept: b"code", "missing": None}
    assert alive == {kept}
    assert await store.lookup_functions([]) == ({}, set())


async def test_submit_and_batches_load_the_scripts_again_after_redis_lost_them(
    store: Store,
) -> None:
    """A restarted Redis has no scripts: the next submit (one script call, no pipeline) and
    the next batch (a pipeline) load them and go on."""
    await store.ensure_group()
    function_id = await store.register_function("f", b"code")
    for submit in (
        lambda: store.submit(function_id, b"a"),
        lambda: store.submit_many(function_id, [b"b", b"c"]),
    ):
        await store.redis.script_flush()
        assert await store.redis.script_exists(*SHAS.values()) == [False] * len(SHAS)
        await submit()
    assert await store.redis.xlen(QUEUE_KEY) == 3
    with pytest.raises(FunctionNotFoundError):
        await store.submit("no-such-function", b"a")

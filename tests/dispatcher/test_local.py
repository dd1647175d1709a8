"""faas/dispatcher/local.py: the dispatcher's own pool, on fakeredis, one real process."""

from __future__ import annotations

import asyncio

import dill
import fakeredis

from faas.config import Settings
from faas.dispatcher.local import LocalDispatcher
from faas.models import TaskStatus
from faas.store import Store
from tests import functions


async def test_the_local_pool_runs_tasks_and_records_their_outcomes(
    fake_server: fakeredis.FakeServer, store: Store
) -> None:
    await store.ensure_group()
    d = LocalDispatcher(
        Store(fakeredis.FakeAsyncRedis(server=fake_server)), Settings(heartbeat_s=0.2), "d", 1
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(d.run(stop))
    add = await store.register_function("add", dill.dumps(functions.add, recurse=True))
    fail = await store.register_function("div", dill.dumps(functions.div_by_zero, recurse=True))
    ok = [await store.submit(add, dill.dumps(((i,), {"b": 10}))) for i in range(3)]
    bad = await store.submit(fail, dill.dumps(((1,), {})))
    try:
        async with asyncio.timeout(30):
            while not all([(await store.status(t)).is_terminal for t in [*ok, bad]]):
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)
    assert [dill.loads((await store.result(t))[1]) for t in ok] == [10, 11, 12]
    status, error = await store.result(bad)
    assert status is TaskStatus.FAILED and isinstance(dill.loads(error), ZeroDivisionError)
    assert d.state().processes == 1 and d.inflight == {}

"""Expiry and archive: finished tasks leave Redis after the TTL, archived first."""

from __future__ import annotations

import asyncio
from pathlib import Path

import dill
from fastapi.testclient import TestClient

from faas.api.deps import get_archive, get_store
from faas.archive import Archive, Archiver
from faas.models import TaskStatus
from faas.store import FINISHED_KEY, Outcome, Store, task_key
from tests.functions import add, args_of, payload_of


async def _finished(store: Store, n: int) -> list[str]:
    await store.ensure_group()
    function_id = await store.register_function("f", b"code")
    ids = [await store.submit(function_id, b"args") for _ in range(n)]
    tasks = await store.read_queue("d", 100, 10)
    await store.write_batch(
        [
            Outcome(t.task_id, t.entry_id, TaskStatus.COMPLETED, dill.dumps(i))
            for i, t in enumerate(tasks)
        ],
        mode="local",
    )
    return ids


async def test_tasks_past_the_ttl_move_to_the_archive(store: Store, tmp_path: Path) -> None:
    archive = Archive(tmp_path / "a.sqlite3")
    old = await _finished(store, 3)
    await asyncio.sleep(0.5)
    young = await _finished(store, 2)
    archiver = Archiver(store, archive, ttl_s=0.25, batch=2)  # old: 0.5 s ago, young: now
    assert await archiver.run_once() == 3  # in batches of 2
    for i, task_id in enumerate(old):
        assert not await store.redis.exists(task_key(task_id))
        status, result = archive.get(task_id)
        assert status is TaskStatus.COMPLETED and dill.loads(result) == i
    for task_id in young:
        assert await store.redis.exists(task_key(task_id))
        assert archive.get(task_id) is None
    assert await store.redis.zcard(FINISHED_KEY) == 2
    assert archive.count() == 3


async def test_unfinished_tasks_are_never_archived(store: Store, tmp_path: Path) -> None:
    await store.ensure_group()
    task_id = await store.submit(await store.register_function("f", b"c"), b"a")
    assert await Archiver(store, Archive(tmp_path / "a.sqlite3"), ttl_s=0).run_once() == 0
    assert await store.redis.exists(task_key(task_id))


def test_archived_task_is_served_with_the_same_answer(client: TestClient) -> None:
    function_id = client.post(
        "/register_function", json={"name": "add", "payload": payload_of(add)}
    ).json()["function_id"]
    task_id = client.post(
        "/execute_function", json={"function_id": function_id, "payload": args_of(1)}
    ).json()["task_id"]

    async def finish_and_archive() -> bool:
        store = await client.app.dependency_overrides[get_store]()
        archive = await client.app.dependency_overrides[get_archive]()
        await store.ensure_group()
        [task] = await store.read_queue("d", 10, 10)
        await store.write_batch(
            [Outcome(task_id, task.entry_id, TaskStatus.COMPLETED, dill.dumps("kept"))]
        )
        await Archiver(store, archive, ttl_s=0).run_once()
        return bool(await store.redis.exists(task_key(task_id)))

    before = client.get(f"/result/{task_id}").json()
    assert before["status"] == "QUEUED"
    assert client.portal.call(finish_and_archive) is False  # gone from Redis
    after_result = client.get(f"/result/{task_id}").json()
    assert after_result["status"] == "COMPLETED"
    assert dill.loads(__import__("base64").b64decode(after_result["result"])) == "kept"
    assert client.get(f"/status/{task_id}").json() == {"task_id": task_id, "status": "COMPLETED"}
    assert client.post("/results", json={"task_ids": [task_id]}).json()["results"] == [after_result]


def test_delete_function(client: TestClient) -> None:
    function_id = client.post(
        "/register_function", json={"name": "add", "payload": payload_of(add)}
    ).json()["function_id"]
    assert client.delete(f"/functions/{function_id}").status_code == 200
    again = client.delete(f"/functions/{function_id}")
    assert again.status_code == 404 and "Function not found" in again.json()["detail"]
    gone = client.post(
        "/execute_function", json={"function_id": function_id, "payload": args_of(1)}
    )
    assert gone.status_code == 404


async def test_a_record_that_cannot_be_archived_never_stalls_the_rest(
    store: Store, tmp_path: Path
) -> None:
    """One bad record used to fail its whole batch again at every round, for good."""
    archive = Archive(tmp_path / "a.sqlite3")
    ids = await _finished(store, 4)
    await store.redis.hset(task_key(ids[1]), "worker", b"\xff\xfe not text")  # undecodable
    await asyncio.sleep(0.3)
    archiver = Archiver(store, archive, ttl_s=0.1, batch=10)
    assert await archiver.run_once() == 3
    assert archive.count() == 3 and archive.get(ids[1]) is None
    assert await store.redis.exists(task_key(ids[1]))  # kept, still answered from Redis
    assert await store.redis.zcard(FINISHED_KEY) == 0  # off the schedule: no stall
    assert await archiver.run_once() == 0

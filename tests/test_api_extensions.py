"""Batch submit, batch results, long-poll and metrics, in-process on fakeredis."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import dill
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from faas.api.deps import get_store, get_waiters
from faas.models import TaskStatus
from faas.serialize import deserialize, serialize
from faas.store import QUEUE_KEY, Outcome
from tests.functions import add, args_of, payload_of
from tests.helpers import wait_until


def _register(client: TestClient) -> str:
    return client.post(
        "/register_function", json={"name": "add", "payload": payload_of(add)}
    ).json()["function_id"]


def _finish(client: TestClient, task_ids: list[str], value: object = 42) -> None:
    """Act as a dispatcher: claim the queued tasks and record results, in the app's loop."""

    async def run() -> None:
        store = await client.app.dependency_overrides[get_store]()
        await store.ensure_group()
        tasks = {t.task_id: t for t in await store.read_queue("d", 10_000, 10)}
        await store.write_batch(
            [
                Outcome(i, tasks[i].entry_id, TaskStatus.COMPLETED, dill.dumps(value))
                for i in task_ids
            ],
            mode="push",
        )

    client.portal.call(run)


def test_batch_answers_task_ids_in_order(client: TestClient) -> None:
    function_id = _register(client)
    reply = client.post(
        "/execute_function_batch",
        json={"function_id": function_id, "payloads": [args_of(i) for i in range(50)]},
    )
    assert reply.status_code == 200
    task_ids = reply.json()["task_ids"]
    assert len(task_ids) == len(set(task_ids)) == 50

    async def queued_order() -> list[str]:
        store = await client.app.dependency_overrides[get_store]()
        await store.ensure_group()
        return [(t.task_id, dill.loads(t.args)) for t in await store.read_queue("d", 100, 10)]

    assert client.portal.call(queued_order) == [(t, ((i,), {})) for i, t in enumerate(task_ids)]


@pytest.mark.parametrize("copies", [1, 3000], ids=["small", "large-checked-in-a-thread"])
def test_one_invalid_payload_rejects_the_whole_batch(client: TestClient, copies: int) -> None:
    function_id = _register(client)
    payloads = [args_of(1), args_of(2)] * copies + ["%%% not base64", args_of(4)]
    reply = client.post(
        "/execute_function_batch", json={"function_id": function_id, "payloads": payloads}
    )
    assert reply.status_code == 400 and "base64" in reply.json()["detail"]

    async def stored() -> tuple[int, list]:
        store = await client.app.dependency_overrides[get_store]()
        return await store.redis.exists(QUEUE_KEY), await store.redis.keys("faas:task:*")

    assert client.portal.call(stored) == (0, [])


def test_batch_for_unknown_function_is_404_and_stores_nothing(client: TestClient) -> None:
    reply = client.post(
        "/execute_function_batch",
        json={"function_id": str(uuid.uuid4()), "payloads": [args_of(1)] * 3},
    )
    assert reply.status_code == 404


def test_results_answers_every_task_in_order(client: TestClient) -> None:
    function_id = _register(client)
    ids = [
        client.post(
            "/execute_function", json={"function_id": function_id, "payload": args_of(i)}
        ).json()["task_id"]
        for i in range(3)
    ]
    _finish(client, ids[1:2], value="done")
    reply = client.post("/results", json={"task_ids": ids}).json()["results"]
    assert [r["task_id"] for r in reply] == ids
    assert [r["status"] for r in reply] == ["QUEUED", "COMPLETED", "QUEUED"]
    assert deserialize(reply[1]["result"]) == "done" and reply[0]["result"] is None


def _waiting_on(client: TestClient, task_id: str) -> bool:
    """Whether a request of the app is asleep on ``task_id``'s notification."""
    waiters = client.portal.call(client.app.dependency_overrides[get_waiters])
    return task_id in waiters._events


def _count_reads(client: TestClient) -> list[int]:
    """Count the store's ``results`` calls from now on (in a one-item list)."""
    store = client.portal.call(client.app.dependency_overrides[get_store])
    calls, original = [0], store.results

    async def counting(task_ids):
        calls[0] += 1
        return await original(task_ids)

    store.results = counting
    return calls


def test_long_poll_is_woken_by_the_outcome_not_by_polling(client: TestClient) -> None:
    """The request sleeps on the done-channel notification: it reads the task once before
    sleeping and once when woken, and answers long before its deadline."""
    task_id = client.post(
        "/execute_function", json={"function_id": _register(client), "payload": args_of(1)}
    ).json()["task_id"]
    reads = _count_reads(client)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.get, f"/result/{task_id}", params={"wait": 30})
        wait_until(lambda: _waiting_on(client, task_id), message="the request waits")
        assert not pending.done() and reads == [1]
        _finish(client, [task_id])
        reply = pending.result(10)  # long before the 30 s deadline
    assert reply.json()["status"] == "COMPLETED"
    assert deserialize(reply.json()["result"]) == 42
    assert reads == [2]  # one read before sleeping, one on the wake-up: no polling
    assert not _waiting_on(client, task_id)  # the waiter was withdrawn


def test_long_poll_answers_at_the_deadline_when_the_task_is_slow(client: TestClient) -> None:
    task_id = client.post(
        "/execute_function", json={"function_id": _register(client), "payload": args_of(1)}
    ).json()["task_id"]
    reads = _count_reads(client)
    started = time.monotonic()
    reply = client.get(f"/result/{task_id}", params={"wait": 0.4}).json()
    assert time.monotonic() - started >= 0.4  # it did wait (a lower bound, never flaky)
    assert reply["status"] == "QUEUED" and reply["result"] is None
    assert reads == [2] and not _waiting_on(client, task_id)


def test_results_wait_wakes_on_any_listed_task(client: TestClient) -> None:
    function_id = _register(client)
    ids = [
        client.post(
            "/execute_function", json={"function_id": function_id, "payload": args_of(i)}
        ).json()["task_id"]
        for i in range(2)
    ]
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.post, "/results", json={"task_ids": ids, "wait": 30})
        wait_until(lambda: all(_waiting_on(client, i) for i in ids), message="it waits")
        _finish(client, ids[1:])
        reply = pending.result(10).json()["results"]
    assert [r["status"] for r in reply] == ["QUEUED", "COMPLETED"]


def _metrics(client: TestClient) -> dict[str, float]:
    text = client.get("/metrics").text
    return {
        f"{s.name}{s.labels}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_parse_and_move_as_tasks_run(client: TestClient) -> None:
    before = _metrics(client)
    assert before["faas_tasks_submitted_total{}"] == 0
    assert before["faas_task_latency_seconds_count{}"] == 0
    function_id = _register(client)
    ids = [
        client.post(
            "/execute_function", json={"function_id": function_id, "payload": args_of(i)}
        ).json()["task_id"]
        for i in range(3)
    ]
    assert _metrics(client)["faas_queue_depth{}"] == 3
    _finish(client, ids)
    after = _metrics(client)
    assert after["faas_tasks_submitted_total{}"] == 3
    assert after["faas_tasks_completed_total{'mode': 'push'}"] == 3
    assert after["faas_tasks_failed_total{'mode': 'push'}"] == 0
    assert after["faas_task_latency_seconds_count{}"] == 3
    assert after["faas_task_latency_seconds_bucket{'le': '+Inf'}"] == 3
    assert after["faas_queue_depth{}"] == 0 and after["faas_tasks_in_flight{}"] == 0


@pytest.mark.parametrize(
    "body", [{"task_ids": []}, {"task_ids": ["x"]}, {"task_ids": [str(uuid.uuid4())], "wait": -1}]
)
def test_malformed_results_request_is_422(client: TestClient, body: dict) -> None:
    assert client.post("/results", json=body).status_code == 422


def test_serialize_payload_is_accepted_by_batch(client: TestClient) -> None:
    reply = client.post(
        "/execute_function_batch",
        json={"function_id": _register(client), "payloads": [serialize(((1,), {"b": 2}))]},
    )
    assert reply.status_code == 200


def test_invoke_answers_the_result_in_one_request(client: TestClient) -> None:
    function_id = _register(client)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            client.post,
            "/invoke",
            json={"function_id": function_id, "payload": args_of(1), "wait": 10},
        )

        def task_ids() -> list[str]:
            async def ids() -> list[str]:
                store = await client.app.dependency_overrides[get_store]()
                return [k.decode().split(":")[-1] for k in await store.redis.keys("faas:task:*")]

            return client.portal.call(ids)

        wait_until(task_ids, message="the invoked task is stored")
        _finish(client, task_ids(), value="invoked")
        reply = pending.result(5).json()
    assert reply["status"] == "COMPLETED" and deserialize(reply["result"]) == "invoked"


def test_invoke_with_bad_payload_is_400_and_stores_nothing(client: TestClient) -> None:
    reply = client.post("/invoke", json={"function_id": _register(client), "payload": "%%"})
    assert reply.status_code == 400

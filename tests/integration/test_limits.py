"""Guarded edges on a real stack: expiry and archive, result size, body size."""

from __future__ import annotations

import pytest
import redis

from faas.stack import Stack
from faas.store import task_key
from tests import functions
from tests.helpers import Client, wait_until

pytestmark = pytest.mark.integration


def test_task_past_its_ttl_leaves_redis_and_is_served_from_the_archive() -> None:
    env = {"FAAS_RESULT_TTL_S": "0.5", "FAAS_ARCHIVE_INTERVAL_S": "0.2"}
    with Stack("local", procs=1, env=env) as stack:
        client = Client(stack.url)
        task_id = client.submit(client.register(functions.add), 40, b=2)
        before = client.result(task_id)
        r = redis.Redis.from_url(stack.redis_url)
        wait_until(
            lambda: not r.exists(task_key(task_id)), timeout=10, message="task gone from Redis"
        )
        assert client.http.get(f"/result/{task_id}").json() == before
        assert client.http.get(f"/status/{task_id}").json()["status"] == "COMPLETED"
        assert client.value(task_id) == ("COMPLETED", 42)


def test_oversized_result_fails_the_task_and_stores_nothing_big() -> None:
    with Stack("push", workers=1, procs=1, env={"FAAS_MAX_RESULT_BYTES": "10000"}) as stack:
        client = Client(stack.url)
        function_id = client.register(functions.echo)
        status, exc = client.value(client.submit(function_id, b"x" * 20_000))
        assert status == "FAILED" and isinstance(exc, ValueError)
        assert "over the limit of 10000 bytes" in str(exc)
        assert client.value(client.submit(function_id, b"x" * 100)) == ("COMPLETED", b"x" * 100)


def test_body_over_the_limit_is_413_before_it_is_read() -> None:
    with Stack("local", procs=1, env={"FAAS_MAX_BODY_BYTES": "50000"}) as stack:
        client = Client(stack.url)
        function_id = client.register(functions.total)
        reply = client.http.post(
            "/execute_function",
            json={"function_id": function_id, "payload": functions.args_of(list(range(50_000)))},
        )
        assert reply.status_code == 413 and "50000 bytes" in reply.json()["detail"]
        r = redis.Redis.from_url(stack.redis_url)
        assert r.keys("faas:task:*") == []


def test_a_burst_beyond_the_apis_redis_connections_waits_instead_of_failing() -> None:
    """400 requests at once: more than the API's Redis connections, so requests must queue
    for one (backpressure) rather than get 503s from an exhausted pool."""
    import asyncio

    from experiments.load.client import LoadClient
    from faas.serialize import serialize

    async def burst(url: str) -> list[str]:
        client = LoadClient(url, connections=400)
        try:
            function_id = await client.register(functions.add)
            payload = serialize(((1,), {"b": 2}))
            rows = await asyncio.gather(*(client.submit(function_id, payload) for _ in range(400)))
            done = await asyncio.gather(*(client.wait(row, long_poll=True) for row in rows))
            return [row.status for row in done]
        finally:
            await client.close()

    with Stack("local", procs=2) as stack:
        assert asyncio.run(burst(stack.url)) == ["COMPLETED"] * 400

"""Test helpers: wait on a condition instead of sleeping, and a tiny HTTP client."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from faas.serialize import deserialize
from tests.functions import args_of, payload_of

T = TypeVar("T")
TERMINAL = ("COMPLETED", "FAILED")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout}s")
        time.sleep(interval)


class Client:
    """Just enough of a FaaS client for the tests, over real HTTP."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)

    def register(self, fn: Callable[..., Any], name: str = "fn") -> str:
        reply = self.http.post("/register_function", json={"name": name, "payload": payload_of(fn)})
        assert reply.status_code == 200, reply.text
        return reply.json()["function_id"]

    def submit(self, function_id: str, *args: Any, **kwargs: Any) -> str:
        reply = self.http.post(
            "/execute_function",
            json={"function_id": function_id, "payload": args_of(*args, **kwargs)},
        )
        assert reply.status_code == 200, reply.text
        return reply.json()["task_id"]

    def result(self, task_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """The terminal /result answer of a task."""

        def terminal() -> dict[str, Any] | None:
            reply = self.http.get(f"/result/{task_id}").json()
            return reply if reply["status"] in TERMINAL else None

        return wait_until(terminal, timeout, message=f"task {task_id} terminal")

    def value(self, task_id: str, timeout: float = 30.0) -> tuple[str, Any]:
        """(status, deserialized result) once the task ends."""
        reply = self.result(task_id, timeout)
        return reply["status"], deserialize(reply["result"])

    def close(self) -> None:
        self.http.close()


async def task_fields(store: Any, task_id: str) -> dict[str, str]:
    """Every field of a task record but its result, as text (straight from Redis)."""
    from faas.store import task_key

    raw = await store.redis.hgetall(task_key(task_id))
    return {k.decode(): v.decode() for k, v in raw.items() if k != b"result"}

"""An asyncio HTTP load client: submit many tasks through the REST API and collect them.

Open loop: ``concurrency`` submitters post every task as fast as the API takes them while as
many collectors poll results in submission order, so the measured throughput is the
platform's, not the client's round-trip time times its concurrency. It uses aiohttp, whose
per-request CPU cost is a fraction of httpx's: on a 2-core machine the client shares the
CPU with the platform, so a heavy client would measure itself. For the same reason a run
hides the client's heap from the cyclic garbage collector (:func:`frozen_heap`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from faas.serialize import serialize

TERMINAL = ("COMPLETED", "FAILED")


@dataclass
class TaskRow:
    """One task as the client saw it (wall-clock seconds) and the polls it took."""

    task_id: str
    submitted: float
    observed: float = 0.0
    status: str = ""
    polls: int = 0


def arrivals(n: int, rate: float, seed: int = 1) -> list[float]:
    """Offsets (seconds) of ``n`` Poisson arrivals at ``rate`` per second: a Poisson process
    conditioned on its count — n times drawn uniformly over n / rate seconds, sorted — so the
    offered rate is exactly ``rate`` over the run and the gaps are exponential."""
    rng = random.Random(seed)
    span = n / rate
    return sorted(rng.uniform(0, span) for _ in range(n))


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Measure with the objects alive now (earlier runs' rows, aiohttp, the harness) out of
    the cyclic garbage collector's view, and give them back after. A full collection of the
    load generator's heap took 40-80 ms on the 2-core VM, a stall of every request in
    flight that the platform never caused (it made the p99 of a 3 000-task run)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _measured(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Run a load-generating method inside :func:`frozen_heap`."""

    @functools.wraps(method)
    async def run(*args: Any, **kwargs: Any) -> Any:
        with frozen_heap():
            return await method(*args, **kwargs)

    return run


class LoadClient:
    """A pooled async client of one faas API; use inside a running event loop."""

    def __init__(self, url: str, concurrency: int = 16, connections: int = 0) -> None:
        self.url = url
        self.concurrency = concurrency
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections or 2 * concurrency),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def _json(self, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        async with self.http.request(method, self.url + path, json=body) as reply:
            data = await reply.json()
            if reply.status != 200:
                raise RuntimeError(f"{method} {path}: {reply.status} {data}")
            return data

    async def register(self, fn: Callable[..., Any], name: str = "bench") -> str:
        body = {"name": name, "payload": serialize(fn)}
        return (await self._json("POST", "/register_function", body))["function_id"]

    async def submit(self, function_id: str, payload: str) -> TaskRow:
        submitted = time.time()
        body = {"function_id": function_id, "payload": payload}
        return TaskRow((await self._json("POST", "/execute_function", body))["task_id"], submitted)

    async def wait(self, row: TaskRow, poll_s: float = 0.0, long_poll: bool = False) -> TaskRow:
        """Poll until the task ends (``poll_s`` between polls, growing to 20 ms when > 0), or
        with ``long_poll`` let the API answer when it ends (``?wait=``)."""
        path = f"/result/{row.task_id}" + ("?wait=10" if long_poll else "")
        while True:
            reply = await self._json("GET", path)
            row.polls += 1
            if reply["status"] in TERMINAL:
                row.observed, row.status = time.time(), reply["status"]
                return row
            if poll_s:
                await asyncio.sleep(poll_s)
                poll_s = min(poll_s * 2, 0.02)

    @_measured
    async def run_many(
        self, function_id: str, payloads: list[str], poll_s: float = 0.002, long_poll: bool = False
    ) -> list[TaskRow]:
        """Submit every payload and collect every result; rows in submission order."""
        submitted: asyncio.Queue[TaskRow | None] = asyncio.Queue()
        todo = iter(enumerate(payloads))
        rows: list[TaskRow | None] = [None] * len(payloads)

        async def submitter() -> None:
            for i, payload in todo:
                rows[i] = await self.submit(function_id, payload)
                submitted.put_nowait(rows[i])

        async def collector() -> None:
            while (row := await submitted.get()) is not None:
                await self.wait(row, poll_s, long_poll)

        collectors = [asyncio.create_task(collector()) for _ in range(self.concurrency)]
        await asyncio.gather(*(submitter() for _ in range(self.concurrency)))
        for _ in collectors:
            submitted.put_nowait(None)
        await asyncio.gather(*collectors)
        return [row for row in rows if row is not None]  # every one was filled

    @_measured
    async def closed_loop(
        self, function_id: str, payloads: list[str], clients: int
    ) -> list[TaskRow]:
        """``clients`` closed-loop clients: each submits a task, waits for it by long-poll,
        then submits the next; rows in submission order."""
        todo = iter(enumerate(payloads))
        rows: list[TaskRow | None] = [None] * len(payloads)

        async def client() -> None:
            for i, payload in todo:
                rows[i] = await self.wait(await self.submit(function_id, payload), long_poll=True)

        await asyncio.gather(*(client() for _ in range(clients)))
        return rows  # type: ignore[return-value]

    @_measured
    async def poisson(
        self, function_id: str, payloads: list[str], rate: float, seed: int = 1
    ) -> list[TaskRow]:
        """Open loop: submit the payloads at Poisson arrival times of ``rate`` tasks/s, never
        waiting for results (each task's result is awaited by long-poll on its own).

        The arrival times come from :func:`arrivals`. A row's ``submitted`` is its scheduled
        arrival, so time a submission waits in the client counts in its latency."""
        offsets = arrivals(len(payloads), rate, seed)
        loop = asyncio.get_running_loop()
        start, wall = loop.time() + 0.01, time.time() + 0.01

        async def one(offset: float, payload: str) -> TaskRow:
            row = await self.submit(function_id, payload)
            row.submitted = wall + offset
            return await self.wait(row, long_poll=True)

        pending = []
        for offset, payload in zip(offsets, payloads, strict=True):
            delay = start + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(one(offset, payload)))
        rows = list(await asyncio.gather(*pending))
        return rows

    async def invoke(self, function_id: str, payload: str) -> dict[str, Any]:
        """Execute and wait for the result in one request (``POST /invoke``)."""
        body = {"function_id": function_id, "payload": payload, "wait": 10}
        return await self._json("POST", "/invoke", body)

    @_measured
    async def round_trips(self, function_id: str, payload: str, n: int) -> list[float]:
        """Latencies of ``n`` sequential tasks (submit, then poll without pause)."""
        latencies = []
        for _ in range(n):
            row = await self.wait(await self.submit(function_id, payload))
            latencies.append(row.observed - row.submitted)
        return latencies

    async def close(self) -> None:
        await self.http.close()

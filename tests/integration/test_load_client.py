"""experiments/load/client.py's loads on a real stack: the open loop offers the asked rate even
when the platform cannot keep up (submissions never wait for results); the closed loop
never has more than C tasks in flight."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest
import redis

from experiments.load.client import LoadClient
from experiments.measure.server import server_rows
from experiments.spec import workloads
from faas.serialize import serialize
from faas.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def stack() -> Stack:
    with Stack("local", workers=1, procs=2) as stack:
        yield stack


def _run(stack: Stack, load) -> pd.DataFrame:
    async def go() -> list:
        client = LoadClient(stack.url, connections=256)
        try:
            function_id = await client.register(workloads.sleep, "sleep")
            return await load(client, function_id)
        finally:
            await client.close()

    rows = asyncio.run(go())
    r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    return pd.DataFrame(server_rows(r, rows))


def test_the_open_loop_submits_at_the_asked_rate_past_the_platforms_capacity(
    stack: Stack,
) -> None:
    # 2 processes x sleep(0.1): the platform finishes at most 20 tasks/s; asked: 50/s
    payloads = [serialize(((0.1,), {}))] * 100
    tasks = _run(stack, lambda c, f: c.poisson(f, payloads, rate=50, seed=3))
    assert (tasks["status"] == "COMPLETED").all() and len(tasks) == 100
    accepted = tasks["submitted"].sort_values()  # the API's acceptance times
    achieved = (len(accepted) - 1) / (accepted.iloc[-1] - accepted.iloc[0])
    assert 45 <= achieved <= 55, achieved  # 50/s asked; a loop waiting on results gives <= 20
    finished = tasks["observed"].max() - tasks["sent"].min()
    assert finished > 4  # 100 tasks at <= 20/s: the results came at the platform's pace
    # each row's client time is its scheduled arrival: the API accepted it within a moment
    assert ((tasks["submitted"] - tasks["sent"]).abs() < 0.25).all()


def test_the_closed_loop_keeps_at_most_c_tasks_in_flight(stack: Stack) -> None:
    payloads = [serialize(((0.02,), {}))] * 30
    tasks = _run(stack, lambda c, f: c.closed_loop(f, payloads, clients=3))
    assert (tasks["status"] == "COMPLETED").all() and len(tasks) == 30
    events = sorted(
        [(t, 1) for t in tasks["submitted"]] + [(t, -1) for t in tasks["observed"]],
        key=lambda e: (e[0], e[1]),  # an observation before a submission at the same time
    )
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    assert peak == 3  # three clients, each with one task out at a time

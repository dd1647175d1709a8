"""Closed-loop runs on a real stack: each task's timestamps and each component's CPU time.

The load is what ``simulate predict --clients C`` means: C clients, each submitting one task
with ``POST /execute_function`` and waiting for it with ``GET /result/{id}?wait=`` before the
next. CPU times come from the processes themselves (``psutil``; a worker's or the local
dispatcher's pool children count as ``worker``), read before and after a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis

from experiments.load.client import LoadClient, TaskRow
from experiments.measure.cpu import CpuMeter, SpeedGauge, effective_cores, probe
from experiments.measure.server import server_rows
from experiments.simulate.model import Config
from experiments.spec import workloads
from faas.models import Mode
from faas.serialize import serialize
from faas.stack import Stack

log = logging.getLogger(__name__)

#: A run is measured again (at most CALM_TRIES times, after CALM_WAIT_S, doubling) while its
#: processes had less than CALM_SHARE of the cores: the hypervisor's steal comes in bursts
#: of minutes on this VM (5 + 10 + 20 + 40 + 80 s of waiting outlasts most) and hits a
#: lightly loaded machine hardest
CALM_SHARE, CALM_TRIES, CALM_WAIT_S = 0.9, 6, 5.0
#: clients of the warm-up: as many as the largest run has (calibrate's HEAVY_CLIENTS)
WARM_CLIENTS = 64


@dataclass
class RealRun:
    """One measured run: per-task timestamps (seconds) and CPU seconds per component."""

    config: Config
    rows: list[dict]
    cpu_s: dict[str, float]
    #: the machine-speed probe (:func:`probe`) around the run, seconds
    probe_s: float = float("nan")
    #: how many times it was measured to get it (Session.run_calm)
    tries: int = 1
    #: the cores' speed beside the run: a chunk's mean CPU seconds (SpeedGauge; NaN: none)
    gauge_s: float = float("nan")
    #: times each component's threads went to sleep during the run (CpuMeter.sleeps)
    sleeps: dict[str, int] = field(default_factory=dict)

    @property
    def makespan_s(self) -> float:
        return max(r["observed"] for r in self.rows) - min(r["sent"] for r in self.rows)

    @property
    def throughput_tps(self) -> float:
        return len(self.rows) / self.makespan_s

    def latency_ms(self, q: float) -> float:
        lat = sorted(1000 * (r["observed"] - r["sent"]) for r in self.rows)
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    def summary(self) -> dict[str, float]:
        return {
            "throughput_tps": self.throughput_tps,
            "p50_ms": self.latency_ms(0.5),
            "p99_ms": self.latency_ms(0.99),
            "makespan_s": self.makespan_s,
        }

    def step_ms(self, start: str, end: str) -> list[float]:
        return [1000 * (r[end] - r[start]) for r in self.rows]


def payload(task_ms: float) -> str:
    return serialize(((task_ms / 1000,), {}) if task_ms else ((), {}))


class Session:
    """A stack plus a load client and CPU meter: measure configurations of its shape."""

    def __init__(self, stack: Stack, gauge: SpeedGauge | None = None) -> None:
        self.stack = stack
        self.gauge = gauge
        self.meter = CpuMeter(stack)
        self.client = LoadClient(stack.url, concurrency=64)
        self.redis = redis.Redis.from_url(stack.redis_url, decode_responses=True)
        self.functions: dict[str, str] = {}

    async def setup(self) -> None:
        self.functions = {
            "noop": await self.client.register(workloads.noop, "noop"),
            "sleep": await self.client.register(workloads.sleep, "sleep"),
        }
        # warm up, and open the connections of the largest run: a connection opened during
        # a run costs its first task a TCP handshake and the API an accept
        await self.client.closed_loop(self.functions["noop"], [payload(0)] * 256, WARM_CLIENTS)

    async def run(self, config: Config) -> RealRun:
        fid = self.functions["sleep" if config.task_ms else "noop"]
        speed_before = probe()
        before, slept = self.meter.sample(), self.meter.sleeps()
        started = time.perf_counter()
        body = payload(config.task_ms)  # LoadClient.closed_loop measures with a frozen heap
        rows = await self.client.closed_loop(fid, [body] * config.tasks, config.clients)
        ended = time.perf_counter()
        after, sleeps = self.meter.sample(), self.meter.sleeps()
        speed_after = probe()
        cpu = {k: after[k] - before[k] for k in before}
        run = RealRun(config, server_rows(self.redis, rows), cpu, (speed_before + speed_after) / 2)
        run.sleeps = {k: sleeps[k] - slept[k] for k in slept}
        if self.gauge is not None:
            run.gauge_s = self.gauge.mean(started, ended)
        return run

    async def run_calm(self, config: Config, wait_s: float = CALM_WAIT_S) -> RealRun:
        """``config`` measured until its processes had at least CALM_SHARE of the cores
        (at most CALM_TRIES times, waiting ``wait_s`` more each time); the run that had
        the most."""
        cores = os.cpu_count() or 1
        best, best_had = None, -1.0
        for attempt in range(1, CALM_TRIES + 1):
            run = await self.run(config)
            had = effective_cores(run.cpu_s, cores)
            if had > best_had:
                best, best_had = run, had
            if had >= CALM_SHARE * cores or attempt == CALM_TRIES:
                break
            log.warning(
                "%d client(s): the processes had %.2f of %d cores; again in %.0f s",
                config.clients,
                had,
                cores,
                wait_s,
            )
            await asyncio.sleep(wait_s)
            wait_s *= 2
        assert best is not None
        best.tries = attempt
        return best

    async def submit_cpu(self, n: int, concurrency: int = 16) -> float:
        """API CPU seconds per ``POST /execute_function`` alone (the results are collected
        afterwards, outside the measurement)."""
        fid, body = self.functions["noop"], payload(0)
        todo = iter(range(n))
        rows: list[TaskRow] = []

        async def submitter() -> None:
            for _ in todo:
                rows.append(await self.client.submit(fid, body))

        before = self.meter.sample()["api"]
        await asyncio.gather(*(submitter() for _ in range(concurrency)))
        spent = self.meter.sample()["api"] - before
        for row in rows:
            await self.client.wait(row, long_poll=True)
        return spent / n

    async def close(self) -> None:
        await self.client.close()
        self.redis.close()


@contextlib.contextmanager
def stack_for(config: Config) -> Iterator[Stack]:
    """A loopback stack of ``config``'s shape."""
    mode = Mode(config.mode)
    workers = 1 if mode is Mode.LOCAL else config.workers
    with Stack(mode, workers=workers, procs=config.procs) as stack:
        yield stack


def measure(
    configs: list[Config], repeats: int = 1, calm: bool = False, gauge: SpeedGauge | None = None
) -> list[RealRun]:
    """Run every configuration ``repeats`` times, one stack per shape, interleaving repeats
    (``calm``: each run taken again while the hypervisor steals, Session.run_calm; ``gauge``:
    the cores' speed beside each run)."""
    out: list[RealRun] = []
    shapes: dict[tuple, list[Config]] = {}
    for c in configs:
        shapes.setdefault((c.mode, c.workers, c.procs), []).append(c)
    for group in shapes.values():
        with stack_for(group[0]) as stack:
            out += asyncio.run(_measure_group(stack, gauge, group, repeats, calm))
    return out


async def _measure_group(
    stack: Stack, gauge: SpeedGauge | None, group: list[Config], repeats: int, calm: bool
) -> list[RealRun]:
    session = Session(stack, gauge)
    try:
        await session.setup()
        runs = []
        for repeat in range(repeats):
            for config in group:
                run = await (session.run_calm(config) if calm else session.run(config))
                log.info(
                    "%s #%d: %.0f tasks/s, p50 %.2f ms",
                    config,
                    repeat + 1,
                    run.throughput_tps,
                    statistics.median(1000 * (r["observed"] - r["sent"]) for r in run.rows),
                )
                runs.append(run)
        return runs
    finally:
        await session.close()

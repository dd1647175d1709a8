"""What moves a run's throughput beyond what the speed gauge sees: the stack instance, or
the moment? And would another chunk of work track it better?

    PYTHONPATH=. python docs/simulation/residual-noise/probe.py instances MODE STACKS ROTATIONS OUT
    PYTHONPATH=. python docs/simulation/residual-noise/probe.py chunks MODE ROUNDS KINDS OUT

``instances``: STACKS stacks of the calibration's shape (one worker of 2 processes) alive
at once, each taking a 16-client run of 2 000 no-op tasks and a 4-client run of 1 000 in
turn, ROTATIONS times, the speed gauge beside every run. ``chunks``: one such stack,
ROUNDS rounds of the same two runs, with the speed gauge and, beside it, one process per
core timing a chunk of each kind in KINDS (comma list of :data:`KINDS`) by its thread CPU
time every 20 ms. Each writes one CSV row per run.
"""

import asyncio
import contextlib
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.cpu import SpeedGauge, work
from experiments.sim.measure import Session, stack_for
from experiments.sim.model import Config

#: samples each core's chunk timer keeps
CAPACITY = 100_000
BIG = bytearray(8 << 20)


def _pure(r: int, w: int) -> None:
    work(10_000)  # the speed gauge's own chunk


def _syscalls(r: int, w: int) -> None:
    for _ in range(200):
        os.write(w, b"x")
        os.read(r, 1)


def _pages(r: int, w: int) -> None:
    chunks = [bytearray(4096) for _ in range(300)]
    del chunks


def _copy(r: int, w: int) -> None:
    bytes(BIG)


def _objects(r: int, w: int) -> None:
    rows = [{"id": i, "s": str(i)} for i in range(1500)]
    del rows


#: the chunks: the gauge's pure-Python loop ("py"), 200 one-byte pipe writes and reads
#: ("sys"), 300 fresh 4 KiB buffers ("mem"), an 8 MiB copy ("big"), 1 500 small dicts ("obj")
KINDS = {"py": _pure, "sys": _syscalls, "mem": _pages, "big": _copy, "obj": _objects}


def configs(mode: str) -> list[Config]:
    return [
        Config(mode, workers=1, procs=2, clients=16, tasks=2000),
        Config(mode, workers=1, procs=2, clients=4, tasks=1000),
    ]


def _timer(kinds: list[str], cpu: int, parent: int, stop, samples, count) -> None:  # noqa: ANN001
    os.sched_setaffinity(0, {cpu})
    r, w = os.pipe()
    n = 0
    while not stop.value and n < CAPACITY and os.getppid() == parent:
        for k, kind in enumerate(kinds):
            started, spent = time.perf_counter(), time.thread_time()
            KINDS[kind](r, w)
            samples[3 * n : 3 * n + 3] = [started, k, time.thread_time() - spent]
            n += 1
        count.value = n
        time.sleep(0.02)


class ChunkTimers:
    """One process per core timing each kind of chunk in turn (a SpeedGauge's way)."""

    def __init__(self, kinds: list[str]) -> None:
        ctx = mp.get_context("spawn")
        cpus = sorted(os.sched_getaffinity(0))
        self.kinds = kinds
        self.samples = [ctx.Array("d", 3 * (CAPACITY + len(kinds)), lock=False) for _ in cpus]
        self.counts = [ctx.Value("l", 0, lock=False) for _ in cpus]
        self.stop = ctx.Value("b", 0, lock=False)
        args = [
            (kinds, c, os.getpid(), self.stop, s, n)
            for c, s, n in zip(cpus, self.samples, self.counts, strict=True)
        ]
        self.procs = [ctx.Process(target=_timer, args=a, daemon=True) for a in args]

    def __enter__(self) -> "ChunkTimers":
        for p in self.procs:
            p.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.value = 1
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()

    def means_ms(self, start: float, end: float) -> dict[str, float]:
        rows = []
        for samples, count in zip(self.samples, self.counts, strict=True):
            n = count.value
            a = np.frombuffer(samples, dtype=np.float64, count=3 * n).reshape(n, 3)
            rows.append(a[(a[:, 0] >= start) & (a[:, 0] <= end)])
        a = np.concatenate(rows)
        return {kind: float(1000 * a[a[:, 1] == k, 2].mean()) for k, kind in enumerate(self.kinds)}


async def instances(mode: str, n: int, rotations: int) -> pd.DataFrame:
    rows = []
    with contextlib.ExitStack() as started, SpeedGauge() as gauge:
        stacks = [started.enter_context(stack_for(configs(mode)[0])) for _ in range(n)]
        sessions = [Session(s, gauge) for s in stacks]
        try:
            for s in sessions:
                await s.setup()
            for rotation in range(rotations):
                for i, s in enumerate(sessions):
                    for c in configs(mode):
                        run = await s.run(c)
                        rows.append(
                            {
                                "mode": mode,
                                "rotation": rotation,
                                "stack": i,
                                "clients": c.clients,
                                "tps": run.throughput_tps,
                                "gauge_ms": 1000 * run.gauge_s,
                            }
                        )
        finally:
            for s in sessions:
                await s.close()
    return pd.DataFrame(rows)


async def chunks(mode: str, rounds: int, kinds: list[str]) -> pd.DataFrame:
    rows = []
    with ChunkTimers(kinds) as timers, SpeedGauge() as gauge, stack_for(configs(mode)[0]) as stack:
        session = Session(stack, gauge)
        try:
            await session.setup()
            for i in range(rounds):
                for c in configs(mode):
                    started = time.perf_counter()
                    run = await session.run(c)
                    chunk_ms = timers.means_ms(started, time.perf_counter())
                    rows.append(
                        {
                            "mode": mode,
                            "round": i,
                            "clients": c.clients,
                            "tps": run.throughput_tps,
                            "gauge_ms": 1000 * run.gauge_s,
                            **chunk_ms,
                        }
                    )
        finally:
            await session.close()
    return pd.DataFrame(rows)


if __name__ == "__main__":
    what, mode, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if what == "instances":
        table = asyncio.run(instances(mode, count, int(sys.argv[4])))
    else:
        table = asyncio.run(chunks(mode, count, sys.argv[4].split(",")))
    table.to_csv(Path(sys.argv[5]), index=False)

"""faas side by side with Celery, the task queue users would otherwise pick.

    python -m experiments.sweep.celery [--tasks 3000] [--batch-tasks 5000] [--latency-tasks 300]
                               [--repeats 3] [--out results/celery-<time>]

Every system gets the same machine, a fresh embedded redis-server and 2 worker processes
(Celery: prefork ``-c 2``; faas: local pool of 2, or 1 pull/push worker x 2). Repeats are
interleaved: each repeat measures every system once on a fresh stack (the order rotated by
one per repeat). Per repeat:

- ``rest``: no-op tasks, one request per task, 16 concurrent clients (Celery: ``.delay()``
  then ``.get()`` from 16 threads; faas: 16 aiohttp submitters, results by long-poll);
- ``batch``: no-op tasks through the batch path (Celery: ``group`` of ``.s()``, ``.get()``;
  faas: the SDK's ``Executor.map``: batch submit, long-poll results);
- ``latency``: sequential round trips (submit, wait for the result), p50 and p99; for faas
  both as two requests (execute, then long-poll the result) and as one (``POST /invoke``),
  the latter reported as ``invoke``.

Writes ``celery.csv`` (one row per system, path and repeat; faas's ``rest`` and ``batch`` rows also
carry the cores each component kept busy, ``cores_api`` ... ``cores_host``) in the output directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import setup_logging
from experiments.analysis.tables import celery_summary
from experiments.load.client import LoadClient, arrivals
from experiments.measure.cpu import CpuMeter, cores_used
from experiments.spec.runs import SUSTAINED
from experiments.spec.workloads import noop
from faas.client import Executor, FaaSClient
from faas.models import Mode
from faas.process import die_with_parent, stop_process
from faas.redis_server import EmbeddedRedis
from faas.serialize import serialize
from faas.stack import Stack

log = logging.getLogger("celery")
CONCURRENCY = 16
#: Threads awaiting Celery results on the load curve.
COLLECTORS = 32
#: Worker processes of every system.
PROCESSES = 2


@contextmanager
def celery_worker(redis_url: str) -> Iterator[Any]:
    """A Celery prefork worker with ``PROCESSES`` processes on ``redis_url``; yields a fresh
    client app on it (``.app``, ``.noop``)."""
    from experiments.load.celery_app import make_app

    client = make_app(redis_url)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "experiments.load.celery_app",
            "worker",
            "--pool",
            "prefork",
            "-c",
            str(PROCESSES),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env={**os.environ, "FAAS_PEER_REDIS_URL": redis_url},
        preexec_fn=die_with_parent,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not client.app.control.ping(timeout=0.5):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError("celery worker did not come up")
        yield client
    finally:
        client.app.close()
        stop_process(worker, grace_s=10)


def _latency_row(system: str, repeat: int, path: str, latencies: list[float]) -> dict:
    ms = np.array(latencies) * 1000
    return {
        "system": system,
        "repeat": repeat,
        "path": path,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def _rows(
    system: str, repeat: int, rest: float, batch: float, latencies: list[float]
) -> list[dict]:
    return [
        {"system": system, "repeat": repeat, "path": "rest", "tasks_per_s": rest},
        {"system": system, "repeat": repeat, "path": "batch", "tasks_per_s": batch},
        _latency_row(system, repeat, "latency", latencies),
    ]


def measure_celery(tasks: int, batch_tasks: int, latency_tasks: int, repeat: int) -> list[dict]:
    """One repeat of Celery's three paths on a fresh broker and worker."""
    with EmbeddedRedis() as redis_server, celery_worker(redis_server.url) as capp:
        from celery import group

        def delay_and_get(n: int) -> None:
            results = [capp.noop.delay() for _ in range(n)]
            for r in results:
                r.get(timeout=60)

        delay_and_get(100)  # warm up
        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(delay_and_get, [tasks // CONCURRENCY] * CONCURRENCY))
        rest = (tasks // CONCURRENCY * CONCURRENCY) / (time.perf_counter() - started)
        started = time.perf_counter()
        group(capp.noop.s() for _ in range(batch_tasks))().get(timeout=120)
        batch = batch_tasks / (time.perf_counter() - started)
        latencies = []
        for _ in range(latency_tasks):
            t = time.perf_counter()
            capp.noop.delay().get(timeout=10)
            latencies.append(time.perf_counter() - t)
        return _rows("celery", repeat, rest, batch, latencies)


def celery_curve(
    rates: list[float], duration_s: float, repeats: int, seed: int = 1
) -> pd.DataFrame:
    """Celery on the load curve: at each rate, the same Poisson arrival times the faas runs
    get (``experiments.load.client.arrivals``), each an ``apply_async`` of the no-op from one
    thread, results awaited by ``COLLECTORS`` threads in arrival order; latency from the
    scheduled arrival. Stops past the first rate not sustained (achieved < 90 % of offered).
    One row per rate, with the columns of a sweep's summary (``mode`` = "celery")."""
    rows = []
    with EmbeddedRedis() as redis_server, celery_worker(redis_server.url) as capp:
        for r in [capp.noop.delay() for _ in range(100)]:  # warm up
            r.get(timeout=60)
        for rate in rates:
            runs = [_open_loop(capp, rate, duration_s, seed) for _ in range(repeats)]
            thr, p50, p99 = (np.array(x) for x in zip(*runs, strict=True))
            rows.append(
                {
                    "study": "load_curve",
                    "mode": "celery",
                    "rate": rate,
                    "throughput_median": float(np.median(thr)),
                    "throughput_min": float(thr.min()),
                    "throughput_max": float(thr.max()),
                    "latency_p50_median": float(np.median(p50)),
                    "latency_p99_median": float(np.median(p99)),
                    "repeats": repeats,
                }
            )
            if np.median(thr) < SUSTAINED * rate:
                break
    return pd.DataFrame(rows)


def _open_loop(capp: Any, rate: float, duration_s: float, seed: int) -> tuple[float, ...]:
    """One open-loop run of Celery at ``rate``: (tasks/s, p50 s, p99 s)."""
    offsets = arrivals(max(1, round(rate * duration_s)), rate, seed)
    observed = [0.0] * len(offsets)
    todo: queue.Queue = queue.Queue()

    def collect() -> None:
        while (item := todo.get()) is not None:
            i, result = item
            result.get(timeout=60)
            observed[i] = time.time()

    threads = [threading.Thread(target=collect) for _ in range(COLLECTORS)]
    for t in threads:
        t.start()
    start, wall = time.monotonic(), time.time()
    for i, offset in enumerate(offsets):
        time.sleep(max(0.0, start + offset - time.monotonic()))
        todo.put((i, capp.noop.apply_async()))
    for _ in threads:
        todo.put(None)
    for t in threads:
        t.join()
    latency = np.array(observed) - (wall + np.array(offsets))
    span = max(observed) - (wall + offsets[0])
    return (len(offsets) / span, *np.percentile(latency, [50, 99]))


def _noop_one(_):
    return None


_noop_one.__module__ = "__main__"


def _sdk_map(url: str, n: int) -> float:
    client = FaaSClient(url)
    try:
        with Executor(client) as executor:
            started = time.perf_counter()
            list(executor.map(_noop_one, range(n)))
            return n / (time.perf_counter() - started)
    finally:
        client.close()


async def _faas_rest(
    url: str, tasks: int, latency_tasks: int, meter: CpuMeter
) -> tuple[float, dict[str, float], list[float], list[float]]:
    client = LoadClient(url, CONCURRENCY)
    try:
        function_id = await client.register(noop)
        payload = serialize(((), {}))
        await client.run_many(function_id, [payload] * 100, long_poll=True)
        before, started = meter.sample(), time.perf_counter()
        await client.run_many(function_id, [payload] * tasks, long_poll=True)
        wall = time.perf_counter() - started
        rest, cores = tasks / wall, cores_used(before, meter.sample(), wall)
        latencies = []
        for _ in range(latency_tasks):
            t = time.perf_counter()
            await client.wait(await client.submit(function_id, payload), long_poll=True)
            latencies.append(time.perf_counter() - t)
        invoked = []
        for _ in range(latency_tasks):
            t = time.perf_counter()
            assert (await client.invoke(function_id, payload))["status"] == "COMPLETED"
            invoked.append(time.perf_counter() - t)
        return rest, cores, latencies, invoked
    finally:
        await client.close()


def measure_faas(
    mode: str, tasks: int, batch_tasks: int, latency_tasks: int, repeat: int
) -> list[dict]:
    """One repeat of faas's paths in ``mode`` on a fresh stack; the REST row also has the
    cores each component kept busy (:func:`experiments.measure.cpu.cores_used`)."""
    with Stack(mode, workers=1, procs=2) as stack:
        _sdk_map(stack.url, 200)  # warm up
        meter = CpuMeter(stack)
        rest, cores, latencies, invoked = asyncio.run(
            _faas_rest(stack.url, tasks, latency_tasks, meter)
        )
        before, started = meter.sample(), time.perf_counter()
        batch = _sdk_map(stack.url, batch_tasks)
        batch_cores = cores_used(before, meter.sample(), time.perf_counter() - started)
        rows = _rows(f"faas-{mode}", repeat, rest, batch, latencies)
        rows[0] |= {k: round(v, 3) for k, v in cores.items()}
        rows[1] |= {k: round(v, 3) for k, v in batch_cores.items()}
        rows.append(_latency_row(f"faas-{mode}", repeat, "invoke", invoked))
    return rows


def run_celery(
    tasks: int,
    batch_tasks: int,
    latency_tasks: int,
    repeats: int,
    out: Path,
    modes: tuple[str, ...] = tuple(Mode),
) -> pd.DataFrame:
    """Measure Celery and faas in ``modes``; write and answer ``celery.csv``'s rows.

    Interleaved: every repeat measures every system once, each on a fresh stack, in an order
    rotated by one per repeat, so a change of this VM's speed falls on all of them."""
    systems = ["celery", *modes]
    rows = []
    for repeat in range(repeats):
        turn = repeat % len(systems)
        for system in systems[turn:] + systems[:turn]:
            if system == "celery":
                rows += measure_celery(tasks, batch_tasks, latency_tasks, repeat)
            else:
                rows += measure_faas(system, tasks, batch_tasks, latency_tasks, repeat)
    df = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "celery.csv", index=False)
    (out / "celery.json").write_text(json.dumps(configuration(tasks, batch_tasks, latency_tasks)))
    return df


def configuration(tasks: int, batch_tasks: int, latency_tasks: int) -> dict:
    """How the Celery comparison was set up, for the report's prose."""
    from importlib import metadata

    return {
        "celery": metadata.version("celery"),
        "celery_pool": "prefork",
        "processes": PROCESSES,
        "clients": CONCURRENCY,
        "broker": "the same embedded redis-server as broker and result backend",
        "rest_tasks": tasks,
        "batch_tasks": batch_tasks,
        "latency_tasks": latency_tasks,
        "interleaved": True,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--batch-tasks", type=int, default=5000)
    parser.add_argument("--latency-tasks", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=list(Mode))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    setup_logging(logging.WARNING)
    out = args.out or Path("results") / f"celery-{time.strftime('%Y%m%d-%H%M%S')}"
    df = run_celery(
        args.tasks, args.batch_tasks, args.latency_tasks, args.repeats, out, tuple(args.modes)
    )
    print(celery_summary(df).round(2).to_string(index=False))


if __name__ == "__main__":
    main()

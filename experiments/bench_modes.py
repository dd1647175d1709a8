"""Per mode, 1 worker x 2 processes: no-op throughput through the REST API (median of
``--repeats`` runs of ``--tasks`` tasks) and sequential round-trip latency (p50/p99).

    python -m experiments.bench_modes [--tasks 5000] [--latency-tasks 500] [--repeats 3]

Each mode gets a fresh stack (embedded Redis); the modes run one after another in the same
invocation so their figures compare as ratios on the same machine state.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time

import numpy as np

from experiments.client import LoadClient
from experiments.workloads import noop
from faas.client import Executor, FaaSClient
from faas.models import Mode
from faas.serialize import serialize
from faas.stack import Stack

log = logging.getLogger("bench_modes")


async def measure(url: str, tasks: int, latency_tasks: int, repeats: int) -> dict[str, float]:
    client = LoadClient(url, concurrency=16)
    try:
        function_id = await client.register(noop)
        payload = serialize(((), {}))
        await client.run_many(function_id, [payload] * 200)  # warm up
        rates = []
        for _ in range(repeats):
            rows = await client.run_many(function_id, [payload] * tasks)
            assert all(r.status == "COMPLETED" for r in rows)
            span = max(r.observed for r in rows) - min(r.submitted for r in rows)
            rates.append(tasks / span)
        latencies = np.array(await client.round_trips(function_id, payload, latency_tasks))
    finally:
        await client.close()
    sdk_rates = [await asyncio.to_thread(sdk_map_rate, url, tasks) for _ in range(repeats)]
    return {
        "tasks_per_s": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "sdk_map": statistics.median(sdk_rates),
        "p50_ms": 1000 * float(np.percentile(latencies, 50)),
        "p99_ms": 1000 * float(np.percentile(latencies, 99)),
    }


def sdk_map_rate(url: str, tasks: int) -> float:
    """No-op tasks/s through the SDK's ``Executor.map`` (batch submit, long-poll results)."""
    client = FaaSClient(url)
    try:
        with Executor(client) as executor:
            started = time.perf_counter()
            assert list(executor.map(noop_one, range(tasks))) == [None] * tasks
            return tasks / (time.perf_counter() - started)
    finally:
        client.close()


def noop_one(_):  # noqa: ANN001, ANN201
    return None


noop_one.__module__ = "__main__"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--latency-tasks", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=list(Mode))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    rows = {}
    for mode in args.modes:
        with Stack(mode, workers=1, procs=2) as stack:
            log.info("measuring %s ...", mode)
            rows[mode] = asyncio.run(
                measure(stack.url, args.tasks, args.latency_tasks, args.repeats)
            )
    print(
        f"\n| mode | no-op tasks/s (median of {args.repeats}) | range | SDK map tasks/s | "
        f"round trip p50 | p99 |"
    )
    print("|---|---|---|---|---|---|")
    for mode, r in rows.items():
        print(
            f"| {mode} | {r['tasks_per_s']:.0f} | {r['min']:.0f}–{r['max']:.0f} | "
            f"{r['sdk_map']:.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms |"
        )


if __name__ == "__main__":
    main()

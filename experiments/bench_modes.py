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

import numpy as np

from experiments.client import LoadClient
from experiments.workloads import noop
from faas.serialize import serialize
from faas.stack import MODES, Stack

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
    return {"tasks_per_s": statistics.median(rates), "min": min(rates), "max": max(rates),
            "p50_ms": 1000 * float(np.percentile(latencies, 50)),
            "p99_ms": 1000 * float(np.percentile(latencies, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--latency-tasks", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=list(MODES))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    rows = {}
    for mode in args.modes:
        with Stack(mode, workers=1, procs=2) as stack:
            log.info("measuring %s ...", mode)
            rows[mode] = asyncio.run(measure(stack.url, args.tasks, args.latency_tasks,
                                             args.repeats))
    print(f"\n| mode | no-op tasks/s (median of {args.repeats}) | range | "
          f"round trip p50 | p99 |")
    print("|---|---|---|---|---|")
    for mode, r in rows.items():
        print(f"| {mode} | {r['tasks_per_s']:.0f} | {r['min']:.0f}–{r['max']:.0f} | "
              f"{r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms |")


if __name__ == "__main__":
    main()

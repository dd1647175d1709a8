"""Per mode, 1 worker x 2 processes: no-op throughput through the REST API (median of
``--repeats`` runs of ``--tasks`` tasks), through the SDK's ``Executor.map``, and sequential
round-trip latency (p50/p99). Writes ``bench_modes.csv`` (one row per repeat or round trip)
and prints the table derived from it (``--table CSV`` prints it again from the file).

    python -m experiments.sweep.modes [--tasks 5000] [--latency-tasks 500] [--repeats 3]

Each mode gets a fresh stack (embedded Redis); the modes run one after another in the same
invocation so their figures compare as ratios on the same machine state.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import setup_logging
from experiments.load.client import LoadClient
from experiments.spec.workloads import noop
from faas.client import Executor, FaaSClient
from faas.models import Mode
from faas.serialize import serialize
from faas.stack import Stack

log = logging.getLogger("bench_modes")


async def measure(url: str, tasks: int, latency_tasks: int, repeats: int) -> list[dict]:
    """Rows (kind, repeat, value): REST tasks/s and SDK ``Executor.map`` tasks/s per repeat,
    then one row per sequential round trip (seconds)."""
    client = LoadClient(url, concurrency=16)
    rows = []
    try:
        function_id = await client.register(noop)
        payload = serialize(((), {}))
        await client.run_many(function_id, [payload] * 200)  # warm up
        for repeat in range(repeats):
            sent = await client.run_many(function_id, [payload] * tasks)
            assert all(r.status == "COMPLETED" for r in sent)
            span = max(r.observed for r in sent) - min(r.submitted for r in sent)
            rows.append({"kind": "rest_tps", "repeat": repeat, "value": tasks / span})
        latencies = await client.round_trips(function_id, payload, latency_tasks)
    finally:
        await client.close()
    for repeat in range(repeats):
        rate = await asyncio.to_thread(sdk_map_rate, url, tasks)
        rows.append({"kind": "sdk_map_tps", "repeat": repeat, "value": rate})
    rows += [{"kind": "round_trip_s", "repeat": i, "value": v} for i, v in enumerate(latencies)]
    return rows


def table(df: pd.DataFrame) -> str:
    """The README's per-mode table, derived from ``bench_modes.csv``."""
    lines = [
        "| mode | no-op tasks/s (median) | range | SDK `Executor.map` tasks/s | "
        "round trip p50 | p99 |",
        "|---|---|---|---|---|---|",
    ]
    for mode, g in df.groupby("mode", sort=False):
        rest = g[g["kind"] == "rest_tps"]["value"]
        sdk = g[g["kind"] == "sdk_map_tps"]["value"]
        rtt = 1000 * g[g["kind"] == "round_trip_s"]["value"]
        lines.append(
            f"| {mode} | {rest.median():.0f} | {rest.min():.0f}–{rest.max():.0f} | "
            f"{sdk.median():.0f} | {np.percentile(rtt, 50):.2f} ms | "
            f"{np.percentile(rtt, 99):.2f} ms |"
        )
    return "\n".join(lines)


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


def noop_one(_):
    return None


noop_one.__module__ = "__main__"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--latency-tasks", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=list(Mode))
    parser.add_argument("--out", type=Path, default=None, help="default results/bench-modes-…")
    parser.add_argument("--table", type=Path, default=None, help="only print the table of CSV")
    args = parser.parse_args()
    if args.table:
        print(table(pd.read_csv(args.table)))
        return
    setup_logging()
    rows = []
    for mode in args.modes:
        with Stack(mode, workers=1, procs=2) as stack:
            log.info("measuring %s ...", mode)
            found = asyncio.run(measure(stack.url, args.tasks, args.latency_tasks, args.repeats))
            rows += [{"mode": str(mode), **row} for row in found]
    out = args.out or Path("results") / f"bench-modes-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "bench_modes.csv", index=False)
    print(table(df))
    print(f"written to {out / 'bench_modes.csv'}")


if __name__ == "__main__":
    main()

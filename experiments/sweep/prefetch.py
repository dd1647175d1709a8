"""What push-mode prefetch buys and costs, side by side in one run: a fixed prefetch
(``FAAS_PREFETCH``, with the adaptive one off) against the adaptive one (``FAAS_PREFETCH=0``,
short tasks queued one per process: ``FAAS_PREFETCH_SHORT_MS``, faas/durations.py).

    python -m experiments.sweep.prefetch [--prefetch 0 1 2] [--adaptive] [--repeats 3] [--out DIR]

For each fixed prefetch value (and, with ``--adaptive``, the adaptive one), interleaved
over ``--repeats`` rounds, on fresh push stacks:

- *fed directly*: 1 worker x 2 processes, ``--direct-tasks`` no-op tasks queued straight
  into Redis; tasks/s from the store's own timestamps (as ``experiments.sweep.dispatcher``);
- *weak scaling*: 8 workers x 4 processes (32), 4 tasks of ``sleep(0.2)`` per process
  through the REST API; efficiency = ideal makespan (0.8 s) / (last observed - first sent).

Writes ``prefetch.csv`` (one row per measurement; ``short_ms`` 0 for a fixed prefetch) and
prints the medians with their ranges.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from experiments import setup_logging
from experiments.load.client import LoadClient
from experiments.spec.workloads import sleep
from experiments.sweep.dispatcher import queue_and_wait
from faas.serialize import serialize
from faas.stack import Stack

log = logging.getLogger("prefetch")

WEAK_WORKERS, WEAK_PROCS, TASKS_PER_PROCESS, SLEEP_S = 8, 4, 4, 0.2


#: The adaptive prefetch's threshold, as the platform's default.
ADAPTIVE_MS = 1.0


def _env(prefetch: int, short_ms: float) -> dict[str, str]:
    return {"FAAS_PREFETCH": str(prefetch), "FAAS_PREFETCH_SHORT_MS": str(short_ms)}


def fed_directly(prefetch: int, tasks: int, short_ms: float = 0.0) -> float:
    """No-op tasks/s of a push dispatcher with 1 worker x 2 processes, fed from Redis."""
    with Stack("push", workers=1, procs=2, env=_env(prefetch, short_ms)) as stack:
        asyncio.run(queue_and_wait(stack.redis_url, 1000))  # warm up
        return asyncio.run(queue_and_wait(stack.redis_url, tasks))


async def _weak(url: str) -> float:
    client = LoadClient(url, concurrency=16)
    try:
        function_id = await client.register(sleep, "sleep")
        payload = serialize(((SLEEP_S,), {}))
        await client.run_many(function_id, [serialize(((0.0,), {}))] * 32)  # warm up
        n = WEAK_WORKERS * WEAK_PROCS * TASKS_PER_PROCESS
        rows = await client.run_many(function_id, [payload] * n)
        assert all(r.status == "COMPLETED" for r in rows)
        makespan = max(r.observed for r in rows) - min(r.submitted for r in rows)
        return TASKS_PER_PROCESS * SLEEP_S / makespan
    finally:
        await client.close()


def weak_scaling(prefetch: int, short_ms: float = 0.0) -> float:
    """Weak-scaling efficiency at 32 push processes."""
    env = _env(prefetch, short_ms)
    with Stack("push", workers=WEAK_WORKERS, procs=WEAK_PROCS, env=env) as stack:
        return asyncio.run(_weak(stack.url))


def run(
    prefetches: list[int], repeats: int, direct_tasks: int, adaptive: bool = False
) -> pd.DataFrame:
    """Every measurement, rounds interleaved so drift hits every configuration alike."""
    configs = [(p, 0.0) for p in prefetches] + ([(0, ADAPTIVE_MS)] if adaptive else [])
    rows = []
    with tqdm(total=repeats * len(configs) * 2, unit="run") as bar:
        for repeat in range(repeats):
            for prefetch, short_ms in configs:
                row = dict(prefetch=prefetch, short_ms=short_ms, repeat=repeat)
                rate = fed_directly(prefetch, direct_tasks, short_ms)
                rows.append(row | dict(study="fed_directly_tps", value=rate))
                bar.update(1)
                weak = weak_scaling(prefetch, short_ms)
                rows.append(row | dict(study="weak_scaling_32", value=weak))
                bar.update(1)
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Median, min and max per (study, prefetch, short_ms)."""
    if "short_ms" not in df:  # a run from before the adaptive prefetch
        df = df.assign(short_ms=0.0)
    return df.groupby(["study", "prefetch", "short_ms"])["value"].agg(
        ["median", "min", "max", "count"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefetch", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--adaptive", action="store_true", help="also the adaptive prefetch (short tasks)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--direct-tasks", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    setup_logging()
    out = args.out or Path("results") / f"prefetch-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    df = run(args.prefetch, args.repeats, args.direct_tasks, args.adaptive)
    df.to_csv(out / "prefetch.csv", index=False)
    print(summary(df).to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"written to {out / 'prefetch.csv'}")


if __name__ == "__main__":
    main()

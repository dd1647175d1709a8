"""What the embedded Redis's ``appendfsync`` costs and what it buys, side by side in one run.

    python -m experiments.sweep.fsync [--repeats 5] [--restarts 20]
        [--out docs/results/faults/fsync.csv]

- cost: closed-loop no-op runs (16 clients, 2 000 tasks, a pool or one worker of 2
  processes) in local and push mode with ``everysec`` (the platform's default) and
  ``always``, the order alternating, ``repeats`` times each: throughput and p50.
- loss: the redis-restart fault of ``experiments.faults`` (40 tasks of 0.2 s, local mode)
  under ``everysec`` with the Redis that is killed on a disk throttled to 5 writes a second
  (a slow or contended disk: Redis's background fsync then takes up to seconds, and while
  one runs Redis holds its writes to the file back for up to 2 s but keeps acknowledging
  them), ``restarts`` times: tasks lost, and of those the ones whose record Redis no longer
  has. ``always`` is not run there: every reply waits for an fsync, far too slow on that
  disk to run the scenario. Needs root and the cgroup v1 blkio controller; skipped (and
  said so) otherwise.

Every row of the CSV is one run: ``part`` (cost or loss), ``fsync``, ``mode``, ``repeat``,
``throughput_tps`` and ``p50_ms`` (cost), ``lost`` and ``vanished`` (loss).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import statistics
from pathlib import Path

from tqdm import tqdm

from experiments import setup_logging
from experiments.faults import run_scenario, slow_disk_available
from experiments.simulate.measure import Session
from experiments.simulate.model import Config
from faas.stack import Stack

log = logging.getLogger("fsync")

FSYNCS = ("everysec", "always")
COLUMNS = ["part", "fsync", "mode", "repeat", "throughput_tps", "p50_ms", "lost", "vanished"]


async def _cost_run(fsync: str, mode: str, clients: int = 16, tasks: int = 2000) -> dict:
    with Stack(mode, workers=1, procs=2, redis_fsync=fsync) as stack:
        session = Session(stack)
        try:
            await session.setup()
            run = await session.run(Config(mode, 1, 2, 0.0, clients, tasks))
        finally:
            await session.close()
    return {"throughput_tps": round(run.throughput_tps, 1), "p50_ms": round(run.latency_ms(0.5), 3)}


def cost(repeats: int) -> list[dict]:
    """Throughput and p50 with each fsync setting, interleaved (the order alternates)."""
    rows = []
    with tqdm(total=repeats * 2 * len(FSYNCS), unit="run", desc="cost") as bar:
        for repeat in range(repeats):
            for mode in ("local", "push"):
                for fsync in FSYNCS if repeat % 2 == 0 else FSYNCS[::-1]:
                    measured = asyncio.run(_cost_run(fsync, mode))
                    rows.append(
                        {"part": "cost", "fsync": fsync, "mode": mode, "repeat": repeat, **measured}
                    )
                    bar.update()
    return rows


def loss(restarts: int, iops: int = 5, fsync: str = "everysec") -> list[dict]:
    """Tasks lost by the redis-restart fault with Redis on a slow disk."""
    rows = []
    with tqdm(total=restarts, unit="run", desc="loss") as bar:
        for repeat in range(restarts):
            report = run_scenario(
                "redis-restart",
                "local",
                tasks=40,
                sleep_s=0.2,
                heartbeat_s=0.25,
                timeout_s=1.0,
                deadline_s=30,
                redis_fsync=fsync,
                disk_iops=iops,
            )
            rows.append(
                {
                    "part": "loss",
                    "fsync": fsync,
                    "mode": "local",
                    "repeat": repeat,
                    "lost": report.lost,
                    "vanished": report.vanished,
                }
            )
            bar.update()
    return rows


def summary(rows: list[dict]) -> list[str]:
    """One line per part, setting and mode: medians and ranges (cost), totals (loss)."""
    lines = []
    for mode in ("local", "push"):
        by = {
            f: [r for r in rows if r["part"] == "cost" and r["mode"] == mode and r["fsync"] == f]
            for f in FSYNCS
        }
        if not all(by.values()):
            continue
        tps = {f: [r["throughput_tps"] for r in by[f]] for f in FSYNCS}
        p50 = {f: statistics.median(r["p50_ms"] for r in by[f]) for f in FSYNCS}
        ratio = statistics.median(tps["always"]) / statistics.median(tps["everysec"])
        lines.append(
            f"cost {mode}: everysec {statistics.median(tps['everysec']):.0f} tasks/s "
            f"({min(tps['everysec']):.0f}-{max(tps['everysec']):.0f}), p50 {p50['everysec']:.2f}"
            f" ms; always {statistics.median(tps['always']):.0f} tasks/s "
            f"({min(tps['always']):.0f}-{max(tps['always']):.0f}), p50 {p50['always']:.2f} ms; "
            f"always/everysec {ratio:.2f}"
        )
    for fsync in FSYNCS:
        runs = [r for r in rows if r["part"] == "loss" and r["fsync"] == fsync]
        if runs:
            lines.append(
                f"loss {fsync}: {sum(r['lost'] > 0 for r in runs)} of {len(runs)} restarts lost "
                f"tasks, {sum(r['lost'] for r in runs)} tasks in all "
                f"({sum(r['vanished'] for r in runs)} with no record left)"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="cost runs per setting and mode")
    parser.add_argument("--restarts", type=int, default=20, help="loss runs")
    parser.add_argument("--out", type=Path, default=Path("results/fsync.csv"))
    args = parser.parse_args()
    setup_logging()
    rows = cost(args.repeats)
    ok, why = slow_disk_available()
    if ok:
        rows += loss(args.restarts)
    else:
        log.warning("loss part skipped: %s", why)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    for line in summary(rows):
        log.info("%s", line)
    log.info("written to %s", args.out)


if __name__ == "__main__":
    main()

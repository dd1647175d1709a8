"""The dispatcher fed directly: tasks already queued in Redis, results recorded.

    python -m experiments.sweep.dispatcher [--tasks 20000] [--modes local pull push]
                                           [--repeats 3] [--profile DIR]
                                           [--against OTHER_CHECKOUT] [--out CSV]

A fresh stack per mode (2 processes: a local pool, or 1 pull/push worker x 2). Each repeat
queues ``--tasks`` no-op tasks straight into Redis (the store's batch submit, no HTTP), then
waits until every outcome is recorded; rate = tasks / (last stored - first submitted), from
the store's own timestamps; each row also has the cores every component kept busy meanwhile
(``cores_api``, ``cores_dispatcher``, ..., ``cores_host`` for the whole machine).
``--profile DIR`` records the dispatcher (and the worker) with
py-spy during one more repeat and writes the top functions by own time. ``--against``
measures another checkout too, interleaved repeat by repeat, with the ratio of medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pandas as pd
import redis.asyncio as aioredis

from experiments.measure.cpu import CpuMeter, cores_used
from experiments.measure.profile import profile, top_functions
from experiments.spec.workloads import noop
from experiments.sweep.against import add_option, compared, sides, stack_in
from faas.models import Mode
from faas.serialize import dumps
from faas.stack import Stack
from faas.store import STATS_KEY, Store, task_key


async def _stats(r: aioredis.Redis) -> dict[bytes, bytes]:
    """The store's counters (a client without decoded replies)."""
    return cast(dict[bytes, bytes], await r.hgetall(STATS_KEY))


async def queue_and_wait(url: str, tasks: int) -> float:
    r = aioredis.from_url(url)
    store = Store(r)
    try:
        function_id = await store.register_function("noop", dumps(noop))
        done_before = sum(
            float(v) for k, v in (await _stats(r)).items() if k.startswith(b"COMPLETED:")
        )
        args = dumps(((), {}))
        ids = []
        for start in range(0, tasks, 2000):
            ids += await store.submit_many(function_id, [args] * min(2000, tasks - start))
        while True:
            counts = await _stats(r)
            done = sum(float(v) for k, v in counts.items() if k.startswith(b"COMPLETED:"))
            if done - done_before >= tasks:
                break
            await asyncio.sleep(0.05)
        first = float(cast(bytes, await r.hget(task_key(ids[0]), "submitted")))
        async with r.pipeline(transaction=False) as pipe:
            for task_id in ids[-200:]:
                pipe.hget(task_key(task_id), "stored")
            last = max(float(v) for v in await pipe.execute())
        return tasks / (last - first)
    finally:
        await r.aclose()


def measure_direct(
    modes: list[str],
    tasks: int,
    repeats: int,
    profile_dir: Path | None = None,
    against: Path | None = None,
) -> pd.DataFrame:
    """Rows (mode, repeat, processes, tasks_per_s, code); with ``profile_dir``, py-spy raw
    profiles of the dispatcher and worker during one more run (skipped if py-spy cannot
    attach). With ``against`` (another checkout, e.g. a ``git worktree`` of an older
    commit) every repeat of every mode runs on a fresh stack of that checkout, then on one of
    this: interleaved, so a change of the machine's speed falls on both sides."""
    rows = []
    for mode in modes:
        if against is None:
            with _stack(None, mode) as stack:
                for repeat in range(repeats):
                    rows.append(_row(stack, mode, repeat, tasks, "this"))
                if profile_dir:
                    _profile_stack(stack, mode, tasks, profile_dir)
            continue
        for repeat in range(repeats):
            for code, where in sides(against):
                with _stack(where, mode) as stack:
                    rows.append(_row(stack, mode, repeat, tasks, code))
    return pd.DataFrame(rows)


@contextlib.contextmanager
def _stack(where: Path | None, mode: str) -> Iterator[Stack]:
    """A started stack of 1 worker × 2 processes (a pool of 2 in local mode) of the checkout
    in ``where`` (``python -m faas`` imports from the working directory), warmed up."""
    with stack_in(where, mode, workers=1, procs=2) as stack:
        asyncio.run(queue_and_wait(stack.redis_url, 1000))  # warm up
        yield stack


def _row(stack: Stack, mode: str, repeat: int, tasks: int, code: str) -> dict:
    """One repeat's rate, and the cores each component kept busy meanwhile
    (:func:`experiments.measure.cpu.cores_used`; ``client`` is this process queueing the tasks)."""
    meter = CpuMeter(stack)
    before, started = meter.sample(), time.perf_counter()
    rate = asyncio.run(queue_and_wait(stack.redis_url, tasks))
    cores = cores_used(before, meter.sample(), time.perf_counter() - started)
    row = {"mode": mode, "repeat": repeat, "processes": 2, "tasks_per_s": rate, "code": code}
    return row | {k: round(v, 3) for k, v in cores.items()}


def _profile_stack(stack: Stack, mode: str, tasks: int, profile_dir: Path) -> None:
    profile_dir.mkdir(parents=True, exist_ok=True)
    targets = [("dispatcher", stack.process("dispatcher"))]
    targets += [("worker", w) for w in stack.worker_procs[:1]]
    spies = [profile(p.pid, 4, profile_dir / f"{mode}-{name}.txt") for name, p in targets]
    time.sleep(0.5)
    asyncio.run(queue_and_wait(stack.redis_url, tasks))
    for spy in spies:
        spy.wait(30)


def ratio_table(df: pd.DataFrame) -> str:
    """This checkout against the other (``--against``), as Markdown: median tasks/s over the
    interleaved repeats, and their ratio."""
    lines = [
        "| mode | tasks/s, against (min–max) | this (min–max) | this ÷ against |",
        "|---|---|---|---|",
    ]
    for mode, g in df.groupby("mode", sort=False):
        spans, ratio = compared(g, "tasks_per_s")
        lines.append(f"| {mode} | {' | '.join(spans)} | {ratio:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=list(Mode))
    parser.add_argument("--profile", type=Path, default=None)
    add_option(parser)
    parser.add_argument("--out", type=Path, default=None, help="write the rows to this CSV")
    args = parser.parse_args()
    df = measure_direct(args.modes, args.tasks, args.repeats, args.profile, args.against)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(args.out, index=False)
    if args.against:
        print(ratio_table(df))
    print("| mode | tasks/s (median) | min–max |\n|---|---|---|")
    for mode, g in df[df["code"] == "this"].groupby("mode", sort=False):
        print(
            f"| {mode} | {g['tasks_per_s'].median():.0f} | "
            f"{g['tasks_per_s'].min():.0f}–{g['tasks_per_s'].max():.0f} |"
        )
    if args.profile:
        for raw in sorted(args.profile.glob("*.txt")):
            print(f"\n{raw.stem}: own time")
            for share, fn in top_functions(raw):
                print(f"  {100 * share:5.1f}%  {fn}")


if __name__ == "__main__":
    main()

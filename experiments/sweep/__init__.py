"""Run a grid of experiments on real stacks and leave CSVs, plots and a report.

    python -m experiments.sweep [--quick | --spec FILE.toml] [--out results/<run-id>]

The grid is a TOML spec (experiments/spec/): ``experiments/specs/full.toml`` by default,
``quick.toml`` with ``--quick``, or your own with ``--spec``.

For each stack shape (mode, workers, processes per worker) it starts a fresh stack with an
embedded Redis, warms it up, runs every configuration of that shape ``repeats`` times through
the REST API, reads each task's server-side timestamps from Redis, and tears the stack down.
Writes ``tasks.csv.gz`` (one row per task, compressed), ``grid.json`` (what ran),
``spec.toml`` (the spec it ran),
``runs.csv``, ``summary.csv``, ``machine.json``,
the plots and ``REPORT.md`` into the run directory, and points ``results/latest`` at it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import redis
from tqdm import tqdm

from experiments import setup_logging
from experiments import spec as specs
from experiments.analysis.metrics import per_config, per_run
from experiments.load.client import LoadClient, TaskRow
from experiments.measure.cpu import probe
from experiments.measure.machine import machine
from experiments.measure.server import server_rows
from experiments.spec import workloads
from experiments.spec.runs import SUSTAINED, Baselines, Run, StackShape
from faas.models import Mode
from faas.serialize import serialize
from faas.stack import Stack

log = logging.getLogger("sweep")

#: Concurrent submitters (and as many result pollers) of the burst load.
CLIENT_CONCURRENCY = 16
#: Connections of the Poisson load's client: enough that arrivals are not held back by the
#: client while earlier tasks are long-polled.
POISSON_CONNECTIONS = 512


def _payload(run: Run) -> str:
    if run.function:
        args, kwargs = json.loads(run.args)
        return serialize((tuple(args), kwargs))
    if run.workload == "noop":
        return serialize(((), {}))
    if run.workload == "echo":
        return serialize(((b"x" * int(run.arg),), {}))
    value = int(run.arg) if run.workload == "cpu" else run.arg
    return serialize(((value,), {}))


async def _send(client: LoadClient, run: Run, function_id: str) -> list[TaskRow]:
    payloads = [_payload(run)] * run.tasks
    if run.loop == "burst":
        return await client.run_many(function_id, payloads)
    if run.loop == "closed":
        return await client.closed_loop(function_id, payloads, run.clients)
    if run.loop == "poisson":
        opened = LoadClient(client.url, connections=POISSON_CONNECTIONS)
        try:
            return await opened.poisson(function_id, payloads, run.rate, run.seed)
        finally:
            await opened.close()
    return [await client.wait(await client.submit(function_id, p)) for p in payloads]


def _function(run: Run) -> Callable[..., Any]:
    """The function a run executes: a built-in workload or the spec's user function."""
    if run.function:
        file, _, name = run.function.rpartition(":")
        return specs.resolve_function(file, name)
    return getattr(workloads, run.workload)


def _curve_key(run: Run) -> tuple:
    """Runs of one load curve: everything but the rate."""
    return (run.study, run.stack, run.workload, run.function, run.args, run.arg)


def throughput(rows: list[TaskRow]) -> float:
    """Tasks per second from the first submission to the last result seen (as
    experiments.analysis.metrics computes it; a Poisson run's is its achieved throughput)."""
    return len(rows) / (max(r.observed for r in rows) - min(r.submitted for r in rows))


class _Saturation:
    """The load curves' first rates not sustained: a curve's higher rates are skipped once
    one is (``Run.stop_at_saturation``)."""

    def __init__(self, repeats: int) -> None:
        self.repeats = repeats
        self.first: dict[tuple, float] = {}  # load curve -> the first rate not sustained
        self.achieved: list[float] = []  # the current Poisson run's throughput per repeat

    def past(self, run: Run) -> bool:
        return run.stop_at_saturation and run.rate > self.first.get(_curve_key(run), run.rate)

    def record(self, run: Run, repeat: int, sent: list[TaskRow]) -> None:
        if run.loop != "poisson":
            return
        self.achieved = (self.achieved if repeat else []) + [throughput(sent)]
        if repeat == self.repeats - 1 and statistics.median(self.achieved) < SUSTAINED * run.rate:
            self.first.setdefault(_curve_key(run), run.rate)


async def _register(client: LoadClient, runs: list[Run]) -> dict[tuple[str, str], str]:
    """Register every workload of ``runs`` and warm the stack up; their function ids."""
    functions = {}
    for run in runs:
        key = (run.workload, run.function)
        if key not in functions:
            functions[key] = await client.register(_function(run), run.workload)
    warm = await client.register(workloads.noop, "noop")
    await client.run_many(warm, [serialize(((), {}))] * 50)
    return functions


def _label(run: Run, repeat: int) -> str:
    rate = f" {run.rate:g}/s" if run.rate else ""
    shape = f"{run.mode} {run.workers}x{run.procs}"
    return f"{run.study} {shape} {run.workload}({run.arg:g}){rate} #{repeat + 1}"


async def _measure_stack(
    stack: Stack, runs: list[Run], repeats: int, bar: tqdm, skipped: list[Run]
) -> list[dict]:
    """Measure ``runs`` on ``stack``; Poisson runs past a saturated rate go to ``skipped``."""
    client = LoadClient(stack.url, concurrency=CLIENT_CONCURRENCY)
    r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    rows: list[dict] = []
    saturation = _Saturation(repeats)
    try:
        functions = await _register(client, runs)
        for run, repeat in itertools.product(runs, range(repeats)):
            bar.update(1)
            if saturation.past(run):
                skipped += [run] if repeat == 0 else []
                continue
            bar.set_postfix_str(_label(run, repeat))
            speed = probe()  # how fast the machine runs now, for the model's predictions
            sent = await _send(client, run, functions[(run.workload, run.function)])
            saturation.record(run, repeat, sent)
            payload = run.arg if run.workload == "echo" else 0
            rows += [
                {**run.__dict__, "processes": run.processes, "repeat": repeat,
                 "payload_bytes": payload, "probe_s": speed, **row}
                for row in server_rows(r, sent)
            ]  # fmt: skip
    finally:
        await client.close()
        r.close()
    return rows


def _model(out: Path) -> None:
    """The model's predictions of this run's configurations (``model.csv``), from the last
    calibration (``experiments/simulate/benchrun.py``); skipped, with the reason, if it fails."""
    from experiments.simulate.benchrun import write
    from experiments.simulate.calibration import calibration_path

    try:
        write(out, calibration_path(None))
    except (OSError, ValueError, KeyError) as e:
        log.warning("no model predictions for this run: %s", e)


def grid_description(
    runs: list[Run], repeats: int, extra: Baselines | None, skipped: list[Run] | None = None
) -> dict:
    """What the sweep ran, for the report's prose (and a reader): every run, the repeats,
    the load client's concurrency, the baseline sizes, and the Poisson runs skipped past
    their curve's saturation."""
    return {
        "repeats": repeats,
        "client_concurrency": CLIENT_CONCURRENCY,
        "runs": [run.__dict__ for run in runs if run not in (skipped or [])],
        "skipped": [run.__dict__ for run in skipped or []],
        "baselines": extra.__dict__ if extra else None,
    }


def run_baselines(b: Baselines, out: Path) -> None:
    """faas against Celery (``celery.csv``), the dispatcher fed directly (``direct.csv``, with
    py-spy profiles in ``profile/``) and the API alone (``api.csv``, profiles likewise)."""
    from experiments.sweep.api import measure_api
    from experiments.sweep.celery import run_celery
    from experiments.sweep.dispatcher import measure_direct

    with tqdm(total=4, desc="baselines", unit="study") as bar:
        bar.set_postfix_str("faas vs Celery")
        run_celery(b.celery_tasks, b.celery_batch_tasks, b.celery_latency_tasks, b.repeats, out)
        bar.update(1)
        bar.set_postfix_str("dispatcher fed directly")
        measure_direct(list(Mode), b.direct_tasks, b.repeats, out / "profile").to_csv(
            out / "direct.csv", index=False
        )
        bar.update(1)
        bar.set_postfix_str("the API alone")
        if b.api_seconds:
            measure_api(b.api_seconds, b.repeats, out / "profile" / "api").to_csv(
                out / "api.csv", index=False
            )
        bar.update(1)
        bar.set_postfix_str("weak scaling on emulated hosts")
        _hosts_weak(b, out)
        bar.update(1)


def _celery_curves(runs: list[Run], repeats: int, out: Path) -> None:
    """Celery on the load curve of every Poisson study that asks for it (``celery = true``):
    ``celery_curve.csv``, one row per rate, the same arrivals as the faas runs."""
    from experiments.sweep.celery import celery_curve

    curves: dict[tuple[str, float, int], set[float]] = {}
    for run in runs:
        if run.celery:
            curves.setdefault((run.study, run.tasks / run.rate, run.seed), set()).add(run.rate)
    if not curves:
        return
    frames = []
    with tqdm(total=len(curves), desc="Celery load curve", unit="curve") as bar:
        for (study, duration, seed), rates in curves.items():
            frames.append(celery_curve(sorted(rates), duration, repeats, seed).assign(study=study))
            bar.update(1)
    pd.concat(frames).to_csv(out / "celery_curve.csv", index=False)


def _hosts_weak(b: Baselines, out: Path) -> None:
    """The large weak-scaling point on emulated hosts, per remote mode (``hosts_weak.csv``,
    py-spy profiles in ``profile/hosts-<mode>/``), and a host partition's timeline
    (``partition.csv``), where namespaces can be created."""
    from experiments.hosts import available, weak_scaling

    if b.hosts_weak is None or not available()[0]:
        return
    hosts, procs = b.hosts_weak
    rows = []
    for mode in Mode.remote():
        found = weak_scaling(
            mode, hosts, procs, b.repeats, profile=out / "profile" / f"hosts-{mode}"
        )
        rows += [
            dict(mode=str(mode), hosts=hosts, procs_per_host=procs, repeat=i, efficiency=e)
            for i, e in enumerate(found)
        ]
    pd.DataFrame(rows).to_csv(out / "hosts_weak.csv", index=False)
    from experiments.faults import run_scenario

    timeline: list[dict] = []
    for mode in Mode.remote():
        run_scenario("partition-host", mode, timeline=timeline)
    pd.DataFrame(timeline).to_csv(out / "partition.csv", index=False)


def _runnable(runs: list[Run]) -> list[Run]:
    """``runs`` without the emulated-host ones when this machine cannot create namespaces."""
    from experiments.hosts import available

    if not any(run.hosts for run in runs):
        return runs
    ok, why = available()
    if not ok:
        log.warning("skipping the hosts axis: %s", why)
        return [run for run in runs if not run.hosts]
    return runs


@contextlib.contextmanager
def _stack(shape: StackShape) -> Iterator[Stack]:
    """A loopback stack, or one worker on each of ``shape.hosts`` emulated hosts."""
    if not shape.hosts:
        with Stack(shape.mode, workers=shape.workers, procs=shape.procs) as stack:
            yield stack
        return
    from experiments.hosts import cluster

    rate = None if shape.link == "unshaped" else shape.link
    with cluster(shape.mode, shape.hosts, shape.procs, rate=rate) as (stack, _):
        yield stack


def run_sweep(
    runs: list[Run],
    repeats: int,
    out: Path,
    extra: Baselines | None = None,
    spec_text: str | None = None,
) -> Path:
    """Measure ``runs`` (and the ``extra`` baselines); write CSVs, plots and the report
    (and ``spec.toml``, the spec's text, when given)."""
    out.mkdir(parents=True, exist_ok=True)
    if spec_text is not None:
        (out / "spec.toml").write_text(spec_text)
    rows: list[dict] = []
    skipped: list[Run] = []
    runs = _runnable(runs)
    shapes = sorted({run.stack for run in runs}, key=StackShape.order)
    with tqdm(total=len(runs) * repeats, unit="run", desc="sweep") as bar:
        for shape in shapes:
            todo = [run for run in runs if run.stack == shape]
            with _stack(shape) as stack:
                rows += asyncio.run(_measure_stack(stack, todo, repeats, bar, skipped))
    if extra:
        run_baselines(extra, out)
    _celery_curves(runs, repeats, out)
    _write_tables(out, pd.DataFrame(rows), grid_description(runs, repeats, extra, skipped))
    info = machine()
    if any(run.hosts for run in runs):
        from experiments.hosts import shaping

        info["shaping"] = shaping()
    (out / "machine.json").write_text(json.dumps(info, indent=2))
    _model(out)
    from experiments.analysis.report import render

    render(out)
    _point_latest_at(out)
    return out


def _write_tables(out: Path, tasks: pd.DataFrame, grid: dict) -> None:
    """tasks.csv.gz, grid.json, runs.csv and summary.csv."""
    tasks.to_csv(out / "tasks.csv.gz", index=False)
    (out / "grid.json").write_text(json.dumps(grid, indent=1))
    runs = per_run(tasks)
    runs.to_csv(out / "runs.csv", index=False)
    per_config(runs).to_csv(out / "summary.csv", index=False)


def _point_latest_at(out: Path) -> None:
    """results/latest: the newest run (for runs under results/)."""
    if out.resolve().parent.name == "results":
        latest = out.parent / "latest"
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(out.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--quick", action="store_true", help="the short grid (a few minutes)")
    choice.add_argument(
        "--spec", type=Path, default=None, help="the experiment's TOML spec (default: full.toml)"
    )
    parser.add_argument("--studies", nargs="+", default=None, help="only these studies")
    parser.add_argument("--out", type=Path, default=None, help="run directory")
    setup_logging(logging.WARNING)
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip the Celery comparison and the dispatcher-direct study",
    )
    args = parser.parse_args()
    try:
        spec = specs.load(args.spec) if args.spec else specs.builtin(args.quick)
    except specs.SpecError as e:
        parser.exit(2, f"error: {e}\n")
    runs = spec.runs
    if args.studies:
        runs = [run for run in runs if run.study in args.studies]
    out = args.out or Path("results") / time.strftime("%Y%m%d-%H%M%S")
    started = time.monotonic()
    extra = None if args.no_baselines else spec.baselines
    run_sweep(runs, spec.repeats, out, extra, spec.text)
    print(f"report: {out / 'REPORT.md'} ({time.monotonic() - started:.0f} s)")

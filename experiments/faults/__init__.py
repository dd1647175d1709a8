"""Fault injection: run a workload on a real stack, inject a fault mid-run, prove that no
task is lost, and measure how fast the platform noticed and recovered.

    python -m experiments.faults SCENARIO [--mode push] [--tasks 200] [--sleep 0.2]
    python -m experiments.faults all           # every scenario in every mode it applies to

Scenarios: kill-worker (SIGKILL a worker and its processes), kill-process (SIGKILL one pool
process), hang-worker (SIGSTOP a worker for 1.5x the heartbeat timeout, then SIGCONT),
kill-dispatcher (SIGKILL it and start it again), redis-restart (SIGKILL redis-server and
start it again on its data), partition-host (the workers on emulated hosts of
``experiments.hosts``; one host's link cut for 1.5x the heartbeat timeout, then restored;
needs root). The embedded Redis runs ``appendfsync always`` in redis-restart (every
acknowledged write survives SIGKILL; see ``experiments.sweep.fsync`` for what ``everysec`` loses
on a slow disk), the platform's default ``everysec`` in the others. Each row of
``results/faults-<time>.csv``:

- submitted / completed / failed / lost: lost = tasks not terminal when the run ended (0!)
- vanished: of the lost, those whose record Redis no longer has (an acknowledged
  submission Redis itself lost when it was killed)
- detect_s: from the fault to the dispatcher's first ``worker_lost``/``task_lost`` event
- recover_s: from the fault until every task that was running at the fault, or was retried,
  had ended
- retried: tasks dispatched more than once
- redis_fsync: the embedded Redis's ``appendfsync``
- kills (kill-process): pool processes killed until one was running a task
- readmit_s (partition-host): from restoring the link until the host's worker is serving
  again (registered, listed by ``/health``)
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import cast

import httpx
import pandas as pd
import psutil
import redis

from experiments import setup_logging
from experiments.hosts import Testbed, available, cluster
from experiments.spec.workloads import sleep
from faas.models import Mode
from faas.redis_server import EmbeddedRedis
from faas.serialize import serialize
from faas.stack import Stack
from faas.store import EVENTS_KEY, task_key

log = logging.getLogger("faults")

SCENARIOS = (
    "kill-worker",
    "kill-process",
    "hang-worker",
    "kill-dispatcher",
    "redis-restart",
    "partition-host",
)
#: Modes each scenario applies to (local mode has no workers to kill or hang).
APPLIES = {
    "kill-worker": Mode.remote(),
    "hang-worker": Mode.remote(),
    "kill-process": tuple(Mode),
    "kill-dispatcher": tuple(Mode),
    "redis-restart": tuple(Mode),
    "partition-host": Mode.remote(),
}


@dataclass
class FaultReport:
    """What one fault-injection run found."""

    scenario: str
    mode: str
    submitted: int
    completed: int
    failed: int
    lost: int
    retried: int
    detect_s: float
    recover_s: float
    duration_s: float
    api_503_during_outage: bool | None = None
    readmit_s: float = math.nan
    heal_s: float = math.nan
    redis_fsync: str = ""
    vanished: int = 0
    kills: int = 0


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant, by PID."""
    victims = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for p in victims:
        p.send_signal(signal.SIGKILL)
    psutil.wait_procs(victims, timeout=10)


def _pool_process(pid: int) -> int:
    """A pool process of the worker (or local dispatcher) ``pid``: a forkserver child."""
    for child in psutil.Process(pid).children():
        grandchildren = child.children()
        if grandchildren:
            return grandchildren[0].pid
    raise RuntimeError(f"process {pid} has no pool processes")


def kill_worker(stack: Stack, report: dict) -> None:
    victim = stack.worker_procs[0]
    _kill_tree(victim.pid)
    victim.wait()


def kill_process(stack: Stack, report: dict, tries: int = 5) -> None:
    """SIGKILL one pool process that is running a task. Which process runs one cannot be
    seen from outside, and one may be between two tasks even while every task shows
    RUNNING: a victim whose death lost no task (no ``task_lost`` event within a second) is
    replaced by its pool, and another one is killed, up to ``tries`` in all."""
    owner = stack.process("dispatcher") if stack.mode is Mode.LOCAL else stack.worker_procs[0]
    with redis.Redis.from_url(stack.redis_url, decode_responses=True) as r:
        kills = 0
        while kills < tries:
            kills += 1
            since = time.time()
            psutil.Process(_pool_process(owner.pid)).send_signal(signal.SIGKILL)
            if _event_since(r, "task_lost", since, wait_s=1.0):
                break
            log.info("the killed pool process had no task; killing another")
    report["kills"] = kills


def _event_since(r: redis.Redis, kind: str, since: float, wait_s: float) -> bool:
    """Whether the dispatcher logs a ``kind`` event at or after ``since`` within ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        events = cast(list[tuple[str, dict[str, str]]], r.xrevrange(EVENTS_KEY, count=20))
        if any(e["kind"] == kind and float(e["time"]) >= since for _, e in events):
            return True
        time.sleep(0.02)
    return False


def hang_worker(stack: Stack, report: dict, timeout_s: float) -> None:
    victim = psutil.Process(stack.worker_procs[0].pid)
    victim.send_signal(signal.SIGSTOP)
    try:
        time.sleep(1.5 * timeout_s)
    finally:
        victim.send_signal(signal.SIGCONT)


def kill_dispatcher(stack: Stack, report: dict) -> None:
    _kill_tree(stack.process("dispatcher").pid)
    stack.process("dispatcher").wait()
    stack.start_dispatcher()


def redis_restart(stack: Stack, report: dict) -> None:
    stack.embedded().kill()
    reply = httpx.get(f"{stack.url}/status/00000000-0000-0000-0000-000000000000", timeout=10)
    report["api_503_during_outage"] = reply.status_code == 503
    time.sleep(0.5)
    stack.embedded().start()


def partition_host(stack: Stack, report: dict, bed: Testbed, timeout_s: float) -> None:
    """Cut host 0's link past the heartbeat timeout, restore it, time the re-admission."""
    workers = (stack.health() or {}).get("dispatcher", {}).get("workers", 0)
    bed.partition(0)
    try:
        time.sleep(1.5 * timeout_s)
    finally:
        bed.heal(0)
    healed = time.time()
    report["heal_s"] = healed - report["fault_at"]
    while (stack.health() or {}).get("dispatcher", {}).get("workers", 0) < workers:
        if time.time() - healed > 60:
            raise RuntimeError("the partitioned host's worker did not come back in 60 s")
        time.sleep(0.05)
    report["readmit_s"] = time.time() - healed


def fault_injector(
    scenario: str, timeout_s: float, bed: Testbed | None = None
) -> Callable[[Stack, dict], None]:
    if scenario == "hang-worker":
        return lambda stack, report: hang_worker(stack, report, timeout_s)
    if scenario == "partition-host":
        if bed is None:
            raise ValueError("partition-host needs the emulated hosts' testbed")
        return lambda stack, report: partition_host(stack, report, bed, timeout_s)
    return {
        "kill-worker": kill_worker,
        "kill-process": kill_process,
        "kill-dispatcher": kill_dispatcher,
        "redis-restart": redis_restart,
    }[scenario]


def _records(r: redis.Redis, task_ids: list[str]) -> list[dict[str, str | None]]:
    names = ["status", "attempts", "stored"]
    with r.pipeline(transaction=False) as pipe:
        for task_id in task_ids:
            pipe.hmget(task_key(task_id), names)
        return [dict(zip(names, values, strict=True)) for values in pipe.execute()]


def _wait_running(r: redis.Redis, task_ids: list[str], n: int, timeout_s: float) -> set[str]:
    """Wait until ``n`` tasks run; answer those running then."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running = _running(r, task_ids)
        if len(running) >= n:
            return running
        time.sleep(0.02)
    raise RuntimeError(f"fewer than {n} tasks running after {timeout_s}s")


BLKIO = Path("/sys/fs/cgroup/blkio")


def _disk(path: Path) -> str:
    """``major:minor`` of the whole disk holding ``path`` (throttles apply to disks, not
    partitions)."""
    st = os.stat(path)
    dev = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}")
    if (dev / "partition").exists():
        dev = dev.resolve().parent
    return (dev / "dev").read_text().strip()


def slow_disk_available() -> tuple[bool, str]:
    """Whether :func:`slow_disk` can run here, and why not."""
    if os.geteuid() != 0:
        return False, "needs root"
    if not (BLKIO / "blkio.throttle.write_iops_device").exists():
        return False, "needs the cgroup v1 blkio controller with throttling"
    return True, ""


@contextlib.contextmanager
def slow_disk(path: Path, write_iops: int) -> Iterator[Callable[[int], object]]:
    """A blkio cgroup whose processes may write to ``path``'s disk only ``write_iops``
    times a second (a slow or contended disk: each fsync waits); yields a function that
    moves a process into it. On exit its processes go back to the root group and it is
    removed."""
    group = BLKIO / f"faas-slow-disk-{os.getpid()}"
    group.mkdir()
    try:
        (group / "blkio.throttle.write_iops_device").write_text(f"{_disk(path)} {write_iops}\n")
        yield lambda pid: (group / "cgroup.procs").write_text(f"{pid}\n")
    finally:
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):  # exited meanwhile
                (BLKIO / "cgroup.procs").write_text(f"{pid}\n")
        group.rmdir()


@contextlib.contextmanager
def _stack(
    scenario: str, mode: str, workers: int, procs: int, env: dict[str, str], fsync: str
) -> Iterator[tuple[Stack, Testbed | None]]:
    """A loopback stack, or for partition-host one worker on each of ``workers`` emulated
    hosts."""
    if scenario == "partition-host":
        with cluster(mode, workers, procs, env=env) as (stack, bed):
            yield stack, bed
    else:
        with Stack(mode, workers=workers, procs=procs, env=env, redis_fsync=fsync) as stack:
            yield stack, None


def run_scenario(
    scenario: str,
    mode: str = "push",
    tasks: int = 200,
    sleep_s: float = 0.2,
    workers: int = 2,
    procs: int = 2,
    heartbeat_s: float = 1.0,
    timeout_s: float = 3.0,
    deadline_s: float = 120.0,
    timeline: list[dict] | None = None,
    redis_fsync: str | None = None,
    disk_iops: int = 0,
) -> FaultReport:
    """Run ``tasks`` sleep tasks, inject ``scenario`` once the pool is busy, report.
    ``redis_fsync``: the embedded Redis's ``appendfsync`` (default: ``always`` where Redis
    is killed, else ``everysec``); ``disk_iops``: put that Redis on a disk throttled to this
    many writes a second (:func:`slow_disk`; root)."""
    _check_applies(scenario, mode)
    env = {"FAAS_HEARTBEAT_S": str(heartbeat_s), "FAAS_HEARTBEAT_TIMEOUT_S": str(timeout_s)}
    busy, fsync = procs * (1 if mode == Mode.LOCAL else workers), redis_fsync or _fsync(scenario)
    with contextlib.ExitStack() as exits:
        stack, bed = exits.enter_context(_stack(scenario, mode, workers, procs, env, fsync))
        if disk_iops:  # the embedded Redis on a throttled disk
            _throttle(exits, stack.embedded(), disk_iops)
        r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
        started = time.time()
        task_ids = _submit(stack.url, tasks, sleep_s)
        running = _wait_running(r, task_ids, busy, 30)
        extra: dict = {"fault_at": time.time()}
        log.info("%s/%s: injecting with %d tasks running", scenario, mode, len(running))
        fault_injector(scenario, timeout_s, bed)(stack, extra)
        records = _settle(r, task_ids, deadline_s)
        duration, fault_at = time.time() - started, extra.pop("fault_at")
        events = _events_since(r, fault_at)
    if timeline is not None:
        timeline += _timeline(scenario, mode, fault_at, records, events, extra)
    outcome = _outcome(dict(zip(task_ids, records, strict=True)), running, fault_at, events)
    return FaultReport(scenario=scenario, mode=mode, submitted=tasks, duration_s=duration,
                       redis_fsync=fsync if stack.redis else "", **outcome, **extra)  # fmt: skip


def _throttle(exits: contextlib.ExitStack, embedded: EmbeddedRedis, iops: int) -> None:
    exits.enter_context(slow_disk(embedded.data_dir, iops))(embedded.pid)


def _events_since(r: redis.Redis, since: float) -> list[dict[str, str]]:
    """The dispatcher's loss events at or after ``since``."""
    logged = cast(list[tuple[str, dict[str, str]]], r.xrange(EVENTS_KEY))
    return [fields for _, fields in logged if float(fields["time"]) >= since]


def _check_applies(scenario: str, mode: str) -> None:
    if mode not in APPLIES[scenario]:
        raise ValueError(f"{scenario} does not apply to {mode} mode")


def _fsync(scenario: str) -> str:
    """The embedded Redis's appendfsync: every write where Redis is killed, else each second."""
    return "always" if scenario == "redis-restart" else "everysec"


def _running(r: redis.Redis, task_ids: list[str]) -> set[str]:
    return {t for t, rec in zip(task_ids, _records(r, task_ids), strict=True)
            if rec["status"] == "RUNNING"}  # fmt: skip


def _submit(url: str, tasks: int, sleep_s: float) -> list[str]:
    """Register ``sleep`` and submit ``tasks`` calls of it; their task ids."""
    with httpx.Client(base_url=url, timeout=30) as http:
        function_id = http.post(
            "/register_function", json={"name": "sleep", "payload": serialize(sleep)}
        ).json()["function_id"]
        payload = serialize(((sleep_s,), {}))
        return [
            http.post(
                "/execute_function", json={"function_id": function_id, "payload": payload}
            ).json()["task_id"]
            for _ in range(tasks)
        ]


def _settle(r: redis.Redis, task_ids: list[str], deadline_s: float) -> list[dict]:
    """The tasks' records once every one is COMPLETED or FAILED, or at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        records = _records(r, task_ids)
        done = all(rec["status"] in ("COMPLETED", "FAILED") for rec in records)
        if done or time.monotonic() >= end:
            return records
        time.sleep(0.05)


def _outcome(by_id: dict[str, dict], running: set[str], fault_at: float, events: list) -> dict:
    """The report's counts and times: the tasks hit are those running at the fault or run
    again; recovery ends when the last of them is stored (NaN if one never was)."""
    records = list(by_id.values())
    hit = running | {t for t, rec in by_id.items() if int(rec["attempts"] or 0) > 1}
    stored = [float(by_id[t]["stored"]) for t in hit if by_id[t]["stored"]]
    statuses = [rec["status"] for rec in records]
    return {
        "completed": statuses.count("COMPLETED"),
        "failed": statuses.count("FAILED"),
        "lost": sum(s not in ("COMPLETED", "FAILED") for s in statuses),
        "vanished": statuses.count(None),
        "retried": sum(int(rec["attempts"] or 0) > 1 for rec in records),
        "detect_s": float(events[0]["time"]) - fault_at if events else math.nan,
        "recover_s": (max(stored) - fault_at) if stored and len(stored) == len(hit) else math.nan,
    }


def _timeline(
    scenario: str, mode: str, fault_at: float, records: list[dict], events: list[dict], extra: dict
) -> list[dict]:
    """Rows of what happened when, in seconds from the fault: every task stored, every loss
    event, and the fault's own marks (link restored, host serving again)."""
    rows = [
        {"kind": "stored", "t_s": float(rec["stored"]) - fault_at, "label": rec["status"]}
        for rec in records
        if rec["stored"]
    ]
    rows += [{"kind": e["kind"], "t_s": float(e["time"]) - fault_at, "label": ""} for e in events]
    rows.append({"kind": "fault", "t_s": 0.0, "label": scenario})
    if not math.isnan(extra.get("heal_s", math.nan)):
        rows.append({"kind": "heal", "t_s": extra["heal_s"], "label": ""})
        rows.append({"kind": "rejoin", "t_s": extra["heal_s"] + extra["readmit_s"], "label": ""})
    return [{"scenario": scenario, "mode": mode, **row} for row in rows]


def write_csv(reports: list[FaultReport], path: Path) -> Path:
    """Write reports as one CSV row each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, [f.name for f in fields(FaultReport)])
        writer.writeheader()
        for report in reports:
            writer.writerow(
                {k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in asdict(report).items()}
            )
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=(*SCENARIOS, "all"))
    parser.add_argument(
        "--mode",
        choices=list(Mode),
        default=None,
        help="default: push (every applicable mode with 'all')",
    )
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--sleep", type=float, default=0.2, help="seconds per task")
    parser.add_argument("--heartbeat", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=3.0, help="heartbeat timeout")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--timeline", type=Path, default=None, help="CSV of what happened when")
    parser.add_argument(
        "--fsync",
        choices=("always", "everysec", "no"),
        default=None,
        help="the embedded Redis's appendfsync (default: always in redis-restart, else everysec)",
    )
    parser.add_argument(
        "--disk-iops",
        type=int,
        default=0,
        help="throttle the embedded Redis's disk to this many writes/s (root, cgroup v1 blkio)",
    )
    return parser


def _runs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(scenario, mode) pairs to run; partition-host is skipped from ``all`` where network
    namespaces are not available."""
    scenarios: tuple[str, ...] = SCENARIOS if args.scenario == "all" else (args.scenario,)
    if args.disk_iops:
        throttles, why_not = slow_disk_available()
        if not throttles:
            raise SystemExit(f"--disk-iops: {why_not}")
    ok, why = available()
    if not ok and "partition-host" in scenarios:
        if args.scenario != "all":
            raise SystemExit(f"partition-host: {why}")
        log.warning("skipping partition-host: %s", why)
        scenarios = tuple(s for s in scenarios if s != "partition-host")
    if args.mode:
        return [(s, args.mode) for s in scenarios]
    return [
        (s, m) for s in scenarios for m in (APPLIES[s] if args.scenario == "all" else ("push",))
    ]


def _print_table(reports: list[FaultReport]) -> None:
    print(
        f"{'scenario':16} {'mode':5} {'done':>5} {'failed':>6} {'lost':>4} {'retried':>7} "
        f"{'detect_s':>8} {'recover_s':>9} {'readmit_s':>9} {'fsync':>8}"
    )
    for x in reports:
        print(
            f"{x.scenario:16} {x.mode:5} {x.completed:5d} {x.failed:6d} {x.lost:4d} "
            f"{x.retried:7d} {x.detect_s:8.2f} {x.recover_s:9.2f} {x.readmit_s:9.2f} "
            f"{x.redis_fsync:>8}"
        )


def main() -> None:
    args = _parser().parse_args()
    setup_logging()
    timeline: list[dict] = []
    reports = [
        run_scenario(
            s,
            m,
            args.tasks,
            args.sleep,
            heartbeat_s=args.heartbeat,
            timeout_s=args.timeout,
            timeline=timeline,
            redis_fsync=args.fsync,
            disk_iops=args.disk_iops,
        )
        for s, m in _runs(args)
    ]
    if args.timeline:
        args.timeline.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(timeline).to_csv(args.timeline, index=False)
    out = args.out or Path("results") / f"faults-{time.strftime('%Y%m%d-%H%M%S')}.csv"
    write_csv(reports, out)
    _print_table(reports)
    print(f"written to {out}")

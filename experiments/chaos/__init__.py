"""Chaos soak: a real stack under steady load while a seeded random schedule injects faults.

    python -m experiments.chaos --minutes 3 [--mode push] [--seed 1] [--out DIR]

Two dispatchers (same mode, each with its workers) share one Redis; a load thread submits
``logged_square(i)`` at a steady rate. Every few seconds the schedule picks one fault:
SIGKILL of a worker (restarted), of two workers of one dispatcher at once (both restarted),
of a pool process, of a dispatcher (restarted under its name), of the API (restarted);
SIGSTOP of a worker past the heartbeat timeout, then SIGCONT; Redis SIGKILLed and restarted
on its append-only file (``appendfsync always``, so every write Redis acknowledged
survives); a rogue peer sending a dispatcher malformed frames, a foreign protocol version,
a registration it must refuse, results of unknown tasks with junk entry ids and heartbeats
of a worker it does not know. The function's result is ``i * i + 7`` and each execution
appends ``i`` to a log, so at the end the run checks, for every task the API accepted:
terminal (else *lost*), COMPLETED with the right value (else *wrong*: the function never
raises), and how many ran more than once. Failure settings for the run: heartbeat 0.5 s,
timeout 1.5 s, claim lease 3 s, max attempts 10 (faults come far faster than in any real
deployment; with the default 3 a task could honestly end FAILED after three lost workers).

Writes DIR/faults.csv, DIR/tasks.csv and DIR/timeline.png; its last line is exactly
``chaos: N tasks, F faults, L lost, W wrong, D ran twice``. Exit 0 only when L and W are 0.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import logging
import random
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import dill
import httpx
import msgpack
import psutil
import redis
import zmq

from experiments import setup_logging
from experiments.spec.workloads import logged_square
from faas.exceptions import FaasError
from faas.models import Mode
from faas.process import ADDRESS_IN_USE, stop_process
from faas.protocol import VERSION, Heartbeat, Register, Request, ResultMsg, Results
from faas.redis_server import EmbeddedRedis, free_port
from faas.serialize import serialize
from faas.stack import Stack
from faas.store import task_key

log = logging.getLogger("chaos")

FAULTS = (
    "kill-worker",
    "kill-worker-pair",
    "kill-process",
    "kill-dispatcher",
    "kill-api",
    "stop-worker",
    "redis-restart",
    "rogue-frames",
)
ENV = {
    "FAAS_HEARTBEAT_S": "0.5",
    "FAAS_HEARTBEAT_TIMEOUT_S": "1.5",
    "FAAS_CLAIM_LEASE_S": "3",
    "FAAS_MAX_ATTEMPTS": "10",
}
TIMEOUT_S = float(ENV["FAAS_HEARTBEAT_TIMEOUT_S"])


def expected(i: int) -> int:
    """What ``logged_square(i)`` answers."""
    return i * i + 7


@dataclass
class Cluster:
    """Redis, one API, two dispatchers with their workers: every process by PID."""

    mode: str
    workers_per_dispatcher: int
    procs: int
    redis: EmbeddedRedis = field(init=False)
    stack: Stack = field(init=False)
    ports: list[int] = field(default_factory=list)
    dispatchers: list = field(default_factory=list)
    workers: list = field(default_factory=list)  # (dispatcher index, Popen)

    def start(self) -> Cluster:
        self.redis = EmbeddedRedis(fsync="always").start()
        try:
            self.stack = Stack(
                self.mode, workers=0, procs=self.procs, redis_url=self.redis.url, env=ENV
            )
            self.stack.start_api()
            self.ports = [free_port(), free_port()]
            for i in range(2):
                self.dispatchers.append(self.bind_dispatcher(i))
            for i in range(2):
                for _ in range(self.workers_per_dispatcher):
                    self.start_worker(i)
        except BaseException:
            self.stop()
            raise
        return self

    def start_dispatcher(self, i: int):
        return self.stack.spawn(
            "dispatcher",
            "-m",
            self.mode,
            "-p",
            str(self.ports[i]),
            "-w",
            str(self.procs),
            "--host",
            "127.0.0.1",
        )

    def bind_dispatcher(self, i: int, tries: int = 5, timeout_s: float = 30.0):
        """Start dispatcher ``i`` and wait until it listens; on another port if another
        process took ``free_port``'s answer before the dispatcher bound it (as
        ``Stack._rebind`` does; the workers start after, towards the port it got). A
        restart after a fault (:func:`inject`) keeps the port: the workers know it."""
        for _ in range(tries):
            child = self.start_dispatcher(i)
            deadline = time.monotonic() + timeout_s
            while child.poll() is None and time.monotonic() < deadline:
                if _listens(child.pid, self.ports[i]):
                    return child
                time.sleep(0.05)
            if child.poll() != ADDRESS_IN_USE:
                stop_process(child)
                raise FaasError(f"dispatcher {i} did not listen (exit code {child.poll()})")
            log.warning("dispatcher %d: port %d taken; another", i, self.ports[i])
            self.ports[i] = free_port()
        raise FaasError(f"dispatcher {i}: no free port in {tries} tries")

    def start_worker(self, i: int) -> None:
        url = f"tcp://127.0.0.1:{self.ports[i]}"
        self.workers.append((i, self.stack.spawn("worker", self.mode, str(self.procs), url)))

    def stop(self) -> None:
        children = [w for _, w in self.workers] + self.dispatchers
        for child in children:
            with _quiet():
                psutil.Process(child.pid).send_signal(signal.SIGCONT)
            stop_process(child)
        if hasattr(self, "stack"):  # not when start failed before it
            self.stack.stop()  # the API
        self.redis.stop()


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself listens on TCP ``port`` (a connection would also
    succeed to another process that took the port)."""
    with _quiet():
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr.port == port
            for c in psutil.Process(pid).net_connections(kind="tcp")
        )
    return False


def _quiet() -> contextlib.suppress:
    """Ignore a process that is already gone."""
    return contextlib.suppress(psutil.Error, ProcessLookupError)


def _kill_tree(pid: int) -> None:
    with _quiet():
        victims = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        for p in victims:
            with _quiet():
                p.send_signal(signal.SIGKILL)
        psutil.wait_procs(victims, timeout=10)


def _kill_worker_pair(cluster: Cluster, rng: random.Random) -> str:
    """SIGKILL two workers of one dispatcher at once (with a backlog, its sends to both
    fail in one dispatch); both start again."""
    owner = rng.randrange(2)
    pair = [(i, w) for i, (o, w) in enumerate(cluster.workers) if o == owner][:2]
    for _, worker in pair:
        _kill_tree(worker.pid)
    for _, worker in pair:
        worker.wait()
    for index, _ in sorted(pair, reverse=True):
        cluster.workers.pop(index)
    for _ in pair:
        cluster.start_worker(owner)
    return f"dispatcher {owner}'s workers {' '.join(str(w.pid) for _, w in pair)}"


def _rogue_frames(cluster: Cluster, rng: random.Random) -> str:
    """A peer that is no worker of ours speaks to a dispatcher: nothing it sends may stop it
    or change a task's outcome."""
    i = rng.randrange(2)
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, f"rogue-{rng.randrange(10**6)}".encode())
    sock.setsockopt(zmq.LINGER, 500)
    sock.connect(f"tcp://127.0.0.1:{cluster.ports[i]}")
    junk = ResultMsg(str(uuid.uuid4()), "junk", rng.randrange(0, 5), "COMPLETED", b"x")
    frames = [
        b"\x00not msgpack",
        msgpack.packb([VERSION + 1, 1, "w", 1, []]),
        Register("rogue", 0, []).encode(),
        Results([junk], 1).encode(),
        Heartbeat([], 2**62).encode(),
        Request(5, True, [], [junk], 2**62).encode(),
    ]
    for frame in frames:
        sock.send(frame)
    time.sleep(0.2)
    sock.close()
    context.term()
    return f"dispatcher {i}"


def inject(cluster: Cluster, fault: str, rng: random.Random) -> str:
    """Inject one fault (restarting what it killed); answer what it hit."""
    return {
        "kill-worker-pair": _kill_worker_pair,
        "rogue-frames": _rogue_frames,
        "kill-worker": _kill_worker,
        "kill-process": _kill_process,
        "stop-worker": _stop_worker,
        "kill-dispatcher": _kill_dispatcher,
        "kill-api": _kill_api,
        "redis-restart": _restart_redis,
    }[fault](cluster, rng)


def _kill_worker(cluster: Cluster, rng: random.Random) -> str:
    index = rng.randrange(len(cluster.workers))
    owner, worker = cluster.workers.pop(index)
    _kill_tree(worker.pid)
    worker.wait()
    cluster.start_worker(owner)
    return f"worker {worker.pid}"


def _kill_process(cluster: Cluster, rng: random.Random) -> str:
    _, worker = rng.choice(cluster.workers)
    pool = [p for c in psutil.Process(worker.pid).children() for p in c.children()]
    if pool:
        with _quiet():
            rng.choice(pool).send_signal(signal.SIGKILL)
    return f"worker {worker.pid}"


def _stop_worker(cluster: Cluster, rng: random.Random) -> str:
    _, worker = rng.choice(cluster.workers)
    victim = psutil.Process(worker.pid)
    victim.send_signal(signal.SIGSTOP)
    time.sleep(1.5 * TIMEOUT_S)
    victim.send_signal(signal.SIGCONT)
    return f"worker {worker.pid}"


def _kill_dispatcher(cluster: Cluster, rng: random.Random) -> str:
    i = rng.randrange(2)
    _kill_tree(cluster.dispatchers[i].pid)
    cluster.dispatchers[i].wait()
    time.sleep(rng.uniform(0.2, 2.0))
    cluster.dispatchers[i] = cluster.start_dispatcher(i)
    return f"dispatcher {i}"


def _kill_api(cluster: Cluster, rng: random.Random) -> str:
    _kill_tree(cluster.stack.process("api").pid)
    cluster.stack.process("api").wait()
    time.sleep(0.3)
    cluster.stack.start_api()
    return "api"


def _restart_redis(cluster: Cluster, rng: random.Random) -> str:
    cluster.redis.kill()
    time.sleep(0.5)
    cluster.redis.start()
    return "redis"


class Load(threading.Thread):
    """Submits ``logged_square(i, log)`` at ``rate`` per second; keeps what was accepted."""

    def __init__(self, url: str, function_id: str, log_path: Path, rate: float) -> None:
        super().__init__(daemon=True)
        self.url, self.function_id, self.log_path, self.rate = url, function_id, log_path, rate
        self.accepted: dict[str, int] = {}
        self.refused = 0
        self.stop = threading.Event()

    def run(self) -> None:
        i = 0
        with httpx.Client(base_url=self.url, timeout=2.0) as http:
            next_at = time.monotonic()
            while not self.stop.is_set():
                payload = serialize(((i, str(self.log_path)), {}))
                try:
                    reply = http.post(
                        "/execute_function",
                        json={"function_id": self.function_id, "payload": payload},
                    )
                    if reply.status_code == 200:
                        self.accepted[reply.json()["task_id"]] = i
                        i += 1
                    else:
                        self.refused += 1
                except httpx.HTTPError:
                    self.refused += 1  # not accepted: the API or Redis was down
                next_at += 1 / self.rate
                self.stop.wait(max(0.0, next_at - time.monotonic()))


def _register(url: str, deadline_s: float = 30) -> str:
    end = time.monotonic() + deadline_s
    while True:
        try:
            return httpx.post(
                f"{url}/register_function",
                json={"name": "logged_square", "payload": serialize(logged_square)},
                timeout=5,
            ).json()["function_id"]
        except (httpx.HTTPError, KeyError):
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def _outcomes(
    redis_url: str, task_ids: list[str]
) -> list[tuple[str | None, bytes | None, float | None]]:
    r = redis.Redis.from_url(redis_url)
    with r.pipeline(transaction=False) as pipe:
        for task_id in task_ids:
            pipe.hmget(task_key(task_id), ["status", "result", "stored"])
        rows = pipe.execute()
    r.close()
    return [(s.decode() if s else None, res, float(st) if st else None) for s, res, st in rows]


def run(
    minutes: float,
    mode: str,
    seed: int,
    out: Path,
    rate: float = 40.0,
    every_s: tuple[float, float] = (2.0, 6.0),
    drain_s: float = 120.0,
) -> dict:
    """Run the soak; answer the counts of the last line."""
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "executions.log"
    log_path.unlink(missing_ok=True)
    rng = random.Random(seed)
    cluster = Cluster(mode, workers_per_dispatcher=2, procs=2).start()
    try:
        cluster.stack.wait_ready(60, processes=1)
        load = Load(cluster.stack.url, _register(cluster.stack.url), log_path, rate)
        start = time.time()
        load.start()
        faults = _inject_until(cluster, rng, start, 60 * minutes, every_s)
        load.stop.set()
        load.join()
        task_ids = list(load.accepted)
        rows = _drain(cluster.redis.url, task_ids, drain_s)
    finally:
        cluster.stop()
    runs = collections.Counter(int(line) for line in log_path.read_text().split())
    counts = _write_tasks(out / "tasks.csv", load.accepted, rows, runs, start)
    with (out / "faults.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["at_s", "fault", "target"])
        writer.writerows([(f"{at:.3f}", kind, target) for at, kind, target in faults])
    _plot(out, [r[2] - start for r in rows if r[2]], faults)
    return {"tasks": len(task_ids), "faults": len(faults), **counts, "refused": load.refused}


def _inject_until(
    cluster: Cluster,
    rng: random.Random,
    start: float,
    seconds: float,
    every_s: tuple[float, float],
) -> list[tuple[float, str, str]]:
    """Inject a random fault every ``every_s`` seconds for ``seconds``; answer (seconds from
    ``start``, fault, what it hit) for each."""
    faults: list[tuple[float, str, str]] = []
    end = time.monotonic() + seconds
    while True:
        time.sleep(min(rng.uniform(*every_s), max(0.0, end - time.monotonic())))
        if time.monotonic() >= end:
            return faults
        fault = rng.choice(FAULTS)
        at = time.time()
        target = inject(cluster, fault, rng)
        faults.append((at - start, fault, target))
        log.info("%6.1fs %s (%s)", at - start, fault, target)


def _drain(
    redis_url: str, task_ids: list[str], drain_s: float
) -> list[tuple[str | None, bytes | None, float | None]]:
    """The tasks' outcomes once every one is terminal, or after ``drain_s``."""
    drain_end = time.monotonic() + drain_s
    while time.monotonic() < drain_end:
        with _quiet(), contextlib.suppress(redis.RedisError):
            rows = _outcomes(redis_url, task_ids)
            if all(s in ("COMPLETED", "FAILED") for s, _, _ in rows):
                break
        time.sleep(0.5)
    return _outcomes(redis_url, task_ids)


def _write_tasks(
    path: Path,
    accepted: dict[str, int],
    rows: list[tuple[str | None, bytes | None, float | None]],
    runs: collections.Counter,
    start: float,
) -> dict[str, int]:
    """One row per accepted task (its status, whether its result is right, how many times
    it ran); answer the lost, wrong and ran-twice counts."""
    counts = {"lost": 0, "wrong": 0, "twice": 0}
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["task_id", "i", "status", "correct", "executions", "stored_s"])
        for (task_id, i), (status, result, stored) in zip(accepted.items(), rows, strict=True):
            terminal = status in ("COMPLETED", "FAILED")
            correct = status == "COMPLETED" and dill.loads(result) == expected(i)
            counts["lost"] += not terminal
            counts["wrong"] += terminal and not correct
            counts["twice"] += runs[i] > 1
            stored_s = f"{stored - start:.3f}" if stored else ""
            writer.writerow([task_id, i, status, int(correct), runs[i], stored_s])
    return counts


def _plot(out: Path, stored_s: list[float], faults: list[tuple[float, str, str]]) -> None:
    """Completions per second over time, each fault a labelled vertical line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4))
    if stored_s:
        ax.hist(
            stored_s,
            bins=max(1, int(max(stored_s)) + 1),
            range=(0, int(max(stored_s)) + 1),
            color="tab:blue",
            alpha=0.7,
            label="tasks completed per second",
        )
    colors = dict(zip(FAULTS, plt.get_cmap("tab10")(range(len(FAULTS))), strict=False))
    for at, kind, _ in faults:
        ax.axvline(at, color=colors[kind], linestyle="--", linewidth=1)
    for kind, color in colors.items():
        ax.plot([], [], color=color, linestyle="--", label=kind)
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel("tasks stored per second")
    ax.set_title("Chaos soak: throughput with faults marked")
    ax.legend(fontsize=7, ncol=4, loc="upper right")
    fig.tight_layout()
    fig.savefig(out / "timeline.png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--mode", choices=list(Mode), default="push")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=40.0, help="submissions per second")
    parser.add_argument(
        "--every",
        type=float,
        nargs=2,
        default=(2.0, 6.0),
        metavar=("MIN_S", "MAX_S"),
        help="seconds between faults (uniform)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    setup_logging()
    out = args.out or Path("results") / f"chaos-{time.strftime('%Y%m%d-%H%M%S')}"
    counts = run(args.minutes, args.mode, args.seed, out, rate=args.rate, every_s=tuple(args.every))
    log.info(
        "written to %s (%d submissions refused while the API or Redis was down)",
        out,
        counts["refused"],
    )
    print(
        f"chaos: {counts['tasks']} tasks, {counts['faults']} faults, {counts['lost']} lost, "
        f"{counts['wrong']} wrong, {counts['twice']} ran twice"
    )
    return 0 if counts["lost"] == 0 and counts["wrong"] == 0 else 1

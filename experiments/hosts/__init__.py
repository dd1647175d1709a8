"""An emulated cluster on one machine: each host a Linux network namespace on a bridge.

    python -m experiments.hosts weak-scaling --hosts H --procs-per-host P [--mode push]
    python -m experiments.hosts check

The README's "Several hosts" recipe, automated: Redis, the API and the dispatcher stay in
the root namespace, the dispatcher bound to the bridge's address; each emulated host is a
network namespace (its own loopback, interface, routes and TCP stack) joined to the bridge by
a veth pair, with an address from a private test subnet that only these namespaces use, and
runs ``faas worker`` through ``ip netns exec``. Traffic between "hosts" is real TCP through
real interfaces, so a host's link can be cut (``partition``) or rate-limited (``tc tbf``; the
development kernel has no ``netem``, which :func:`shaping` detects).

Everything the testbed creates carries its owner's PID in its name (namespaces
``faas<pid><x>h<i>``, bridge ``fb<pid><x>``, links ``fv<pid><x>h<i>``; ``x`` a letter per
testbed of that process). It is torn down — workers by
PID and process group, namespaces, links — on every exit path of the owner: a normal exit,
an exception, Ctrl-C and SIGTERM (``python -m experiments.hosts`` turns SIGTERM into an
exception). What a SIGKILLed run left behind is removed by the next testbed, which deletes
every ``faas<pid>…`` namespace and link whose owner PID is no longer alive.

Needs root (CAP_NET_ADMIN) and iproute2; :func:`available` says whether this machine allows
it, and why not.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis

from experiments import setup_logging
from experiments.spec import workloads
from faas.client import FaaSClient
from faas.models import Mode
from faas.process import die_with_parent, stop_process
from faas.stack import Stack
from faas.store import STATS_KEY, task_key

log = logging.getLogger("hosts")

#: Second octet of the private test subnets (10.213.<k>.0/24, k from the owner PID).
SUBNET_OCTET = 213
#: Letters that make each testbed's names unique within its owner process.
_SERIAL = itertools.cycle("abcdefghijklmnopqrstuvwxyz")
_OWNED = re.compile(r"^(?:faas|fb|fv)(\d+)")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def available() -> tuple[bool, str]:
    """Whether this machine lets us create network namespaces, and if not, why."""
    if os.geteuid() != 0:
        return False, "network namespaces need root (CAP_NET_ADMIN)"
    try:
        probe = f"faas{os.getpid()}probe"
        _ip("netns", "add", probe)
        _ip("netns", "del", probe)
    except FileNotFoundError:
        return False, "iproute2 (the ip command) is not installed"
    except subprocess.CalledProcessError as e:
        return False, f"ip netns add failed: {e.stderr.strip()}"
    return True, ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_leftovers() -> list[str]:
    """Delete namespaces and links of testbeds whose owner died (a SIGKILLed run)."""
    removed = []
    namespaces = _ip("netns", "list", check=False).stdout.split("\n")
    for name in [line.split()[0] for line in namespaces if line.strip()]:
        m = _OWNED.match(name)
        if m and not _alive(int(m.group(1))):
            _ip("netns", "del", name, check=False)
            removed.append(name)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        m = _OWNED.match(name)
        if m and not _alive(int(m.group(1))):
            _ip("link", "del", name, check=False)
            removed.append(name)
    if removed:
        log.warning("removed %d leftovers of dead testbeds: %s", len(removed), removed)
    return removed


def shaping() -> dict[str, bool]:
    """Which link shaping this kernel offers: ``tbf`` (rate) and ``netem`` (delay, loss)."""
    found = {}
    name = f"faas{os.getpid()}shape"
    _ip("netns", "add", name)
    try:
        for qdisc, args in (
            ("tbf", ["rate", "1gbit", "burst", "64kb", "latency", "50ms"]),
            ("netem", ["delay", "1ms"]),
        ):
            done = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    name,
                    "tc",
                    "qdisc",
                    "add",
                    "dev",
                    "lo",
                    "root",
                    qdisc,
                    *args,
                ],
                capture_output=True,
                check=False,
            )
            found[qdisc] = done.returncode == 0
            subprocess.run(
                ["ip", "netns", "exec", name, "tc", "qdisc", "del", "dev", "lo", "root"],
                capture_output=True,
                check=False,
            )
    finally:
        _ip("netns", "del", name, check=False)
    return found


@dataclass
class Host:
    """One emulated host: its namespace, the root side of its link, its address."""

    index: int
    namespace: str
    link: str
    address: str
    processes: list[subprocess.Popen] = field(default_factory=list)


class Testbed:
    """N emulated hosts on one bridge; use as a context manager (tears down on every exit).

    ``rate`` (e.g. ``"100mbit"``) limits each host's link both ways with ``tc tbf``;
    ``delay_ms`` (a round trip) and ``loss_pct`` need ``tc netem`` and are refused, with
    the reason, where the kernel lacks it."""

    def __init__(
        self,
        hosts: int,
        rate: str | None = None,
        delay_ms: float = 0.0,
        loss_pct: float = 0.0,
    ) -> None:
        if (delay_ms or loss_pct) and not shaping().get("netem"):
            raise RuntimeError(
                "delay and loss need tc netem, which this kernel does not offer "
                "(rate limits work: tc tbf)"
            )
        self.delay_ms, self.loss_pct = delay_ms, loss_pct
        self.owner = os.getpid()
        tag = f"{self.owner}{next(_SERIAL)}"  # a new name per testbed of this process
        self.subnet = f"10.{SUBNET_OCTET}.{self.owner % 250 + 1}"
        self.bridge = f"fb{tag}"
        self.address = f"{self.subnet}.1"
        self.rate = rate
        self.hosts = [
            Host(i, f"faas{tag}h{i}", f"fv{tag}h{i}", f"{self.subnet}.{10 + i}")
            for i in range(hosts)
        ]
        self._up = False

    def __enter__(self) -> Testbed:
        sweep_leftovers()
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create(self) -> None:
        self._up = True
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.address}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for host in self.hosts:
            _ip("netns", "add", host.namespace)
            _ip(
                "link",
                "add",
                host.link,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                host.namespace,
            )
            _ip("link", "set", host.link, "master", self.bridge)
            _ip("link", "set", host.link, "up")
            for args in (
                ["addr", "add", f"{host.address}/24", "dev", "eth0"],
                ["link", "set", "eth0", "up"],
                ["link", "set", "lo", "up"],
            ):
                _ip("-n", host.namespace, *args)
            if self.rate or self.delay_ms or self.loss_pct:
                self._limit(host)
        log.info(
            "testbed: %d hosts on %s (%s.0/24)%s",
            len(self.hosts),
            self.bridge,
            self.subnet,
            f", links limited to {self.rate}" if self.rate else "",
        )

    def _limit(self, host: Host) -> None:
        """Shape the link both ways: ``tbf`` for a rate alone, ``netem`` (with its own rate)
        when a delay or loss is asked for (each direction gets half the round trip)."""
        if self.delay_ms or self.loss_pct:
            qdisc = ["root", "netem", "delay", f"{self.delay_ms / 2:g}ms"]
            qdisc += ["loss", f"{self.loss_pct:g}%"] + (["rate", self.rate] if self.rate else [])
        else:
            qdisc = ["root", "tbf", "rate", str(self.rate), "burst", "256kb", "latency", "100ms"]
        subprocess.run(["tc", "qdisc", "add", "dev", host.link, *qdisc], check=True)
        subprocess.run(
            ["ip", "netns", "exec", host.namespace, "tc", "qdisc", "add", "dev", "eth0", *qdisc],
            check=True,
        )

    def spawn(self, index: int, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        """Run ``python -m faas ARGS`` inside host ``index`` (its own process group)."""
        host = self.hosts[index]
        process = subprocess.Popen(
            ["ip", "netns", "exec", host.namespace, sys.executable, "-m", "faas", *args],
            env=env,
            preexec_fn=_new_group_dying_with_parent,
        )
        host.processes.append(process)
        return process

    def partition(self, index: int) -> None:
        """Cut host ``index``'s link (its interface on the bridge goes down)."""
        _ip("link", "set", self.hosts[index].link, "down")

    def heal(self, index: int) -> None:
        """Restore host ``index``'s link."""
        _ip("link", "set", self.hosts[index].link, "up")

    def close(self) -> None:
        """Stop every process we started (by PID, then its group), delete namespaces and
        links. Safe to call more than once."""
        for host in self.hosts:
            for process in host.processes:
                stop_process(process)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)  # anything it left in its group
            host.processes.clear()
        if not self._up:
            return
        for host in self.hosts:
            _ip("link", "del", host.link, check=False)  # both ends, now (a namespace's
            _ip("netns", "del", host.namespace, check=False)  # own cleanup is deferred)
        _ip("link", "del", self.bridge, check=False)
        self._up = False

    def leftovers(self) -> list[str]:
        """Namespaces and links of this testbed that still exist (none after ``close``)."""
        names = {h.namespace for h in self.hosts} | {h.link for h in self.hosts}
        names.add(self.bridge)
        listed = _ip("netns", "list", check=False).stdout + _ip("-o", "link", check=False).stdout
        return sorted(n for n in names if re.search(rf"\b{re.escape(n)}\b", listed))


def _new_group_dying_with_parent() -> None:
    os.setpgrp()
    die_with_parent(signal.SIGTERM)


@contextlib.contextmanager
def cluster(
    mode: Mode | str,
    hosts: int,
    procs_per_host: int,
    rate: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[Stack, Testbed]]:
    """A stack whose dispatcher listens on the bridge, and one worker of ``procs_per_host``
    processes on each of ``hosts`` emulated hosts; ready when every process registered."""
    with (
        Testbed(hosts, rate) as bed,
        Stack(mode, workers=0, procs=procs_per_host, host=bed.address, env=env) as stack,
    ):
        for i in range(hosts):
            args = ["worker", str(mode), str(procs_per_host), stack.dispatcher_url]
            bed.spawn(i, args, stack.env())
        stack.wait_ready(120, processes=hosts * procs_per_host)
        yield stack, bed


def makespan(redis_url: str, task_ids: list[str]) -> float:
    """Last stored - first submitted, from the tasks' own records (server clocks)."""
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with r.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.hmget(task_key(task_id), ["submitted", "stored", "status"])
            records = pipe.execute()
    finally:
        r.close()
    assert all(status == "COMPLETED" for _, _, status in records), "a task did not complete"
    return max(float(s) for _, s, _ in records) - min(float(s) for s, _, _ in records)


def _ended(r: redis.Redis) -> int:
    """Tasks recorded COMPLETED or FAILED so far (the store's counters)."""
    counts = cast(dict[str, str], r.hgetall(STATS_KEY))  # a client decoding its replies
    return sum(int(v) for k, v in counts.items() if k.startswith(("COMPLETED:", "FAILED:")))


def run_batch(client: FaaSClient, function_id: str, calls: list, redis_url: str) -> list[str]:
    """Submit ``calls`` in one batch request and wait until every task ended. It watches the
    store's counters in Redis (one small read every 20 ms) rather than long-polling a
    thousand results through the API: the makespan comes from the server's clocks, and the
    API's and Redis's CPU is shared with the dispatcher on this one machine."""
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        before = _ended(r)
        task_ids = client.submit_batch(function_id, calls)
        while _ended(r) < before + len(task_ids):
            time.sleep(0.02)
    finally:
        r.close()
    return task_ids


def weak_scaling(
    mode: Mode | str,
    hosts: int,
    procs_per_host: int,
    repeats: int = 3,
    tasks_per_process: int = 4,
    sleep_s: float = 0.2,
    profile: Path | None = None,
) -> list[float]:
    """Weak-scaling efficiency of each repeat: ideal makespan (``tasks_per_process`` x
    ``sleep_s``) / measured makespan of ``tasks_per_process`` tasks per process. With
    ``profile``, py-spy records the dispatcher, the API and one worker during the repeats."""
    processes = hosts * procs_per_host
    with cluster(mode, hosts, procs_per_host) as (stack, bed):
        client = FaaSClient(stack.url)
        try:
            function_id = client.register(workloads.sleep, "sleep")
            warm_up: list[tuple[tuple[Any, ...], dict[str, Any]]] = [((0.0,), {})] * processes
            run_batch(client, function_id, warm_up, stack.redis_url)
            if profile:
                targets = {"dispatcher": stack.process("dispatcher"), "api": stack.process("api")}
                targets["worker"] = bed.hosts[0].processes[0]
                _record(targets, repeats * 1.5 * tasks_per_process * sleep_s, profile)
            efficiencies = []
            for repeat in range(repeats):
                calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [((sleep_s,), {})] * (
                    tasks_per_process * processes
                )
                task_ids = run_batch(client, function_id, calls, stack.redis_url)
                span = makespan(stack.redis_url, task_ids)
                efficiencies.append(tasks_per_process * sleep_s / span)
                log.info(
                    "repeat %d: makespan %.3f s, efficiency %.1f %%",
                    repeat + 1,
                    span,
                    100 * efficiencies[-1],
                )
        finally:
            client.close()
    return efficiencies


def _record(targets: dict[str, subprocess.Popen], seconds: float, out: Path) -> None:
    """Start py-spy on each target for ``seconds`` (raw files in ``out``); they stop alone."""
    from experiments.measure.profile import profile

    out.mkdir(parents=True, exist_ok=True)
    for name, process in targets.items():
        profile(process.pid, max(1.0, seconds), out / f"{name}.txt")
    time.sleep(0.5)  # py-spy attaches


def _print_profiles(out: Path) -> None:
    from experiments.measure.profile import top_functions

    time.sleep(1.0)
    for raw in sorted(out.glob("*.txt")):
        top = "; ".join(f"{100 * share:.1f}% {fn}" for share, fn in top_functions(raw, 5))
        print(f"profile {raw.stem}: {top}")


def _stop_on_sigterm() -> None:
    def stop(*_: object) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, stop)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    weak = sub.add_parser("weak-scaling", help="H hosts x one worker of P processes")
    weak.add_argument("--hosts", type=int, required=True)
    weak.add_argument("--procs-per-host", type=int, required=True)
    weak.add_argument("--mode", choices=list(Mode.remote()), default=Mode.PUSH.value)
    weak.add_argument("--repeats", type=int, default=3)
    weak.add_argument("--out", type=Path, default=None, help="CSV of the repeats")
    weak.add_argument("--profile", type=Path, default=None, help="py-spy raw files here")
    sub.add_parser("check", help="say whether namespaces work here and which shaping exists")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    setup_logging()
    _stop_on_sigterm()
    ok, why = available()
    if args.command == "check":
        print(f"namespaces: {'yes' if ok else 'no: ' + why}")
        if ok:
            offered = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in shaping().items())
            print(f"shaping: {offered}")
        return
    if not ok:
        raise SystemExit(f"experiments.hosts: {why}")
    found = weak_scaling(
        args.mode, args.hosts, args.procs_per_host, args.repeats, profile=args.profile
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        rows = [f"{args.mode},{args.hosts},{args.procs_per_host},{i},{e:.4f}\n"
                for i, e in enumerate(found)]  # fmt: skip
        args.out.write_text("mode,hosts,procs_per_host,repeat,efficiency\n" + "".join(rows))
    if args.profile:
        _print_profiles(args.profile)
    efficiency = 100 * statistics.median(found)
    spread = ", ".join(f"{100 * e:.1f}" for e in found)
    print(f"repeats: {spread} %")
    print(
        f"hosts weak scaling: {args.hosts} hosts, {args.procs_per_host} processes, "
        f"efficiency {efficiency:.1f} %"
    )

"""The emulated multi-host testbed (experiments/hosts/): real network namespaces, real TCP
between "hosts", links cut and restored. Skipped where namespaces cannot be created (not
root); CI runs as root, so they run there."""

from __future__ import annotations

import collections
import math
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest
import redis

from experiments.faults import run_scenario
from experiments.hosts import Testbed, available, cluster, sweep_leftovers
from faas.store import task_key
from tests import functions
from tests.helpers import Client, wait_until

ALLOWED, WHY = available()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not ALLOWED, reason=f"no network namespaces here: {WHY}"),
]


def _netns() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_the_testbed_starts_and_leaves_nothing_behind_even_on_an_error() -> None:
    bed = Testbed(3)
    with pytest.raises(RuntimeError, match="boom"), bed:
        names = bed.leftovers()
        assert len(names) == 7  # 3 namespaces, 3 links, the bridge
        with socket.create_server((bed.address, 0)) as server:
            port = server.getsockname()[1]
            connect = f"import socket; socket.create_connection(('{bed.address}', {port}), 5)"
            reached = subprocess.run(
                ["ip", "netns", "exec", bed.hosts[2].namespace, sys.executable, "-c", connect]
            )
        assert reached.returncode == 0  # host 2 reaches the bridge address over TCP
        process = bed.spawn(0, ["keys", "/nonexistent/x"], dict(os.environ))
        raise RuntimeError("boom")
    assert bed.leftovers() == []
    assert process.poll() is not None
    assert bed.hosts[0].namespace not in _netns()


def test_delay_and_loss_are_refused_clearly_without_netem_and_rates_are_applied() -> None:
    from experiments.hosts import shaping

    if not shaping()["netem"]:
        with pytest.raises(RuntimeError, match="need tc netem"):
            Testbed(1, delay_ms=1.0)
    with Testbed(1, rate="100mbit") as bed:
        shown = subprocess.run(
            ["tc", "qdisc", "show", "dev", bed.hosts[0].link], capture_output=True, text=True
        ).stdout
        assert "tbf" in shown and "100Mbit" in shown


def test_a_crashed_runs_leftovers_are_swept_by_the_next_testbed() -> None:
    crash = textwrap.dedent(
        """
        import os, signal
        from experiments.hosts import Testbed
        bed = Testbed(2).__enter__()
        print(bed.hosts[0].namespace, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    out = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True)
    assert out.returncode == -signal.SIGKILL
    namespace = out.stdout.strip()
    assert namespace in _netns()  # the killed run could not clean up
    removed = sweep_leftovers()
    assert namespace in removed and namespace not in _netns()


@pytest.mark.parametrize("mode", ["pull", "push"])
def test_tasks_run_on_workers_of_two_hosts(mode: str) -> None:
    with cluster(mode, hosts=2, procs_per_host=2) as (stack, bed):
        ours = os.readlink("/proc/self/ns/net")
        for host in bed.hosts:  # each worker lives in its own network namespace
            [worker] = host.processes
            assert os.readlink(f"/proc/{worker.pid}/ns/net") != ours
        client = Client(stack.url)
        function_id = client.register(functions.sleep_for)
        task_ids = [client.submit(function_id, 0.05) for _ in range(24)]
        for task_id in task_ids:
            assert client.value(task_id, timeout=30) == ("COMPLETED", 0.05)
        r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
        ran_on = collections.Counter(r.hget(task_key(t), "worker") for t in task_ids)
        assert len(ran_on) == 2 and min(ran_on.values()) >= 4, ran_on
        assert stack.health()["dispatcher"]["workers"] == 2
    assert bed.leftovers() == []


@pytest.mark.parametrize("mode", ["pull", "push"])
def test_a_partitioned_host_loses_nothing_and_rejoins(mode: str) -> None:
    timeline: list[dict] = []
    report = run_scenario(
        "partition-host", mode, tasks=60, sleep_s=0.2, timeout_s=2.0, timeline=timeline
    )
    assert (report.completed, report.failed, report.lost) == (60, 0, 0)
    assert report.retried >= 1  # what ran on the cut host ran again elsewhere
    # not declared lost before its silence could have lasted the timeout (2 s) since its
    # last heartbeat (at most one interval, 1 s, before the cut)
    assert report.detect_s >= 1.0
    assert math.isfinite(report.readmit_s)  # it rejoined (run_scenario waits up to 60 s)
    first = {}
    for row in timeline:
        first.setdefault(row["kind"], row["t_s"])
    assert first["fault"] == 0 < first["worker_lost"] < first["heal"] <= first["rejoin"]
    assert sum(row["kind"] == "stored" for row in timeline) == 60
    wait_until(lambda: f"faas{os.getpid()}" not in _netns(), message="namespaces gone")

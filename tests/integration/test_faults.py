"""Fault injection on real stacks (README: "Failure model"): no task is ever lost.

Each test runs the same scenario code as ``python -m experiments.faults``, with a smaller
workload and a faster heartbeat (0.25 s, timeout 1 s) to keep the suite quick.
"""

from __future__ import annotations

import math
import time

import pytest

from experiments.faults import APPLIES, run_scenario
from faas.stack import Stack
from tests import functions
from tests.helpers import Client, wait_until

pytestmark = pytest.mark.integration

HEARTBEAT_S, TIMEOUT_S = 0.25, 1.0
CASES = [(s, m) for s, modes in APPLIES.items() for m in modes]


@pytest.mark.parametrize("scenario, mode", CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_no_task_is_lost(scenario: str, mode: str) -> None:
    report = run_scenario(
        scenario,
        mode,
        tasks=40,
        sleep_s=0.2,
        heartbeat_s=HEARTBEAT_S,
        timeout_s=TIMEOUT_S,
        deadline_s=60,
    )
    assert report.lost == 0, report
    assert report.completed == 40, report
    # Redis killed: on appendfsync always, so it keeps every write it acknowledged
    # (experiments/sweep/fsync.py: everysec on a slow disk loses acknowledged submissions)
    if scenario != "partition-host":
        assert report.redis_fsync == ("always" if scenario == "redis-restart" else "everysec")
    assert report.failed == 0, report
    assert not math.isnan(report.recover_s), report  # every task running at the fault ended
    if scenario == "kill-process":  # one killed process was running a task (often the first)
        assert 1 <= report.kills <= 5, report
    if scenario in ("kill-worker", "hang-worker", "kill-process"):
        assert report.retried >= 1, report
        assert 0 <= report.detect_s <= 2 * TIMEOUT_S, report
    if scenario == "redis-restart":
        assert report.api_503_during_outage is True
    if scenario == "kill-dispatcher" and mode in ("pull", "push"):
        # workers kept their tasks and the results the dead dispatcher had not written
        # (push: until acknowledged); the restart adopted and settled them: nothing ran again
        assert report.retried == 0, report


@pytest.mark.parametrize("mode", ["local", "push"])
def test_redis_restarted_empty_keeps_the_dispatcher_serving(mode: str) -> None:
    """FLUSHALL (a failover to an empty replica): the consumer group is gone; the
    dispatcher recreates it and serves tasks submitted afterwards."""
    import redis

    with Stack(mode, workers=1, procs=1, env={"FAAS_HEARTBEAT_S": "0.25"}) as stack:
        client = Client(stack.url)
        function_id = client.register(functions.add)
        assert client.value(client.submit(function_id, 1, b=2)) == ("COMPLETED", 3)
        redis.Redis.from_url(stack.redis_url).flushall()
        function_id = client.register(functions.add)
        assert client.value(client.submit(function_id, 2, b=2), timeout=20) == ("COMPLETED", 4)
        assert stack.dispatcher.poll() is None
        assert wait_until(lambda: (stack.health() or {}).get("dispatcher"), timeout=5)


@pytest.mark.parametrize("mode", ["pull", "push"])
def test_sigterm_stops_a_worker_cleanly(mode: str) -> None:
    """SIGTERM to the worker's process group (as a terminal or a supervisor sends it) used
    to end in an EOFError traceback: the worker tried to replace its dying processes."""
    import os
    import signal
    import subprocess
    import sys

    with Stack(mode, workers=0, procs=2) as stack:
        worker = subprocess.Popen(
            [sys.executable, "-m", "faas", "worker", mode, "2", stack.dispatcher_url],
            env=stack.env(),
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            wait_until(lambda: stack.health()["dispatcher"]["processes"] >= 2, timeout=30)
            os.killpg(worker.pid, signal.SIGTERM)
            _, err = worker.communicate(timeout=15)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        assert worker.returncode == 0
        assert b"Traceback" not in err, err.decode()


@pytest.mark.parametrize("mode", ["pull", "push"])
def test_task_that_always_kills_its_process_fails_after_max_attempts(mode: str) -> None:
    with Stack(mode, workers=1, procs=2, env={"FAAS_MAX_ATTEMPTS": "3"}) as stack:
        client = Client(stack.url)
        status, exc = client.value(client.submit(client.register(functions.exit_process), 9))
        assert status == "FAILED" and isinstance(exc, RuntimeError)
        assert "worker lost" in str(exc) and "dispatched 3 times" in str(exc)
        assert client.value(client.submit(client.register(functions.add), 2, b=3)) == (
            "COMPLETED",
            5,
        )


@pytest.mark.parametrize("mode", ["local", "pull", "push"])
def test_timeout_kills_and_replaces_the_process(mode: str) -> None:
    with Stack(mode, workers=1, procs=1) as stack:
        client = Client(stack.url)
        reply = client.http.post(
            "/execute_function",
            json={
                "function_id": client.register(functions.sleep_for),
                "payload": functions.args_of(30),
                "timeout": 0.5,
            },
        )
        status, exc = client.value(reply.json()["task_id"], timeout=10)
        assert status == "FAILED" and isinstance(exc, TimeoutError)
        assert "timeout of 0.5 s" in str(exc)
        assert client.value(client.submit(client.register(functions.add), 1)) == ("COMPLETED", 1)


def test_second_dispatcher_takes_over_a_dead_ones_tasks_after_the_lease() -> None:
    """Two dispatchers share one Redis; when one dies, the other claims its work once the
    lease lapses, and not before (live claims are renewed every heartbeat)."""
    import signal

    import psutil
    import redis

    from faas.store import task_key

    lease_s = 2.0
    env = {"FAAS_CLAIM_LEASE_S": str(lease_s), "FAAS_HEARTBEAT_S": "0.25"}
    with Stack("local", procs=2, env=env) as stack:
        other = stack.spawn("dispatcher", "-m", "local", "-p", "1", "-w", "2")
        try:
            client = Client(stack.url)
            function_id = client.register(functions.sleep_for)
            task_ids = [client.submit(function_id, 0.5) for _ in range(16)]
            r = redis.Redis.from_url(stack.redis_url, decode_responses=True)

            def victim_runs_tasks() -> bool:
                held = r.xpending("faas:queue", "dispatchers")["consumers"]
                victim_holds = any(not c["name"].endswith(":local:1") for c in held)
                statuses = {r.hget(task_key(t), "status") for t in task_ids}
                return victim_holds and "RUNNING" in statuses

            wait_until(victim_runs_tasks, message="the first dispatcher runs tasks")
            victim = psutil.Process(stack.dispatcher.pid)
            for p in [victim, *victim.children(recursive=True)]:
                p.send_signal(signal.SIGKILL)
            killed_at = time.time()
            stack.dispatcher.wait()
            for task_id in task_ids:
                assert client.value(task_id, timeout=30) == ("COMPLETED", 0.5)
            retried = [t for t in task_ids if int(r.hget(task_key(t), "attempts")) > 1]
            assert retried, "the dead dispatcher's running tasks were run again"
            # ... and not before the lease: their last claim was renewed at most a heartbeat
            # before the kill, so none was dispatched again sooner than lease - heartbeat.
            redispatched = min(float(r.hget(task_key(t), "dispatched")) for t in retried)
            assert redispatched - killed_at >= lease_s - 0.25 - 0.1
        finally:
            other.terminate()
            other.wait(10)
            stack.dispatcher = None

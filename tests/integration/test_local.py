"""Local mode scenarios that start and stop their own processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
import pytest

from faas.stack import Stack
from tests import functions
from tests.helpers import Client, wait_until
from tests.integration.conftest import descendants

pytestmark = pytest.mark.integration


def test_task_submitted_before_the_dispatcher_starts_completes_after() -> None:
    stack = Stack("local", procs=2)
    try:
        stack.redis.start()
        stack.redis_url = stack.redis.url
        stack.start_api()
        wait_until(stack.health, message="API up")
        client = Client(stack.url)
        task_id = client.submit(client.register(functions.add), 20, b=22)
        assert client.http.get(f"/status/{task_id}").json()["status"] == "QUEUED"
        assert stack.health()["dispatcher"] is None
        stack.start_dispatcher()
        assert client.value(task_id) == ("COMPLETED", 42)
    finally:
        stack.stop()


def test_dying_pool_process_ends_failed_after_attempts_and_pool_keeps_serving() -> None:
    with Stack("local", procs=2, env={"FAAS_MAX_ATTEMPTS": "2"}) as stack:
        client = Client(stack.url)
        task_id = client.submit(client.register(functions.exit_process), 3)
        status, exc = client.value(task_id)
        assert status == "FAILED" and isinstance(exc, RuntimeError)
        assert "worker lost" in str(exc) and "2 times" in str(exc)
        assert client.value(client.submit(client.register(functions.add), 1, b=1)) == (
            "COMPLETED",
            2,
        )


def _faas_up(env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int, str]:
    """``faas up`` on ports chosen here, and the first line it printed. A port another
    process took between free_port and the bind makes it exit 1 before that line (it never
    moves a port it was given): then it is started again on others, at most 3 times."""
    from faas.redis_server import free_port

    for _ in range(3):
        port = free_port()
        argv = ["up", "--mode", "local", "--procs", "2", "--port", str(port)]
        up = subprocess.Popen(
            [sys.executable, "-m", "faas", *argv, "--dispatcher-port", str(free_port())],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "FAAS_REDIS_URL": "", **(env or {})},
        )
        line = up.stdout.readline()
        if line or up.wait() != 1:
            return up, port, line
    return up, port, line


def test_faas_up_serves_and_sigterm_leaves_no_process_behind(tmp_path) -> None:
    """... with its embedded Redis fsyncing as FAAS_REDIS_FSYNC says."""
    import re

    import redis

    before = descendants()
    up, port, line = _faas_up({"FAAS_REDIS_FSYNC": "always"})
    try:
        assert line.startswith(f"faas is up: http://127.0.0.1:{port}")
        redis_url = re.search(r"redis (redis://\S+)\)", line).group(1)
        with redis.Redis.from_url(redis_url) as r:
            assert r.config_get("appendfsync") == {"appendfsync": "always"}
        client = Client(f"http://127.0.0.1:{port}")
        assert client.value(client.submit(client.register(functions.add), 2, b=2)) == (
            "COMPLETED",
            4,
        )
        started = psutil.Process(up.pid).children(recursive=True)
        assert len(started) >= 5  # redis, api, dispatcher, forkserver, pool processes
        up.send_signal(signal.SIGTERM)
        assert up.wait(20) == 0
        gone, alive = psutil.wait_procs(started, timeout=10)
        assert alive == []
        assert descendants() == before
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def test_faas_up_starts_again_a_component_that_exits_and_counts_it() -> None:
    """A component that exited used to stop the whole stack; now it is started again
    after a back-off, and /metrics counts it."""
    up, port, line = _faas_up()
    try:
        assert line.startswith("faas is up")
        client = Client(f"http://127.0.0.1:{port}")
        fn = client.register(functions.add)
        children = psutil.Process(up.pid).children()
        [dispatcher] = [p for p in children if "dispatcher" in p.cmdline()]
        dispatcher.kill()
        assert client.value(client.submit(fn, 2, b=3), timeout=60) == ("COMPLETED", 5)
        metrics = client.http.get("/metrics").text
        assert 'faas_component_restarts_total{component="dispatcher"} 1.0' in metrics
        assert 'faas_component_restarts_total{component="api"} 0.0' in metrics
        assert up.poll() is None
    finally:
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0


def test_a_second_faas_up_on_a_taken_port_never_says_it_is_up() -> None:
    """Its health check used to reach the first stack's API and print "faas is up"
    before its own API exited with code 98."""
    first, port, line = _faas_up()
    try:
        assert line.startswith("faas is up")
        second = subprocess.Popen(
            [sys.executable, "-m", "faas", "up", "--mode", "local", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "FAAS_REDIS_URL": ""},
        )
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1 and "faas is up" not in out
        assert "the stack did not start: api exited with code 98" in err
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0

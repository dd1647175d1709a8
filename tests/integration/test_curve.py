"""CURVE: only workers holding an admitted key can register, receive tasks or send results."""

from __future__ import annotations

import collections
import time
from pathlib import Path

import psutil
import pytest
import redis

from faas.curve import generate_keys
from faas.stack import Stack
from faas.store import task_key
from tests import functions
from tests.helpers import Client, wait_until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["push", "pull"])
def test_only_workers_with_an_admitted_key_get_tasks(mode: str, tmp_path: Path) -> None:
    keys = generate_keys(tmp_path / "keys")
    stranger = generate_keys(tmp_path / "stranger")  # a valid pair the dispatcher never saw
    with Stack(mode, workers=1, procs=1, env={"FAAS_CURVE_DIR": str(keys)}) as stack:
        no_key = stack.spawn("worker", mode, "2", stack.dispatcher_url, env={"FAAS_CURVE_DIR": ""})
        wrong_key = stack.spawn(
            "worker", mode, "2", stack.dispatcher_url, env={"FAAS_CURVE_DIR": str(stranger)}
        )
        stack.worker_procs += [no_key, wrong_key]
        for refused in (no_key, wrong_key):  # up: its pool started, signals handled
            wait_until(lambda p=refused: psutil.Process(p.pid).children(), timeout=30)
        time.sleep(1)  # let both try to register (a refused handshake leaves nothing to poll)
        assert stack.health()["dispatcher"]["workers"] == 1
        client = Client(stack.url)
        function_id = client.register(functions.sleep_for)
        task_ids = [client.submit(function_id, 0.05) for _ in range(12)]
        for task_id in task_ids:
            assert client.value(task_id, timeout=30) == ("COMPLETED", 0.05)
        r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
        ran_on = collections.Counter(r.hget(task_key(t), "worker") for t in task_ids)
        assert len(ran_on) == 1, ran_on  # all on the keyed worker
        assert no_key.poll() is None and wrong_key.poll() is None  # still knocking
        for refused in (no_key, wrong_key):  # a failed handshake never blocks a stop
            refused.terminate()
            assert refused.wait(5) == 0


def test_faas_keys_writes_both_pairs_and_admits_the_worker(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "faas", "keys", str(tmp_path / "k")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "FAAS_CURVE_DIR" in out
    names = sorted(
        p.relative_to(tmp_path / "k").as_posix() for p in (tmp_path / "k").rglob("*") if p.is_file()
    )
    assert names == [
        "authorized/worker.key",
        "dispatcher.key",
        "dispatcher.key_secret",
        "worker.key",
        "worker.key_secret",
    ]
    assert (tmp_path / "k" / "worker.key_secret").stat().st_mode & 0o077 == 0

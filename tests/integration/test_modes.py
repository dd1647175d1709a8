"""Pull and push modes on real processes: balance, start order, restarts, bad messages."""

from __future__ import annotations

import collections

import msgpack
import psutil
import pytest
import redis
import zmq

from faas.protocol import VERSION, Register, Reject, decode
from faas.stack import Stack
from faas.store import task_key
from tests import functions
from tests.helpers import Client, wait_until

pytestmark = pytest.mark.integration
REMOTE = ["pull", "push"]


def _workers_of(stack: Stack, task_ids: list[str]) -> collections.Counter:
    r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    return collections.Counter(r.hget(task_key(t), "worker") for t in task_ids)


@pytest.mark.parametrize("mode", REMOTE)
def test_sleep_tasks_spread_over_two_workers(mode: str) -> None:
    with Stack(mode, workers=2, procs=2) as stack:
        client = Client(stack.url)
        function_id = client.register(functions.sleep_for)
        task_ids = [client.submit(function_id, 0.1) for _ in range(40)]
        for task_id in task_ids:
            assert client.value(task_id) == ("COMPLETED", 0.1)
        per_worker = _workers_of(stack, task_ids)
        assert len(per_worker) == 2
        assert min(per_worker.values()) >= 12, per_worker  # each worker ran >= 30%
        # how fast: the bench's weak-scaling study (makespan against the ideal)


@pytest.mark.parametrize("mode", REMOTE)
def test_a_burst_of_short_tasks_keeps_the_dispatcher_hearing_its_workers(mode: str) -> None:
    """Sends went through a synchronous shadow of the dispatcher's socket once: ZeroMQ's
    edge-triggered descriptor then never woke the asyncio receive, and the dispatcher
    went deaf to its workers under a burst (declared them lost, answered nothing)."""
    from concurrent.futures import ThreadPoolExecutor

    from faas.client import FaaSClient

    with Stack(mode, workers=1, procs=2) as stack:
        function_id = FaaSClient(stack.url).register(functions.add)

        def submitter(start: int) -> list[int]:  # one of 16, each its own connection
            client = FaaSClient(stack.url)
            try:
                return [client.call(function_id, i, b=1) for i in range(start, start + 25)]
            finally:
                client.close()

        with ThreadPoolExecutor(16) as pool:
            results = sum(pool.map(submitter, range(0, 400, 25)), [])
        assert results == [i + 1 for i in range(400)]
        assert stack.health()["dispatcher"]["workers"] == 1


@pytest.mark.parametrize("mode", REMOTE)
def test_worker_started_before_its_dispatcher(mode: str) -> None:
    stack = Stack(mode, workers=1, procs=2)
    try:
        stack.redis.start()
        stack.redis_url = stack.redis.url
        stack.start_worker()
        stack.start_api()
        client = Client(wait_until(lambda: stack.health() and stack.url))
        task_id = client.submit(client.register(functions.add), 1, b=2)
        worker = psutil.Process(stack.worker_procs[0].pid)
        wait_until(lambda: worker.num_threads() > 1, message="the worker's ZeroMQ I/O thread")
        stack.start_dispatcher()
        stack.wait_ready(30)
        assert client.value(task_id) == ("COMPLETED", 3)
    finally:
        stack.stop()


@pytest.mark.parametrize("mode", REMOTE)
def test_dispatcher_restarted_under_live_workers(mode: str) -> None:
    with Stack(mode, workers=2, procs=1) as stack:
        client = Client(stack.url)
        function_id = client.register(functions.sleep_for)
        task_ids = [client.submit(function_id, 0.2) for _ in range(10)]
        r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
        wait_until(
            lambda: any(r.hget(task_key(t), "status") == "RUNNING" for t in task_ids),
            message="some tasks are running",
        )
        stack.dispatcher.terminate()
        stack.dispatcher.wait(10)
        task_ids += [client.submit(function_id, 0.05) for _ in range(5)]
        stack.start_dispatcher()
        health = stack.wait_ready(30)
        assert health["dispatcher"]["workers"] == 2  # the same workers came back
        for task_id in task_ids:
            assert client.value(task_id, timeout=60)[0] == "COMPLETED"


def _raw_socket(stack: Stack, kind: int, identity: bytes) -> zmq.Socket:
    sock = zmq.Context.instance().socket(kind)
    sock.setsockopt(zmq.IDENTITY, identity)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(stack.dispatcher_url)
    return sock


GARBAGE = [
    b"",
    b"\x00\xff" * 10,
    msgpack.packb([VERSION, 42]),
    msgpack.packb([VERSION, 6, 7]),
    msgpack.packb([VERSION, 6, [["t", "e", 1, "COMPLETED", b"", 0.0]]]),
    msgpack.packb([VERSION, 4, "x", True, [], []]),
    msgpack.packb("hello"),
]


@pytest.mark.parametrize("mode", REMOTE)
def test_malformed_and_unknown_messages_never_crash_the_dispatcher(mode: str) -> None:
    with Stack(mode, workers=1, procs=1) as stack:
        sock = _raw_socket(stack, zmq.DEALER, b"intruder")
        for frame in GARBAGE:
            sock.send_multipart([b"", frame] if mode == "pull" else [frame])
        client = Client(stack.url)
        assert client.value(client.submit(client.register(functions.add), 2, b=5)) == (
            "COMPLETED",
            7,
        )
        assert stack.dispatcher.poll() is None
        sock.close()


@pytest.mark.parametrize("mode", REMOTE)
def test_bad_registrations_are_rejected_with_a_reason(mode: str) -> None:
    with Stack(mode, workers=1, procs=1) as stack:
        sock = _raw_socket(stack, zmq.REQ if mode == "pull" else zmq.DEALER, b"bad")
        sock.send(Register("bad", 0).encode())
        assert sock.poll(5000), "no answer to a bad registration"
        reply = decode(sock.recv())
        assert isinstance(reply, Reject) and "processes must be" in reply.reason
        sock.close()
        other = _raw_socket(stack, zmq.DEALER, b"future")
        other.send_multipart(
            [b"", msgpack.packb([VERSION + 1, 1, "future", 2])]
            if mode == "pull"
            else [msgpack.packb([VERSION + 1, 1, "f", 2])]
        )
        assert other.poll(5000)
        assert "protocol version" in decode(other.recv_multipart()[-1]).reason
        other.close()
        assert stack.health()["dispatcher"]["workers"] == 1


def test_rejected_worker_exits_with_a_clear_message() -> None:
    """A real worker process that the dispatcher rejects exits with code 2."""
    with Stack("push", workers=1, procs=1, env={"FAAS_MAX_WORKERS": "1"}) as stack:
        worker = stack.spawn("worker", "push", "1", stack.dispatcher_url)
        assert worker.wait(20) == 2
        assert stack.health()["dispatcher"]["workers"] == 1

"""Ports a stack chose and another process took before the child bound them: the stack
starts that child again on another port (faas.stack.Stack._rebind, EmbeddedRedis.start).
free_port's answer is free only when asked, and every outgoing connection of the suite's
processes draws its local port from the same range: CI once lost a Locust run to it."""

from __future__ import annotations

import socket

import pytest
import redis

from experiments import chaos
from faas.exceptions import FaasError
from faas.process import listen_socket, stop_process
from faas.redis_server import EmbeddedRedis, free_port
from faas.stack import Stack
from tests import functions
from tests.helpers import Client

pytestmark = pytest.mark.integration


def _take(port: int) -> socket.socket:
    """Listen on ``port`` as the process that took it would."""
    sock = listen_socket("127.0.0.1", port)
    sock.listen()
    return sock


def test_a_stack_whose_chosen_ports_were_taken_starts_on_others() -> None:
    stack = Stack("push", workers=1, procs=2)
    api_port, dispatcher_port = stack.api_port, stack.dispatcher_port
    with _take(api_port), _take(dispatcher_port), stack:
        assert stack.api_port != api_port and stack.dispatcher_port != dispatcher_port
        assert stack.health()["dispatcher"]["processes"] == 2  # the worker found it
        client = Client(stack.url)
        task_id = client.submit(client.register(functions.add), 2, b=3)
        assert client.value(task_id) == ("COMPLETED", 5)
        client.close()


def test_a_port_the_caller_gave_is_not_changed() -> None:
    with _take(0) as taken:
        port = taken.getsockname()[1]
        stack = Stack("local", procs=1, api_port=port)
        with pytest.raises(FaasError, match="api exited with code 98"):
            stack.start()
        assert stack.api is None and stack.api_port == port  # stopped, not moved


def test_a_component_restarted_after_the_stack_was_ready_keeps_its_port() -> None:
    """Clients know the address by then: a taken port is an error, not a move."""
    with Stack("local", procs=1) as stack:
        port = stack.api_port
        stop_process(stack.api)
        with _take(port):
            stack.start_api()
            with pytest.raises(FaasError, match="api exited with code 98"):
                stack.wait_ready(30)
        assert stack.api_port == port
    redis_server = EmbeddedRedis().start()
    try:
        port = redis_server.port
        redis_server.kill()  # keeps its data, as a restart scenario does
        with _take(port), pytest.raises(FaasError, match=f"could not listen on port {port}"):
            redis_server.start()
        assert redis_server.port == port
    finally:
        redis_server.stop()


def test_embedded_redis_moves_off_a_taken_port_and_off_another_server() -> None:
    with EmbeddedRedis() as other:
        for squatter in ("socket", "redis"):
            ours = EmbeddedRedis()
            if squatter == "redis":
                ours.port = other.port  # the race: another server bound it first
                taken = None
            else:
                taken = _take(ours.port)
            chosen = ours.port
            with ours:
                assert ours.port != chosen
                pid = redis.Redis.from_url(ours.url).info("server")["process_id"]
                assert pid == ours.process.pid != other.process.pid
            if taken is not None:
                taken.close()


def test_a_chaos_dispatcher_whose_chosen_port_was_taken_listens_on_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chaos soak's two dispatchers run outside the Stack's own rebind."""
    with _take(0) as taken:
        port = taken.getsockname()[1]
        answers = iter([port])
        monkeypatch.setattr(chaos, "free_port", lambda: next(answers, None) or free_port())
        cluster = chaos.Cluster("push", workers_per_dispatcher=0, procs=1).start()
        try:
            assert cluster.ports[0] != port and len(set(cluster.ports)) == 2
            for child, bound in zip(cluster.dispatchers, cluster.ports, strict=True):
                assert child.poll() is None
                socket.create_connection(("127.0.0.1", bound), timeout=2).close()
        finally:
            cluster.stop()
        assert all(child.poll() is not None for child in cluster.dispatchers)

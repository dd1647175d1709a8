"""faas/cli.py: the argument handling of every command (nothing is started)."""

from __future__ import annotations

import os

import pytest

from faas.cli import main, parser
from faas.models import Mode


def _parse(*argv: str):
    return parser().parse_args(list(argv))


def test_up_defaults_and_modes() -> None:
    args = _parse("up")
    assert (args.mode, args.workers, args.procs, args.port) == ("local", 1, 2, 8000)
    assert _parse("up", "--mode", "push", "--workers", "3").mode == Mode.PUSH


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--mode", "celery"],
        ["dispatcher"],  # -m is required
        ["dispatcher", "-m", "remote"],
        ["worker", "local", "2", "tcp://127.0.0.1:5555"],  # local has no worker program
        ["worker", "push", "two", "tcp://127.0.0.1:5555"],
        ["run"],  # needs a function id
        ["result", "t", "--timeout", "soon"],
    ],
)
def test_bad_arguments_exit_2_with_usage(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        _parse(*argv)
    assert stop.value.code == 2
    assert "usage: faas" in capsys.readouterr().err


def test_dispatcher_and_worker_arguments() -> None:
    args = _parse("dispatcher", "-m", "pull", "-p", "6000", "--host", "0.0.0.0")
    assert (args.mode, args.port, args.host, args.name) == ("pull", 6000, "0.0.0.0", None)
    args = _parse("worker", "pull", "4", "tcp://10.0.0.1:6000")
    assert (args.mode, args.processes, args.url) == ("pull", 4, "tcp://10.0.0.1:6000")


def test_run_takes_literals_and_no_wait() -> None:
    args = _parse("run", "fid", "3", "x=4", "--no-wait")
    assert (args.function_id, args.args, args.no_wait) == ("fid", ["3", "x=4"], True)


def test_a_worker_of_zero_processes_is_refused_before_starting() -> None:
    with pytest.raises(SystemExit, match="processes must be at least 1"):
        main(["worker", "push", "0", "tcp://127.0.0.1:1"])


def test_the_api_serves_with_its_start_up_heap_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's objects of start-up are out of the garbage collector's view before it
    serves (a full collection of them stopped it for 25-50 ms; faas.process.freeze_heap)."""
    import gc

    import uvicorn

    frozen: list[int] = []
    monkeypatch.setattr(
        uvicorn.Server, "run", lambda self, sockets: frozen.append(gc.get_freeze_count())
    )
    try:
        with pytest.raises(SystemExit) as stop:
            main(["api", "--port", "0"])
    finally:
        gc.unfreeze()
    assert stop.value.code == 0
    assert len(frozen) == 1 and frozen[0] > 10_000  # FastAPI, pydantic, redis-py: > 10^5


@pytest.mark.parametrize("command", [["api"], ["dispatcher", "-m", "push"]])
def test_a_taken_port_ends_the_api_or_dispatcher_at_once_with_code_98(
    command: list[str],
) -> None:
    """Whoever chose the port can tell a taken port from any other failure by the exit code
    (faas.process.ADDRESS_IN_USE), and the process ends before it starts serving: the API
    used to hang in its shutdown after uvicorn failed to bind."""
    import socket
    import subprocess
    import sys
    import time

    from faas.process import ADDRESS_IN_USE, listen_socket
    from faas.redis_server import EmbeddedRedis

    with EmbeddedRedis() as redis, listen_socket("127.0.0.1", 0) as taken:
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "faas", *command, "--port", str(port)],
            env={**os.environ, "FAAS_REDIS_URL": redis.url},
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass  # the port is still ours: nobody took it from us
    assert run.returncode == ADDRESS_IN_USE, run.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr
    assert elapsed < 30


def test_faas_up_on_a_taken_port_says_so_and_exits_1() -> None:
    """A port the user gave is not moved; `faas up` names the failure, no traceback."""
    import subprocess
    import sys

    from faas.process import listen_socket

    with listen_socket("127.0.0.1", 0) as taken:
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "faas", "up", "--port", str(port)],
            env={k: v for k, v in os.environ.items() if k != "FAAS_REDIS_URL"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 1, run.stderr
    assert "the stack did not start: api exited with code 98" in run.stderr
    assert "Traceback" not in run.stderr

"""The ``faas`` command: run the whole stack, or one component each (README: "Command line")."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import signal
import sys
import time
from collections.abc import Callable

from faas.config import get_settings
from faas.extras import require
from faas.logs import configure
from faas.models import Mode
from faas.process import ADDRESS_IN_USE, freeze_heap, listen_socket

log = logging.getLogger("faas")


def parser() -> argparse.ArgumentParser:
    """The ``faas`` command line: server commands and the user commands."""
    parser = argparse.ArgumentParser(prog="faas", description=__doc__)
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run Redis, API, dispatcher and workers in the foreground")
    up.add_argument("--mode", choices=list(Mode), default=Mode.LOCAL.value)
    up.add_argument("--workers", type=int, default=1, help="workers (pull/push)")
    up.add_argument("--procs", type=int, default=2, help="processes per worker (or pool)")
    up.add_argument("--host", default="127.0.0.1", help="interface for API and dispatcher")
    up.add_argument("--port", type=int, default=8000, help="API port")
    up.add_argument("--dispatcher-port", type=int, default=5555)

    api = sub.add_parser("api", help="run the REST API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)

    disp = sub.add_parser("dispatcher", help="run the task dispatcher")
    disp.add_argument("-m", "--mode", choices=list(Mode), required=True)
    disp.add_argument("-p", "--port", type=int, default=5555, help="socket port (pull/push)")
    disp.add_argument("-w", "--workers", type=int, default=2, help="pool processes (local)")
    disp.add_argument("--host", default="127.0.0.1", help="interface to bind (pull/push)")
    disp.add_argument("--name", default=None, help="consumer name (default host:mode:port)")

    worker = sub.add_parser("worker", help="run a pull or push worker")
    worker.add_argument("mode", choices=list(Mode.remote()))
    worker.add_argument("processes", type=int)
    worker.add_argument("url", help="dispatcher address, e.g. tcp://127.0.0.1:5555")
    keys = sub.add_parser("keys", help="write CURVE key pairs for dispatcher and workers")
    keys.add_argument("directory")

    _user_commands(sub)
    return parser


def _user_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands a user runs against the API (``FAAS_URL``); exit codes in
    faas/usercli.py."""
    user = {
        "register": ("register FILE:FUNCTION, print its function id", ["target"]),
        "run": ("run a function on ARGS (Python literals), print its result", ["function_id"]),
        "status": ("print a task's status", ["task_id"]),
        "result": ("wait for a task's result and print it", ["task_id"]),
        "workers": ("list live workers with their load (local mode: the pool)", []),
    }
    for name, (text, positional) in user.items():
        command = sub.add_parser(name, help=f"{text} (API at FAAS_URL)")
        for arg in positional:
            command.add_argument(arg)
    sub.choices["register"].add_argument("--name", help="name to register it under")
    run, result = sub.choices["run"], sub.choices["result"]
    run.add_argument("args", nargs="*", help="e.g. 3 \"'text'\" '[1, 2]' key=4")
    run.add_argument("--no-wait", action="store_true", help="print the task id and return")
    run.add_argument(
        "--task-timeout", type=float, default=None, metavar="S", help="kill the task after S s"
    )
    for command in (run, result):
        command.add_argument(
            "--timeout", type=float, default=None, metavar="S", help="wait at most S s"
        )
        command.add_argument(
            "-v", "--verbose", action="store_true", help="a FAILED task's remote traceback too"
        )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``faas`` console script."""
    args = parser().parse_args(argv)
    settings = get_settings()
    configure(args.log_level or settings.log_level, settings.log_format)
    command = {"up": _up, "api": _api, "dispatcher": _dispatcher, "worker": _worker, "keys": _keys}
    if args.command in command:
        require("server", f"faas {args.command}")
        sys.exit(command[args.command](args))
    from faas.usercli import run_user_command

    if args.log_level is None:  # a user command prints its answer and errors only
        logging.getLogger().setLevel(logging.WARNING)
    sys.exit(run_user_command(args, get_settings()))


def _up(args: argparse.Namespace) -> int:
    from faas.exceptions import FaasError
    from faas.stack import Stack

    settings = get_settings()
    stack = Stack(
        args.mode,
        args.workers,
        args.procs,
        host=args.host,
        api_port=args.port,
        dispatcher_port=args.dispatcher_port,
        redis_url=settings.redis_url,
        log_level=logging.getLevelName(logging.getLogger().level),
        redis_fsync=settings.redis_fsync,
    )
    stopping: list[int] = []  # a plain flag: handlers must not take locks (Event.set does)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _: stopping.append(signum))
    try:
        stack.start()  # stops what it started if it fails
    except FaasError as e:
        log.error("the stack did not start: %s", e)
        return 1
    try:
        sys.stdout.write(f"faas is up: {stack.url} (mode {args.mode}, redis {stack.redis_url})\n")
        sys.stdout.flush()
        while not stopping:
            time.sleep(0.2)
            stack.supervise()  # a component that exited starts again, after a back-off
    finally:
        stack.stop()
    return 0


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from faas.api.app import create_app

    try:  # bound here, before the app starts, so a taken port ends the process at once
        listener = listen_socket(args.host, args.port)
    except OSError as e:
        log.error("the API cannot listen on %s:%d: %s", args.host, args.port, e.strerror)
        return ADDRESS_IN_USE if e.errno == errno.EADDRINUSE else 1
    app = create_app()
    freeze_heap()
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        proxy_headers=False,  # the API never uses the client's address
        log_level=logging.getLogger().level,
    )
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def _dispatcher(args: argparse.Namespace) -> int:
    import redis.asyncio as aioredis
    import uvloop

    from faas.dispatcher import create_dispatcher
    from faas.dispatcher.base import default_name
    from faas.store import Store

    settings = get_settings()
    name = args.name or default_name(args.mode, args.port)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        redis = aioredis.from_url(settings.redis, socket_connect_timeout=2)
        store = Store(redis)
        dispatcher = create_dispatcher(
            args.mode,
            store,
            settings,
            name,
            processes=args.workers,
            url=f"tcp://{args.host}:{args.port}",
        )
        freeze_heap()
        try:
            await dispatcher.run(stop)
        finally:
            await redis.aclose()

    return _serving(lambda: uvloop.run(run()), args)


def _serving(serve: Callable[[], None], args: argparse.Namespace) -> int:
    """Run the dispatcher; a taken port exits with ADDRESS_IN_USE (faas.stack chooses
    another), any other error is raised."""
    import zmq

    try:
        serve()
    except zmq.ZMQError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        log.error("the dispatcher cannot listen on %s:%d: %s", args.host, args.port, e)
        return ADDRESS_IN_USE
    return 0


def _keys(args: argparse.Namespace) -> int:
    from faas.curve import generate_keys

    root = generate_keys(args.directory)
    sys.stdout.write(
        f"keys written to {root}: set FAAS_CURVE_DIR={root} for the dispatcher "
        "(it needs dispatcher.key_secret and authorized/) and on each worker "
        "host (it needs worker.key_secret and dispatcher.key)\n"
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    from faas.worker.run import run_worker

    return run_worker(args.mode, args.processes, args.url, get_settings())

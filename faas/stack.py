"""A whole platform as child processes: Redis (embedded unless given), API, dispatcher and
workers. ``faas up`` runs one in the foreground and keeps it running: a component that
exits is started again after a back-off (``Stack.supervise``), each restart logged and
counted in ``/metrics``; tests and experiments start their own."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from faas.exceptions import FaasError
from faas.models import Mode
from faas.process import ADDRESS_IN_USE, die_with_parent, stop_process
from faas.redis_server import EmbeddedRedis, free_port
from faas.store.keys import STATS_KEY

log = logging.getLogger(__name__)

#: Wait before starting again a component that exited: doubles with each exit, up to
#: RESTART_MAX_S, and starts over once the component has run RESTART_RESET_S (seconds).
RESTART_FIRST_S, RESTART_MAX_S, RESTART_RESET_S = 0.5, 30.0, 60.0
#: The header in which the API names its stack (``FAAS_INSTANCE``) on ``/health``.
INSTANCE_HEADER = "x-faas-instance"


@dataclass
class _Restarts:
    """The restart history of one component."""

    started: float = field(default_factory=time.monotonic)
    delay_s: float = 0.0
    due: float | None = None
    count: int = 0


class Stack:
    """Start, watch and stop the platform's processes (by PID, children before Redis)."""

    def __init__(
        self,
        mode: Mode | str = Mode.LOCAL,
        workers: int = 1,
        procs: int = 2,
        *,
        host: str = "127.0.0.1",
        api_port: int | None = None,
        dispatcher_port: int | None = None,
        redis_url: str | None = None,
        env: dict[str, str] | None = None,
        log_level: str = "WARNING",
        redis_fsync: str = "everysec",
    ) -> None:
        """``redis_fsync``: the embedded Redis's ``appendfsync`` (see :class:`EmbeddedRedis`)."""
        if mode not in list(Mode):
            raise FaasError(f"unknown mode {mode!r}: choose one of {', '.join(Mode)}")
        mode = Mode(mode)
        self.mode, self.workers, self.procs, self.host = mode, workers, procs, host
        self.api_port = api_port or free_port()
        self.dispatcher_port = dispatcher_port or free_port()
        #: Ports this stack chose itself (and may change when another process takes one
        #: between the choice and the bind).
        self._own_ports = {"api": api_port is None, "dispatcher": dispatcher_port is None}
        self._rebinds = 0
        self._was_ready = False
        self.redis = None if redis_url else EmbeddedRedis(fsync=redis_fsync)
        #: the Redis in use ("" until start() has started the embedded one)
        self.redis_url: str = redis_url or ""
        self.extra_env = env or {}
        self.log_level = log_level
        self.api: subprocess.Popen[bytes] | None = None
        self.dispatcher: subprocess.Popen[bytes] | None = None
        self.worker_procs: list[subprocess.Popen[bytes]] = []
        #: Names this stack's API in /health, so a stack never mistakes another's for its own.
        self.instance = uuid.uuid4().hex
        self._restarts: dict[str, _Restarts] = {}

    @property
    def url(self) -> str:
        """The API's base URL."""
        return f"http://{self.host}:{self.api_port}"

    @property
    def dispatcher_url(self) -> str:
        """Where workers connect."""
        return f"tcp://{self.host}:{self.dispatcher_port}"

    @property
    def expected_processes(self) -> int:
        """Processes /health reports once everything is up."""
        return self.procs if self.mode is Mode.LOCAL else self.workers * self.procs

    def env(self) -> dict[str, str]:
        """The environment every child gets (an embedded Redis keeps the archive beside its
        data, unless FAAS_ARCHIVE_PATH says otherwise)."""
        env = {
            **os.environ,
            "FAAS_REDIS_URL": self.redis_url,
            "FAAS_LOG_LEVEL": self.log_level,
            "FAAS_INSTANCE": self.instance,
            **self.extra_env,
        }
        if self.redis and "FAAS_ARCHIVE_PATH" not in self.extra_env:
            env["FAAS_ARCHIVE_PATH"] = str(self.redis.data_dir / "archive.sqlite3")
        return env

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Run ``faas ARGS...`` as a child that dies with us (``env`` adds variables)."""
        return subprocess.Popen(
            [sys.executable, "-m", "faas", *args],
            env={**self.env(), **(env or {})},
            preexec_fn=die_with_parent,
        )

    def start_api(self) -> subprocess.Popen[bytes]:
        """Start (or restart) the API."""
        self.api = self.spawn("api", "--host", self.host, "--port", str(self.api_port))
        return self.api

    def start_dispatcher(self) -> subprocess.Popen[bytes]:
        """Start (or restart) the dispatcher."""
        self.dispatcher = self.spawn(
            "dispatcher",
            "-m",
            self.mode,
            "-p",
            str(self.dispatcher_port),
            "-w",
            str(self.procs),
            "--host",
            self.host,
        )
        return self.dispatcher

    def start_worker(self, procs: int | None = None) -> subprocess.Popen[bytes]:
        """Start one more worker of ``procs`` processes (pull/push modes)."""
        worker = self.spawn("worker", self.mode, str(procs or self.procs), self.dispatcher_url)
        self.worker_procs.append(worker)
        return worker

    def process(self, name: str) -> subprocess.Popen[bytes]:
        """The running ``api`` or ``dispatcher`` process (RuntimeError before start())."""
        process = {"api": self.api, "dispatcher": self.dispatcher}[name]
        if process is None:
            raise RuntimeError(f"the stack's {name} has not been started")
        return process

    def embedded(self) -> EmbeddedRedis:
        """The Redis this stack embeds (RuntimeError when it uses an external one)."""
        if self.redis is None:
            raise RuntimeError("this stack uses an external Redis")
        return self.redis

    def start(self, timeout_s: float = 60.0) -> Stack:
        """Start everything and wait until /health shows all processes."""
        try:
            if self.redis:
                self.redis.start()
                self.redis_url = self.redis.url
            self.start_api()
            self.start_dispatcher()
            if self.mode.is_remote:
                for _ in range(self.workers):
                    self.start_worker()
            self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def health(self) -> dict[str, Any] | None:
        """Our API's /health answer, or None while it does not answer 200 (or another
        stack's API answers on our port)."""
        try:
            reply = httpx.get(f"{self.url}/health", timeout=2)
        except httpx.HTTPError:
            return None
        ours = reply.headers.get(INSTANCE_HEADER) == self.instance
        return reply.json() if reply.status_code == 200 and ours else None

    def wait_ready(self, timeout_s: float = 60.0, processes: int | None = None) -> dict[str, Any]:
        """Wait until the dispatcher reports ``processes`` (default: all) processes."""
        want = self.expected_processes if processes is None else processes
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_children()
            health = self.health()
            if health and health["dispatcher"] and health["dispatcher"]["processes"] >= want:
                self._was_ready = True
                return health
            time.sleep(0.05)
        raise FaasError(f"stack not ready within {timeout_s}s (last health: {self.health()})")

    def _check_children(self) -> None:
        for name, child in self.children():
            if child.poll() is None:
                continue
            if self._rebind(name, child.returncode):
                return  # the children changed: the next check looks at the new ones
            raise FaasError(f"{name} exited with code {child.returncode}")

    def _rebind(self, name: str, code: int) -> bool:
        """Start the API or the dispatcher again on a new port if it exited because another
        process took the port this stack chose (free_port's answer is free only when asked;
        any outgoing connection may take it before the child binds), until the stack was
        first ready: after that clients know the address. A new dispatcher port starts the
        workers again too, towards it. Answers whether it did."""
        if code != ADDRESS_IN_USE or not self._own_ports.get(name) or self._rebinds >= 5:
            return False
        if self._was_ready:  # a restart keeps the address its clients know
            return False
        self._rebinds += 1
        if name == "api":
            self.api_port = free_port()
            log.warning("API port taken; starting the API again on %d", self.api_port)
            self.start_api()
            return True
        self.dispatcher_port = free_port()
        log.warning("dispatcher port taken; starting it again on %d", self.dispatcher_port)
        self.start_dispatcher()
        stale, self.worker_procs = self.worker_procs, []
        for worker in stale:  # before the first ready every worker has the stack's size
            stop_process(worker)
            self.start_worker()
        return True

    def supervise(self) -> None:
        """One look at the components: start again, after its back-off, each one that has
        exited (the embedded Redis on its data); log and count every restart."""
        now = time.monotonic()
        for name, child in self.children():
            record = self._restarts.setdefault(name, _Restarts())
            if child.poll() is None:
                if now - record.started >= RESTART_RESET_S:
                    record.delay_s = 0.0
                continue
            if record.due is None:
                record.delay_s = min(RESTART_MAX_S, record.delay_s * 2 or RESTART_FIRST_S)
                record.due = now + record.delay_s
                log.error(
                    "%s exited with code %s; starting it again in %.1f s",
                    name,
                    child.returncode,
                    record.delay_s,
                )
            elif now >= record.due:
                self._restart(name, record)

    def _restart(self, name: str, record: _Restarts) -> None:
        if name == "redis" and self.redis is not None:
            self.redis.start()
        elif name == "api":
            self.start_api()
        elif name == "dispatcher":
            self.start_dispatcher()
        else:
            index = int(name.split()[1])
            self.worker_procs[index] = self.spawn(
                "worker", self.mode, str(self.procs), self.dispatcher_url
            )
        record.due, record.started = None, time.monotonic()
        record.count += 1
        log.warning("%s started again (restart %d)", name, record.count)
        self._count_restart(name.split()[0])

    def _count_restart(self, component: str) -> None:
        """Add one to ``restarts:<component>`` in Redis (``/metrics`` shows it)."""
        if not self.redis_url:
            return
        try:
            client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
            try:
                client.hincrby(STATS_KEY, f"restarts:{component}", 1)
            finally:
                client.close()
        except redis.RedisError as e:
            log.warning("could not count the restart of %s: %s", component, e)

    def children(self) -> list[tuple[str, subprocess.Popen[bytes]]]:
        """The running components, by name."""
        named = [("api", self.api), ("dispatcher", self.dispatcher)]
        named += [(f"worker {i}", w) for i, w in enumerate(self.worker_procs)]
        if self.redis is not None:
            named.insert(0, ("redis", self.redis.process))
        return [(name, child) for name, child in named if child is not None]

    def stop(self) -> None:
        """Stop workers, dispatcher, API, then Redis; each by PID, SIGKILL after a grace."""
        for _, child in reversed(self.children()):
            stop_process(child)
        self.worker_procs.clear()
        self.api = self.dispatcher = None
        if self.redis:
            self.redis.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

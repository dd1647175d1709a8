"""Each task's server-side timestamps, read from Redis after a run."""

from __future__ import annotations

import redis

from experiments.load.client import TaskRow
from faas.store import task_key

#: What the platform records of each task (``faas.store.keys``).
SERVER_FIELDS = ["submitted", "dispatched", "started", "finished", "stored", "worker", "status"]


def server_rows(r: redis.Redis, rows: list[TaskRow]) -> list[dict]:
    """Each task's server-side timestamps, joined with what the client saw."""
    with r.pipeline(transaction=False) as pipe:
        for row in rows:
            pipe.hmget(task_key(row.task_id), SERVER_FIELDS)
        records = pipe.execute()
    out = []
    for row, values in zip(rows, records, strict=True):
        rec = dict(zip(SERVER_FIELDS, values, strict=True))
        out.append(
            {
                "task_id": row.task_id,
                "sent": row.submitted,
                "observed": row.observed,
                "polls": row.polls,
                "status": rec["status"],
                "worker": rec["worker"],
                **{k: float(rec[k] or "nan") for k in SERVER_FIELDS[:5]},
            }
        )
    return out

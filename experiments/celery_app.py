"""The peer baseline's Celery app: Redis broker and result backend (FAAS_PEER_REDIS_URL)."""

from __future__ import annotations

import os
import time

from celery import Celery

URL = os.environ.get("FAAS_PEER_REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("faas_peer", broker=URL, backend=URL)
app.conf.update(
    worker_prefetch_multiplier=4,
    task_acks_late=False,
    result_expires=3600,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task
def noop() -> None:
    return None


@app.task
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds

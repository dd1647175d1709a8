"""The peer baseline's Celery app: Redis broker and result backend (FAAS_PEER_REDIS_URL).

The worker runs the module-level ``app`` (``celery -A experiments.load.celery_app worker``); the
load client builds a fresh one per Redis with :func:`make_app`, so a second Celery run in
the same process does not reuse connections to the first run's (stopped) Redis.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

from celery import Celery

URL = os.environ.get("FAAS_PEER_REDIS_URL", "redis://127.0.0.1:6379/0")


def make_app(url: str) -> SimpleNamespace:
    """A Celery app on ``url`` with the two tasks: ``.app``, ``.noop``, ``.sleep``."""
    app = Celery("faas_peer", broker=url, backend=url)
    app.conf.update(
        worker_prefetch_multiplier=4,
        task_acks_late=False,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )

    @app.task(name="experiments.load.celery_app.noop")
    def noop() -> None:
        return None

    @app.task(name="experiments.load.celery_app.sleep")
    def sleep(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    return SimpleNamespace(app=app, noop=noop, sleep=sleep)


_peer = make_app(URL)
app, noop, sleep = _peer.app, _peer.noop, _peer.sleep

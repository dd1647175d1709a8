"""A real worker (2 processes) whose socket is replaced by a list of what it sends."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from faas.config import Settings
from faas.worker.base import Worker


@pytest.fixture
def make_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[type[Worker]], Worker]]:
    """Build a worker of the given class; what it sends goes to ``worker.sent``."""
    made: list[Worker] = []

    def make(kind: type[Worker]) -> Worker:
        w = kind(2, "tcp://127.0.0.1:1", Settings(heartbeat_s=1.0))
        w.sent = []
        monkeypatch.setattr(w, "send", lambda sock, message: w.sent.append(message) or True)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()

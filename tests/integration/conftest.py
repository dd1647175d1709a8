"""Real stacks: an embedded redis-server, the API, dispatcher and workers as processes."""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest

from faas.models import Mode
from faas.stack import Stack
from tests.helpers import Client


def descendants() -> set[int]:
    """PIDs of every process this test process started, however deep."""
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture(scope="module", params=Mode)
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """One stack per mode, shared by a module's tests (2 processes in all)."""
    mode = request.param
    with Stack(mode, workers=1, procs=2) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[Client]:
    """An HTTP client of the stack's API."""
    c = Client(stack.url)
    yield c
    c.close()

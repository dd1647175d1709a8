"""Shared fixtures: a fakeredis-backed store and an in-process API client."""

from __future__ import annotations

from collections.abc import Callable

import fakeredis
import pytest
from fastapi.testclient import TestClient

from faas.api.app import create_app
from faas.api.deps import get_store, get_waiters
from faas.api.waiters import Waiters
from faas.config import Settings
from faas.store import Store


@pytest.fixture
def fake_server() -> fakeredis.FakeServer:
    """One in-memory Redis server shared by every connection of a test."""
    return fakeredis.FakeServer()


@pytest.fixture
def store(fake_server: fakeredis.FakeServer) -> Store:
    """A store on fakeredis (for async tests running in pytest's loop)."""
    return Store(fakeredis.FakeAsyncRedis(server=fake_server))


@pytest.fixture
def settings() -> Settings:
    """Default settings, not read from the environment."""
    return Settings(_env_file=None)


@pytest.fixture
def make_client(fake_server: fakeredis.FakeServer) -> Callable[[Settings], TestClient]:
    """Build an in-process API client with the given settings, its store on fakeredis."""

    def make(settings: Settings) -> TestClient:
        app = create_app(settings)
        made: dict[str, Store | Waiters] = {}

        async def fake_store() -> Store:
            if "store" not in made:  # created inside the app's event loop
                made["store"] = Store(fakeredis.FakeAsyncRedis(server=fake_server))
            return made["store"]

        async def fake_waiters() -> Waiters:
            if "waiters" not in made:
                made["waiters"] = Waiters(fakeredis.FakeAsyncRedis(server=fake_server))
                made["waiters"].start()
            return made["waiters"]

        app.dependency_overrides[get_store] = fake_store
        app.dependency_overrides[get_waiters] = fake_waiters
        return TestClient(app)

    return make


@pytest.fixture
def client(make_client: Callable[[Settings], TestClient], settings: Settings) -> TestClient:
    """The API in-process with default settings, its store on fakeredis."""
    with make_client(settings) as test_client:
        yield test_client

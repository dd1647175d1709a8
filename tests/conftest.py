"""Shared fixtures: a fakeredis-backed store and an in-process API client."""

from __future__ import annotations

from collections.abc import Callable

import fakeredis
import pytest
from fastapi.testclient import TestClient

from faas.api.app import create_app
from faas.api.deps import get_store
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
        stores: list[Store] = []

        def fake_store() -> Store:
            if not stores:  # created inside the app's event loop
                stores.append(Store(fakeredis.FakeAsyncRedis(server=fake_server)))
            return stores[0]

        app.dependency_overrides[get_store] = fake_store
        return TestClient(app)

    return make


@pytest.fixture
def client(make_client: Callable[[Settings], TestClient], settings: Settings) -> TestClient:
    """The API in-process with default settings, its store on fakeredis."""
    with make_client(settings) as test_client:
        yield test_client

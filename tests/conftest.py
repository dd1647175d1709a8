"""Shared fixtures: a fakeredis-backed store and an in-process API client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fakeredis
import pytest
from fastapi.testclient import TestClient

from faas.api.app import create_app
from faas.api.deps import get_archive, get_store, get_waiters
from faas.api.waiters import Waiters
from faas.archive import Archive
from faas.config import Settings
from faas.store import Store


@pytest.fixture(autouse=True, scope="session")
def _archive_in_a_temp_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Apps and stacks built by tests keep their archive out of the working tree."""
    path = tmp_path_factory.mktemp("archive") / "archive.sqlite3"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAAS_ARCHIVE_PATH", str(path))
        yield


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
    """Default settings (the archive in a temporary directory)."""
    return Settings()


@pytest.fixture
def make_client(
    fake_server: fakeredis.FakeServer, tmp_path: Path
) -> Callable[[Settings], TestClient]:
    """Build an in-process API client with the given settings, its store on fakeredis."""

    def make(settings: Settings) -> TestClient:
        app = create_app(settings)
        made: dict[str, Store | Waiters | Archive] = {}

        async def fake_store() -> Store:
            if "store" not in made:  # created inside the app's event loop
                made["store"] = Store(fakeredis.FakeAsyncRedis(server=fake_server))
            return made["store"]

        async def fake_waiters() -> Waiters:
            if "waiters" not in made:
                made["waiters"] = Waiters(fakeredis.FakeAsyncRedis(server=fake_server))
                made["waiters"].start()
            return made["waiters"]

        async def archive() -> Archive:
            if "archive" not in made:
                made["archive"] = Archive(tmp_path / "archive.sqlite3")
            return made["archive"]

        app.dependency_overrides[get_store] = fake_store
        app.dependency_overrides[get_waiters] = fake_waiters
        app.dependency_overrides[get_archive] = archive
        return TestClient(app)

    return make


@pytest.fixture
def client(make_client: Callable[[Settings], TestClient], settings: Settings) -> TestClient:
    """The API in-process with default settings, its store on fakeredis."""
    with make_client(settings) as test_client:
        yield test_client

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


#: Unit tests that take more than a few seconds each (measured with --durations): the model
#: test's searches, the simulator's saturated runs, those that render reports or run the
#: harness in a subprocess.
SLOW_UNIT_TESTS = (
    "tests/dispatcher/test_model.py",
    "tests/sim/test_speed.py::test_the_fit_makes_the_model_give_back_its_calibration_runs",
    "tests/sim/test_model.py::test_a_saturated_machine_pays_the_64_client_cpu_at_64_clients",
    "tests/sim/test_model.py::test_the_shared_machine_saturates_at_its_cores_over_the_cpu_per_task",
    "tests/sim/test_model.py::test_a_burst_answers_every_task_once_and_polling_costs_api_cpu",
    "tests/sim/test_simulate.py::test_repredict",
    "tests/test_compare.py::test_the_report_lists_regressions_and_the_cli_refuses_with_a_message",
    "tests/test_reference_run.py",
)


#: The longest modules (minutes each, mostly one fixture), started first so that both of
#: pytest-xdist's workers finish together (longest first).
LONGEST_FIRST = (
    "tests/integration/test_sweep.py",
    "tests/integration/test_simulate.py",
    "tests/integration/test_journey.py",
    "tests/integration/test_chaos.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``slow``: every integration test (real processes, seconds each) and the slow unit
    tests above; ``nox -s tests -- -m "not slow"`` is the quick subset. The longest modules
    run first."""
    for item in items:
        if item.nodeid.startswith(("tests/integration/", *SLOW_UNIT_TESTS)):
            item.add_marker(pytest.mark.slow)
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))

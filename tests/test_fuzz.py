"""Fuzzing the API: schemathesis against its own OpenAPI schema, and hypothesis-made
payloads. Whatever arrives, the answer is never a 5xx, and a refused request stores nothing."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

import fakeredis
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faas.api.app import create_app
from faas.api.deps import get_archive, get_store, get_waiters
from faas.api.waiters import Waiters
from faas.archive import Archive
from faas.config import Settings
from faas.serialize import serialize
from faas.store import Store
from tests.functions import add

SERVER = fakeredis.FakeServer()


def _app():
    archive_path = Path(tempfile.mkdtemp(prefix="faas-fuzz-")) / "archive.sqlite3"
    app = create_app(
        Settings(max_wait_s=0.05, max_body_bytes=256 * 1024, archive_path=str(archive_path))
    )
    archive = Archive(":memory:")

    async def store() -> Store:  # fresh per request: each call may run in its own loop
        return Store(fakeredis.FakeAsyncRedis(server=SERVER))

    async def waiters() -> Waiters:
        return Waiters(fakeredis.FakeAsyncRedis(server=SERVER))

    async def the_archive() -> Archive:
        return archive

    app.dependency_overrides.update(
        {get_store: store, get_waiters: waiters, get_archive: the_archive}
    )
    return app


APP = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


@schema.parametrize()
@FUZZ
def test_schema_fuzz_finds_no_server_error(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, (case.path, case.body, response.text)


def _stored_keys() -> int:
    return len(fakeredis.FakeRedis(server=SERVER).keys("faas:task:*"))


@FUZZ
@given(blob=st.binary(max_size=300), text=st.text(max_size=100))
def test_random_payloads_get_a_4xx_and_store_nothing(blob: bytes, text: str) -> None:
    client = TestClient(APP)
    function_id = client.post(
        "/register_function", json={"name": "add", "payload": serialize(add)}
    ).json()["function_id"]
    for payload in (base64.b64encode(blob).decode(), text, base64.b64encode(blob).decode()[:-1]):
        before = _stored_keys()
        for path, body in (
            ("/register_function", {"name": "f", "payload": payload}),
            ("/execute_function", {"function_id": function_id, "payload": payload}),
        ):
            reply = client.post(path, json=body)
            assert reply.status_code in (200, 400, 422), reply.text
            if reply.status_code != 200:
                assert isinstance(reply.json()["detail"], str)
                assert _stored_keys() == before

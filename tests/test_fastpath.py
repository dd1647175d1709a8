"""The fast path of ``POST /execute_function`` and ``GET /result/{id}`` (faas/api/fastpath.py):
it is taken for well-formed requests, answers exactly what the FastAPI route answers, and
hands everything else to FastAPI."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

import faas.api.fastpath as fastpath
from faas.api.app import create_app
from faas.api.deps import get_store
from faas.config import Settings
from faas.store import Store
from tests.fakes import ExhaustedStore
from tests.functions import add, args_of, payload_of

#: A content type FastAPI reads as JSON but the fast path leaves to FastAPI.
FULL_PATH = {"content-type": "application/json; charset=utf-8"}


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The route functions the fast path called, by name."""
    calls: list[str] = []
    for name in ("execute_function", "result"):
        original = getattr(fastpath, name)

        def spy(*args: object, _original=original, _name=name, **kwargs: object):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(fastpath, name, spy)
    return calls


def _register(client: TestClient) -> str:
    reply = client.post("/register_function", json={"name": "add", "payload": payload_of(add)})
    return reply.json()["function_id"]


def _post(client: TestClient, body: dict, full: bool, **headers: str):
    import json

    headers = {**(FULL_PATH if full else {"content-type": "application/json"}), **headers}
    return client.post("/execute_function", content=json.dumps(body), headers=headers)


def test_submit_takes_the_fast_path_and_stores_what_the_full_path_stores(
    client: TestClient, fast_calls: list[str]
) -> None:
    body = {"function_id": _register(client), "payload": args_of(1, b=2), "timeout": 2.5}
    fast, full = _post(client, body, full=False), _post(client, body, full=True)
    assert fast_calls == ["execute_function"]  # the second went through FastAPI
    assert fast.status_code == full.status_code == 200
    assert fast.headers["content-type"] == full.headers["content-type"] == "application/json"
    assert fast.json().keys() == full.json().keys() == {"task_id"}
    store: Store = client.portal.call(client.app.dependency_overrides[get_store])
    records = []
    for reply in (fast, full):
        record = client.portal.call(store.redis.hgetall, f"faas:task:{reply.json()['task_id']}")
        records.append({k: v for k, v in record.items() if k not in (b"submitted", b"entry")})
    assert records[0] == records[1]
    assert records[0][b"status"] == b"QUEUED"


def test_result_answers_the_same_bytes_on_both_paths(
    client: TestClient, fast_calls: list[str]
) -> None:
    body = {"function_id": _register(client), "payload": args_of(1, b=2)}
    task_id = _post(client, body, full=False).json()["task_id"]
    fast = client.get(f"/result/{task_id}")
    full = client.get(f"/result/{task_id.upper()}")  # not canonical: FastAPI's to parse
    assert fast_calls == ["execute_function", "result"]
    assert fast.status_code == full.status_code == 200
    assert fast.content == full.content
    assert fast.json() == {"task_id": task_id, "status": "QUEUED", "result": None}
    assert fast.headers["content-length"] == full.headers["content-length"]


def test_result_long_polls_on_the_fast_path(client: TestClient, fast_calls: list[str]) -> None:
    task_id = _post(client, {"function_id": _register(client), "payload": args_of(1, b=2)}, False)
    started = time.monotonic()
    reply = client.get(f"/result/{task_id.json()['task_id']}?wait=0.3")
    assert reply.json()["status"] == "QUEUED"
    assert time.monotonic() - started >= 0.3
    assert fast_calls.count("result") == 1


@pytest.mark.parametrize("query", ["wait=-1", "wait=abc", "wait=1&x=2", "wait="])
def test_result_queries_the_fast_path_does_not_read_go_to_fastapi(
    client: TestClient, fast_calls: list[str], query: str
) -> None:
    reply = client.get(f"/result/{uuid.uuid4()}?{query}")
    assert "result" not in fast_calls
    assert reply.status_code in (404, 422), reply.text  # 404: FastAPI read it as unknown task
    if query in ("wait=-1", "wait=abc"):
        assert reply.status_code == 422


def _error_cases(function_id: str) -> dict[str, dict]:
    return {
        "unknown function": {"function_id": str(uuid.uuid4()), "payload": args_of(1)},
        "not base64": {"function_id": function_id, "payload": "%%% not base64"},
        "not a pickle": {
            "function_id": function_id,
            "payload": base64.b64encode(b"no pickle").decode(),
        },
        "not (args, kwargs)": {
            "function_id": function_id,
            "payload": base64.b64encode(b"\x80\x04K\x01.").decode(),
        },
        "bad function id": {"function_id": "nope", "payload": args_of(1)},
        "negative timeout": {"function_id": function_id, "payload": args_of(1), "timeout": -1},
        "missing payload": {"function_id": function_id},
    }


def test_submit_errors_are_the_same_on_both_paths(client: TestClient) -> None:
    for case, body in _error_cases(_register(client)).items():
        fast, full = _post(client, body, full=False), _post(client, body, full=True)
        assert fast.status_code == full.status_code, case
        assert fast.status_code in (400, 404, 422), case
        assert fast.json() == full.json(), case


def test_unknown_task_is_the_same_404_on_both_paths(client: TestClient) -> None:
    task_id = str(uuid.uuid4())
    fast, full = client.get(f"/result/{task_id}"), client.get(f"/result/{task_id.upper()}")
    assert fast.status_code == full.status_code == 404
    assert fast.json() == full.json()


def test_api_keys_hold_on_the_fast_path(
    make_client: Callable[[Settings], TestClient], fast_calls: list[str]
) -> None:
    with make_client(Settings(api_keys="k1")) as client:
        good = {"authorization": "Bearer k1"}
        function_id = client.post(
            "/register_function", json={"name": "add", "payload": payload_of(add)}, headers=good
        ).json()["function_id"]
        body = {"function_id": function_id, "payload": args_of(1, b=2)}
        for headers in ({}, {"authorization": "Bearer k2"}, {"authorization": "Basic k1"}):
            assert _post(client, body, full=False, **headers).status_code == 401
        assert fast_calls == []
        task_id = _post(client, body, full=False, **good).json()["task_id"]
        assert client.get(f"/result/{task_id}").status_code == 401
        assert client.get(f"/result/{task_id}", headers=good).json()["status"] == "QUEUED"
        assert fast_calls == ["execute_function", "result"]


def test_a_declared_body_over_the_limit_is_413_before_the_fast_path(
    make_client: Callable[[Settings], TestClient], fast_calls: list[str]
) -> None:
    with make_client(Settings(max_body_bytes=200)) as client:
        body = {"function_id": str(uuid.uuid4()), "payload": "A" * 300}
        reply = _post(client, body, full=False)
    assert reply.status_code == 413
    assert fast_calls == []


def test_an_exhausted_redis_pool_on_the_fast_path_is_the_same_503() -> None:
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))
    app.dependency_overrides[get_store] = ExhaustedStore
    body = {"function_id": str(uuid.uuid4()), "payload": args_of(1)}
    with TestClient(app) as client:
        fast, full = _post(client, body, full=False), _post(client, body, full=True)
    assert fast.status_code == full.status_code == 503
    assert fast.json() == full.json()
    assert "overloaded" in fast.json()["detail"]

"""Every endpoint and error status, in-process on fakeredis."""

from __future__ import annotations

import base64
import uuid

import dill
import pytest
from fastapi.testclient import TestClient

from faas.api.app import create_app
from faas.api.deps import get_store, key_matches
from faas.config import Settings
from faas.serialize import deserialize, serialize
from tests.fakes import ExhaustedStore
from tests.functions import add, args_of, payload_of


def _register(client: TestClient, fn=add) -> str:
    reply = client.post("/register_function", json={"name": "add", "payload": payload_of(fn)})
    assert reply.status_code == 200, reply.text
    return reply.json()["function_id"]


def _execute(client: TestClient, function_id: str, payload: str) -> dict:
    return client.post(
        "/execute_function", json={"function_id": function_id, "payload": payload}
    ).json()


def test_register_answers_a_uuid(client: TestClient) -> None:
    assert uuid.UUID(_register(client))


def test_execute_then_status_and_result_are_queued(client: TestClient) -> None:
    task_id = _execute(client, _register(client), args_of(1, b=2))["task_id"]
    assert client.get(f"/status/{task_id}").json() == {"task_id": task_id, "status": "QUEUED"}
    assert client.get(f"/result/{task_id}").json() == {
        "task_id": task_id,
        "status": "QUEUED",
        "result": None,
    }


def test_codecs_style_payload_with_line_breaks_is_accepted(client: TestClient) -> None:
    import codecs

    text = codecs.encode(dill.dumps(((list(range(300)),), {})), "base64").decode()
    assert "\n" in text
    reply = client.post(
        "/execute_function", json={"function_id": _register(client), "payload": text}
    )
    assert reply.status_code == 200


@pytest.mark.parametrize(
    "payload, detail",
    [
        ("%%% not base64", "not valid base64"),
        (base64.b64encode(b"valid base64, no pickle").decode(), "not a valid pickle"),
        (serialize(42), "not a callable"),
        (serialize(add)[:-8], "pickle"),
    ],
)
def test_bad_function_payload_is_400_and_stores_nothing(
    client: TestClient, payload: str, detail: str
) -> None:
    reply = client.post("/register_function", json={"name": "f", "payload": payload})
    assert reply.status_code == 400
    assert detail in reply.json()["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        "!!",
        base64.b64encode(b"\x80\x04garbage").decode(),
        serialize([1, 2]),
        serialize((1, 2)),
    ],
)
def test_bad_arguments_payload_is_400_and_queues_nothing(client: TestClient, payload) -> None:
    function_id = _register(client)
    reply = client.post("/execute_function", json={"function_id": function_id, "payload": payload})
    assert reply.status_code == 400
    assert isinstance(reply.json()["detail"], str)


def test_unknown_function_is_404(client: TestClient) -> None:
    reply = client.post(
        "/execute_function", json={"function_id": str(uuid.uuid4()), "payload": args_of()}
    )
    assert reply.status_code == 404
    assert "Function not found" in reply.json()["detail"]


@pytest.mark.parametrize("endpoint", ["status", "result"])
def test_unknown_task_is_404(client: TestClient, endpoint: str) -> None:
    reply = client.get(f"/{endpoint}/{uuid.uuid4()}")
    assert reply.status_code == 404
    assert reply.json()["detail"].startswith("Task not found")


@pytest.mark.parametrize("endpoint", ["status", "result"])
def test_malformed_task_id_is_422(client: TestClient, endpoint: str) -> None:
    reply = client.get(f"/{endpoint}/not-a-uuid")
    assert reply.status_code == 422
    assert "task_id" in reply.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "f"},
        {"payload": "x"},
        {"name": "", "payload": "x"},
        {"name": 5, "payload": 6},
    ],
)
def test_malformed_register_body_is_422_with_text_detail(client: TestClient, body) -> None:
    reply = client.post("/register_function", json=body)
    assert reply.status_code == 422
    assert isinstance(reply.json()["detail"], str)


def test_not_json_body_is_422(client: TestClient) -> None:
    reply = client.post(
        "/register_function", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 422


def test_execute_with_malformed_function_id_is_422(client: TestClient) -> None:
    reply = client.post("/execute_function", json={"function_id": "abc", "payload": args_of()})
    assert reply.status_code == 422
    assert "function_id" in reply.json()["detail"]


def test_overlong_name_is_refused(client: TestClient) -> None:
    reply = client.post("/register_function", json={"name": "x" * 201, "payload": payload_of(add)})
    assert reply.status_code == 422
    assert "200 characters" in reply.json()["detail"]


def test_body_over_limit_is_413_and_stores_nothing(make_client, fake_server) -> None:
    with make_client(Settings(max_body_bytes=1000)) as client:
        reply = client.post(
            "/register_function", json={"name": "f", "payload": serialize(list(range(2000)))}
        )
        assert reply.status_code == 413
        assert "larger than 1000 bytes" in reply.json()["detail"]
        assert not fake_server.dbs[0]  # nothing written


def test_chunked_body_over_limit_is_413(make_client) -> None:
    def chunks():
        yield b'{"name": "f", "payload": "'
        for _ in range(10):
            yield b"A" * 200
        yield b'"}'

    with make_client(Settings(max_body_bytes=1000)) as client:
        reply = client.post(
            "/register_function", content=chunks(), headers={"content-type": "application/json"}
        )
        assert reply.status_code == 413


def test_api_keys_guard_every_endpoint_but_health(make_client) -> None:
    with make_client(Settings(api_keys="k1, k2")) as client:
        body = {"name": "f", "payload": payload_of(add)}
        missing = client.post("/register_function", json=body)
        assert missing.status_code == 401 and "Missing API key" in missing.json()["detail"]
        wrong = client.post(
            "/register_function", json=body, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401 and wrong.json()["detail"] == "Invalid API key"
        right = client.post("/register_function", json=body, headers={"Authorization": "Bearer k2"})
        assert right.status_code == 200
        assert client.get(f"/status/{uuid.uuid4()}").status_code == 401
        assert client.get("/health").status_code == 200


def test_api_keys_file(make_client, tmp_path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("# team keys\nalpha\n\nbeta  # ci\n")
    with make_client(Settings(api_keys_file=str(keys))) as client:
        for key, status in (("alpha", 404), ("beta", 404), ("gamma", 401), ("# team keys", 401)):
            reply = client.get(
                f"/status/{uuid.uuid4()}", headers={"Authorization": f"Bearer {key}"}
            )
            assert reply.status_code == status, key


def test_key_comparison_uses_hmac_compare_digest(monkeypatch) -> None:
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    assert key_matches("b", frozenset({"a", "b"}))
    assert len(calls) == 2  # every key compared: no early exit on a match


def test_health_reports_no_dispatcher(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "redis": True, "dispatcher": None}


def test_redis_unreachable_is_503() -> None:
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))
    with TestClient(app) as client:
        for reply in (client.get("/health"), client.get(f"/status/{uuid.uuid4()}")):
            assert reply.status_code == 503
            assert "Redis is unreachable" in reply.json()["detail"]


def test_failed_result_deserializes_to_the_exception(client: TestClient) -> None:
    """The API hands a stored exception back as the client's base64 text."""
    from faas.models import TaskStatus
    from faas.store import Outcome

    task_id = _execute(client, _register(client), args_of(1))["task_id"]
    store = client.portal.call(client.app.dependency_overrides[get_store])
    error = dill.dumps(ZeroDivisionError("division by zero"))

    async def finish() -> None:
        await store.ensure_group()
        [task] = await store.read_queue("d", 10, 10)
        await store.write_batch([Outcome(task_id, task.entry_id, TaskStatus.FAILED, error)])

    client.portal.call(finish)  # in the app's loop, where the fake store lives
    reply = client.get(f"/result/{task_id}").json()
    assert reply["status"] == "FAILED"
    exc = deserialize(reply["result"])
    assert isinstance(exc, ZeroDivisionError) and str(exc) == "division by zero"


def test_an_exhausted_redis_pool_is_503_saying_the_api_is_overloaded() -> None:
    """Every Redis connection stayed busy past the wait: overload, not an unreachable Redis."""
    from faas.api.app import REDIS_CONNECTIONS

    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))
    app.dependency_overrides[get_store] = ExhaustedStore
    with TestClient(app) as client:
        reply = client.get(f"/status/{uuid.uuid4()}")
    assert reply.status_code == 503
    assert reply.json()["detail"] == (
        f"the API is overloaded: all its {REDIS_CONNECTIONS} Redis connections stayed busy "
        "for 5 s; retry later"
    )

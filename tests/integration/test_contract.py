"""The REST contract over real HTTP, against a real stack."""

from __future__ import annotations

import base64
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from faas.serialize import serialize
from faas.stack import Stack
from tests import functions
from tests.helpers import Client

pytestmark = pytest.mark.integration


def test_register_execute_result_round_trip(client: Client) -> None:
    task_id = client.submit(client.register(functions.add), 2, 3)
    assert client.value(task_id) == ("COMPLETED", 5)
    assert client.http.get(f"/status/{task_id}").json() == {
        "task_id": task_id,
        "status": "COMPLETED",
    }


def test_function_without_arguments(client: Client) -> None:
    assert client.value(client.submit(client.register(functions.no_args))) == ("COMPLETED", "hello")


def test_keyword_arguments(client: Client) -> None:
    task_id = client.submit(client.register(functions.add), 1, b=41)
    assert client.value(task_id) == ("COMPLETED", 42)


def test_raising_function_fails_with_its_exception(client: Client) -> None:
    task_id = client.submit(client.register(functions.raise_value_error), "bad input 7")
    status, exc = client.value(task_id)
    assert status == "FAILED"
    assert type(exc) is ValueError and str(exc) == "bad input 7"
    assert any("Remote traceback" in note for note in exc.__notes__)


def test_ten_concurrent_executions(client: Client) -> None:
    function_id = client.register(functions.add)
    with ThreadPoolExecutor(10) as pool:
        task_ids = list(pool.map(lambda i: client.submit(function_id, i, b=i), range(10)))
        values = list(pool.map(client.value, task_ids))
    assert values == [("COMPLETED", 2 * i) for i in range(10)]


def test_hundred_thousand_element_list_argument(client: Client) -> None:
    task_id = client.submit(client.register(functions.total), list(range(100_000)))
    assert client.value(task_id) == ("COMPLETED", sum(range(100_000)))


def test_unknown_function_is_404(client: Client) -> None:
    reply = client.http.post(
        "/execute_function", json={"function_id": str(uuid.uuid4()), "payload": serialize(((), {}))}
    )
    assert reply.status_code == 404
    assert "Function not found" in reply.json()["detail"]


@pytest.mark.parametrize("endpoint", ["status", "result"])
def test_unknown_task_is_404(client: Client, endpoint: str) -> None:
    reply = client.http.get(f"/{endpoint}/{uuid.uuid4()}")
    assert reply.status_code == 404
    assert "Task not found" in reply.json()["detail"]


def test_invalid_payloads_are_400(client: Client) -> None:
    function_id = client.register(functions.add)
    for payload in ("%%%", base64.b64encode(b"plain text").decode(), serialize(3)):
        reply = client.http.post(
            "/execute_function", json={"function_id": function_id, "payload": payload}
        )
        assert reply.status_code == 400, payload
        assert reply.json()["detail"]
    reply = client.http.post("/register_function", json={"name": "x", "payload": "%%%"})
    assert reply.status_code == 400


def test_non_callable_object_fails_with_type_error(client: Client) -> None:
    """A pickled object that is not callable can only be found out by running it."""
    import fractions

    reply = client.http.post(
        "/register_function",
        json={"name": "not callable", "payload": serialize(fractions.Fraction(1, 3))},
    )
    assert reply.status_code == 200
    task_id = client.submit(reply.json()["function_id"])
    status, exc = client.value(task_id)
    assert status == "FAILED" and isinstance(exc, TypeError)
    assert "not callable" in str(exc)


def test_health_reports_the_dispatcher(stack: Stack, client: Client) -> None:
    health = client.http.get("/health").json()
    assert health["status"] == "ok" and health["redis"] is True
    assert health["dispatcher"]["mode"] == stack.mode
    assert health["dispatcher"]["processes"] == stack.expected_processes

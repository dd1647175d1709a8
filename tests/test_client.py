"""The SDK's result collector, against a scripted HTTP transport (no server)."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from faas.client import Executor, FaaSClient
from faas.exceptions import APIError


def scripted(results_status: int, calls: list[str]) -> FaaSClient:
    """A client whose API registers and submits fine, and answers ``/results`` with
    ``results_status``."""

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/register_function":
            return httpx.Response(200, json={"function_id": str(uuid.uuid4())})
        if request.url.path == "/execute_function":
            return httpx.Response(200, json={"task_id": str(uuid.uuid4())})
        if request.url.path == "/results":
            if results_status == 200:
                ids = json.loads(request.content)["task_ids"]
                return httpx.Response(
                    200,
                    json={
                        "results": [{"task_id": i, "status": "QUEUED", "result": None} for i in ids]
                    },
                )
            return httpx.Response(results_status, json={"detail": "no such thing"})
        return httpx.Response(404, json={"detail": "Not Found"})

    client = FaaSClient("http://faas.test")
    client.http = httpx.Client(base_url="http://faas.test", transport=httpx.MockTransport(handler))
    return client


@pytest.mark.parametrize("status", [401, 404, 422])
def test_a_refusal_fails_the_futures_instead_of_retrying_forever(status: int) -> None:
    calls: list[str] = []
    with Executor(scripted(status, calls), poll_wait_s=0.01) as ex:
        future = ex.submit(pow, 2, 3)
        with pytest.raises(APIError, match=str(status)) as refused:
            future.result(timeout=5)
    assert refused.value.status_code == status
    assert calls.count("/results") == 1  # asked once, not again and again


@pytest.mark.parametrize(
    "status, retryable",
    [(500, True), (503, True), (429, True), (408, True), (400, False), (401, False)],
)
def test_which_refusals_are_worth_retrying(status: int, retryable: bool) -> None:
    assert APIError("x", status).retryable is retryable


def test_the_collector_settles_every_future_in_few_calls_with_values_and_errors() -> None:
    """map over 200 calls: one registration, one batch submit, and the collector settles
    every future (values in order; the FAILED last one raises its own exception) in a handful
    of /results calls, each answering only what has ended so far."""
    import base64

    import dill

    calls: list[str] = []
    polls = [0]
    value = {}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        body = json.loads(request.content or b"{}")
        if request.url.path == "/register_function":
            return httpx.Response(200, json={"function_id": str(uuid.uuid4())})
        if request.url.path == "/execute_function_batch":
            ids = [str(uuid.uuid4()) for _ in body["payloads"]]
            for task_id, payload in zip(ids, body["payloads"], strict=True):
                (x,), _ = dill.loads(base64.b64decode(payload))
                value[task_id] = x
            return httpx.Response(200, json={"task_ids": ids})
        polls[0] += 1  # /results: the first poll sees only even inputs ended
        out = []
        for task_id in body["task_ids"]:
            x = value[task_id]
            if polls[0] == 1 and x % 2:
                out.append({"task_id": task_id, "status": "RUNNING", "result": None})
                continue
            failed = x == 199
            result = ValueError("last") if failed else x * x
            status = "FAILED" if failed else "COMPLETED"
            encoded = base64.b64encode(dill.dumps(result)).decode()
            out.append({"task_id": task_id, "status": status, "result": encoded})
        return httpx.Response(200, json={"results": out})

    client = FaaSClient("http://faas.test")
    client.http = httpx.Client(base_url="http://faas.test", transport=httpx.MockTransport(handler))
    with Executor(client, poll_wait_s=0.01) as ex:
        results = ex.map(abs, range(200))
        got = [next(results) for _ in range(199)]
        with pytest.raises(ValueError, match="last"):  # the task's own exception
            next(results)
    assert got == [x * x for x in range(199)]
    assert calls.count("/register_function") == 1
    assert calls.count("/execute_function_batch") == 1
    assert 2 <= calls.count("/results") <= 4

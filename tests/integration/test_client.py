"""The Python SDK and the user commands against a real stack."""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faas.client import Executor, FaaSClient
from faas.stack import Stack
from tests import functions

# the shared module-scoped stack fixture (tests/integration/conftest.py), in push mode only
pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["push"], indirect=True)]


@pytest.fixture
def sdk(stack: Stack) -> Iterator[FaaSClient]:
    client = FaaSClient(stack.url)
    yield client
    client.close()


def test_register_submit_result(sdk: FaaSClient) -> None:
    task_id = sdk.submit(sdk.register(functions.add), 20, b=22)
    assert sdk.result(task_id, timeout=10) == 42
    assert sdk.status(task_id) == "COMPLETED"


def test_call_returns_the_value_in_one_request(sdk: FaaSClient) -> None:
    function_id = sdk.register(functions.add)
    calls = sdk.calls
    assert sdk.call(function_id, 2, b=3) == 5
    assert sdk.calls == calls + 1
    with pytest.raises(ZeroDivisionError):
        sdk.call(sdk.register(functions.div_by_zero), 1)


def test_exceptions_are_raised_with_their_type_and_message(sdk: FaaSClient) -> None:
    task_id = sdk.submit(sdk.register(functions.raise_value_error), "no good 3")
    with pytest.raises(ValueError, match="no good 3"):
        sdk.result(task_id, timeout=10)


def test_result_timeout_raises_timeout_error(sdk: FaaSClient) -> None:
    task_id = sdk.submit(sdk.register(functions.sleep_for), 3)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="still"):
        sdk.result(task_id, timeout=0.5)
    assert time.monotonic() - started < 2


def test_long_poll_answers_within_a_few_ms_of_completion(stack: Stack, sdk: FaaSClient) -> None:
    import redis

    task_id = sdk.submit(sdk.register(functions.sleep_for), 0.3)
    reply = sdk.http.get(f"/result/{task_id}", params={"wait": 10}).json()
    answered = time.time()
    assert reply["status"] == "COMPLETED"
    stored = float(redis.Redis.from_url(stack.redis_url).hget(f"faas:task:{task_id}", "stored"))
    assert 0 <= answered - stored < 0.05


def test_executor_map_of_1000_items_in_order_without_polling_each(stack: Stack) -> None:
    client = FaaSClient(stack.url)
    with Executor(client) as executor:
        results = list(executor.map(functions.add, range(1000), range(1000)))
        assert results == [2 * i for i in range(1000)]
        calls = client.calls
    assert calls < 100, f"{calls} API calls for 1000 futures"  # register + 1 batch + polls
    client.close()


def test_executor_submit_futures_and_exceptions(stack: Stack) -> None:
    client = FaaSClient(stack.url)
    started = time.monotonic()
    with Executor(client) as executor:
        ok = [executor.submit(functions.add, i, b=1) for i in range(20)]
        bad = executor.submit(functions.div_by_zero, 1)
        assert [f.result(10) for f in ok] == list(range(1, 21))
        assert isinstance(bad.exception(10), ZeroDivisionError)
        # one submit each, one register each; a long-poll of /results returns once some
        # future settles or after poll_wait_s, so never more polls than futures + timeouts
        # (polling each future, or short polling, would make many more)
        waits = math.ceil((time.monotonic() - started) / executor.poll_wait_s)
        assert client.calls <= 21 + 2 + 21 + waits
    client.close()


def test_function_from_an_importable_module_travels_by_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sdk: FaaSClient
) -> None:
    (tmp_path / "usermod_faas_test.py").write_text(
        textwrap.dedent("""
        FACTOR = 7

        def helper(x):
            return x * FACTOR

        def entry(x):
            return helper(x) + 1
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("usermod_faas_test")
    task_id = sdk.submit(sdk.register(module.entry), 6)
    assert sdk.result(task_id, timeout=10) == 43  # workers cannot import usermod_faas_test


def _faas(stack: Stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "faas", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FAAS_URL": stack.url},
    )


def test_user_commands(stack: Stack, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        "def scale(x, by=2):\n    return x * by\n\ndef boom():\n    raise KeyError('missing')\n"
    )
    register = _faas(stack, "register", f"{script}:scale")
    assert register.returncode == 0, register.stderr
    function_id = register.stdout.strip()
    run = _faas(stack, "run", function_id, "21", "by=3")
    assert (run.returncode, run.stdout) == (0, "63\n")
    assert "HTTP Request" not in register.stderr + run.stderr  # the answer, not the log
    verbose = _faas(stack, "--log-level", "DEBUG", "status", function_id)
    assert "HTTP Request" in verbose.stderr
    task_id = _faas(stack, "run", function_id, "[1]", "--no-wait").stdout.strip()
    assert _faas(stack, "result", task_id).stdout == "[1, 1]\n"
    assert _faas(stack, "status", task_id).stdout == "COMPLETED\n"
    boom_id = _faas(stack, "register", f"{script}:boom").stdout.strip()
    boom = _faas(stack, "run", boom_id)
    assert boom.returncode == 1 and "KeyError" in boom.stderr
    assert "Remote traceback" not in boom.stderr
    traced = _faas(stack, "run", boom_id, "-v")
    assert traced.returncode == 1 and "Remote traceback" in traced.stderr
    assert "line 5, in boom" in traced.stderr
    workers = _faas(stack, "workers")
    assert workers.returncode == 0 and "processes=2" in workers.stdout
    missing = _faas(stack, "status", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 3 and "Task not found" in missing.stderr

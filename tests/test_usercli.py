"""faas/usercli.py: the user commands against the in-process API (no dispatcher)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faas import usercli
from faas.client import FaaSClient
from faas.config import Settings
from faas.usercli import load_function, parse_call, run_user_command


@pytest.fixture
def cli(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """User commands talk to the in-process app (TestClient is an httpx.Client)."""

    def connect(url: str, api_key: str | None = None) -> FaaSClient:
        made = FaaSClient.__new__(FaaSClient)
        made.http, made.calls = client, 0
        made.close = lambda: None  # the app's client outlives each command
        return made

    monkeypatch.setattr(usercli, "FaaSClient", connect)


def _run(command: str, **fields: object) -> int:
    return run_user_command(argparse.Namespace(command=command, **fields), Settings())


def test_parse_call_reads_literals_and_keywords() -> None:
    assert parse_call(["3", "'a'", "[1, 2]", "x=4", "name=bob", "text"]) == (
        (3, "a", [1, 2], "text"),
        {"x": 4, "name": "bob"},
    )
    assert parse_call(["1=2", "x y=3"]) == (("1=2", "x y=3"), {})  # no identifier: positional
    assert parse_call([]) == ((), {})


def test_load_function_errors_name_the_problem(tmp_path: Path) -> None:
    module = tmp_path / "mod.py"
    module.write_text("def double(x):\n    return 2 * x\n\nvalue = 3\n")
    assert load_function(f"{module}:double")(21) == 42
    for target, message in [
        ("no-colon", "expected FILE:FUNCTION"),
        (f"{module}:value", "has no function 'value'"),
        (f"{module}:missing", "has no function 'missing'"),
    ]:
        with pytest.raises(SystemExit, match=message):
            load_function(target)


def test_register_run_no_wait_and_status_print_plain_answers(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    module = tmp_path / "mod.py"
    module.write_text("def double(x):\n    return 2 * x\n")
    assert _run("register", target=f"{module}:double") == 0
    function_id = capsys.readouterr().out.strip()
    assert len(function_id) == 36
    assert _run("run", function_id=function_id, args=["21"], no_wait=True) == 0
    task_id = capsys.readouterr().out.strip()
    assert len(task_id) == 36
    assert _run("status", task_id=task_id) == 0
    assert capsys.readouterr().out == "QUEUED\n"
    assert _run("workers") == 0 and capsys.readouterr().out == ""


def test_an_unknown_task_exits_1_with_the_apis_detail(
    cli: None, capsys: pytest.CaptureFixture
) -> None:
    assert _run("status", task_id="00000000-0000-0000-0000-000000000000") == 1
    err = capsys.readouterr().err
    assert "404" in err and "Task not found" in err

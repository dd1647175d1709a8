"""faas/usercli.py: the user commands against the in-process API (no dispatcher)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faas import usercli
from faas.client import FaaSClient
from faas.config import Settings
from faas.usercli import UsageError, load_function, parse_call, run_user_command


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
    assert parse_call(["3", "'a'", "[1, 2]", "x=4", "name='bob'", "None"]) == (
        (3, "a", [1, 2], None),
        {"x": 4, "name": "bob"},
    )
    assert parse_call(["'1=2'"]) == (("1=2",), {})
    assert parse_call([]) == ((), {})


@pytest.mark.parametrize("word", ["text", "x=bob", "[1,", "1=2"])
def test_an_argument_that_is_not_a_literal_is_refused_not_turned_into_a_string(word: str) -> None:
    """A bare word used to become a string silently (a typo in a number too)."""
    with pytest.raises(UsageError, match="is not a Python literal"):
        parse_call([word])


def test_load_function_errors_name_the_problem(tmp_path: Path) -> None:
    module = tmp_path / "mod.py"
    module.write_text("def double(x):\n    return 2 * x\n\nvalue = 3\n")
    assert load_function(f"{module}:double")(21) == 42
    for target, message in [
        ("no-colon", "expected FILE:FUNCTION"),
        (f"{tmp_path}/nofile.py:f", "no such file: .*nofile.py"),
        (f"{module}:value", "'value' is a int, not a function"),
        (f"{module}:missing", "has no 'missing'"),
    ]:
        with pytest.raises(UsageError, match=message):
            load_function(target)


@pytest.mark.parametrize(
    ("command", "fields", "code", "message"),
    [
        ("register", {"target": "nofile.py:f", "name": None}, 2, "faas register: no such file"),
        ("run", {"function_id": "f", "args": ["oops"], "no_wait": True}, 2, "not a Python literal"),
    ],
)
def test_command_line_mistakes_exit_2_with_one_line(
    command: str, fields: dict, code: int, message: str, capsys: pytest.CaptureFixture
) -> None:
    fields.setdefault("task_timeout", None)
    assert _run(command, **fields) == code
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_an_unreachable_api_exits_3_with_one_line(capsys: pytest.CaptureFixture) -> None:
    """It used to end in a 67-line httpx traceback."""
    settings = Settings(url="http://127.0.0.1:9")  # discard port: nothing listens
    args = argparse.Namespace(command="status", task_id="00000000-0000-0000-0000-000000000000")
    assert run_user_command(args, settings) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("faas: cannot reach the API at http://127.0.0.1:9")


def test_register_run_no_wait_and_status_print_plain_answers(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    module = tmp_path / "mod.py"
    module.write_text("def double(x):\n    return 2 * x\n")
    assert _run("register", target=f"{module}:double", name="twice") == 0
    function_id = capsys.readouterr().out.strip()
    assert len(function_id) == 36
    run = {"args": ["21"], "no_wait": True, "task_timeout": 5.0}
    assert _run("run", function_id=function_id, **run) == 0
    task_id = capsys.readouterr().out.strip()
    assert len(task_id) == 36
    assert _run("status", task_id=task_id) == 0
    assert capsys.readouterr().out == "QUEUED\n"
    assert _run("workers") == 0 and capsys.readouterr().out == ""


def test_an_unknown_task_exits_3_with_the_apis_detail(
    cli: None, capsys: pytest.CaptureFixture
) -> None:
    assert _run("status", task_id="00000000-0000-0000-0000-000000000000") == 3
    err = capsys.readouterr().err
    assert "404" in err and "Task not found" in err

"""A user's first hour, as the README walks it, on real processes: ``faas up``, the SDK's
five lines and the HTTP example (the README's own code blocks, run as written but for the
port), the CLI commands, a spec of the user's own with the user's own function, ``compare``
on two runs, ``simulate predict``, Locust headless, and shutdown leaving no process.

Smaller than the README where it must be: the spec is a scaled-down copy of the shipped
example (fewer tasks, shorter Poisson windows), its second run only one of its studies
(``--studies``), Locust runs 10 seconds."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from faas.redis_server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def _run(
    *args: str, cwd: Path = ROOT, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **env}
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    """``faas up --mode push --workers 2 --procs 2`` as the README starts it, on a free port."""
    port = free_port()
    log = tmp_path_factory.mktemp("up") / "up.log"
    with log.open("w") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "faas", "up", "--mode", "push", "--workers", "2",
             "--procs", "2", "--port", str(port), "--dispatcher-port", str(free_port())],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 90
    while "faas is up: " not in log.read_text():
        assert up.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    yield f"http://127.0.0.1:{port}", up
    if up.poll() is None:
        os.killpg(up.pid, signal.SIGKILL)


def test_the_readme_snippets_run_against_faas_up(stack: tuple) -> None:
    url, _ = stack
    sdk, http = (b for b in _blocks("python") if "127.0.0.1:8000" in b)
    for block, expected in ((sdk, "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n[1, 2, 3]\n"),
                            (http, "COMPLETED 42\n")):  # fmt: skip
        done = _run(sys.executable, "-c", block.replace("http://127.0.0.1:8000", url))
        assert done.returncode == 0, done.stderr
        assert done.stdout == expected


def test_the_cli_commands_of_the_readme(stack: tuple, tmp_path: Path) -> None:
    url, _ = stack
    (tmp_path / "my_functions.py").write_text("def square(x):\n    return x * x\n")
    faas = [sys.executable, "-m", "faas"]
    env = {"FAAS_URL": url}
    registered = _run(*faas, "register", "my_functions.py:square", cwd=tmp_path, **env)
    assert registered.returncode == 0, registered.stderr
    function_id = registered.stdout.strip()
    assert _run(*faas, "run", function_id, "12", **env).stdout == "144\n"
    task_id = _run(*faas, "run", function_id, "12", "--no-wait", **env).stdout.strip()
    assert _run(*faas, "result", task_id, "-v", **env).stdout == "144\n"
    assert _run(*faas, "status", task_id, **env).stdout == "COMPLETED\n"
    workers = _run(*faas, "workers", **env)
    assert workers.returncode == 0 and workers.stdout.count("\n") >= 2  # both workers listed
    unreachable = _run(*faas, "status", task_id, FAAS_URL="http://127.0.0.1:9")
    assert unreachable.returncode == 3 and unreachable.stderr.count("\n") == 1


def test_locust_headless_against_faas_up(stack: tuple, tmp_path: Path) -> None:
    url, _ = stack
    done = _run(
        sys.executable, "-m", "locust", "-f", "loadtests/", "--host", url, "--headless",
        "-u", "4", "-r", "4", "-t", "10s", "--csv", str(tmp_path / "l"), "--only-summary",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    stats = (tmp_path / "l_stats.csv").read_text()
    tasks = next(line for line in stats.splitlines() if line.startswith("TASK"))
    assert int(tasks.split(",")[2]) > 0  # end-to-end tasks were run and timed


def test_sigterm_to_faas_up_leaves_no_process(stack: tuple) -> None:
    _, up = stack
    family = [up.pid, *(c.pid for c in psutil.Process(up.pid).children(recursive=True))]
    assert len(family) >= 5  # redis, api, dispatcher, two workers (and their pools)
    up.send_signal(signal.SIGTERM)
    up.wait(60)
    deadline = time.monotonic() + 20
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in family):
        assert time.monotonic() < deadline, "processes left behind"
        time.sleep(0.2)


def _scaled_example(folder: Path, name: str) -> Path:
    """The shipped example spec, scaled down, beside a copy of its functions file."""
    specs = ROOT / "experiments" / "specs"
    text = (specs / "example.toml").read_text()
    text = text.replace("tasks = 200", "tasks = 24").replace("duration_s = 2", "duration_s = 0.4")
    text = text.replace("args = [200]", "args = [50]")
    (folder / "example_functions.py").write_text((specs / "example_functions.py").read_text())
    (folder / f"{name}.toml").write_text(text)
    return folder / f"{name}.toml"


def test_a_spec_of_ones_own_then_compare_then_simulate(tmp_path: Path) -> None:
    spec = _scaled_example(tmp_path, "mine")
    sweep = [sys.executable, "-m", "experiments.sweep", "--spec", str(spec)]
    a, b = tmp_path / "a", tmp_path / "b"
    done = _run(*sweep, "--out", str(a), timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith(f"report: {a / 'REPORT.md'}")
    report = (a / "REPORT.md").read_text()
    summary = report.split("## Summary")[1].split("## Method")[0]
    assert "| digest | 4 |" in summary and "| digest_open | 2 |" in summary
    for label in ("local 1x1, 4 clients", "push 1x2, 4 clients", "push 1x2, 150/s"):
        assert label in report
    assert (a / "studies.png").read_bytes()[:4] == b"\x89PNG"
    raw = report.split("## Raw data")[1]
    assert all((a / name).exists() for name in re.findall(r"^- `([^`]+)`", raw, re.M))
    done = _run(*sweep, "--studies", "digest_open", "--out", str(b), timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]

    compared = _run(sys.executable, "-m", "experiments.compare", str(a), str(b),
                    "--out", str(tmp_path / "ab"))  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    assert re.fullmatch(
        rf"comparison: {re.escape(str(tmp_path / 'ab' / 'COMPARE.md'))} \(2 configurations, "
        r"\d+ improved, \d+ regressed, 4 only in A, 0 only in B\)\n",
        compared.stdout,
    )
    assert (
        "Only in A (not compared): digest: local 1x1, 4 clients;"
        in (tmp_path / "ab" / "COMPARE.md").read_text()
    )

    lines = [line for block in _blocks("bash") for line in block.splitlines()]
    command = next(line for line in lines if "simulate predict" in line).split("#")[0].split()
    assert command[0] == "python"
    predicted = _run(sys.executable, *command[1:])
    prediction = json.loads(predicted.stdout)
    assert prediction["throughput_tps"] > 0 and prediction["p99_ms"] >= prediction["p50_ms"]

"""The simulate command as a user runs it, and the calibration file it reads."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.simulate.calibration import COMMITTED_CALIBRATION, Calibration
from tests.sim.test_model import CPU_MS, synthetic

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"throughput_tps", "p50_ms", "p99_ms", "makespan_s", "completed", "bottleneck"}


def simulate(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments.simulate", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


@pytest.fixture
def calibration_file(tmp_path: Path) -> Path:
    path = tmp_path / "calibration.json"
    synthetic(CPU_MS, residual_ms=0.5).save(path)
    return path


def test_a_calibration_file_round_trips(calibration_file: Path) -> None:
    loaded = Calibration.load(calibration_file)
    assert loaded.to_json() == synthetic(CPU_MS, residual_ms=0.5).to_json()
    assert loaded.mode("push").cpu_s["api_submit"] == pytest.approx(0.2e-3)


def test_a_calibration_is_expressed_at_its_reference_speed() -> None:
    """Runs the gauge found slower than the reference (the loaded runs') took longer than
    the model, running at the reference speed, would: their times and CPU are scaled by
    the speed they ran at, once."""
    calibration = synthetic(CPU_MS, residual_ms=0.5, heavy=0.8)
    calibration.gauge_exponent = 1.5
    push = calibration.mode("push")
    push.measured |= {
        "gauge_ms": 0.4,
        "load_clients": 16,
        "heavy_clients": 64,
        "runs": [[1, 300.0, 0.44], [1, 290.0, 0.46], [1, 310.0, 0.44], [16, 900.0, 0.4]]
        + [[64, 1000.0, 0.38]],
    }
    before = Calibration.from_json(json.loads(json.dumps(calibration.to_json())))
    calibration.to_reference_speed()
    one, heavy = (0.4 / 0.44) ** 1.5, (0.4 / 0.38) ** 1.5
    factors = push.measured["speed_factors"]
    assert factors == {"1": round(one, 4), "16": 1.0, "64": round(heavy, 4)}
    old = before.mode("push")
    assert push.steps_ms["hop"][50] == pytest.approx(factors["1"] * old.steps_ms["hop"][50])
    assert push.cpu_1_s["worker"] == pytest.approx(factors["1"] * old.cpu_1_s["worker"])
    assert push.cpu_s == old.cpu_s
    assert push.cpu_heavy_s["redis"] == pytest.approx(factors["64"] * old.cpu_heavy_s["redis"])
    # what is derived from them follows: the residuals of the faster one-client steps
    assert push.measured_residuals["hop"][50] < old.measured_residuals["hop"][50]
    # a mode without gauged runs is taken as measured at the reference speed
    assert calibration.mode("pull").measured["speed_factors"] == dict.fromkeys(factors, 1.0)
    assert calibration.mode("pull").steps_ms == before.mode("pull").steps_ms
    expressed = json.dumps(calibration.to_json())
    assert json.dumps(calibration.to_reference_speed().to_json()) == expressed  # once
    unfitted = Calibration.from_json(json.loads(json.dumps(before.to_json())))
    unfitted.gauge_exponent = None
    assert unfitted.to_reference_speed().to_json() == before.to_json() | {"gauge_exponent": None}


def test_a_calibration_missing_a_component_is_refused(calibration_file: Path) -> None:
    data = json.loads(calibration_file.read_text())
    del data["modes"]["pull"]["cpu_s"]["redis"]
    with pytest.raises(ValueError, match="redis"):
        Calibration.from_json(data)


def test_predict_prints_one_json_line(calibration_file: Path) -> None:
    args = ["--procs", "4", "--task-ms", "10", "--clients", "8", "--tasks", "400"]
    done = simulate(
        "predict", "--mode", "push", "--workers", "2", *args, "--calibration", str(calibration_file)
    )
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    answer = json.loads(line)
    assert set(answer) >= KEYS
    assert answer["completed"] == 400
    # 8 processes of 10 ms tasks, 8 clients: below 800 tasks/s, above half of it
    assert 400 < answer["throughput_tps"] < 800
    assert 10 < answer["p50_ms"] <= answer["p99_ms"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--mode", "local", "--workers", "7"], "--workers: local mode has one pool"),
        (["--mode", "push", "--hosts", "2"], "--hosts: in the shared regime"),
        (["--mode", "push", "--api-procs", "0"], "argument --api-procs: must be at least 1"),
        (["--mode", "push", "--api-procs", "-3"], "argument --api-procs: must be at least 1"),
        (["--mode", "push", "--task-ms", "nan"], "argument --task-ms: must be between"),
        (["--mode", "push", "--task-ms", "1e12"], "argument --task-ms: must be between"),
        (["--mode", "push", "--rate", "inf"], "argument --rate: must be at least 0"),
        (["--mode", "push", "--clients", "4", "--rate", "100"], "--clients: a closed loop"),
        (["--mode", "local", "--failures-per-min", "2"], "--failures-per-min: local mode"),
        (["--mode", "push", "--tasks", "600000"], "argument --tasks: must be between 1 and 500000"),
        (["--mode", "push", "--workers", "1000", "--procs", "1000"], "at most 100000 processes"),
        (["--mode", "bogus"], "invalid choice: 'bogus' (choose from 'local', 'pull', 'push')"),
    ],
)
def test_predict_refuses_what_it_cannot_answer_and_names_the_flag(
    flags: list[str], message: str
) -> None:
    """Flags used to be ignored silently (--hosts in the shared regime, --workers in local
    mode), or to hang (--task-ms 1e12) or crash (--api-procs -3)."""
    done = simulate("predict", *flags)
    assert done.returncode == 2 and done.stdout == ""
    assert message in done.stderr.strip().splitlines()[-1]


def test_predict_help_shows_defaults_and_units() -> None:
    done = simulate("predict", "--help")
    assert "task length, ms (default: 0.0)" in " ".join(done.stdout.split())
    assert "(default: 1000)" in done.stdout


def test_predict_without_a_calibration_uses_the_committed_one(tmp_path: Path) -> None:
    assert COMMITTED_CALIBRATION.exists()
    done = simulate("predict", "--mode", "pull", "--tasks", "200", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["completed"] == 200


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task-ms", "-1"], "must be between 0"),
        (["--clients", "0"], "at least 1"),
        (["--mode", "rocket"], "invalid choice"),
        (["--calibration", "/nonexistent/calibration.json"], "no calibration at"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(args: list[str], message: str) -> None:
    mode = [] if "--mode" in args else ["--mode", "push"]
    done = simulate("predict", *mode, *args)
    assert done.returncode != 0
    assert message in done.stderr
    assert done.stdout == ""


def test_predict_takes_the_benchmarks_loads(calibration_file: Path) -> None:
    """``--submitters`` (a burst, every task answered) and ``--poll-ms``: one client that
    polls every 5 ms sees a 2.5 ms task only at its second poll, 5–6 ms after the first."""
    cal = ["--calibration", str(calibration_file), "--regime", "dedicated", "--cpu-cv", "0"]
    done = simulate("predict", "--mode", "push", "--tasks", "600", "--submitters", "16", *cal)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["completed"] == 600
    answers = []
    for extra in ([], ["--poll-ms", "5"]):
        done = simulate("predict", "--mode", "push", "--tasks", "50", *extra, *cal)
        assert done.returncode == 0, done.stderr
        answers.append(json.loads(done.stdout))
    long_poll, polled = answers
    assert long_poll["p50_ms"] == pytest.approx(2.5, rel=1e-3)
    assert 5 + 2.5 - 0.5 < polled["p50_ms"] < 6 + 2.5 + 0.5


def test_repredict_remakes_the_validation_table_from_the_measured_runs(
    calibration_file: Path,
) -> None:
    """runs.csv (one row per measured run) and calibration.json are enough to predict the
    held-out configurations anew: medians, spreads, errors at the calibration's speed and
    at each run's, as `simulate validate` wrote them."""
    import pandas as pd

    from experiments.simulate.model import Config
    from experiments.simulate.validate import predict

    run_dir = calibration_file.parent
    config = {"mode": "push", "workers": 1, "procs": 2, "task_ms": 0.0, "clients": 4}
    runs = pd.DataFrame(
        [
            config
            | {"tasks": 300, "effective_cores": 2.0, "tries": tries, "speed": speed}
            | {"throughput_tps": tps, "p50_ms": p50, "p99_ms": 2 * p50, "makespan_s": 1.0}
            for tries, speed, tps, p50 in ((1, 1.0, 400.0, 9.0), (3, 0.5, 200.0, 20.0))
        ]
        + [
            config
            | {"clients": 8, "tasks": 300, "effective_cores": 1.9, "tries": 1, "speed": 1.0}
            | {"throughput_tps": 500.0, "p50_ms": 15.0, "p99_ms": 30.0, "makespan_s": 0.6}
        ]
    )
    runs.to_csv(run_dir / "runs.csv", index=False)
    written = json.loads(calibration_file.read_text())  # what the report's head shows
    for mode in written["modes"].values():
        mode["measured"] |= {"c1_p50_ms": 2.0, "c16_throughput_tps": 900.0}
    calibration_file.write_text(json.dumps(written))
    done = simulate("repredict", str(run_dir))
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(run_dir / "validation.csv")
    assert list(table["clients"]) == [4, 8] and list(table["repeats"]) == [2, 1]
    first = table.iloc[0]
    assert first["retaken"] == 2 and first["speed"] == pytest.approx(0.75)
    assert first["measured_throughput_tps"] == pytest.approx(300.0)
    assert (first["measured_p50_ms_min"], first["measured_p50_ms_max"]) == (9.0, 20.0)
    expected = predict(
        Config("push", procs=2, clients=4, tasks=300), Calibration.load(calibration_file)
    )
    assert first["predicted_throughput_tps"] == pytest.approx(expected["throughput_tps"])
    assert first["error_throughput_tps"] == pytest.approx(expected["throughput_tps"] / 300 - 1)
    # at each run's speed: the run at half speed is predicted at half speed
    slow = predict(
        Config("push", procs=2, clients=4, tasks=300, speed=0.5), Calibration.load(calibration_file)
    )
    errors = sorted([expected["p50_ms"] / 9.0 - 1, slow["p50_ms"] / 20.0 - 1])
    assert first["adjusted_error_p50_ms"] == pytest.approx(sum(errors) / 2)
    assert "Model against measurement" in (run_dir / "SIMULATION.md").read_text()


def test_repredict_refit_fits_the_calibration_then_predicts_with_it(
    calibration_file: Path,
) -> None:
    """`repredict --refit` fits the residuals (and the busy CPU, where 16- and 64-client
    runs were recorded) anew from the calibration's own data, saves them and predicts the
    measured runs with them: a no-op runs no time in the model, so the hop's residuals
    grow to take the measured run step (0.5 ms here)."""
    import pandas as pd

    from experiments.simulate.model import Config
    from experiments.simulate.validate import predict

    run_dir = calibration_file.parent
    config = {"mode": "push", "workers": 1, "procs": 2, "task_ms": 0.0, "clients": 4}
    row = {"tasks": 300, "effective_cores": 2.0, "tries": 1, "speed": 1.0}
    metrics = {"throughput_tps": 400.0, "p50_ms": 9.0, "p99_ms": 18.0, "makespan_s": 0.75}
    pd.DataFrame([config | row | metrics]).to_csv(run_dir / "runs.csv", index=False)
    written = json.loads(calibration_file.read_text())
    for mode in written["modes"].values():
        mode["measured"] |= {"c1_p50_ms": 2.0, "c16_throughput_tps": 900.0}
    calibration_file.write_text(json.dumps(written))
    before = predict(
        Config("push", procs=2, clients=4, tasks=300), Calibration.load(calibration_file)
    )
    done = simulate("repredict", str(run_dir), "--refit")
    assert done.returncode == 0, done.stderr
    refitted = Calibration.load(calibration_file)
    for mode in refitted.modes.values():
        assert mode.residual_scale is not None and mode.residual_scale["hop"] > 1.5
        assert mode.busy_scale is None  # no 64-client run recorded: nothing to fit on
    after = predict(Config("push", procs=2, clients=4, tasks=300), refitted)
    assert after["p50_ms"] > before["p50_ms"] + 0.2  # the hop takes the run step's 0.5 ms
    table = pd.read_csv(run_dir / "validation.csv")
    assert table.iloc[0]["predicted_p50_ms"] == pytest.approx(after["p50_ms"])
    assert "residuals scaled" in (run_dir / "SIMULATION.md").read_text()


@pytest.mark.parametrize(
    "argv, rounds",
    [
        (["calibrate"], None),
        (["calibrate", "--rounds", "12"], 12),
        (["validate", "--rounds", "20", "--repeats", "10"], 20),
        (["all"], None),
    ],
)
def test_rounds_reach_the_calibration(
    argv: list[str], rounds: int | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--rounds`` sets how many rounds of runs each mode's calibration takes, in
    ``calibrate``, ``validate`` and ``all``; without it, the default (ROUNDS)."""
    from experiments.simulate import pipeline
    from experiments.simulate.calibrate import ROUNDS
    from experiments.simulate.cli import ROUNDS_HELP, parser

    assert f"default {ROUNDS}:" in ROUNDS_HELP  # the help says what calibrate does
    seen: list[int] = []

    def calibrate(modes: list, rounds: int) -> Calibration:
        seen.append(rounds)
        return synthetic(CPU_MS)

    def validate(modes: list, repeats: int, rounds: int) -> tuple:
        seen.append(rounds)
        assert repeats == (10 if "--repeats" in argv else 5)
        raise SystemExit  # what follows (the report, the studies) is not this test's

    monkeypatch.setattr(pipeline, "calibrate", calibrate)
    monkeypatch.setattr(pipeline, "validate", validate)
    ends = contextlib.nullcontext() if argv[0] == "calibrate" else pytest.raises(SystemExit)
    with ends:
        pipeline.run(parser().parse_args([*argv, "--out", str(tmp_path / "out")]))
    assert seen == [ROUNDS if rounds is None else rounds]


def test_fewer_than_one_round_is_refused() -> None:
    done = simulate("calibrate", "--rounds", "0")
    assert done.returncode != 0 and "must be at least 1, got 0" in done.stderr

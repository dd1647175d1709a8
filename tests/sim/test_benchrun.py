"""The model against a benchmark run: which configurations it expresses, how, and the
figures it sets side by side (experiments/simulate/benchrun.py), and the report's section."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from experiments.analysis.metrics import DEFAULTS
from experiments.analysis.pages import markdown
from experiments.analysis.report import _model_rows, _model_text, model_errors
from experiments.simulate.benchrun import against, config_of, expressible, measured
from tests.sim.test_model import CPU_MS, synthetic


def _tasks(study: str, loop: str, workload: str = "noop", arg: float = 0.0, **extra) -> list:
    """Two repeats of 4 tasks: sent at 0, 1, 2, 3 s and seen 1 s (repeat 0) or 2 s later
    (repeat 1), the speed probe 10 ms then 20 ms."""
    base = {
        "study": study, "mode": "push", "workers": 1, "procs": 2, "processes": 2,
        "workload": workload, "arg": arg, **DEFAULTS, "loop": loop, **extra,
    }  # fmt: skip
    return [
        {**base, "repeat": r, "sent": float(i), "observed": i + 1.0 + r, "probe_s": 0.01 * (r + 1)}
        for r in (0, 1)
        for i in range(4)
    ]


def test_measured_figures_use_the_models_definitions() -> None:
    runs = measured(pd.DataFrame(_tasks("latency", "sequential")))
    assert list(runs["repeat"]) == [0, 1] and list(runs["tasks"]) == [4, 4]
    # 4 tasks from the first sent (0 s) to the last seen (4 s, then 5 s)
    assert list(runs["throughput_tps"]) == [1.0, 0.8]
    assert list(runs["p50_ms"]) == [1000.0, 2000.0] and list(runs["probe_s"]) == [0.01, 0.02]


def test_the_model_expresses_sleeping_and_no_op_tasks_under_the_benchmarks_loads() -> None:
    rows = [
        _tasks("throughput", "burst")[0],
        _tasks("weak_scaling", "burst", "sleep", 0.2)[0],
        _tasks("latency", "sequential")[0],
        _tasks("load_curve", "poisson", rate=300.0)[0],
        _tasks("closed", "closed", clients=8)[0],
        _tasks("throughput", "burst", "cpu", 200000)[0],  # uses the CPU: not expressed
        _tasks("payload", "sequential", "echo", 1000)[0],  # payload sizes: not expressed
        _tasks("hosts_payload", "sequential", link="100mbit")[0],  # shaped: not expressed
    ]
    runs = expressible(pd.DataFrame(rows).assign(tasks=128))
    assert list(runs["study"]) == ["throughput", "weak_scaling", "latency", "load_curve", "closed"]
    configs = [config_of(row, submitters=16) for _, row in runs.iterrows()]
    assert [(c.submitters, c.poll_ms) for c in configs] == [
        (16, 2.0), (16, 2.0), (0, 0.0), (0, None), (0, None)
    ]  # fmt: skip
    assert configs[1].task_ms == pytest.approx(200.0)
    assert configs[3].rate == 300.0 and configs[4].clients == 8


def test_against_predicts_each_configuration_at_the_runs_speed(tmp_path: Path) -> None:
    rows = _tasks("latency", "sequential") + _tasks("throughput", "burst")
    pd.DataFrame(rows).to_csv(tmp_path / "tasks.csv.gz", index=False)
    (tmp_path / "grid.json").write_text(json.dumps({"client_concurrency": 16}))
    cal = synthetic(CPU_MS, residual_ms=0.5)
    for mode in cal.modes.values():
        mode.measured["probe_s"] = 0.03  # the runs' probes: 10 and 20 ms, median 15
    table = against(tmp_path, cal, seeds=2)
    assert list(table["study"]) == ["latency", "throughput"]
    assert list(table["speed"]) == [2.0, 2.0] and table["probed"].all()
    for metric in ("throughput_tps", "p50_ms", "p99_ms"):
        ratio = table[f"predicted_{metric}"] / table[f"measured_{metric}"] - 1
        assert list(table[f"error_{metric}"]) == pytest.approx(list(ratio))
    assert list(table["measured_throughput_tps"]) == [0.9, 0.9]  # median of 1.0 and 0.8
    # the sequential run polls back to back: a few ms a task at twice the speed
    assert 1.0 < table["predicted_p50_ms"].iloc[0] < 5.5


def test_the_report_counts_configurations_within_each_target(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "study": ["load_curve"] * 3,
            "mode": ["push"] * 3,
            "speed": [1.1, 1.2, 1.3],
            "probed": [True] * 3,
            **{f"error_{m}": [0.1, -0.25, 0.4] for m in ("throughput_tps", "p50_ms", "p99_ms")},
        }
    )
    table.to_csv(tmp_path / "model.csv", index=False)
    # ±15 % / ±20 % hold 0.1 only; ±30 % holds 0.1 and -0.25
    errors = model_errors(table)
    assert [(name, within, limit) for name, _, within, limit in errors] == [
        ("throughput", 1, 15), ("p50", 1, 20), ("p99", 2, 30)
    ]  # fmt: skip
    assert [mean for _, mean, _, _ in errors] == pytest.approx([25.0, 25.0, 25.0])
    rows = _model_rows(table)
    assert rows.iloc[0]["p99 within ±30 %"] == "2/3"
    assert rows.iloc[0]["throughput error, mean (range)"] == "+8 % (-25 … +40)"
    # the page shows that table, and the speeds of the runs, from the data
    text = _model_text(tmp_path, {"model": tmp_path / "model_parity.png"})
    assert markdown(rows) in text and f"{table['speed'].min():.2f}–" in text

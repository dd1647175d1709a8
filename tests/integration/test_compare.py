"""experiments/compare/ on two small real runs of the same spec, and a run against
itself."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments.compare import write
from experiments.spec import parse
from experiments.sweep import run_sweep

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SPEC = """
repeats = 3

[[study]]
name = "tiny"
workload = "noop"
modes = ["push"]
workers = 1
procs = 2
tasks = 100
load = { kind = "closed", clients = 4 }
"""


def test_two_small_runs_compare_and_a_run_against_itself_flags_nothing(tmp_path: Path) -> None:
    spec = parse(SPEC, tmp_path)
    a = run_sweep(spec.runs, spec.repeats, tmp_path / "a", None, spec.text)
    b = run_sweep(spec.runs, spec.repeats, tmp_path / "b", None, spec.text)
    report = write(a, b, tmp_path / "ab").read_text()
    df = pd.read_csv(tmp_path / "ab" / "compare.csv")
    assert set(df["metric"]) == {"throughput", "latency_p50", "latency_p99"}
    assert len(df) == 3 and (df["repeats_a"] == 3).all() and (df["repeats_b"] == 3).all()
    runs_a, runs_b = pd.read_csv(a / "runs.csv"), pd.read_csv(b / "runs.csv")
    throughput = df[df["metric"] == "throughput"].iloc[0]
    assert throughput["median_a"] == pytest.approx(runs_a["throughput"].median())
    assert throughput["ratio"] == pytest.approx(
        runs_b["throughput"].median() / runs_a["throughput"].median()
    )
    assert 0 <= throughput["p"] <= throughput["p_adjusted"] <= 1
    assert set(df["verdict"]) <= {"same", "improved", "regressed"}
    assert "1 configurations in both runs" in report and "Only in" not in report
    itself = write(a, a, tmp_path / "aa").read_text()
    assert "**0 improved, 0 regressed**" in itself
    assert (pd.read_csv(tmp_path / "aa" / "compare.csv")["verdict"] == "same").all()

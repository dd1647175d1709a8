"""experiments/compare/ on hand-made runs with known answers: what moved beyond the noise,
a run against itself, and the refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from experiments.compare import Incomparable, compare, ratio_interval, write

MACHINE = {
    "hostname": "box",
    "cpu_count": 2,
    "processor": "x86_64",
    "platform": "Linux-6",
    "git_commit": "abc",
    "date": "today",
}


def _run(path: Path, configs: dict[str, dict[str, list[float]]], **machine: object) -> Path:
    """A run directory with runs.csv: per config (a mode), per metric, one value per repeat."""
    rows = []
    for mode, metrics in configs.items():
        repeats = len(next(iter(metrics.values())))
        for repeat in range(repeats):
            rows.append(
                {
                    "study": "throughput",
                    "mode": mode,
                    "workers": 1,
                    "procs": 2,
                    "processes": 2,
                    "workload": "noop",
                    "arg": 0,
                    "repeat": repeat,
                    "efficiency": float("nan"),
                    **{m: v[repeat] for m, v in metrics.items()},
                }
            )
    path.mkdir()
    pd.DataFrame(rows).to_csv(path / "runs.csv", index=False)
    (path / "machine.json").write_text(json.dumps({**MACHINE, **machine}))
    return path


BASE = {
    "throughput": [500.0, 520.0, 510.0],
    "latency_p50": [0.0020, 0.0021, 0.0019],
    "latency_p99": [0.010, 0.014, 0.012],
}


def test_a_run_against_itself_flags_nothing(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", {"local": BASE, "push": BASE})
    df = compare(a, a)
    assert len(df) == 2 * 3  # two configurations x three metrics (no efficiency values)
    assert (df["verdict"] == "same").all() and (df["ratio"] == 1).all()
    assert ((df["ci_low"] <= 1) & (df["ci_high"] >= 1)).all()


def test_clear_changes_are_flagged_with_their_direction_and_noise_is_not(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", {"local": BASE, "push": BASE})
    faster = {
        "throughput": [760.0, 740.0, 750.0],  # 1.47x: improved
        "latency_p50": [0.0040, 0.0042, 0.0041],  # 2x: regressed
        "latency_p99": [0.011, 0.013, 0.015],  # overlapping the baseline's: noise
    }
    b = _run(tmp_path / "b", {"local": faster, "push": BASE, "pull": BASE})
    df = compare(a, b).set_index(["mode", "metric"])
    assert df.loc[("local", "throughput"), "verdict"] == "improved"
    assert df.loc[("local", "throughput"), "ratio"] == pytest.approx(750 / 510)
    assert df.loc[("local", "latency_p50"), "verdict"] == "regressed"
    assert df.loc[("local", "latency_p99"), "verdict"] == "same"
    assert (df.loc["push", "verdict"] == "same").all()
    assert "pull" not in df.index.get_level_values("mode")  # only in B: not compared


def test_the_interval_contains_the_ratio_and_needs_two_repeats() -> None:
    import numpy as np

    low, high = ratio_interval(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0]))
    assert low <= 2.0 <= high
    assert all(np.isnan(ratio_interval(np.array([1.0]), np.array([1.0, 2.0]))))


def test_runs_of_different_machines_are_refused_unless_asked(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", {"local": BASE})
    b = _run(tmp_path / "b", {"local": BASE}, hostname="other", cpu_count=8)
    with pytest.raises(Incomparable, match="different machines .*hostname: 'box' against 'other'"):
        compare(a, b)
    assert (compare(a, b, any_machine=True)["verdict"] == "same").all()
    c = _run(tmp_path / "c", {"push": BASE})
    with pytest.raises(Incomparable, match="no configuration in common"):
        compare(a, c)


def test_the_report_lists_regressions_and_the_cli_refuses_with_a_message(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", {"local": BASE})
    slower = {**BASE, "throughput": [300.0, 310.0, 305.0]}
    b = _run(tmp_path / "b", {"local": slower})
    report = write(a, b, tmp_path / "out").read_text()
    regressions = report.split("## Regressions")[1].split("## Improvements")[0]
    assert "| throughput: local 1x2 | throughput | 510 | 305 | 0.598 |" in regressions
    assert "**0 improved, 1\nregressed**" in report
    assert (tmp_path / "out" / "compare_throughput.png").read_bytes()[:4] == b"\x89PNG"
    other = _run(tmp_path / "other", {"local": BASE}, cpu_count=64)
    done = subprocess.run(
        [sys.executable, "-m", "experiments.compare", str(a), str(other)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "pass --any-machine" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "experiments.compare", str(a), str(b), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == (
        f"comparison: {tmp_path / 'o' / 'COMPARE.md'} (1 configurations, 0 improved, 1 regressed)"
    )

"""experiments/compare/ on hand-made runs with known answers: what moved beyond the noise,
a run against itself, and the refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from experiments.compare import Incomparable, compare, only_in, write

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
    assert (df["p_adjusted"] == 1).all()


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
    assert only_in(a, b) == ([], ["throughput: pull 1x2"])


def test_p_values_are_adjusted_over_the_pair_by_benjamini_hochberg(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", {"local": BASE, "push": BASE})
    b = _run(tmp_path / "b", {"local": {**BASE, "throughput": [560.0, 590.0, 575.0]}, "push": BASE})
    df = compare(a, b)
    assert (df["p_adjusted"] >= df["p"]).all()
    assert df["p_adjusted"].tolist() == pytest.approx(
        stats.false_discovery_control(df["p"]).tolist()
    )


def test_a_change_within_a_runs_own_spread_or_below_the_minimum_effect_is_not_flagged(
    tmp_path: Path,
) -> None:
    a = _run(tmp_path / "a", {"local": BASE, "push": BASE})
    b = _run(
        tmp_path / "b",
        {
            # the A/A case that was flagged: p99 22 -> 46 ms, one repeat of A already at 46
            "local": {**BASE, "latency_p99": [0.040, 0.046, 0.050]},
            # 4 % slower, every repeat: certain, and too small to matter
            "push": {**BASE, "throughput": [480.0, 499.0, 490.0]},
        },
    )
    a_noisy = _run(tmp_path / "a2", {"local": {**BASE, "latency_p99": [0.020, 0.022, 0.046]}})
    df = compare(a_noisy, b).set_index(["mode", "metric"])
    assert df.loc[("local", "latency_p99"), "verdict"] == "same"
    df = compare(a, b).set_index(["mode", "metric"])
    assert df.loc[("push", "throughput"), "verdict"] == "same"
    assert df.loc[("local", "latency_p99"), "verdict"] == "regressed"  # beyond A's spread


def test_fewer_than_three_repeats_say_so_instead_of_a_verdict(tmp_path: Path) -> None:
    two = {m: v[:2] for m, v in BASE.items()}
    a = _run(tmp_path / "a", {"local": two})
    b = _run(tmp_path / "b", {"local": {m: [3 * x for x in v] for m, v in two.items()}})
    assert (compare(a, b)["verdict"] == "too few repeats").all()


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
    a = _run(tmp_path / "a", {"local": BASE, "pull": BASE})
    slower = {**BASE, "throughput": [300.0, 310.0, 305.0]}
    b = _run(tmp_path / "b", {"local": slower, "push": BASE})
    report = write(a, b, tmp_path / "out").read_text()
    regressions = report.split("## Regressions")[1].split("## Improvements")[0]
    assert "| throughput: local 1x2 | throughput | 510 | 305 | 0.598 | 1.04 |" in regressions
    assert "**0 improved, 1 regressed**" in report
    assert "Only in A (not compared): throughput: pull 1x2." in report
    assert "Only in B (not compared): throughput: push 1x2." in report
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
        f"comparison: {tmp_path / 'o' / 'COMPARE.md'} (1 configurations, 0 improved, "
        "1 regressed, 1 only in A, 1 only in B)"
    )

"""The committed simulation run (docs/simulation) re-renders, from its committed files
alone, to the committed report: every figure in it can be re-derived."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from experiments.sim.pipeline import render

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "simulation"


@pytest.mark.timeout(120)
def test_the_simulation_report_rerenders_identically(tmp_path: Path) -> None:
    run = tmp_path / COMMITTED.name
    shutil.copytree(COMMITTED, run)
    for derived in [run / "SIMULATION.md", *run.glob("*.png")]:
        derived.unlink()
    render(run)
    assert (run / "SIMULATION.md").read_text() == (COMMITTED / "SIMULATION.md").read_text()
    assert {p.name for p in run.glob("*.png")} == {p.name for p in COMMITTED.glob("*.png")}


def test_the_low_load_spread_the_readme_quotes_comes_from_the_committed_runs() -> None:
    """`simulate spread` over the committed validation runs gives the README's figures."""
    from experiments.sim.validate import spread, spread_summary, validation_runs

    dirs = validation_runs(COMMITTED)
    rows = spread(dirs)
    assert len(rows) == 3 * len(dirs) == 36
    assert set(rows["mode"]) == {"local", "pull", "push"}
    lines = spread_summary(rows)
    readme = " ".join((COMMITTED.parents[1] / "README.md").read_text().split())
    assert lines[0].startswith("local: measured 1.95 ± 0.19 x one client (1.63-2.26)")
    assert "1.95 ± 0.19 times the one-client one in local" in readme
    assert "error +6.0 ± 7.6 %" in lines[0]
    assert "correlation with the measured ratio -0.50" in lines[0]
    assert "-1.9 ± 8.8 %" in lines[1] and "+4.3 ± 8.7 %" in lines[2]
    assert "averaged +6.0, −1.9 and +4.3 %" in readme
    assert lines[-1].endswith("0.30 of runs (normal approximation); 4 of 12 directories")
    assert "approximation: 0.30); four of the twelve runs did" in readme


def _record(path: Path):
    """A record script of docs/simulation, imported (it writes nothing on import)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sleeping_task_errors_the_readme_quotes_come_from_the_committed_runs() -> None:
    """errors.txt re-derives from the twelve runs' validation files, and its means for 10 ms
    tasks are the README's; compare.txt re-derives from held-out-cpu's csv files."""
    steps = COMMITTED / "held-out-steps"
    text = _record(steps / "errors.py").main()
    assert text == (steps / "errors.txt").read_text()
    rows = [line.split() for line in text.splitlines()[2:]]
    means = {" ".join(row[:5]): float(row[5]) for row in rows if row}
    sleeping = [f"{m} 10 ms C8" for m in ("local 1x8", "pull 2x4", "push 2x4")]
    assert [means[c] for c in sleeping] == [0.3, 2.6, 3.9]
    readme = " ".join((COMMITTED.parents[1] / "README.md").read_text().split())
    assert "+0.3, +2.6 and +3.9 % at 10 ms" in readme
    cpu = COMMITTED / "held-out-cpu"
    compare = _record(cpu / "compare.py")
    assert compare.main() == (cpu / "compare.txt").read_text()
    assert compare.table("cpu_us").loc[("push", 10.0, "model"), "worker"] == 425
    assert compare.table("cpu_us").loc[("pull", 10.0, "measured"), "worker"] == 737
    assert "makes that 130, 531 and 425 µs" in readme


def test_the_residual_noise_record_re_derives_from_its_files() -> None:
    """residual-noise's analysis.txt and perrun.txt come from its committed files, and say
    what its README says: the stacks hardly differ while the moments do, and taking each
    calibration run at its own speed leaves 8 of the 12 runs meeting every target."""
    record = COMMITTED / "residual-noise"
    text = _record(record / "analyse.py").main()
    assert text == (record / "analysis.txt").read_text()
    assert "4 clients: sd % of the rotations' means 7.8, of the stacks' means 0.6" in text
    perrun = _record(record / "perrun.py").compare(record / "perrun")
    assert perrun == (record / "perrun.txt").read_text()
    first, second = perrun.split("\n\n")
    assert "runs meeting every target 8 of 12, metrics missed 7" in first
    assert "runs meeting every target 8 of 12, metrics missed 8" in second
    assert "push 2 32: +0.4 / 6.0" in second and "push 2 32: +1.1 / 7.8" in first


def test_the_longer_calibration_runs_met_every_target(tmp_path: Path) -> None:
    """Each validation run of longer-calibration/ calibrated 20 rounds a mode and measured
    10 repeats, met every target at each run's speed, re-renders to its committed report;
    summary.txt re-derives, and the README says three of three."""
    import pandas as pd

    from experiments.sim.calibration import Calibration
    from experiments.sim.validate import misses

    record = COMMITTED / "longer-calibration"
    runs = sorted(record.glob("[0-9]*"))
    assert [r.name for r in runs] == ["1108", "1128", "1145"]
    for run in runs:
        calibration = Calibration.load(run / "calibration.json")
        assert {m.measured["rounds"] for m in calibration.modes.values()} == {20}
        table = pd.read_csv(run / "validation.csv")
        assert len(table) == 15 and set(table["repeats"]) == {10}
        assert misses(table, "adjusted_error") == []
        copy = tmp_path / run.name
        shutil.copytree(run, copy)
        (copy / "SIMULATION.md").unlink()
        render(copy)
        report = (copy / "SIMULATION.md").read_text()
        assert report == (run / "SIMULATION.md").read_text()
        assert "; 20 rounds a mode." in report.splitlines()[2]
    summary = _record(record / "summary.py").main()
    assert summary == (record / "summary.txt").read_text()
    assert summary.count("within target 15/15/15 of 15") == 3
    readme = " ".join((COMMITTED.parents[1] / "README.md").read_text().split())
    assert "met every target in three validation runs of three" in readme

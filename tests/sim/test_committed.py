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
    from experiments.sim.validate import spread, spread_summary

    dirs = [COMMITTED, *sorted((COMMITTED / "more-runs").glob("[0-9]*"))]
    rows = spread(dirs)
    assert len(rows) == 3 * len(dirs) == 33
    assert set(rows["mode"]) == {"local", "pull", "push"}
    lines = spread_summary(rows)
    readme = " ".join((COMMITTED.parents[1] / "README.md").read_text().split())
    assert lines[0].startswith("local: measured 1.96 ± 0.19 x one client (1.63-2.26)")
    assert "1.96 ± 0.19 times the one-client one in local" in readme
    assert "error +5.9 ± 8.0 %" in lines[0]
    assert "correlation with the measured ratio -0.50" in lines[0]
    assert "-2.8 ± 8.6 %" in lines[1] and "+3.1 ± 7.9 %" in lines[2]
    assert "averaged +5.9, −2.8 and +3.1 %" in readme
    assert lines[-1].endswith("0.28 of runs (normal approximation); 3 of 11 directories")
    assert "approximation: 0.28); three of the eleven runs did" in readme

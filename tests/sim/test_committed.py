"""The committed simulation run (docs/results/simulation) re-renders, from its committed files
alone, to the committed report: every figure in it can be re-derived."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from experiments.simulate.pipeline import render

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "results" / "simulation"


@pytest.mark.timeout(120)
def test_the_simulation_report_rerenders_identically(tmp_path: Path) -> None:
    run = tmp_path / COMMITTED.name
    shutil.copytree(COMMITTED, run)
    for derived in [run / "SIMULATION.md", *run.glob("*.png")]:
        derived.unlink()
    render(run)
    assert (run / "SIMULATION.md").read_text() == (COMMITTED / "SIMULATION.md").read_text()
    assert {p.name for p in run.glob("*.png")} == {p.name for p in COMMITTED.glob("*.png")}

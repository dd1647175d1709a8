"""The committed reference run re-renders, from its committed files alone, to the committed
report (so every figure in it can be re-derived)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from experiments.analysis.report import render

DOCS = Path(__file__).resolve().parent.parent / "docs" / "results"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["reference-run", "load-curve"])
def test_a_committed_report_rerenders_identically(tmp_path: Path, name: str) -> None:
    reference = DOCS / name
    run = tmp_path / reference.name
    shutil.copytree(reference, run)
    for derived in [run / "REPORT.md", *run.glob("*.png")]:
        derived.unlink()
    render(run)
    assert (run / "REPORT.md").read_text() == (reference / "REPORT.md").read_text()
    assert {p.name for p in run.glob("*.png")} == {p.name for p in reference.glob("*.png")}

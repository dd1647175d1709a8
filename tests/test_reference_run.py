"""The committed reference run re-renders, from its committed files alone, to the committed
report (so every figure in it can be re-derived)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from experiments.report import render

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference-run"


@pytest.mark.timeout(120)
def test_the_reference_report_rerenders_identically(tmp_path: Path) -> None:
    run = tmp_path / REFERENCE.name
    shutil.copytree(REFERENCE, run)
    for derived in [run / "REPORT.md", *run.glob("*.png")]:
        derived.unlink()
    render(run)
    assert (run / "REPORT.md").read_text() == (REFERENCE / "REPORT.md").read_text()
    assert {p.name for p in run.glob("*.png")} == {p.name for p in REFERENCE.glob("*.png")}

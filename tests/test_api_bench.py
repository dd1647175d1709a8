"""experiments/sweep/api.py's tables, from the committed run, are the ones in the README."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.analysis.tables import api_table as table
from experiments.sweep.api import ratio_table

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_table_is_the_committed_runs() -> None:
    api = pd.read_csv(ROOT / "docs" / "api-bench" / "api.csv")
    assert len(api) == 2 * 2 * 3 * 2  # endpoints x connections x repeats x (this, against)
    readme = (ROOT / "README.md").read_text()
    assert table(api) in readme
    assert ratio_table(api) in readme

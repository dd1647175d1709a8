"""experiments/api_bench.py's table, from the committed run, is the one in the README."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.api_bench import table

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_table_is_the_committed_runs() -> None:
    api = pd.read_csv(ROOT / "docs" / "api-bench" / "api.csv")
    assert len(api) == 2 * 2 * 3  # endpoints x connections x repeats
    assert table(api) in (ROOT / "README.md").read_text()

"""experiments/sweep/dispatcher.py's A/B table: its medians and ratio."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.sweep.dispatcher import ratio_table

ROOT = Path(__file__).resolve().parent.parent


def test_the_ratio_table_is_this_median_over_the_others() -> None:
    rows = [
        {"mode": "pull", "repeat": r, "processes": 2, "tasks_per_s": v, "code": c}
        for r, (a, t) in enumerate([(100, 150), (110, 100), (90, 300)])
        for c, v in (("against", a), ("this", t))
    ]
    table = ratio_table(pd.DataFrame(rows))
    assert "| pull | 100 (90–110) | 150 (100–300) | 1.50 |" in table

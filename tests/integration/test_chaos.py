"""A short chaos soak (the long one: ``python -m experiments.chaos --minutes 3``)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from experiments.chaos import main

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
def test_a_short_soak_loses_nothing_and_answers_right(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(["--minutes", "0.4", "--seed", "3", "--every", "1.5", "3", "--out", str(tmp_path)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("chaos: ") and " 0 lost, 0 wrong, " in last, last
    assert code == 0
    with (tmp_path / "faults.csv").open() as f:
        faults = list(csv.DictReader(f))
    with (tmp_path / "tasks.csv").open() as f:
        tasks = list(csv.DictReader(f))
    assert len(faults) >= 4, faults
    assert len(tasks) > 100
    assert all(t["status"] == "COMPLETED" and t["correct"] == "1" for t in tasks)
    assert all(int(t["executions"]) >= 1 for t in tasks)  # every accepted task really ran
    assert f"chaos: {len(tasks)} tasks, {len(faults)} faults, 0 lost, 0 wrong" in last
    assert (tmp_path / "timeline.png").stat().st_size > 1000

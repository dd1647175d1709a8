"""experiments/sweep/fsync.py's summary lines, and the faults results page that shows them
from docs/results/faults/fsync.csv."""

from __future__ import annotations

import csv
from pathlib import Path

from experiments.site.results import faults_page
from experiments.sweep.fsync import summary

ROOT = Path(__file__).resolve().parents[1]


def _row(part: str, fsync: str, mode: str, **values: float) -> dict:
    return {"part": part, "fsync": fsync, "mode": mode, "repeat": 0, **values}


def test_summary_gives_medians_ranges_ratio_and_losses() -> None:
    rows = [
        _row("cost", "everysec", "local", throughput_tps=t, p50_ms=p)
        for t, p in ((1000, 10.0), (1200, 12.0), (1100, 11.0))
    ] + [
        _row("cost", "always", "local", throughput_tps=t, p50_ms=p)
        for t, p in ((800, 14.0), (900, 13.0), (700, 15.0))
    ]
    rows += [_row("loss", "everysec", "local", lost=n, vanished=v) for n, v in ((0, 0), (5, 4))]
    lines = summary(rows)
    assert lines == [
        "cost local: everysec 1100 tasks/s (1000-1200), p50 11.00 ms; always 800 tasks/s "
        "(700-900), p50 14.00 ms; always/everysec 0.73",
        "loss everysec: 1 of 2 restarts lost tasks, 5 tasks in all (4 with no record left)",
    ]


def test_the_faults_page_shows_the_summary_of_its_committed_run() -> None:
    with (ROOT / "docs/results/faults/fsync.csv").open() as f:
        rows = [
            {k: (float(v) if k in ("throughput_tps", "p50_ms") and v else v) for k, v in r.items()}
            for r in csv.DictReader(f)
        ]
    for r in rows:
        if r["part"] == "loss":
            r["lost"], r["vanished"] = int(r["lost"]), int(r["vanished"])
    lines = summary(rows)
    page = faults_page(ROOT / "docs/results/faults")
    assert lines[-1].startswith("loss everysec: 2 of 20 restarts lost tasks, 34 tasks in all")
    assert all(f"- {line}" in page for line in lines)

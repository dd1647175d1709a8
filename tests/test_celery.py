"""faas against Celery: repeats interleaved (experiments/sweep/celery.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from experiments.sweep import celery as peer


def test_every_repeat_measures_every_system_once_in_a_rotated_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, int]] = []

    def celery(tasks: int, batch: int, latency: int, repeat: int) -> list[dict]:
        calls.append(("celery", repeat))
        return [{"system": "celery", "repeat": repeat, "path": "rest", "tasks_per_s": 1.0}]

    def faas(mode: str, tasks: int, batch: int, latency: int, repeat: int) -> list[dict]:
        calls.append((mode, repeat))
        return [{"system": f"faas-{mode}", "repeat": repeat, "path": "rest", "tasks_per_s": 2.0}]

    monkeypatch.setattr(peer, "measure_celery", celery)
    monkeypatch.setattr(peer, "measure_faas", faas)
    df = peer.run_celery(10, 10, 10, 3, tmp_path, ("local", "push"))
    assert calls == [
        ("celery", 0), ("local", 0), ("push", 0),
        ("local", 1), ("push", 1), ("celery", 1),
        ("push", 2), ("celery", 2), ("local", 2),
    ]  # fmt: skip
    assert len(df) == 9 and len(pd.read_csv(tmp_path / "celery.csv")) == 9
    assert json.loads((tmp_path / "celery.json").read_text())["interleaved"] is True

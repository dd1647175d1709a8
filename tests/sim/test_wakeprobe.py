"""``simulate wake-probe``: a real echo server's CPU per request, its table, its command."""

from __future__ import annotations

import pandas as pd
import psutil
import pytest

from experiments.simulate import wakeprobe
from experiments.simulate.cli import main


def test_the_probe_measures_the_servers_cpu_per_request_and_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two gaps, two rounds, a short window each: one row per round and gap, every
    request answered (a request at least every gap plus its round trip), a CPU per request
    a real server spends (more than 5 µs, less than the window's share of it), and the
    server's process gone afterwards."""
    pids: list[int] = []
    window = wakeprobe._window

    def spy(sock, pid, gap_ms, seconds):
        pids.append(pid)
        return window(sock, pid, gap_ms, seconds)

    monkeypatch.setattr(wakeprobe, "_window", spy)
    rows = wakeprobe.probe(gaps_ms=(0.0, 2.0), repeats=2, seconds=0.3)
    assert list(rows.columns) == ["gap_ms", "repeat", "requests", "server_cpu_us"]
    assert sorted(zip(rows["repeat"], rows["gap_ms"], strict=True)) == [
        (0, 0.0),
        (0, 2.0),
        (1, 0.0),
        (1, 2.0),
    ]
    slept = rows[rows["gap_ms"] == 2.0]
    assert (slept["requests"] <= 0.3 / 0.002 + 1).all()
    assert (slept["requests"] >= 20).all()
    assert (rows[rows["gap_ms"] == 0.0]["requests"] > slept["requests"].max()).all()
    assert (rows["server_cpu_us"] > 5).all()
    assert (rows["server_cpu_us"] * rows["requests"] < 0.3e6 * 1.5).all()
    assert len(set(pids)) == 1
    assert not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == "zombie"


def test_the_summary_puts_each_gap_between_the_first_and_the_last() -> None:
    rows = pd.DataFrame(
        {
            "gap_ms": [0.0, 0.0, 1.0, 1.0, 10.0, 10.0],
            "repeat": [0, 1, 0, 1, 0, 1],
            "requests": [100] * 6,
            "server_cpu_us": [50.0, 60.0, 80.0, 90.0, 250.0, 260.0],
        }
    )
    table = wakeprobe.summary(rows).set_index("gap_ms")
    assert table.loc[0.0, "median"] == 55.0
    assert (table.loc[1.0, "min"], table.loc[1.0, "max"]) == (80.0, 90.0)
    assert table["excess"].tolist() == pytest.approx([0.0, 0.15, 1.0])
    report = wakeprobe.render(rows)
    assert "2 rounds" in report
    assert "| 1 | 85 (80–90) | 0.15 |" in report


def test_the_command_writes_the_rows_and_the_table(tmp_path, monkeypatch) -> None:
    """The command with one round (the probe shortened to two gaps); no round at all is
    an error, not an empty table."""
    real = wakeprobe.probe
    monkeypatch.setattr(wakeprobe, "probe", lambda repeats, seconds: real((0.0, 1.0), repeats, 0.2))
    main(["wake-probe", "--out", str(tmp_path), "--repeats", "1"])
    rows = pd.read_csv(tmp_path / "wake-probe.csv")
    assert rows["gap_ms"].tolist() == [0.0, 1.0]
    assert "| gap ms |" in (tmp_path / "README.md").read_text()
    with pytest.raises(SystemExit, match="at least one round"):
        main(["wake-probe", "--out", str(tmp_path / "none"), "--repeats", "0"])
    assert not (tmp_path / "none").exists()

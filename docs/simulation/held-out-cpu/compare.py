"""Each component's CPU per task (µs) and sleeps per task: measured (median of the runs in
measured.csv), the model before a sleeping task's end woke its worker (modelled-before.csv)
and the model as it is (modelled.csv). Writes compare.txt.

    PYTHONPATH=. python docs/simulation/held-out-cpu/compare.py
"""

from pathlib import Path

import pandas as pd

from experiments.sim.by_clients import PARTS

HERE = Path(__file__).parent
KEY = ["mode", "task_ms"]


def table(what: str) -> pd.DataFrame:
    columns = [f"{what}_{k}" for k in PARTS]
    frames = {
        "measured": pd.read_csv(HERE / "measured.csv").groupby(KEY)[columns].median(),
        "before": pd.read_csv(HERE / "modelled-before.csv").set_index(KEY)[columns],
        "model": pd.read_csv(HERE / "modelled.csv").set_index(KEY)[columns],
    }
    out = pd.concat(frames, names=["source"]).rename(columns=lambda c: c.split("_")[-1])
    if what == "cpu_us":
        out["total"] = out.sum(axis=1)
    return out.reorder_levels([1, 2, 0]).sort_index().round(0 if what == "cpu_us" else 2)


def main() -> str:
    text = "CPU per task, µs\n" + table("cpu_us").to_string()
    text += "\n\nSleeps per task (measured: voluntary context switches; model: wake-ups)\n"
    return text + table("sleeps").to_string() + "\n"


if __name__ == "__main__":
    (HERE / "compare.txt").write_text(main())

"""The model's throughput error at each run's speed (``adjusted_error_throughput_tps``) per
held-out configuration over the committed validation runs (docs/simulation, and each
``more-runs`` directory: its ``refit/`` where there is one): mean, standard deviation,
min, max, in per cent; and the mean predicted and measured tasks/s. Writes errors.txt.

    PYTHONPATH=. python docs/simulation/held-out-steps/errors.py
"""

from pathlib import Path

import pandas as pd

from experiments.sim.validate import refitted, validation_runs

HERE = Path(__file__).parent
RUNS = HERE.parent


def main() -> str:
    runs = validation_runs(RUNS)
    frames = [pd.read_csv(refitted(run) / "validation.csv") for run in runs]
    d = pd.concat(frames, ignore_index=True)
    d["configuration"] = (
        d["mode"] + " " + d["workers"].astype(str) + "x" + d["procs"].astype(str)
        + " " + d["task_ms"].astype(int).astype(str) + " ms C" + d["clients"].astype(str)
    )  # fmt: skip
    by = d.groupby("configuration")
    error = (100 * by["adjusted_error_throughput_tps"].agg(["mean", "std", "min", "max"])).round(1)
    error["runs"] = by.size()
    tps = by[["adjusted_throughput_tps", "measured_throughput_tps"]].mean().round(0)
    return error.join(tps).to_string() + "\n"


if __name__ == "__main__":
    (HERE / "errors.txt").write_text(main())

"""Is the validation runs' common error there from the first held-out run on, or does it
grow with the time since calibration? Each held-out no-op run of the committed
validation runs (docs/simulation and more-runs, ``refit/`` where there is one) predicted at
its own speed (3 seeds): its throughput error against its repeat (0: the first of its
configuration after the mode's calibration, 4: the last, minutes later). Writes drift.csv
(~9 min; kept if it exists, ``--again`` to redo it) and drift.txt.

    PYTHONPATH=. python docs/simulation/calibration-noise/drift.py [--again]
"""

import sys
from pathlib import Path

import pandas as pd

from experiments.sim.calibration import Calibration
from experiments.sim.model import Config
from experiments.sim.validate import predict, refitted, validation_runs

HERE = Path(__file__).parent
RUNS = HERE.parent
SHAPE = ["mode", "workers", "procs", "task_ms", "clients"]


def errors() -> pd.DataFrame:
    out = []
    for run in validation_runs(RUNS):
        base = refitted(run)
        calibration = Calibration.load(base / "calibration.json")
        runs = pd.read_csv(base / "runs.csv")
        for (mode, workers, procs, task_ms, clients), group in runs.groupby(SHAPE, sort=False):
            if task_ms:
                continue
            for repeat, (_, r) in enumerate(group.iterrows()):
                speed = calibration.speed_at(mode, r["gauge_ms"] / 1000)
                shape = {"workers": int(workers), "procs": int(procs), "clients": int(clients)}
                config = Config(mode, **shape, tasks=int(r["tasks"]), speed=speed)
                predicted = predict(config, calibration, seeds=3)["throughput_tps"]
                error = predicted / r["throughput_tps"] - 1
                out.append({"run": run.name, **shape, "mode": mode, "repeat": repeat})
                out[-1]["error"] = round(error, 5)
    return pd.DataFrame(out)


def summary(d: pd.DataFrame) -> str:
    lines = ["throughput error at each run's speed, per cent, over the no-op configurations"]
    offsets = d.groupby(["run", "mode"])["error"].mean()
    d = d.assign(within=d["error"] - d.groupby(["run", "mode"])["error"].transform("mean"))
    sd = (100 * offsets.groupby("mode").std()).round(1).to_dict()
    lines.append(f"a validation's mean error per mode (its offset): standard deviation {sd}")
    sd = (100 * d.groupby("mode")["within"].std()).round(1).to_dict()
    lines.append(f"a run's error about its validation's offset: standard deviation {sd}")
    for repeat, group in d.groupby("repeat"):
        means = group.groupby(["run", "mode"])["error"].mean().groupby("mode")
        sd, mean = (100 * means.std()).round(1).to_dict(), (100 * means.mean()).round(1).to_dict()
        lines.append(f"repeat {repeat}: offset from that repeat alone: mean {mean}, sd {sd}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    table = HERE / "drift.csv"
    if "--again" in sys.argv or not table.exists():
        errors().to_csv(table, index=False)
    (HERE / "drift.txt").write_text(summary(pd.read_csv(table)))

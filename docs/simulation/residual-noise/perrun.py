"""Would a calibration's levels be steadier as the median of its runs each at its own
speed? ``predict`` re-expresses every committed validation run's calibration so (each
client count's factor: its runs' median throughput over the median of throughput / speed,
each run at the speed its gauge read), fits it again and predicts the run's held-out
configurations into OUT/<run>/ (calibration.json, validation.csv: the latter committed in
perrun/); ``compare`` writes perrun.txt: those predictions against
the committed ones (refit/ where there is one). About 12 minutes with the runs split over
two processes.

    PYTHONPATH=. python docs/simulation/residual-noise/perrun.py predict OUT [RUN ...]
    PYTHONPATH=. python docs/simulation/residual-noise/perrun.py compare OUT  # OUT: perrun/
"""

import statistics
import sys
from pathlib import Path

import pandas as pd

from experiments.sim.calibration import Calibration
from experiments.sim.fit import fit_busy, fit_residuals
from experiments.sim.validate import TARGETS, refitted, validation_runs, validation_table

HERE = Path(__file__).parent
RUNS = validation_runs(HERE.parent)


def re_express(calibration: Calibration) -> Calibration:
    """Each mode's levels at the reference speed run by run (in place): what was
    multiplied by the old factor is multiplied by new / old."""
    for name, m in calibration.modes.items():
        old, new = m.measured["speed_factors"], {}
        for clients in old:
            runs = [(t, g) for c, t, g in m.measured["runs"] if c == int(clients) and g > 0]
            own = statistics.median(t / calibration.speed_at(name, g / 1000) for t, g in runs)
            new[clients] = statistics.median(t for t, _ in runs) / own
        one, load, heavy = (new[k] / old[k] for k in old)
        m.steps_ms = {k: [one * v for v in curve] for k, curve in m.steps_ms.items()}
        m.cpu_1_s = {k: one * v for k, v in m.cpu_1_s.items()}
        m.cpu_s = {k: load * v for k, v in m.cpu_s.items()}
        if m.cpu_heavy_s is not None:
            m.cpu_heavy_s = {k: heavy * v for k, v in m.cpu_heavy_s.items()}
        m.measured["speed_factors"] = {k: round(v, 4) for k, v in new.items()}
        m.derive()
    return calibration


def predict(out: Path, names: list[str]) -> None:
    for run in RUNS:
        if names and run.name not in names:
            continue
        calibration = Calibration.load(refitted(run) / "calibration.json")
        fit_busy(fit_residuals(re_express(calibration)))
        (out / run.name).mkdir(parents=True, exist_ok=True)
        calibration.save(out / run.name / "calibration.json")
        table = validation_table(pd.read_csv(run / "runs.csv"), calibration)
        table.to_csv(out / run.name / "validation.csv", index=False)


def summary(tables: list[pd.DataFrame]) -> list[str]:
    t = pd.concat(tables)
    missed = sum((t[f"adjusted_error_{k}"].abs() > v).astype(int) for k, v in TARGETS.items())
    per_run = missed.groupby(t["run"]).sum()
    noop = t[t["task_ms"] == 0].groupby(["mode", "procs", "clients"])
    error = noop["adjusted_error_throughput_tps"]
    lines = [
        f"runs meeting every target {(per_run == 0).sum()} of {len(per_run)}, "
        f"metrics missed {int(missed.sum())}: "
        + " ".join(f"{r} {n}" for r, n in per_run.items() if n),
        "no-op throughput error by mode, processes, clients: mean / sd %",
    ]
    for key, e in error:
        lines.append(f"  {' '.join(map(str, key))}: {100 * e.mean():+.1f} / {100 * e.std():.1f}")
    return lines


def compare(out: Path) -> str:
    now, other = [], []
    for run in RUNS:
        now.append(pd.read_csv(refitted(run) / "validation.csv").assign(run=run.name))
        other.append(pd.read_csv(out / run.name / "validation.csv").assign(run=run.name))
    text = ["# as committed (each level: median throughput / median speed)", *summary(now)]
    text += ["", "# each run at its own speed, then the median", *summary(other)]
    return "\n".join(text) + "\n"


if __name__ == "__main__":
    if sys.argv[1] == "predict":
        predict(Path(sys.argv[2]), sys.argv[3:])
    else:
        (HERE / "perrun.txt").write_text(compare(Path(sys.argv[2])))

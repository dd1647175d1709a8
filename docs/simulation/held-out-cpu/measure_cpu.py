"""Each component's CPU per task with 10 ms tasks at 8 clients, against the same shape's
no-op tasks at 16 clients (2 x 4 processes; local: a pool of 8): measured on real stacks
(each run taken again while the hypervisor steals, the speed gauge beside every run) and
in the model (a calibration's, at the speed the gauge read beside each configuration's
runs). ``measure`` writes measured.csv, ``model`` modelled.csv from it.

    PYTHONPATH=. python docs/simulation/held-out-cpu/measure_cpu.py measure [REPEATS]
    PYTHONPATH=. python docs/simulation/held-out-cpu/measure_cpu.py model CALIBRATION [OUT]
"""

import statistics
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd

from experiments.cpu import SpeedGauge
from experiments.sim.by_clients import PARTS, model_row
from experiments.sim.calibration import Calibration
from experiments.sim.measure import measure
from experiments.sim.validate import held_out

HERE = Path(__file__).parent
SEEDS = 3


def configs(mode: str) -> list:
    """The held-out shape with more processes: no-op at 16 clients, 10 ms at 8."""
    return [c for c in held_out(mode) if c.procs > 2 and c.task_ms in (0, 10)]


def real(repeats: int) -> pd.DataFrame:
    rows = []
    with SpeedGauge() as gauge:
        for mode in ("local", "pull", "push"):
            for run in measure(configs(mode), repeats=repeats, calm=True, gauge=gauge):
                c = run.config
                rows.append(
                    {
                        "mode": mode,
                        "task_ms": c.task_ms,
                        "clients": c.clients,
                        "throughput_tps": run.throughput_tps,
                        "gauge_ms": 1000 * run.gauge_s,
                        **{f"cpu_us_{k}": 1e6 * run.cpu_s[k] / c.tasks for k in PARTS},
                        **{f"sleeps_{k}": run.sleeps[k] / c.tasks for k in PARTS},
                    }
                )
                pd.DataFrame(rows).to_csv(HERE / "measured.csv", index=False)
    return pd.DataFrame(rows)


def modelled(runs: pd.DataFrame, calibration: Calibration) -> pd.DataFrame:
    rows = []
    for mode in ("local", "pull", "push"):
        for config in configs(mode):
            mine = runs[(runs["mode"] == mode) & (runs["task_ms"] == config.task_ms)]
            gauge_s = statistics.median(mine["gauge_ms"]) / 1000
            speed = calibration.speed_at(mode, gauge_s)
            rows.append(
                {
                    "mode": mode,
                    "task_ms": config.task_ms,
                    "clients": config.clients,
                    "speed": speed,
                    **model_row(replace(config, speed=speed), calibration, SEEDS),
                }
            )
    return pd.DataFrame(rows)


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        real(int(sys.argv[2]) if len(sys.argv) > 2 else 3)
    else:
        runs = pd.read_csv(HERE / "measured.csv")
        out = Path(sys.argv[3]) if len(sys.argv) > 3 else HERE / "modelled.csv"
        modelled(runs, Calibration.load(Path(sys.argv[2]))).to_csv(out, index=False)

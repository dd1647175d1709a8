"""Each step of a task's life in the held-out configurations with 10 and 50 ms tasks
(2 x 4 processes; local: a pool of 8), measured on real stacks: median and mean ms of
every step per run, and the run's throughput; each run taken again while the hypervisor
steals (``Session.run_calm``). Writes steps.csv.

    PYTHONPATH=. python docs/simulation/held-out-steps/measure_steps.py [REPEATS]
"""

import csv
import statistics
import sys
from pathlib import Path

from experiments.sim.calibrate import STEP_BOUNDS
from experiments.sim.measure import measure
from experiments.sim.validate import held_out

OUT = Path(__file__).with_name("steps.csv")

if __name__ == "__main__":
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rows = []
    for mode in ("local", "pull", "push"):
        sleeping = [config for config in held_out(mode) if config.task_ms]
        for run in measure(sleeping, repeats=repeats, calm=True):
            c = run.config
            row = {"mode": mode, "task_ms": c.task_ms, "clients": c.clients}
            row["throughput_tps"] = round(run.throughput_tps, 1)
            for step, (start, end) in STEP_BOUNDS.items():
                ms = [1000 * (r[end] - r[start]) for r in run.rows]
                row[f"{step}_p50_ms"] = round(statistics.median(ms), 3)
                row[f"{step}_mean_ms"] = round(statistics.fmean(ms), 3)
            rows.append(row)
            with OUT.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)

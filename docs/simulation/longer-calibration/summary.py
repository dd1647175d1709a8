"""summary.txt: each validation run here against the targets, at each run's speed.

PYTHONPATH=. python docs/simulation/longer-calibration/summary.py
"""

from pathlib import Path

import pandas as pd

from experiments.sim.validate import METRICS, TARGETS, misses

HERE = Path(__file__).parent


def runs() -> list[Path]:
    return sorted(HERE.glob("[0-9]*"))


def main() -> str:
    lines = []
    tables = []
    for run in runs():
        t = pd.read_csv(run / "validation.csv")
        tables.append(t.assign(run=run.name))
        within = [int((t[f"adjusted_error_{m}"].abs() <= TARGETS[m]).sum()) for m in METRICS]
        errors = [100 * t[f"adjusted_error_{m}"].abs() for m in METRICS]
        lines.append(
            f"{run.name}: within target {'/'.join(map(str, within))} of {len(t)}; mean abs error "
            + ", ".join(f"{e.mean():.1f} (max {e.max():.1f})" for e in errors)
            + f" %; missed: {'; '.join(misses(t, 'adjusted_error')) or 'none'}"
        )
    t = pd.concat(tables)
    noop = t[t["task_ms"] == 0].groupby(["mode", "workers", "procs", "clients"])
    lines.append("no-op throughput error at each run's speed, %, run by run:")
    for key, rows in noop:
        errors = " ".join(f"{100 * e:+.1f}" for e in rows["adjusted_error_throughput_tps"])
        lines.append(f"  {key[0]} {key[1]}x{key[2]} C{key[3]}: {errors}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    (HERE / "summary.txt").write_text(main())

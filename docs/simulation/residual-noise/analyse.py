"""analysis.txt from instances.csv, chunks-*.csv and the committed validation runs.

PYTHONPATH=. python docs/simulation/residual-noise/analyse.py
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.sim.validate import refitted, validation_runs

HERE = Path(__file__).parent
ROOT = HERE.parents[2]


def instances() -> list[str]:
    """Per client count: the spread (sd of log tasks/s, %) of the rotations' means, of the
    stacks' means, and what is left; and each rotation's runs."""
    d = pd.read_csv(HERE / "instances.csv")
    out = ["## Stack instances, alive at once (instances.csv)", ""]
    for clients, x in d.groupby("clients"):
        y = np.log(x.pivot_table(index="rotation", columns="stack", values="tps"))
        rotation, stack, grand = y.mean(axis=1), y.mean(axis=0), y.to_numpy().mean()
        left = y.to_numpy() - rotation.to_numpy()[:, None] - stack.to_numpy()[None, :] + grand
        dof = (y.shape[0] - 1) * (y.shape[1] - 1)
        out.append(
            f"{clients} clients: sd % of the rotations' means {100 * rotation.std():.1f}, of "
            f"the stacks' means {100 * stack.std():.1f}, "
            f"left {100 * np.sqrt((left**2).sum() / dof):.1f}"
        )
        table = x.pivot_table(index="rotation", columns="stack", values="tps").round(0)
        gauge = x.groupby("rotation")["gauge_ms"].mean().round(3)
        for r, row in table.iterrows():
            out.append(
                f"  rotation {r}: " + " ".join(f"{v:.0f}" for v in row) + f"  gauge {gauge[r]} ms"
            )
    return out


def chunks() -> list[str]:
    """Per file and client count: how much of log throughput's variance each chunk's log
    time explains (R^2) and its slope; the residual after the gauge, its sd and its
    autocorrelation from one round to the next (a round: ~8 s)."""
    out = ["", "## Chunks beside the runs (chunks-*.csv)", ""]
    for path in sorted(HERE.glob("chunks-*.csv")):
        d = pd.read_csv(path)
        kinds = [k for k in ("gauge_ms", "py", "sys", "mem", "big", "obj") if k in d]
        for clients, x in d.groupby("clients"):
            x = x.sort_values("round")
            y = np.log(x["tps"].to_numpy())
            cv = x["tps"].std() / x["tps"].mean()
            parts = []
            for k in kinds:
                g = np.log(x[k].to_numpy())
                r = np.corrcoef(g, y)[0, 1]
                parts.append(f"{k} R2 {r * r:.2f} slope {np.polyfit(g, y, 1)[0]:.2f}")
            g = np.log(x["gauge_ms"].to_numpy())
            res = y - np.polyval(np.polyfit(g, y, 1), g)
            lags = [np.corrcoef(res[:-k], res[k:])[0, 1] for k in (1, 2, 3)]
            out.append(
                f"{path.stem} {clients} clients: tasks/s cv {100 * cv:.1f} %; " + "; ".join(parts)
            )
            out.append(
                f"  after the gauge: sd {100 * res.std():.1f} %, autocorrelation at 1, 2, 3 rounds "
                + " ".join(f"{v:.2f}" for v in lags)
            )
    return out


def anchors() -> list[str]:
    """Over the committed validation runs: the sd (%) of log(held-out no-op throughput at
    its speed / a calibration level at its reference speed), for each level, beside the
    model's error."""
    rows = []
    for d in validation_runs(ROOT / "docs/simulation"):
        calibration = json.loads((refitted(d) / "calibration.json").read_text())
        table = pd.read_csv(refitted(d) / "validation.csv")
        for mode, m in calibration["modes"].items():
            me, f = m["measured"], m["measured"]["speed_factors"]
            levels = {c: me[f"c{c}_throughput_tps"] / f[c] for c in ("1", "16", "64")}
            for clients in (4, 32):
                r = table[
                    (table["mode"] == mode) & (table["clients"] == clients) & (table["procs"] == 2)
                ].iloc[0]
                held = r["measured_throughput_tps"] / r["speed"]
                rows.append(
                    {
                        "mode": mode,
                        "clients": clients,
                        "error": r["adjusted_error_throughput_tps"],
                        **{f"over c{c}": np.log(held / v) for c, v in levels.items()},
                    }
                )
    x = pd.DataFrame(rows).groupby(["mode", "clients"]).std() * 100
    out = [
        "",
        f"## Held-out 1x2 no-op throughput over the calibration's levels ({len(rows) // 6} runs)",
        "",
    ]
    out.append(
        "mode clients | sd % of log(held-out / c1, c16, c64 level) | sd % of the model's error"
    )
    for (mode, clients), r in x.iterrows():
        out.append(
            f"{mode} {clients} | {r['over c1']:.1f} {r['over c16']:.1f} {r['over c64']:.1f}"
            f" | {r['error']:.1f}"
        )
    return out


def main() -> str:
    return "\n".join(instances() + chunks() + anchors()) + "\n"


if __name__ == "__main__":
    (HERE / "analysis.txt").write_text(main())

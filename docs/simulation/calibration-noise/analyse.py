"""What each calibration of calibrations.json predicts, at one common speed-gauge reading
per mode (the median of the calibrations' own), for 1, 4 and 32 closed-loop clients of
no-op tasks (one worker of 2 processes; 3 seeds), and what it measured; then the
coefficient of variation of each prediction over each scheme's calibrations. Writes
analysis.txt.

    PYTHONPATH=. python docs/simulation/calibration-noise/analyse.py
"""

import json
import statistics
from dataclasses import replace
from pathlib import Path

from experiments.sim.calibration import Calibration
from experiments.sim.model import Config
from experiments.sim.validate import predict

HERE = Path(__file__).parent
CLIENTS = ((1, 300), (4, 1000), (32, 2000))
HEADER = (
    "mode scheme i | gauge exponent, reference gauge ms | measured at 1 and at 16 clients:"
    " median tasks/s, CPU ms a task of all components (at the reference speed), and at 16"
    " the gauge's median reading beside the runs (ms) |"
    " predicted at the common reading: tasks/s and p50 ms at 1, 4 and 32 clients"
)


def main() -> list[str]:
    records = json.loads((HERE / "calibrations.json").read_text())
    lines = [HEADER]
    for mode in sorted({r["mode"] for r in records}):
        rows = [r for r in records if r["mode"] == mode]
        calibrations = [Calibration.from_json(r["cal"]) for r in rows]
        common = statistics.median(c.mode(mode).measured["gauge_ms"] for c in calibrations)
        by_scheme: dict[str, list[list[float]]] = {}
        for record, c in zip(rows, calibrations, strict=True):
            m = c.mode(mode)
            speed = c.speed_at(mode, common / 1000)
            predicted = []
            for clients, tasks in CLIENTS:
                config = replace(Config(mode, clients=clients, tasks=tasks), speed=speed)
                p = predict(config, c, seeds=3)
                predicted += [p["throughput_tps"], p["p50_ms"]]
            runs = m.measured["runs"]
            c1 = statistics.median(t for n, t, _ in runs if n == 1)
            c16 = statistics.median(t for n, t, _ in runs if n == 16)
            g16 = statistics.median(g for n, _, g in runs if n == 16)
            lines.append(
                f"{mode} {record['scheme']} {record['i']} | {c.gauge_exponent}, "
                f"{m.measured['gauge_ms']:.3f} | {c1:.0f} {1000 * sum(m.cpu_1_s.values()):.2f}, "
                f"{c16:.0f} {1000 * sum(m.cpu_s.values()):.2f} {g16:.3f} | "
                + " ".join(f"{v:.1f}" for v in predicted)
            )
            by_scheme.setdefault(record["scheme"], []).append(predicted)
        for scheme, predictions in sorted(by_scheme.items()):
            columns = zip(*predictions, strict=True)
            cv = [statistics.stdev(col) / statistics.fmean(col) for col in columns]
            lines.append(
                f"{mode} {scheme}: CV % of tasks/s and p50 at 1, 4 and 32 clients: "
                + " ".join(f"{100 * v:.1f}" for v in cv)
            )
    return lines


if __name__ == "__main__":
    (HERE / "analysis.txt").write_text("\n".join(main()) + "\n")

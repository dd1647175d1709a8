"""The model against a benchmark run's own measurements (``simulate against RUN_DIR``).

Every configuration of a ``nox -s bench`` run that the model expresses is predicted from a
calibration the run did not contribute to, and set beside what the run measured. The model
expresses the loads the benchmark sends (``experiments/sweep/``) with tasks that sleep:

- ``burst`` (throughput, weak scaling, tasks on emulated hosts): 16 submitters back to
  back, 16 collectors polling each result (again after 2 ms, doubling to 20 ms);
- ``sequential`` (latency): one task at a time, its result polled again at once;
- ``closed``: ``clients`` clients, each submitting and long-polling;
- ``poisson`` (the load curve): arrivals at ``rate`` tasks/s, each result long-polled.

Not expressed: tasks that use the CPU (``cpu``; the model's processes sleep), payload
sizes (``echo``), shaped links and user functions. Emulated hosts share this machine's
cores (the *shared* regime); their namespaces add no measurable round trip.

Each configuration is predicted at the speed the run measured: the speed probe the sweep
takes before every run (``tasks.csv`` ``probe_s``, median over repeats) against the
calibration's (a run without probes is predicted at the calibration's speed). Measured
figures are recomputed from ``tasks.csv`` with the model's definitions: throughput = tasks
÷ (last result seen − first sent), latency = seen − sent; medians over repeats.
Writes ``model.csv`` into the run directory; the benchmark report renders it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pandas as pd

from experiments.analysis.metrics import CONFIG_KEYS, read_tasks
from experiments.simulate.calibration import Calibration
from experiments.simulate.model import Config
from experiments.simulate.validate import METRICS, predict

log = logging.getLogger(__name__)

MODEL_FILE = "model.csv"
#: How each load of the benchmark waits for results (Config.poll_ms; None: long-poll).
POLL_MS = {"burst": 2.0, "sequential": 0.0, "closed": None, "poisson": None}
SEEDS = 3


def measured(tasks: pd.DataFrame) -> pd.DataFrame:
    """Per run (configuration and repeat): throughput, p50 and p99 as the model defines
    them, and the run's speed probe."""
    t = tasks.assign(latency_ms=1000 * (tasks["observed"] - tasks["sent"]))
    rows = []
    for key, g in t.groupby([*CONFIG_KEYS, "repeat"], sort=False):
        row = dict(zip([*CONFIG_KEYS, "repeat"], key, strict=True))
        row["tasks"] = len(g)
        row["throughput_tps"] = len(g) / (g["observed"].max() - g["sent"].min())
        row["p50_ms"] = g["latency_ms"].quantile(0.50)
        row["p99_ms"] = g["latency_ms"].quantile(0.99)
        row["probe_s"] = g["probe_s"].iloc[0] if "probe_s" in g else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def expressible(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs whose configuration the model expresses (see the module's docstring)."""
    ok = (
        runs["workload"].isin(["noop", "sleep"])
        & runs["loop"].isin(list(POLL_MS))
        & (runs["link"] == "unshaped")
        & (runs["function"] == "")
    )
    return runs[ok]


def config_of(row: pd.Series, submitters: int) -> Config:
    """The model's configuration of one benchmark configuration."""
    local = row["mode"] == "local"
    return Config(
        str(row["mode"]),
        workers=1 if local else int(row["workers"]),
        procs=int(row["procs"]),
        task_ms=1000 * float(row["arg"]) if row["workload"] == "sleep" else 0.0,
        clients=int(row["clients"]) if row["loop"] == "closed" else 1,
        tasks=int(row["tasks"]),
        hosts=int(row["hosts"]),
        rate=float(row["rate"]) if row["loop"] == "poisson" else 0.0,
        submitters=submitters if row["loop"] == "burst" else 0,
        poll_ms=POLL_MS[str(row["loop"])],
    )


def against(run_dir: Path, calibration: Calibration, seeds: int = SEEDS) -> pd.DataFrame:
    """One row per expressible configuration of the run in ``run_dir``: measured medians
    (and min/max over repeats), predictions (mean over ``seeds`` and the 95 % interval's
    half-width), relative errors."""
    grid = json.loads((run_dir / "grid.json").read_text())
    submitters = int(grid.get("client_concurrency", 16))
    runs = expressible(measured(read_tasks(run_dir)))
    rows = []
    for key, g in runs.groupby(CONFIG_KEYS, sort=False):
        first = g.iloc[0]
        probe_s = g["probe_s"].median()
        reference = calibration.mode(first["mode"]).measured.get("probe_s", float("nan"))
        probed = pd.notna(probe_s)
        speed = reference / probe_s if probed and pd.notna(reference) else 1.0
        config = replace(config_of(first, submitters), tasks=int(g["tasks"].median()), speed=speed)
        predicted = predict(config, calibration, seeds)
        row = dict(zip(CONFIG_KEYS, key, strict=True))
        row |= {"tasks": config.tasks, "repeats": len(g), "speed": round(speed, 3)}
        row["probed"] = probed  # False: at the calibration's speed
        for metric in METRICS:
            row[f"measured_{metric}"] = g[metric].median()
            row[f"measured_{metric}_min"] = g[metric].min()
            row[f"measured_{metric}_max"] = g[metric].max()
            row[f"predicted_{metric}"] = predicted[metric]
            row[f"predicted_{metric}_ci"] = predicted[f"{metric}_ci"]
            row[f"error_{metric}"] = predicted[metric] / g[metric].median() - 1
        row["bottleneck"] = predicted["bottleneck"]
        rows.append(row)
        log.info("%s: throughput error %+.0f %%", config, 100 * row["error_throughput_tps"])
    return pd.DataFrame(rows)


def write(run_dir: Path, calibration_file: Path, seeds: int = SEEDS) -> Path | None:
    """``model.csv`` for the run in ``run_dir``, predicted with ``calibration_file``; None
    (and no file) when the model expresses none of the run's configurations (a user's own
    function, say)."""
    calibration = Calibration.load(calibration_file)
    table = against(run_dir, calibration, seeds)
    path = run_dir / MODEL_FILE
    if table.empty:
        path.unlink(missing_ok=True)
        log.info("the model expresses none of this run's configurations: no model.csv")
        return None
    table.to_csv(path, index=False)
    (run_dir / "model.json").write_text(
        json.dumps(
            {
                "calibration": str(calibration_file.name),
                "calibrated_on": calibration.machine.get("date", "?"),
                "calibrated_commit": calibration.machine.get("git_commit", "?"),
                "seeds": seeds,
            },
            indent=1,
        )
    )
    return path

"""The ``calibrate``, ``validate``, ``extrapolate`` and ``all`` commands: files, plots, report.

A simulation directory holds ``calibration.json``, ``runs.csv`` (one row per measured
held-out run), ``validation.csv`` (one row per held-out configuration), ``scale.csv``,
``rtt.csv``, ``api.csv``, ``failures.csv``, ``speed.json``, the plots and
``SIMULATION.md``; ``render`` re-writes the report from those files alone,
``repredict`` first re-makes ``validation.csv`` from ``runs.csv`` and ``calibration.json``
with the model as it is now (how a model change is judged on runs already measured;
``--refit``: after expressing the calibration at its reference speed and fitting its
residuals and busy CPU anew, from its own runs, as ``calibrate`` does: how a change to
the fit is judged).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import pandas as pd

from experiments.analysis.pages import markdown
from experiments.simulate import plots
from experiments.simulate.calibrate import ROUNDS, calibrate
from experiments.simulate.calibration import Calibration, ModeCalibration
from experiments.simulate.fit import fit_busy, fit_residuals
from experiments.simulate.measure import CALM_SHARE
from experiments.simulate.studies import extrapolate, speed
from experiments.simulate.validate import TARGETS, misses, validate, validation_table
from faas.models import Mode

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> None:
    if args.command == "render":
        render(args.dir)
        return
    if args.command == "repredict":
        repredict(args.dir, refit=args.refit)
        return
    if args.command == "calibrate":
        modes = [Mode(m) for m in args.modes.split(",")]
        calibrate(modes, rounds=args.rounds or ROUNDS).save(args.out)
        log.info("wrote %s", args.out)
        return
    from experiments.simulate.calibration import calibration_path

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if args.command in ("validate", "all"):  # calibrates each mode just before its runs
        calibration, validation, runs = validate(
            [m.value for m in Mode], repeats=args.repeats, rounds=args.rounds or ROUNDS
        )
        runs.to_csv(out / "runs.csv", index=False)
        validation.to_csv(out / "validation.csv", index=False)
    else:
        calibration = Calibration.load(calibration_path(args.calibration))
    calibration.save(out / "calibration.json")
    if args.command in ("extrapolate", "all"):
        for name, frame in extrapolate(calibration).items():
            frame.to_csv(out / f"{name}.csv", index=False)
        (out / "speed.json").write_text(json.dumps(speed(calibration), indent=1) + "\n")
    render(out)
    log.info("wrote %s in %.0f s", out / "SIMULATION.md", time.monotonic() - started)


def repredict(out: Path, refit: bool = False) -> None:
    """``validation.csv`` predicted anew from ``runs.csv`` and ``calibration.json``, then
    the report re-rendered (``refit``: the calibration's fits made anew first, and saved)."""
    calibration = Calibration.load(out / "calibration.json")
    if refit:
        fit_busy(fit_residuals(calibration.to_reference_speed()))
        calibration.save(out / "calibration.json")
    runs = pd.read_csv(out / "runs.csv")
    validation_table(runs, calibration).to_csv(out / "validation.csv", index=False)
    render(out)


def _residual_scale(scale: dict[str, float] | None) -> str:
    """``residual_scale`` in the calibration table (``fit_residuals`` scales submit and
    intake alike)."""
    if not scale:
        return "–"
    return " / ".join(f"{scale[s]:.2f}" for s in ("submit", "hop", "back", "notify"))


def render(out: Path) -> None:
    """Plots and SIMULATION.md from the files in ``out`` (those that exist)."""
    calibration = Calibration.load(out / "calibration.json")
    parts = [_head(calibration)]
    if (out / "validation.csv").exists():
        table = pd.read_csv(out / "validation.csv")
        plots.parity(table, out / "parity.png")
        parts.append(_validation(table, calibration))
    if (out / "scale.csv").exists():
        names = ("scale", "rtt", "api", "dispatchers", "failures")
        frames = {n: pd.read_csv(out / f"{n}.csv") for n in names if (out / f"{n}.csv").exists()}
        measured = (
            pd.read_csv(out / "validation.csv") if (out / "validation.csv").exists() else None
        )
        plots.headline(frames["scale"], measured, out / "headline.png")
        plots.rtt(frames["rtt"], out / "rtt.png")
        plots.failures(frames["failures"], out / "failures.png")
        parts.append(_beyond(frames, json.loads((out / "speed.json").read_text())))
    (out / "SIMULATION.md").write_text("\n\n".join(parts) + "\n")


def _calibration_rounds(calibration: Calibration) -> str:
    """How many rounds of runs each mode's calibration took, said when not the default."""
    rounds = {m.measured.get("rounds", ROUNDS) for m in calibration.modes.values()}
    return "" if rounds == {ROUNDS} else f"; {'/'.join(map(str, sorted(rounds)))} rounds a mode"


def _head(calibration: Calibration) -> str:
    m = calibration.machine
    lines = [
        "# The platform simulated",
        "",
        f"Calibrated on {m.get('cpu_count')} cores ({m.get('processor')}, {m.get('platform')}), "
        f"commit `{m.get('git_commit', 'unknown')[:7]}`, {m.get('date')}"
        f"{_calibration_rounds(calibration)}.",
        "",
        "| mode | CPU µs per task: client | API submit | API result | Redis | dispatcher | "
        "worker | cores the processes had | C=1 p50 | C=16 tasks/s | CPU µs per task at "
        "C=1 / 16 / 64 | busy CPU scaled at 16 / 64 | residuals scaled: submit and intake / "
        "hop / back / notify |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_mode_row(name, mode) for name, mode in calibration.modes.items()]
    if calibration.speed_states:
        lines += ["", _speed_states_text(calibration.speed_states)]
    return "\n".join(lines)


def _mode_row(name: str, mode: ModeCalibration) -> str:
    cpu = {k: f"{1e6 * v:.0f}" for k, v in mode.cpu_s.items()}
    demands = " / ".join(
        f"{1e6 * sum(demand.values()):.0f}" if demand else "–"
        for demand in (mode.cpu_1_s, mode.cpu_s, mode.cpu_heavy_s)
    )
    busy = " / ".join(f"{s:.2f}" for s in mode.busy_scale) if mode.busy_scale else "–"
    return (
        f"| {name} | {cpu['client']} | {cpu['api_submit']} | {cpu['api_result']} | "
        f"{cpu['redis']} | {cpu['dispatcher']} | {cpu['worker']} | "
        f"{mode.effective_cores:.2f} | {mode.measured['c1_p50_ms']:.2f} ms | "
        f"{mode.measured['c16_throughput_tps']:.0f} | {demands} | {busy} | "
        f"{_residual_scale(mode.residual_scale)} |"
    )


def _speed_states_text(states: dict) -> str:
    return (
        f"The cores' two speeds (a fixed chunk of work timed on every core for "
        f"{states['seconds']:.0f} core-seconds before the modes' runs): "
        f"{states['fast_ms']:.2f} or {states['slow_ms']:.2f} ms ({states['ratio']:.2f} "
        f"times slower), slow {100 * states['slow_share']:.0f} % of the time, staying "
        f"{1000 * states['mean_fast_s']:.0f} ms fast and {1000 * states['mean_slow_s']:.0f} "
        "ms slow on average."
    )


def _speed_rule(calibration: Calibration) -> str:
    """How the validation took each run's machine speed (a calibration made before the
    speed gauge has no exponent: the speed probe then)."""
    exponent = calibration.gauge_exponent
    if exponent is None:
        return "the speed probe (a fixed Python loop) around calibration ÷ the one around the run"
    return (
        "(the speed gauge beside the calibration's 16- and 64-client runs ÷ the one beside "
        f"the run) ^ {exponent:.2f} (a small fixed chunk of work timed by its CPU time every "
        "20 ms on every core during the runs; the exponent: how the calibration runs' "
        "throughput followed it)"
    )


def _retaken(table: pd.DataFrame) -> str:
    """What the guard against the hypervisor's steal did (validation tables before it have
    no ``retaken`` column)."""
    if "retaken" not in table:
        return ""
    return (
        f" Every run (and calibration run) was taken again while the processes had less than "
        f"{100 * CALM_SHARE:.0f} % of the cores (the hypervisor's steal comes in bursts): "
        f"{int(table['retaken'].sum())} held-out runs were."
    )


def _validation(table: pd.DataFrame, calibration: Calibration) -> str:
    targets = ", ".join(f"{k.split('_')[0]} ±{100 * v:.0f} %" for k, v in TARGETS.items())
    lines = [
        "## Model against measurement",
        "",
        "Held-out configurations: calibration ran only no-op tasks on a pool of 2 or one "
        "worker of 2 processes, at 1, 16 and 64 clients; each mode was calibrated just before "
        f"its held-out runs. Measured: median of {int(table['repeats'].min())} runs "
        "(min–max). Predicted: mean of 5 seeds ± the 95 % t-interval, at the machine speed "
        "of the calibration. *At the run's speed*: the same model with every CPU time and "
        f"residual divided by `speed` = {_speed_rule(calibration)} — the machine's speed, not "
        "the platform's; the median over the runs of each run's error. Error = predicted ÷ "
        f"measured − 1; targets: {targets}.{_retaken(table)}",
        "",
        "![parity](parity.png)",
        "",
        "| mode | workers×procs | task | clients | speed | tasks/s measured | predicted | error "
        "| at run's speed | p50 ms measured | predicted | error | at run's speed "
        "| p99 ms measured | predicted | error | at run's speed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_validation_row(r) for _, r in table.iterrows()]
    lines.append("")
    for kind, label in (
        ("error", "at the calibration's speed"),
        ("adjusted_error", "at the run's speed"),
    ):
        lines += [_errors_line(table, kind, label), ""]
    return "\n".join(lines).rstrip()


def _validation_row(r: pd.Series) -> str:
    cells = [r["mode"], f"{r['workers']}×{r['procs']}", f"{r['task_ms']:g} ms", r["clients"]]
    cells.append(f"{r['speed']:.2f}")
    for metric, digits in (("throughput_tps", 0), ("p50_ms", 1), ("p99_ms", 1)):
        lo, hi = r[f"measured_{metric}_min"], r[f"measured_{metric}_max"]
        cells += [
            f"{r[f'measured_{metric}']:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})",
            f"{r[f'predicted_{metric}']:.{digits}f} ± {r[f'predicted_{metric}_ci']:.{digits}f}",
            f"{100 * r[f'error_{metric}']:+.0f} %",
            f"{100 * r[f'adjusted_error_{metric}']:+.0f} %",
        ]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _errors_line(table: pd.DataFrame, kind: str, label: str) -> str:
    errors = {m: table[f"{kind}_{m}"].abs() for m in TARGETS}
    summary = ", ".join(
        f"{m.split('_')[0]} {100 * e.mean():.0f} % (max {100 * e.max():.0f} %)"
        for m, e in errors.items()
    )
    missed = misses(table, kind)
    return f"Mean absolute error {label}: {summary}. Beyond target: " + (
        "; ".join(missed) + "." if missed else "none."
    )


ASSUMPTIONS = """\
Assumptions of every prediction below (dedicated regime):
- each component has its own cores at this machine's speed: the API host `api_procs`
  cores, Redis one, the dispatcher one, every worker host its own; the load clients cost
  their calibrated CPU but never queue;
- the per-step residuals (wake-ups, system calls, loopback) are those measured at one
  client on this machine, less the waits the model adds there itself (scaled so that its
  one-client run takes the measured time in each part of a task's life: `residual_scale`),
  paid in the share of a step's visits that found their process idle (an awake process
  has no wake-up to wait for: `awake_residuals`), and do not grow with the number of
  workers;
- CPU per task changes with load only as calibrated: a visit that wakes its process costs
  the one-client CPU, one in a running turn the 16-client CPU up to 16 tasks in flight and
  less past that, toward the 64-client CPU as 1 / tasks in flight (thousands in flight
  are an extrapolation of that law), both scaled so that the model gives back its own 16-
  and 64-client calibration runs (`busy_scale`); nothing else changes with scale (no cache
  misses, no larger Redis structures); each visit's CPU is an exponential draw around
  that mean (`cpu_cv` 1: chosen, not measured per request);
- every worker host's cores switch between the two speeds measured on this VM's cores, as
  often as they did here (`speed_states`); the API's, Redis's and the dispatcher's hosts
  run at the mean speed;
- each worker costs the dispatcher the measured CPU per heartbeat once every
  `FAAS_HEARTBEAT_S` (taken off the dispatcher's one thread); a pull request that hands in
  no results costs the same; loss is noticed after `FAAS_HEARTBEAT_TIMEOUT_S` plus up to one
  heartbeat; a task is dispatched at most `FAAS_MAX_ATTEMPTS` times;
- a failed worker is back 5 s after it died; network: the round trip given, 400 bytes
  a task each way, no loss."""


def _beyond(frames: dict[str, pd.DataFrame], speed_run: dict) -> str:
    lines = ["## Beyond one machine", "", ASSUMPTIONS, "", "![headline](headline.png)", ""]
    lines += _peak_lines(frames["scale"]) + _api_lines(frames["api"])
    if "dispatchers" in frames:
        lines += _dispatcher_lines(frames["dispatchers"])
    lines += _rtt_lines(frames["rtt"]) + _failure_lines(frames["failures"])
    return "\n".join([*lines, "", _speed_line(speed_run)])


def _table(rows: list[dict[str, str]]) -> list[str]:
    return markdown(pd.DataFrame(rows)).split("\n")


def _peak_lines(scale: pd.DataFrame) -> list[str]:
    rows = []
    for _, g in scale[scale["task_ms"] == 0].groupby("mode"):
        best = g.loc[g["throughput_tps"].idxmax()]
        util = best[f"util_{best['bottleneck']}"]
        rows.append({"mode": best["mode"], "processes": best["clients"],
                     "tasks/s": f"{best['throughput_tps']:.0f}", "p99 ms": f"{best['p99_ms']:.1f}",
                     "saturates (utilisation)": f"{best['bottleneck']} ({util:.0%})"})  # fmt: skip
    return [
        "Peak predicted throughput (closed loop, one client per process, no-op tasks) and "
        "the component that saturates first:",
        "",
        *_table(rows),
        "",
        "For scale: Parsl's HighThroughputExecutor is reported at 1 181 tasks/s with "
        "65 536 workers (Babuji et al., HPDC 2019) — a figure of another system on other "
        "hardware, set beside ours only for order of magnitude.",
    ]


def _api_lines(api: pd.DataFrame) -> list[str]:
    rows = [{"mode": r["mode"], "API processes": r["api_procs"],
             "tasks/s": f"{r['throughput_tps']:.0f}", "saturates": r["bottleneck"]}
            for _, r in api.iterrows()]  # fmt: skip
    return [
        "",
        "What more API processes buy (100 workers × 10, 1 000 clients, no-op tasks):",
        "",
        *_table(rows),
    ]


def _dispatcher_lines(dispatchers: pd.DataFrame) -> list[str]:
    rows = [{"mode": r["mode"], "dispatchers": r["dispatchers"],
             "tasks/s": f"{r['throughput_tps']:.0f}",
             "saturates (utilisation)": f"{r['bottleneck']} ({r['util_' + r['bottleneck']]:.0%})"}
            for _, r in dispatchers.iterrows()]  # fmt: skip
    return [
        "",
        "What more dispatchers buy once the API has processes enough (200 workers × 10 "
        "spread over the dispatchers, 2 000 clients, 16 API processes, no-op tasks; the "
        "queue's consumer group splits the tasks evenly):",
        "",
        *_table(rows),
    ]


def _rtt_lines(rtt: pd.DataFrame) -> list[str]:
    table = rtt.pivot(index="rtt_ms", columns="mode", values=["throughput_tps", "p50_ms"])
    rows = [{"round trip ms": f"{r_ms:g}",
             "pull tasks/s": f"{r['throughput_tps']['pull']:.0f}",
             "push tasks/s": f"{r['throughput_tps']['push']:.0f}",
             "pull p50 ms": f"{r['p50_ms']['pull']:.1f}",
             "push p50 ms": f"{r['p50_ms']['push']:.1f}"}
            for r_ms, r in table.iterrows()]  # fmt: skip
    return [
        "",
        "![rtt](rtt.png)",
        "",
        "Pull against push over round trips (100 workers × 10, 10 ms tasks, 200 clients, "
        "8 API processes):",
        "",
        *_table(rows),
    ]


def _failure_lines(failures: pd.DataFrame) -> list[str]:
    rows = [{"mode": r["mode"], "failures /min /100 workers": f"{r['failures_per_min_per_100']:g}",
             "retried": r["retried"], "lost for good": r["failed"], "p99 ms": f"{r['p99_ms']:.0f}",
             "makespan s": f"{r['makespan_s']:.1f}"}
            for _, r in failures.iterrows()]  # fmt: skip
    return [
        "",
        "![failures](failures.png)",
        "",
        "Worker failures (1 000 workers × 4, 1 s tasks, 80 000 tasks):",
        "",
        *_table(rows),
    ]


def _speed_line(speed_run: dict) -> str:
    runs = ""
    if "wall_s_runs" in speed_run:
        walls = ", ".join(f"{w} s" for w in speed_run["wall_s_runs"])
        runs = f" (median of {len(speed_run['wall_s_runs'])} runs: {walls})"
    return (
        f"Simulator speed: {speed_run['tasks']:,} no-op tasks over {speed_run['processes']:,} "
        f"processes in {speed_run['wall_s']} s{runs}, "
        f"{speed_run['simulated_tasks_per_wall_s']:,} simulated tasks per wall-second."
    )

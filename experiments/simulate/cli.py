"""The simulation half of the harness: a calibrated model of the platform (``experiments/sim``).

    python -m experiments.simulate calibrate [--out results/calibration.json] [--rounds 5]
    python -m experiments.simulate predict --mode push --workers 4 --procs 8 --task-ms 10 \\
        --clients 32 --tasks 2000 [--hosts H] [--rtt-ms R] [--calibration FILE]
    python -m experiments.simulate validate [--out DIR] [--repeats 5] [--rounds 5]
        # calibrates each mode (``--rounds``: its runs'), then runs its held-out configurations
    python -m experiments.simulate extrapolate [--calibration FILE] [--out DIR]
    python -m experiments.simulate all [--out DIR]     # what ``nox -s simulate`` runs
    python -m experiments.simulate render [DIR]        # re-write SIMULATION.md from DIR's files
    python -m experiments.simulate repredict [DIR] [--refit]  # validation.csv anew from runs.csv
    python -m experiments.simulate against RUN_DIR [--calibration FILE] [--seeds 3]
    python -m experiments.simulate by-clients [--out DIR] [--modes M,..] [--calibration FILE]

``predict`` prints one JSON line (``throughput_tps``, ``p50_ms``, ``p99_ms``, ``makespan_s``,
and more). Without ``--calibration`` it uses ``results/calibration.json`` if ``calibrate``
wrote one, else the committed ``docs/results/simulation/calibration.json``. ``against`` predicts
every configuration of a benchmark run (``nox -s bench``) the model expresses, writes its
``model.csv`` and re-renders its REPORT.md ("Model against measurement";
``experiments/simulate/benchrun.py``); the sweep does it itself at the end of a run.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path

from experiments import setup_logging
from experiments.simulate.calibration import DEFAULT_CALIBRATION, Calibration, calibration_path
from experiments.simulate.model import REGIMES, Config, simulate
from faas.models import Mode

log = logging.getLogger("simulate")

#: ``--rounds``: calibrate's rounds (``experiments.simulate.calibrate.ROUNDS`` when not given)
ROUNDS_HELP = "rounds of the calibration's runs (default 5: ~3 minutes; more: longer, steadier)"


def _rounds(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m experiments.simulate", description=__doc__.split("\n")[0]
    )
    p.add_argument("--log-level", default="INFO")
    sub = p.add_subparsers(dest="command", required=True)
    cal = sub.add_parser("calibrate", help="measure this machine's stack (about 3 minutes)")
    cal.add_argument("--out", type=Path, default=DEFAULT_CALIBRATION)
    cal.add_argument("--modes", default=",".join(Mode), help="comma list (default: all)")
    cal.add_argument("--rounds", type=_rounds, help=ROUNDS_HELP)
    pred = sub.add_parser(
        "predict",
        help="simulate one configuration; one JSON line",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _predict_flags(pred)
    _pipeline_parsers(sub)
    _tool_parsers(sub)
    return p


def _pipeline_parsers(sub: argparse._SubParsersAction) -> None:
    for name, text in (
        ("validate", "calibrate each mode, predict held-out configurations, run them"),
        ("extrapolate", "the studies beyond one machine"),
        ("all", "calibrate, validate, extrapolate, write the report"),
    ):
        s = sub.add_parser(name, help=text)
        s.add_argument("--out", type=Path, default=Path("results/simulation"))
        s.add_argument("--repeats", type=int, default=5)
        if name == "extrapolate":
            s.add_argument("--calibration", type=Path)
        else:
            s.add_argument("--rounds", type=_rounds, help=ROUNDS_HELP)
    ren = sub.add_parser("render", help="re-write a simulation directory's report and plots")
    ren.add_argument("dir", type=Path, nargs="?", default=Path("docs/results/simulation"))
    rep = sub.add_parser(
        "repredict", help="predict a simulation directory's measured runs anew, then render"
    )
    rep.add_argument("dir", type=Path, nargs="?", default=Path("docs/results/simulation"))
    rep.add_argument(
        "--refit",
        action="store_true",
        help="express the calibration at its reference speed, fit its residuals and busy CPU anew",
    )


def _tool_parsers(sub: argparse._SubParsersAction) -> None:
    ag = sub.add_parser("against", help="predict a benchmark run's configurations: model.csv")
    ag.add_argument("run_dir", type=Path)
    ag.add_argument("--calibration", type=Path)
    ag.add_argument("--seeds", type=int, default=3)
    by = sub.add_parser(
        "by-clients", help="CPU per task at 1-16 clients, measured beside the model's"
    )
    by.add_argument("--out", type=Path, default=Path("results/by-clients"))
    by.add_argument("--modes", default=",".join(Mode), help="comma list (default: all)")
    by.add_argument("--repeats", type=int, default=5)
    by.add_argument("--calibration", type=Path)
    wake = sub.add_parser(
        "wake-probe", help="a request's CPU against how long its process slept (~40 s)"
    )
    wake.add_argument("--out", type=Path, default=Path("results/wake-probe"))
    wake.add_argument("--repeats", type=int, default=3)
    spr = sub.add_parser(
        "spread", help="low-load throughput against each run's one-client calibration"
    )
    spr.add_argument("dirs", type=Path, nargs="+", help="validation directories")
    spr.add_argument("--clients", type=int, default=4)


def _at_least(low: float, kind: type = float, high: float = math.inf) -> Callable[[str], object]:
    """An argparse type: a finite number of ``kind`` in [``low``, ``high``]."""

    def parse(text: str) -> object:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(value) and low <= value <= high):
            bound = f"between {low:g} and {high:g}" if math.isfinite(high) else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


#: Longest task ``predict`` simulates (an hour): past it a run is about its timeouts, not
#: the platform, and the model would step through every speed switch of the cores.
MAX_TASK_MS = 3_600_000.0
#: Most tasks and processes ``predict`` simulates: past them a prediction runs for minutes
#: and gigabytes (about 25 000 simulated tasks a wall-second here).
MAX_TASKS, MAX_PROCESSES = 500_000, 100_000


def _predict_flags(pred: argparse.ArgumentParser) -> None:
    count, positive = _at_least(1, int), _at_least(0.0)
    pred.add_argument("--mode", required=True, choices=[m.value for m in Mode])
    _shape_flags(pred)
    pred.add_argument(
        "--hosts", type=count, default=None, help="worker hosts (dedicated regime only)"
    )
    pred.add_argument("--rtt-ms", type=positive, default=0.0, help="dispatcher-worker RTT, ms")
    pred.add_argument("--bandwidth-mbit", type=positive, default=0.0, help="host link, Mbit/s")
    pred.add_argument(
        "--regime",
        choices=REGIMES,
        default="shared",
        help="shared: every process on this machine's cores; dedicated: each its own host",
    )
    pred.add_argument("--api-procs", type=count, default=1, help="API processes")
    pred.add_argument(
        "--dispatchers", type=count, default=1, help="sharing the queue, each its own workers"
    )
    _load_flags(pred)
    pred.add_argument(
        "--cpu-cv",
        type=positive,
        default=1.0,
        help="variation of a visit's CPU around its mean (1: exponential, 0: constant)",
    )
    pred.add_argument(
        "--constant-speed",
        action="store_true",
        help="every core at its mean speed (default: the calibration's two speeds)",
    )
    pred.add_argument("--seed", type=int, default=0, help="random seed")
    pred.add_argument("--calibration", type=Path, help="default: the last one measured")


def _shape_flags(pred: argparse.ArgumentParser) -> None:
    """The platform's shape and the work: workers, processes, task length and count."""
    pred.add_argument(
        "--workers", type=_at_least(1, int, MAX_PROCESSES), default=None,
        help="workers (pull/push; default 1)",
    )  # fmt: skip
    pred.add_argument(
        "--procs", type=_at_least(1, int, MAX_PROCESSES), default=2,
        help="processes per worker (local: pool)",
    )  # fmt: skip
    pred.add_argument(
        "--task-ms", type=_at_least(0.0, high=MAX_TASK_MS), default=0.0, help="task length, ms"
    )
    pred.add_argument(
        "--tasks", type=_at_least(1, int, MAX_TASKS), default=1000, help="tasks to run"
    )


def _load_flags(pred: argparse.ArgumentParser) -> None:
    """The load ``predict`` offers: closed loop, open loop, a burst; and failures."""
    positive = _at_least(0.0)
    pred.add_argument(
        "--clients", type=_at_least(1, int), default=None, help="closed-loop clients (default 1)"
    )
    pred.add_argument("--rate", type=positive, default=0.0, help="open loop, tasks/s (0: closed)")
    pred.add_argument(
        "--submitters",
        type=_at_least(0, int),
        default=0,
        help="a burst: K submitters back to back, K collectors (the benchmark's load)",
    )
    pred.add_argument(
        "--poll-ms",
        type=positive,
        default=None,
        help="wait for results by polling, again after MS (doubling to 20); default long-poll",
    )
    pred.add_argument(
        "--failures-per-min",
        type=positive,
        default=0.0,
        help="worker failures per minute per 100 workers (pull/push)",
    )


def check_predict(args: argparse.Namespace) -> str | None:
    """Why the flags ask what ``predict`` cannot answer (None: they do not): a flag the
    chosen mode, regime or load has no use for is refused, not ignored."""
    local, remote = args.mode == Mode.LOCAL.value, args.mode != Mode.LOCAL.value
    processes = (args.workers or 1) * args.procs
    checks = [
        (processes > MAX_PROCESSES, f"--workers x --procs: at most {MAX_PROCESSES} processes"),
        (local and args.workers not in (None, 1), "--workers: local mode has one pool"),
        (local and args.dispatchers > 1, "--dispatchers: local mode has one dispatcher"),
        (local and bool(args.failures_per_min), "--failures-per-min: local mode has no workers"),
        (
            local and (bool(args.rtt_ms) or bool(args.bandwidth_mbit)),
            "--rtt-ms/--bandwidth-mbit: local mode has no network between dispatcher and processes",
        ),
        (
            args.hosts is not None and args.regime != "dedicated",
            "--hosts: in the shared regime "
            "every worker shares this machine's cores, so hosts change nothing; add --regime "
            "dedicated",
        ),
        (
            remote and args.hosts is not None and args.hosts > (args.workers or 1),
            "--hosts: more hosts than workers",
        ),
        (
            args.clients is not None and (args.rate or args.submitters),
            "--clients: a closed loop; --rate and --submitters are other loads",
        ),
        (bool(args.rate) and bool(args.submitters), "--rate and --submitters: choose one load"),
    ]
    return next((why for failed, why in checks if failed), None)


def predict(args: argparse.Namespace) -> dict:
    config = Config(
        args.mode,
        workers=args.workers or 1,
        procs=args.procs,
        task_ms=args.task_ms,
        clients=args.clients or 1,
        tasks=args.tasks,
        hosts=args.hosts or 0,
        rtt_ms=args.rtt_ms,
        bandwidth_mbit=args.bandwidth_mbit,
        regime=args.regime,
        api_procs=args.api_procs,
        dispatchers=args.dispatchers,
        rate=args.rate,
        submitters=args.submitters,
        poll_ms=args.poll_ms,
        failures_per_min_per_100=args.failures_per_min,
        cpu_cv=args.cpu_cv,
        speed_states=not args.constant_speed,
        seed=args.seed,
    )
    calibration = Calibration.load(calibration_path(args.calibration))
    return simulate(config, calibration).to_json()


def main(argv: list[str] | None = None) -> None:
    p = parser()
    args = p.parse_args(argv)
    if args.command == "predict" and (why := check_predict(args)):
        p.error(why)
    setup_logging(args.log_level)
    commands = {
        "predict": lambda: print(json.dumps(predict(args))),
        "against": lambda: _against(args),
        "by-clients": lambda: _by_clients(args),
        "spread": lambda: _spread(args),
        "wake-probe": lambda: _wake_probe(args),
    }
    try:
        commands.get(args.command, lambda: _pipeline(args))()
    except ValueError as error:
        sys.exit(f"simulate: {error}")


def _against(args: argparse.Namespace) -> None:
    from experiments.analysis.report import render
    from experiments.simulate.benchrun import write

    path = write(args.run_dir, calibration_path(args.calibration), args.seeds)
    render(args.run_dir)
    log.info("wrote %s and %s", path, args.run_dir / "REPORT.md")


def _by_clients(args: argparse.Namespace) -> None:
    from experiments.simulate import by_clients

    modes = [Mode(m).value for m in args.modes.split(",")]
    calibration = Calibration.load(calibration_path(args.calibration))
    print(by_clients.run(modes, calibration, args.out, args.repeats))


def _spread(args: argparse.Namespace) -> None:
    from experiments.simulate.validate import spread, spread_summary

    rows = spread(args.dirs, args.clients)
    print("\n".join(spread_summary(rows, args.clients)))


def _wake_probe(args: argparse.Namespace) -> None:
    from experiments.simulate import wakeprobe

    print(wakeprobe.run(args.out, args.repeats))


def _pipeline(args: argparse.Namespace) -> None:
    from experiments.simulate import pipeline

    pipeline.run(args)


if __name__ == "__main__":
    main()

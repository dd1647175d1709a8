"""Sessions: ``nox -s tests`` (the suite), ``nox -s lint``, ``nox -s bench`` (the benchmark
report), ``nox -s faults`` (fault injection), ``nox -s chaos`` (the chaos soak),
``nox -s simulate`` (calibrate, validate and run the model beyond one machine),
``nox -s compare -- RUN_A RUN_B`` (two runs side by side),
``nox -s up`` (run the platform), ``nox -s docs`` (the documentation site),
``nox -s mutants`` and ``nox -s model`` (how strong the failure model's tests are)."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite: unit tests on fakeredis, integration on a real redis-server
    (``-- -m "not slow"``: the quick subset)."""
    session.install("-e", ".[test]")
    # both cores (pytest-xdist) unless the arguments say otherwise
    workers = (
        [] if any(a.startswith(("-n", "--numprocesses")) for a in session.posargs) else ["-n", "2"]
    )
    session.run("pytest", *workers, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style with ruff (lint rules, formatting), the layers with import-linter and the
    types with mypy (strict on faas/); CI runs this before the docs and the tests."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")
    session.run("mypy", "faas", "experiments")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site (mkdocs-material) into site/, with --strict: a broken
    link or reference fails the build. ``-- serve`` serves it instead."""
    session.install("-e", ".[docs]")
    session.env.update(NO_MKDOCS_2_WARNING="1", DISABLE_MKDOCS_2_WARNING="true")
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:])
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session
def up(session: nox.Session) -> None:
    """Run the whole platform in the foreground (arguments go to ``faas up``)."""
    session.install("-e", ".[server]")
    # Ctrl-C reaches `faas up` from the terminal; a SIGTERM to nox alone would leave it
    # running until nox's interrupt timeout: interrupt it ourselves, then wait as for Ctrl-C
    signal.signal(signal.SIGTERM, _interrupt)
    session.run("faas", "up", *session.posargs, interrupt_timeout=30, terminate_timeout=10)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM to nox: interrupt our own children (by PID; ``faas up`` stops its stack on
    SIGINT), then let nox wait for them as it does after Ctrl-C."""
    for child in _children():
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGINT)
    raise KeyboardInterrupt


def _children() -> list[int]:
    """PIDs of this process's children (Linux's /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rpartition(")")[2].split()[1]) == os.getpid():
                found.append(int(stat.parent.name))
    return found


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmark sweep; leaves results/<run-id>/REPORT.md (how long: the README)."""
    session.install("-e", ".[harness]")
    session.run("python", "-m", "experiments.sweep", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Re-draw the plots and REPORT.md of a run from its committed files, without measuring
    (default: the reference run in docs/results/reference-run; ``-- results/latest`` for
    your own)."""
    session.install("-e", ".[harness]")
    session.run(
        "python", "-m", "experiments.analysis", *(session.posargs or ["docs/results/reference-run"])
    )


@nox.session
def compare(session: nox.Session) -> None:
    """Compare two runs (``-- RUN_A RUN_B``): what moved beyond the repeat-to-repeat noise;
    leaves results/compare-<A>-vs-<B>/COMPARE.md."""
    session.install("-e", ".[harness]")
    session.run("python", "-m", "experiments.compare", *session.posargs)


@nox.session
def faults(session: nox.Session) -> None:
    """Run every fault-injection scenario; leaves results/faults-<time>.csv."""
    session.install("-e", ".[harness]")
    session.run("python", "-m", "experiments.faults", *(session.posargs or ["all"]))


@nox.session
def chaos(session: nox.Session) -> None:
    """Chaos soak: faults every few seconds under load (``-- --minutes 3``); exits non-zero
    if any accepted task was lost or got a wrong result."""
    session.install("-e", ".[harness]")
    session.run("python", "-m", "experiments.chaos", *session.posargs)


@nox.session
def loadtest(session: nox.Session) -> None:
    """Run Locust headless against a fresh stack (``-- --mode pull --fault kill-worker``)."""
    session.install("-e", ".[harness,load]")
    session.run("python", "-m", "experiments.sweep.locust", *session.posargs)


@nox.session
def simulate(session: nox.Session) -> None:
    """Calibrate the model on this machine, validate it on held-out runs and extrapolate;
    leaves results/simulation/SIMULATION.md (how long: the README)."""
    session.install("-e", ".[harness]")
    session.run("python", "-m", "experiments.simulate", *(session.posargs or ["all"]))


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation score of the correctness core (tests/mutants.toml); last line
    ``mutants: K of N killed`` (``-- --only NAME``, ``--jobs J``, ``--out CSV``)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.mutants", *session.posargs)


@nox.session
def model(session: nox.Session) -> None:
    """The dispatcher's model test searched longer (``tests/model_search.py``): by default
    5 000 examples per mode under each of seeds 0, 1, 2; last line
    ``model: P of N searches passed`` (``-- --examples E --seeds S --out CSV``)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.model_search", *session.posargs)

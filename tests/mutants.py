"""Mutation score of the correctness core: ``python -m tests.mutants`` (``nox -s mutants``).

Each mutant of ``tests/mutants.toml`` is applied alone to a copy of the repository, whose
guarding tests then run as CI runs them (the model test at its CI budget); the mutant is
killed when they fail. The unmutated copy runs first and must pass. The last line is
``mutants: K of N killed``; the exit status is 0 only when K = N. ``--only NAME`` runs some,
``--jobs J`` runs J at a time (default 2), ``--out CSV`` keeps one row per mutant.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("mutants")
ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "tests" / "mutants.toml"
#: What a copy holds: the code, the tests and the test configuration.
COPIED = ("faas", "tests", "pyproject.toml")
#: Longest run of one mutant's tests; a mutant that hangs them past this counts as killed.
TIMEOUT_S = 1200


@dataclass(frozen=True)
class Mutant:
    name: str
    why: str
    file: str
    find: str
    replace: str
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    mutant: Mutant
    killed: bool
    exit_code: int
    seconds: float
    first_failure: str


def load(spec: Path = SPEC) -> list[Mutant]:
    """The mutants of ``spec``, each checked to apply to exactly one place."""
    data = tomllib.loads(spec.read_text())
    mutants = []
    for entry in data["mutant"]:
        source = (ROOT / entry["file"]).read_text()
        found = source.count(entry["find"])
        if found != 1:
            raise SystemExit(
                f"mutant {entry['name']}: 'find' occurs {found} times in {entry['file']}"
            )
        tests = tuple(entry.get("tests", data["tests"]))
        mutants.append(
            Mutant(
                entry["name"], entry["why"], entry["file"], entry["find"], entry["replace"], tests
            )
        )
    return mutants


def _copy(into: Path) -> None:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, into / name)


def run_tests(root: Path, tests: tuple[str, ...]) -> tuple[int, str]:
    """Run ``tests`` in the copy at ``root`` (its ``faas`` first on the path); answer the
    exit code and the first failing test's id."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(
            command, cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return -1, "timeout"
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return done.returncode, failed[0] if failed else ""


def judge(mutant: Mutant) -> Verdict:
    """Apply ``mutant`` to a fresh copy and run its tests."""
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        root = Path(tmp)
        _copy(root)
        target = root / mutant.file
        target.write_text(target.read_text().replace(mutant.find, mutant.replace))
        started = time.monotonic()
        code, failure = run_tests(root, mutant.tests)
    return Verdict(mutant, code != 0, code, time.monotonic() - started, failure)


def _baseline(tests: tuple[str, ...]) -> None:
    with tempfile.TemporaryDirectory(prefix="mutant-none-") as tmp:
        _copy(Path(tmp))
        code, failure = run_tests(Path(tmp), tests)
    if code != 0:
        raise SystemExit(f"the unmutated code fails its tests ({failure}): no score")


def _write(verdicts: list[Verdict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["mutant", "file", "killed", "exit_code", "seconds", "first_failure", "why"]
        )
        for v in verdicts:
            m = v.mutant
            writer.writerow(
                [m.name, m.file, v.killed, v.exit_code, f"{v.seconds:.1f}", v.first_failure, m.why]
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutants", description=__doc__)
    parser.add_argument("--only", nargs="*", default=None, help="names of mutants to run")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at a time")
    parser.add_argument("--out", type=Path, default=None, help="CSV of the verdicts")
    parser.add_argument("--tests", nargs="*", default=None, help="tests to run instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    mutants = [m for m in load() if args.only is None or m.name in args.only]
    if args.tests:
        mutants = [dataclasses.replace(m, tests=tuple(args.tests)) for m in mutants]
    _baseline(mutants[0].tests if mutants else ())
    verdicts = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for n, verdict in enumerate(pool.map(judge, mutants), start=1):
            verdicts.append(verdict)
            state = "killed" if verdict.killed else "SURVIVED"
            log.info(
                "[%d/%d] %s %s (%.0f s) %s",
                n,
                len(mutants),
                verdict.mutant.name,
                state,
                verdict.seconds,
                verdict.first_failure,
            )
    if args.out:
        _write(verdicts, args.out)
    killed = sum(v.killed for v in verdicts)
    sys.stdout.write(f"mutants: {killed} of {len(verdicts)} killed\n")
    return 0 if killed == len(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())

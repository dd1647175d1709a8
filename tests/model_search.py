"""The dispatcher's model test searched longer: ``python -m tests.model_search`` (``nox -s
model``) runs ``tests/dispatcher/test_model.py``'s push and pull machines at ``--examples``
examples under each of ``--seeds`` seeds (0, 1, ...), the two machines side by side, and
writes one row per search to ``--out``: seed, mode, examples, outcome, seconds. The last
line is ``model: P of N searches passed``; the exit status is 0 only when P = N.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MACHINES = {"push": "TestPushModel", "pull": "TestPullModel"}


def search(seed: int, mode: str, examples: int) -> dict[str, object]:
    """One machine's search under one seed."""
    env = {**os.environ, "FAAS_MODEL_EXAMPLES": str(examples), "FAAS_MODEL_SEED": str(seed)}
    test = f"tests/dispatcher/test_model.py::{MACHINES[mode]}"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "0", test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    outcome = "passed" if done.returncode == 0 else "failed"
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:])
    return {"seed": seed, "mode": mode, "examples": examples, "outcome": outcome,
            "seconds": round(time.monotonic() - started, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.model_search", description=__doc__)
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/model.csv"))
    args = parser.parse_args(argv)
    jobs = [(seed, mode) for seed in range(args.seeds) for mode in MACHINES]
    with ThreadPoolExecutor(2) as pool:
        rows = list(pool.map(lambda job: search(*job, args.examples), jobs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    passed = sum(r["outcome"] == "passed" for r in rows)
    print(f"model: {passed} of {len(rows)} searches passed")
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())

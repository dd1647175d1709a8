"""How far `compare` can be trusted: A/A pairs flag nothing, a real slowdown is flagged.

    python -m experiments.compare.noise [--pairs 10] [--out results/compare-noise]

Runs ``experiments/specs/noise.toml`` 2 × ``--pairs`` times on this code, then once more with its
``work`` function 1.5× slower (a copy of the spec beside a copy of its functions file whose
``SLOWDOWN`` is 1.5; the configuration keys are the same). Compares runs 1 and 2, 3 and 4, …
(``--pairs`` disjoint A/A pairs) and the last A run with the slowed one (the A/B pair); writes
``noise.csv`` (one row per pair: flagged counts, and for A/B whether each ``work``
configuration was flagged) and prints one line per pair and the summary line

    compare noise: N A/A pairs, K flagged nothing; A/B slowdown flagged in M of C configurations
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from experiments import setup_logging
from experiments.compare import compare

SPECS = Path(__file__).resolve().parents[1] / "specs"
log = logging.getLogger("compare.noise")


def _sweep(spec: Path, out: Path) -> Path:
    """One run of ``spec`` into ``out`` (a fresh process, as a user runs it)."""
    command = [sys.executable, "-m", "experiments.sweep", "--spec", str(spec), "--out", str(out)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return out


def _slowed(folder: Path) -> Path:
    """A copy of the noise spec whose ``work`` sleeps 1.5× as long."""
    shutil.copy(SPECS / "noise.toml", folder / "noise.toml")
    text = (SPECS / "noise_functions.py").read_text()
    (folder / "noise_functions.py").write_text(text.replace("SLOWDOWN = 1.0", "SLOWDOWN = 1.5"))
    return folder / "noise.toml"


def _pair(a: Path, b: Path, kind: str) -> dict:
    df = compare(a, b)
    flagged = df[df["verdict"].isin(["improved", "regressed"])]
    work = df[df["study"] == "work"]
    work_flagged = work[work["verdict"] == "regressed"].groupby("mode").size()
    return {
        "kind": kind,
        "a": a.name,
        "b": b.name,
        "comparisons": len(df),
        "flagged": len(flagged),
        "flagged_what": "; ".join(
            f"{r.label} {r.metric} {r.verdict}" for r in flagged.itertuples()
        ),
        "work_configurations": work["mode"].nunique(),
        "work_flagged": int((work_flagged > 0).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=10, help="A/A pairs (2 runs each)")
    parser.add_argument("--out", type=Path, default=Path("results/compare-noise"))
    parser.add_argument(
        "--no-measure", action="store_true", help="compare the runs already in --out again"
    )
    args = parser.parse_args()
    setup_logging(logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    runs = [args.out / f"a{i:02d}" for i in range(2 * args.pairs)]
    slowed = args.out / "b-slowed"
    if not args.no_measure:
        for run in tqdm(runs, desc="A runs", unit="run"):
            _sweep(SPECS / "noise.toml", run)
        with tempfile.TemporaryDirectory() as folder:
            _sweep(_slowed(Path(folder)), slowed)
    rows = [_pair(x, y, "A/A") for x, y in zip(runs[::2], runs[1::2], strict=True)]
    rows.append(_pair(runs[-1], slowed, "A/B"))
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "noise.csv", index=False)
    for r in rows:
        print(f"{r['kind']} {r['a']} vs {r['b']}: {r['flagged']} of {r['comparisons']} flagged")
    aa = table[table["kind"] == "A/A"]
    ab = rows[-1]
    quiet = int((aa["flagged"] == 0).sum())
    print(
        f"compare noise: {len(aa)} A/A pairs, {quiet} flagged nothing; A/B slowdown flagged in "
        f"{ab['work_flagged']} of {ab['work_configurations']} configurations"
    )


if __name__ == "__main__":
    main()

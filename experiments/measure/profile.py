"""Profiles of the platform's processes: py-spy recordings and what they say."""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from pathlib import Path


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    """py-spy recording ``pid`` for ``seconds`` into a raw (collapsed stacks) file."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    return subprocess.Popen(
        [
            spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-f",
            "raw",
            "-o",
            str(out),
            "-r",
            "200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def keep_own_time(raw: Path) -> None:
    """Rewrite a py-spy raw file with each function's own-time samples only (one frame per
    line): all :func:`top_functions` reads, in a fraction of the bytes (for a record)."""
    own: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        own[stack.split(";")[-1]] += int(count)
    # in the order met: a tie between functions keeps the order top_functions saw it in
    raw.write_text("".join(f"{frame} {count}\n" for frame, count in own.items()))


def top_functions(raw: Path, n: int = 15) -> list[tuple[float, str]]:
    """(share of samples, function) by own time, from a py-spy raw file."""
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
    return [(c / total, f) for f, c in own.most_common(n)]
